package remotewrite

import (
	"fmt"
	"math"
	"strings"

	"github.com/prometheus/prometheus/model/exemplar"
	"github.com/prometheus/prometheus/model/labels"
	writev2 "github.com/prometheus/prometheus/prompb/io/prometheus/write/v2"
	"google.golang.org/protobuf/encoding/protowire"
)

// Remote write 2.0 is decoded as 1.0 is (see fastv1.go): scan reads the
// wire format of io.prometheus.write.v2.Request in place into a v2Wire,
// build checks it as fromV2 checks an unmarshalled request and converts
// it, and every message scan does not take is left to gogo's Unmarshal and
// fromV2.

// Field numbers of remote write 2.0 (prompb/io/prometheus/write/v2's
// types.proto).
const (
	fieldRequestSymbols    = 4
	fieldRequestTimeseries = 5

	fieldSeriesV2LabelsRefs = 1
	fieldSeriesV2Samples    = 2
	fieldSeriesV2Histograms = 3
	fieldSeriesV2Exemplars  = 4
	fieldSeriesV2Metadata   = 5

	fieldSampleV2Value          = 1
	fieldSampleV2Timestamp      = 2
	fieldSampleV2StartTimestamp = 3

	fieldExemplarV2LabelsRefs = 1
	fieldExemplarV2Value      = 2
	fieldExemplarV2Timestamp  = 3

	fieldMetadataV2Type    = 1
	fieldMetadataV2HelpRef = 3
	fieldMetadataV2UnitRef = 4
)

// v2Wire is a scanned 2.0 Request. Its slices are reused from request to
// request (Decoder.wiresV2); syms alias the message.
type v2Wire struct {
	syms       []string
	owned      []string // copies of syms, made when a series' metadata needs them
	series     []v2WireSeries
	refs       []uint32 // series labels_refs, in series order
	samples    []Sample
	histograms []writev2.Histogram
	exemplars  []v1WireExemplar // pairs is where its labels_refs end in exRefs
	exRefs     []uint32
}

// v2WireSeries says where a series' part of each of v2Wire's arrays ends,
// and has its metadata.
type v2WireSeries struct {
	refs, samples, histograms, exemplars int
	meta                                 writev2.Metadata
}

func (d *Decoder) getWireV2() *v2Wire {
	if w, ok := d.wiresV2.Get().(*v2Wire); ok {
		return w
	}
	return &v2Wire{}
}

func (d *Decoder) putWireV2(w *v2Wire) {
	if cap(w.refs) > 32*maxPooledWire || cap(w.samples) > 16*maxPooledWire || cap(w.series) > maxPooledWire ||
		cap(w.syms) > 16*maxPooledWire || cap(w.exRefs) > maxPooledWire || cap(w.histograms) > maxPooledWire {
		return
	}
	// Drop references to the message and to the request's histograms.
	clear(w.syms)
	clear(w.owned)
	clear(w.histograms)
	w.syms = w.syms[:0]
	w.owned = w.owned[:0]
	w.series = w.series[:0]
	w.refs = w.refs[:0]
	w.samples = w.samples[:0]
	w.histograms = w.histograms[:0]
	w.exemplars = w.exemplars[:0]
	w.exRefs = w.exRefs[:0]
	d.wiresV2.Put(w)
}

// decodeV2 decodes and converts the 2.0 message msg into req.
func (d *Decoder) decodeV2(c *converter, req *Request, msg []byte) error {
	w := d.getWireV2()
	defer d.putWireV2(w)
	if w.scan(msg) {
		return c.buildV2(req, w)
	}
	return c.slowV2(req, msg)
}

// slowV2 decodes msg with gogo's unmarshalling, and converts it.
func (c *converter) slowV2(req *Request, msg []byte) error {
	var wr writev2.Request
	if err := wr.Unmarshal(msg); err != nil {
		return fmt.Errorf("%w: %s: %w", ErrProtobuf, protoV2, err)
	}
	return c.fromV2(req, &wr)
}

