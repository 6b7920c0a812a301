package remotewrite

import (
	"fmt"
	"slices"
	"strings"

	"github.com/prometheus/common/model"
	"github.com/prometheus/prometheus/model/exemplar"
	"github.com/prometheus/prometheus/model/labels"
	"github.com/prometheus/prometheus/model/metadata"
	"github.com/prometheus/prometheus/prompb"
	writev2 "github.com/prometheus/prometheus/prompb/io/prometheus/write/v2"
)

// converter turns unmarshalled protobuf messages into a Request, checking
// them on the way. It is used for one request.
type converter struct {
	scheme model.ValidationScheme
	b      labels.ScratchBuilder
	pairs  []labels.Label
}

// counts returns a request's total of samples, histograms and exemplars, to
// allocate each kind once per request.
type counts struct{ samples, histograms, exemplars int }

func (n *counts) add(s, h, e int) {
	n.samples += s
	n.histograms += h
	n.exemplars += e
}

// store has one backing array per kind; each series takes its part.
type store struct {
	samples    []Sample
	histograms []Histogram
	exemplars  []exemplar.Exemplar
}

func newStore(n counts) store {
	return store{
		samples:    make([]Sample, 0, n.samples),
		histograms: make([]Histogram, 0, n.histograms),
		exemplars:  make([]exemplar.Exemplar, 0, n.exemplars),
	}
}

// fromV1 converts a 1.0 WriteRequest into req.
func (c *converter) fromV1(req *Request, wr *prompb.WriteRequest) error {
	var n counts
	for i := range wr.Timeseries {
		ts := &wr.Timeseries[i]
		n.add(len(ts.Samples), len(ts.Histograms), len(ts.Exemplars))
	}
	st := newStore(n)
	req.Series = make([]Series, len(wr.Timeseries))
	for i := range wr.Timeseries {
		ts := &wr.Timeseries[i]
		s := &req.Series[i]

		c.pairs = c.pairs[:0]
		for _, l := range ts.Labels {
			c.pairs = append(c.pairs, labels.Label{Name: l.Name, Value: l.Value})
		}
		metric := metricName(c.pairs)
		serr := func(label string, err error) error {
			return &SeriesError{Series: i, Metric: metric, Label: label, Err: err}
		}
		ls, lerr := c.labels(true, true)
		if lerr != nil {
			return serr(lerr.label, lerr.err)
		}
		s.Labels = ls

		if len(ts.Samples) > 0 {
			start := len(st.samples)
			for _, sp := range ts.Samples {
				st.samples = append(st.samples, Sample{T: sp.Timestamp, V: sp.Value})
			}
			s.Samples = st.samples[start:len(st.samples):len(st.samples)]
		}
		if len(ts.Histograms) > 0 {
			start := len(st.histograms)
			for j := range ts.Histograms {
				hp := &ts.Histograms[j]
				h := Histogram{T: hp.Timestamp}
				if hp.IsFloatHistogram() {
					h.FH = hp.ToFloatHistogram()
				} else {
					h.H = hp.ToIntHistogram()
				}
				if err := validateHistogram(&h); err != nil {
					return serr("", fmt.Errorf("histogram %d: %w", j, err))
				}
				st.histograms = append(st.histograms, h)
			}
			s.Histograms = st.histograms[start:len(st.histograms):len(st.histograms)]
		}
		if len(ts.Exemplars) > 0 {
			start := len(st.exemplars)
			for j := range ts.Exemplars {
				ep := &ts.Exemplars[j]
				c.pairs = c.pairs[:0]
				for _, l := range ep.Labels {
					c.pairs = append(c.pairs, labels.Label{Name: l.Name, Value: l.Value})
				}
				ls, lerr := c.labels(false, false)
				if lerr != nil {
					return serr(lerr.label, fmt.Errorf("exemplar %d: %w", j, lerr.err))
				}
				st.exemplars = append(st.exemplars, exemplar.Exemplar{Labels: ls, Value: ep.Value, Ts: ep.Timestamp, HasTs: true})
			}
			s.Exemplars = st.exemplars[start:len(st.exemplars):len(st.exemplars)]
		}
	}
	if len(wr.Metadata) > 0 {
		req.Metadata = make([]FamilyMetadata, len(wr.Metadata))
		for i, m := range wr.Metadata {
			req.Metadata[i] = FamilyMetadata{
				Family:   m.MetricFamilyName,
				Metadata: metadata.Metadata{Type: v1MetricType(m.Type), Unit: m.Unit, Help: m.Help},
			}
		}
	}
	return nil
}