// scan reads msg, a Request, into w; false means it is invalid or encoded
// in a way scan leaves to gogo.
func (w *v2Wire) scan(msg []byte) bool {
	for len(msg) > 0 {
		num, typ, n := consumeTag(msg)
		if n < 0 {
			return false
		}
		msg = msg[n:]
		switch {
		case num == fieldRequestSymbols && typ == protowire.BytesType:
			b, n := consumeBytes(msg)
			if n < 0 {
				return false
			}
			msg = msg[n:]
			w.syms = append(w.syms, alias(b))
		case num == fieldRequestTimeseries && typ == protowire.BytesType:
			b, n := consumeBytes(msg)
			if n < 0 || !w.scanSeries(b) {
				return false
			}
			msg = msg[n:]
		case num == fieldRequestSymbols, num == fieldRequestTimeseries:
			return false
		default:
			n := skipField(num, typ, msg)
			if n < 0 {
				return false
			}
			msg = msg[n:]
		}
	}
	return true
}

// scanSeries reads a TimeSeries.
func (w *v2Wire) scanSeries(msg []byte) bool {
	var s v2WireSeries
	for len(msg) > 0 {
		num, typ, n := consumeTag(msg)
		if n < 0 {
			return false
		}
		msg = msg[n:]
		switch {
		case num == fieldSeriesV2LabelsRefs:
			var n int
			if w.refs, n = appendRefs(w.refs, typ, msg); n < 0 {
				return false
			}
			msg = msg[n:]
		case num >= fieldSeriesV2Samples && num <= fieldSeriesV2Metadata:
			if typ != protowire.BytesType {
				return false
			}
			b, n := consumeBytes(msg)
			if n < 0 {
				return false
			}
			msg = msg[n:]
			var ok bool
			switch num {
			case fieldSeriesV2Samples:
				ok = w.scanSample(b)
			case fieldSeriesV2Histograms:
				w.histograms = append(w.histograms, writev2.Histogram{})
				ok = w.histograms[len(w.histograms)-1].Unmarshal(b) == nil
			case fieldSeriesV2Exemplars:
				ok = w.scanExemplar(b)
			default:
				// Not repeated: a metadata given twice is merged.
				ok = scanMetadataV2(&s.meta, b)
			}
			if !ok {
				return false
			}
		default:
			n := skipField(num, typ, msg)
			if n < 0 {
				return false
			}
			msg = msg[n:]
		}
	}
	s.refs, s.samples, s.histograms, s.exemplars = len(w.refs), len(w.samples), len(w.histograms), len(w.exemplars)
	w.series = append(w.series, s)
	return true
}

// appendRefs reads a repeated uint32 field's value of wire type typ,
// packed or not, appends it to dst and returns the bytes read, or -1.
func appendRefs(dst []uint32, typ protowire.Type, msg []byte) ([]uint32, int) {
	switch typ {
	case protowire.VarintType:
		v, n := consumeVarint(msg)
		if n < 0 {
			return dst, -1
		}
		return append(dst, uint32(v)), n //nolint:gosec // a uint32 is the low 32 bits, as gogo reads it
	case protowire.BytesType:
		b, n := consumeBytes(msg)
		if n < 0 {
			return dst, -1
		}
		for len(b) > 0 {
			v, m := consumeVarint(b)
			if m < 0 {
				return dst, -1
			}
			b = b[m:]
			dst = append(dst, uint32(v)) //nolint:gosec // as above
		}
		return dst, n
	}
	return dst, -1
}