// fromV2 converts a 2.0 Request into req.
func (c *converter) fromV2(req *Request, wr *writev2.Request) error {
	syms := wr.Symbols
	if len(syms) > 0 && syms[0] != "" {
		return fmt.Errorf("%w: it is %s", ErrSymbolsTable, quote(syms[0]))
	}
	var n counts
	for i := range wr.Timeseries {
		ts := &wr.Timeseries[i]
		n.add(len(ts.Samples), len(ts.Histograms), len(ts.Exemplars))
	}
	st := newStore(n)
	req.Series = make([]Series, len(wr.Timeseries))
	for i := range wr.Timeseries {
		ts := &wr.Timeseries[i]
		s := &req.Series[i]

		if err := c.pairsV2(ts.LabelsRefs, syms, "labels_refs"); err != nil {
			return &SeriesError{Series: i, Err: err}
		}
		metric := metricName(c.pairs)
		serr := func(label string, err error) error {
			return &SeriesError{Series: i, Metric: metric, Label: label, Err: err}
		}
		ls, lerr := c.labels(false, true)
		if lerr != nil {
			return serr(lerr.label, lerr.err)
		}
		s.Labels = ls

		if len(ts.Samples) > 0 && len(ts.Histograms) > 0 {
			return serr("", ErrSamplesAndHistograms)
		}
		if len(ts.Samples) > 0 {
			start := len(st.samples)
			for _, sp := range ts.Samples {
				st.samples = append(st.samples, Sample{T: sp.Timestamp, V: sp.Value, ST: sp.StartTimestamp})
			}
			s.Samples = st.samples[start:len(st.samples):len(st.samples)]
		}
		if len(ts.Histograms) > 0 {
			start := len(st.histograms)
			for j := range ts.Histograms {
				hp := &ts.Histograms[j]
				h := Histogram{T: hp.Timestamp, ST: hp.StartTimestamp}
				if hp.IsFloatHistogram() {
					h.FH = hp.ToFloatHistogram()
				} else {
					h.H = hp.ToIntHistogram()
				}
				if err := validateHistogram(&h); err != nil {
					return serr("", fmt.Errorf("histogram %d: %w", j, err))
				}
				st.histograms = append(st.histograms, h)
			}
			s.Histograms = st.histograms[start:len(st.histograms):len(st.histograms)]
		}
		if len(ts.Exemplars) > 0 {
			start := len(st.exemplars)
			for j := range ts.Exemplars {
				ep := &ts.Exemplars[j]
				if err := c.pairsV2(ep.LabelsRefs, syms, fmt.Sprintf("exemplar %d: labels_refs", j)); err != nil {
					return serr("", err)
				}
				ls, lerr := c.labels(false, false)
				if lerr != nil {
					return serr(lerr.label, fmt.Errorf("exemplar %d: %w", j, lerr.err))
				}
				st.exemplars = append(st.exemplars, exemplar.Exemplar{Labels: ls, Value: ep.Value, Ts: ep.Timestamp, HasTs: true})
			}
			s.Exemplars = st.exemplars[start:len(st.exemplars):len(st.exemplars)]
		}

		md := &ts.Metadata
		for _, r := range []struct {
			name string
			ref  uint32
		}{{"help_ref", md.HelpRef}, {"unit_ref", md.UnitRef}} {
			if int64(r.ref) >= int64(len(syms)) {
				return serr("", fmt.Errorf("%w: metadata %s is %d, the table has %d symbols", ErrSymbolRef, r.name, r.ref, len(syms)))
			}
		}
		if len(syms) > 0 {
			m, err := ts.ToMetadata(syms)
			if err != nil {
				return serr("", fmt.Errorf("%w: %w", ErrSymbolRef, err))
			}
			s.Metadata = m
		}
	}
	return nil
}