// scanSample reads a Sample.
func (w *v2Wire) scanSample(msg []byte) bool {
	var s Sample
	for len(msg) > 0 {
		num, typ, n := consumeTag(msg)
		if n < 0 {
			return false
		}
		msg = msg[n:]
		switch {
		case num == fieldSampleV2Value && typ == protowire.Fixed64Type:
			v, n := protowire.ConsumeFixed64(msg)
			if n < 0 {
				return false
			}
			msg = msg[n:]
			s.V = math.Float64frombits(v)
		case (num == fieldSampleV2Timestamp || num == fieldSampleV2StartTimestamp) && typ == protowire.VarintType:
			v, n := consumeVarint(msg)
			if n < 0 {
				return false
			}
			msg = msg[n:]
			if num == fieldSampleV2Timestamp {
				s.T = int64(v) //nolint:gosec // an int64 is read so
			} else {
				s.ST = int64(v) //nolint:gosec // as above
			}
		case num >= fieldSampleV2Value && num <= fieldSampleV2StartTimestamp:
			return false
		default:
			n := skipField(num, typ, msg)
			if n < 0 {
				return false
			}
			msg = msg[n:]
		}
	}
	w.samples = append(w.samples, s)
	return true
}

// scanExemplar reads an Exemplar.
func (w *v2Wire) scanExemplar(msg []byte) bool {
	var e v1WireExemplar
	for len(msg) > 0 {
		num, typ, n := consumeTag(msg)
		if n < 0 {
			return false
		}
		msg = msg[n:]
		switch {
		case num == fieldExemplarV2LabelsRefs:
			var n int
			if w.exRefs, n = appendRefs(w.exRefs, typ, msg); n < 0 {
				return false
			}
			msg = msg[n:]
		case num == fieldExemplarV2Value && typ == protowire.Fixed64Type:
			v, n := protowire.ConsumeFixed64(msg)
			if n < 0 {
				return false
			}
			msg = msg[n:]
			e.value = math.Float64frombits(v)
		case num == fieldExemplarV2Timestamp && typ == protowire.VarintType:
			v, n := consumeVarint(msg)
			if n < 0 {
				return false
			}
			msg = msg[n:]
			e.ts = int64(v) //nolint:gosec // an int64 is read so
		case num == fieldExemplarV2Value, num == fieldExemplarV2Timestamp:
			return false
		default:
			n := skipField(num, typ, msg)
			if n < 0 {
				return false
			}
			msg = msg[n:]
		}
	}
	e.pairs = len(w.exRefs)
	w.exemplars = append(w.exemplars, e)
	return true
}

// scanMetadataV2 reads a Metadata into m, over what m has.
func scanMetadataV2(m *writev2.Metadata, msg []byte) bool {
	for len(msg) > 0 {
		num, typ, n := consumeTag(msg)
		if n < 0 {
			return false
		}
		msg = msg[n:]
		switch num {
		case fieldMetadataV2Type, fieldMetadataV2HelpRef, fieldMetadataV2UnitRef:
			if typ != protowire.VarintType {
				return false
			}
			v, n := consumeVarint(msg)
			if n < 0 {
				return false
			}
			msg = msg[n:]
			switch num {
			case fieldMetadataV2Type:
				m.Type = writev2.Metadata_MetricType(int32(v)) //nolint:gosec // an enum is the low 32 bits
			case fieldMetadataV2HelpRef:
				m.HelpRef = uint32(v) //nolint:gosec // as above
			default:
				m.UnitRef = uint32(v) //nolint:gosec // as above
			}
		default:
			n := skipField(num, typ, msg)
			if n < 0 {
				return false
			}
			msg = msg[n:]
		}
	}
	return true
}

// own returns a copy of symbol ref, made once per request.
func (w *v2Wire) own(ref uint32) string {
	if len(w.owned) < len(w.syms) {
		w.owned = append(w.owned[:0], make([]string, len(w.syms))...)
	}
	if w.owned[ref] == "" {
		w.owned[ref] = strings.Clone(w.syms[ref])
	}
	return w.owned[ref]
}

// buildV2 checks the scanned request w as fromV2 checks an unmarshalled
// one, in the same order, and converts it into req.
func (c *converter) buildV2(req *Request, w *v2Wire) error {
	syms := w.syms
	if len(syms) > 0 && syms[0] != "" {
		return fmt.Errorf("%w: it is %s", ErrSymbolsTable, quote(syms[0]))
	}
	// Symbols alias the message: see build.
	c.b.SetUnsafeAdd(true)
	if cap(c.pairs) < 32 {
		c.pairs = make([]labels.Label, 0, 32)
	}
	defer func() { clear(c.pairs) }()
	st := newStore(counts{len(w.samples), len(w.histograms), len(w.exemplars)})
	st.samples = append(st.samples, w.samples...)
	req.Series = make([]Series, len(w.series))
	var prev v2WireSeries
	for i := range w.series {
		ws := &w.series[i]
		s := &req.Series[i]

		if err := c.pairsV2(w.refs[prev.refs:ws.refs], syms, "labels_refs"); err != nil {
			return &SeriesError{Series: i, Err: err}
		}
		metric := metricName(c.pairs)
		// The error's strings must not alias the message.
		serr := func(label string, err error) error {
			return &SeriesError{Series: i, Metric: strings.Clone(metric), Label: strings.Clone(label), Err: err}
		}
		ls, lerr := c.labels(false, true)
		if lerr != nil {
			return serr(lerr.label, lerr.err)
		}
		s.Labels = ls

		if ws.samples > prev.samples && ws.histograms > prev.histograms {
			return serr("", ErrSamplesAndHistograms)
		}
		if ws.samples > prev.samples {
			s.Samples = st.samples[prev.samples:ws.samples:ws.samples]
		}
		if ws.histograms > prev.histograms {
			for j := prev.histograms; j < ws.histograms; j++ {
				hp := &w.histograms[j]
				h := Histogram{T: hp.Timestamp, ST: hp.StartTimestamp}
				if hp.IsFloatHistogram() {
					h.FH = hp.ToFloatHistogram()
				} else {
					h.H = hp.ToIntHistogram()
				}
				if err := validateHistogram(&h); err != nil {
					return serr("", fmt.Errorf("histogram %d: %w", j-prev.histograms, err))
				}
				st.histograms = append(st.histograms, h)
			}
			s.Histograms = st.histograms[prev.histograms:ws.histograms:ws.histograms]
		}
		if ws.exemplars > prev.exemplars {
			exPrev := 0
			if prev.exemplars > 0 {
				exPrev = w.exemplars[prev.exemplars-1].pairs
			}
			for j := prev.exemplars; j < ws.exemplars; j++ {
				ep := &w.exemplars[j]
				refs := w.exRefs[exPrev:ep.pairs]
				exPrev = ep.pairs
				if err := c.pairsV2(refs, syms, fmt.Sprintf("exemplar %d: labels_refs", j-prev.exemplars)); err != nil {
					return serr("", err)
				}
				ls, lerr := c.labels(false, false)
				if lerr != nil {
					return serr(lerr.label, fmt.Errorf("exemplar %d: %w", j-prev.exemplars, lerr.err))
				}
				st.exemplars = append(st.exemplars, exemplar.Exemplar{Labels: ls, Value: ep.value, Ts: ep.ts, HasTs: true})
			}
			s.Exemplars = st.exemplars[prev.exemplars:ws.exemplars:ws.exemplars]
		}

		md := &ws.meta
		for _, r := range []struct {
			name string
			ref  uint32
		}{{"help_ref", md.HelpRef}, {"unit_ref", md.UnitRef}} {
			if int64(r.ref) >= int64(len(syms)) {
				return serr("", fmt.Errorf("%w: metadata %s is %d, the table has %d symbols", ErrSymbolRef, r.name, r.ref, len(syms)))
			}
		}
		if len(syms) > 0 {
			ts := writev2.TimeSeries{Metadata: *md}
			m, err := ts.ToMetadata(syms)
			if err != nil {
				return serr("", fmt.Errorf("%w: %w", ErrSymbolRef, err))
			}
			m.Help, m.Unit = w.own(md.HelpRef), w.own(md.UnitRef)
			s.Metadata = m
		}
		prev = *ws
	}
	return nil
}