// pairsV2 resolves label references into c.pairs; what names the field in
// an error message.
func (c *converter) pairsV2(refs []uint32, syms []string, what string) error {
	if len(refs)%2 != 0 {
		return fmt.Errorf("%w: %s has %d", ErrLabelRefs, what, len(refs))
	}
	c.pairs = c.pairs[:0]
	for k := 0; k < len(refs); k += 2 {
		for _, ref := range refs[k : k+2] {
			if int64(ref) >= int64(len(syms)) {
				return fmt.Errorf("%w: %s[%d] is %d, the table has %d symbols", ErrSymbolRef, what, k, ref, len(syms))
			}
		}
		c.pairs = append(c.pairs, labels.Label{Name: syms[refs[k]], Value: syms[refs[k+1]]})
	}
	return nil
}

// labels checks c.pairs and returns them as labels.Labels, without the
// empty values. With requireSorted, pairs out of order are an error; else
// they are sorted. With series, a non-empty metric name is required.
func (c *converter) labels(requireSorted, series bool) (labels.Labels, *labelError) {
	if !slices.IsSortedFunc(c.pairs, compareNames) {
		if requireSorted {
			for k := 1; k < len(c.pairs); k++ {
				if c.pairs[k].Name < c.pairs[k-1].Name {
					return labels.EmptyLabels(), &labelError{c.pairs[k].Name,
						fmt.Errorf("%w: it comes after %s", ErrUnsortedLabels, quote(c.pairs[k-1].Name))}
				}
			}
		}
		slices.SortFunc(c.pairs, compareNames)
	}
	hasName := false
	c.b.Reset()
	for k := range c.pairs {
		l := &c.pairs[k]
		if k > 0 && l.Name == c.pairs[k-1].Name {
			return labels.EmptyLabels(), &labelError{l.Name, ErrDuplicateLabelName}
		}
		if lerr := checkLabel(l.Name, l.Value, c.scheme); lerr != nil {
			return labels.EmptyLabels(), lerr
		}
		if l.Value == "" {
			continue
		}
		if l.Name == model.MetricNameLabel {
			hasName = true
		}
		c.b.Add(l.Name, l.Value)
	}
	if series && !hasName {
		return labels.EmptyLabels(), &labelError{"", ErrMissingMetricName}
	}
	return c.b.Labels(), nil
}

func compareNames(a, b labels.Label) int { return strings.Compare(a.Name, b.Name) }

// metricName returns the value of the first __name__ label of pairs.
func metricName(pairs []labels.Label) string {
	for _, l := range pairs {
		if l.Name == model.MetricNameLabel {
			return l.Value
		}
	}
	return ""
}

// v1MetricType maps a 1.0 metadata type to Prometheus'; unknown numbers are
// model.MetricTypeUnknown.
func v1MetricType(t prompb.MetricMetadata_MetricType) model.MetricType {
	switch t {
	case prompb.MetricMetadata_COUNTER:
		return model.MetricTypeCounter
	case prompb.MetricMetadata_GAUGE:
		return model.MetricTypeGauge
	case prompb.MetricMetadata_HISTOGRAM:
		return model.MetricTypeHistogram
	case prompb.MetricMetadata_GAUGEHISTOGRAM:
		return model.MetricTypeGaugeHistogram
	case prompb.MetricMetadata_SUMMARY:
		return model.MetricTypeSummary
	case prompb.MetricMetadata_INFO:
		return model.MetricTypeInfo
	case prompb.MetricMetadata_STATESET:
		return model.MetricTypeStateset
	}
	return model.MetricTypeUnknown
}
