package remotewrite

import (
	"fmt"
	"unicode/utf8"

	"github.com/prometheus/common/model"
	"github.com/prometheus/prometheus/model/exemplar"
	"github.com/prometheus/prometheus/model/histogram"
	"github.com/prometheus/prometheus/model/labels"
	"github.com/prometheus/prometheus/model/metadata"
)

// Version is the remote-write protobuf message a request carried.
type Version int

// The two protobuf messages of remote write.
const (
	// V1 is prometheus.WriteRequest, remote write 1.0.
	V1 Version = 1
	// V2 is io.prometheus.write.v2.Request, remote write 2.0.
	V2 Version = 2
)

// String returns the protobuf message's name.
func (v Version) String() string {
	switch v {
	case V1:
		return protoV1
	case V2:
		return protoV2
	}
	return fmt.Sprintf("Version(%d)", int(v))
}

// Request is a decoded and validated remote-write request.
type Request struct {
	// Version is the protobuf message the request carried.
	Version Version
	// Tenant is the request's tenant: the tenant header's value, or the
	// default tenant.
	Tenant string
	// Series are the request's time series in the order sent. Two series
	// may have the same labels (2.0 allows it, e.g. for different metadata).
	Series []Series
	// Metadata is the metric metadata of a 1.0 request, per metric family;
	// a 2.0 request has it per series instead.
	Metadata []FamilyMetadata
	// BodyBytes is the size of the request body as received (compressed).
	BodyBytes int
}

// Series is one time series of a request.
type Series struct {
	// Labels are sorted by name, without empty values, and include __name__.
	Labels labels.Labels
	// Samples are the float samples, in the order sent (senders send them
	// oldest first). NaN values and stale markers are kept as they are.
	Samples []Sample
	// Histograms are the native histogram samples, in the order sent.
	Histograms []Histogram
	// Exemplars are the exemplars attached to the series' samples.
	Exemplars []exemplar.Exemplar
	// Metadata is the series' type, unit and help (2.0 only; zero for 1.0).
	Metadata metadata.Metadata
}

// Sample is a float sample.
type Sample struct {
	// T is the timestamp in milliseconds since the epoch.
	T int64
	// V is the value.
	V float64
	// ST is the start timestamp in milliseconds (2.0 only), 0 if unknown.
	ST int64
}

// Histogram is a native histogram sample: exactly one of H and FH is set.
type Histogram struct {
	// T is the timestamp in milliseconds since the epoch.
	T int64
	// ST is the start timestamp in milliseconds (2.0 only), 0 if unknown.
	ST int64
	// H is an integer histogram.
	H *histogram.Histogram
	// FH is a float histogram.
	FH *histogram.FloatHistogram
}

// FamilyMetadata is the metadata of one metric family of a 1.0 request.
type FamilyMetadata struct {
	// Family is the metric family's name (without _bucket, _total, ...).
	Family string
	// Metadata is the family's type, unit and help.
	Metadata metadata.Metadata
}

// Stats counts what the request carries: what a receiver writes when it
// stores all of it.
func (r *Request) Stats() WriteStats {
	var s WriteStats
	for i := range r.Series {
		s.Samples += len(r.Series[i].Samples)
		s.Histograms += len(r.Series[i].Histograms)
		s.Exemplars += len(r.Series[i].Exemplars)
	}
	return s
}

// Validate checks what Decode promises of a request under the given name
// validation scheme: every series has sorted, unique, valid labels with no
// empty value and a valid metric name, every histogram validates, every
// exemplar has valid labels. It returns the first *SeriesError found.
func (r *Request) Validate(scheme model.ValidationScheme) error {
	if err := validTenant(r.Tenant); err != nil {
		return err
	}
	for i := range r.Series {
		s := &r.Series[i]
		metric := s.Labels.Get(model.MetricNameLabel)
		serr := func(label string, err error) error {
			return &SeriesError{Series: i, Metric: metric, Label: label, Err: err}
		}
		if err := validateLabelSet(s.Labels, scheme, true); err != nil {
			return serr(err.label, err.err)
		}
		if len(s.Samples) > 0 && len(s.Histograms) > 0 && r.Version == V2 {
			return serr("", ErrSamplesAndHistograms)
		}
		for j := range s.Histograms {
			if err := validateHistogram(&s.Histograms[j]); err != nil {
				return serr("", fmt.Errorf("histogram %d: %w", j, err))
			}
		}
		for j := range s.Exemplars {
			if err := validateLabelSet(s.Exemplars[j].Labels, scheme, false); err != nil {
				return serr(err.label, fmt.Errorf("exemplar %d: %w", j, err.err))
			}
		}
	}
	return nil
}

// labelError is a label set's fault: which label, what is wrong.
type labelError struct {
	label string
	err   error
}

// validateLabelSet checks a decoded label set; with series, it must have a
// valid metric name.
func validateLabelSet(ls labels.Labels, scheme model.ValidationScheme, series bool) *labelError {
	var (
		prev    string
		first   = true
		lerr    *labelError
		hasName bool
	)
	ls.Range(func(l labels.Label) {
		if lerr != nil {
			return
		}
		switch {
		case !first && l.Name == prev:
			lerr = &labelError{l.Name, ErrDuplicateLabelName}
		case !first && l.Name < prev:
			lerr = &labelError{l.Name, ErrUnsortedLabels}
		case l.Value == "":
			lerr = &labelError{l.Name, fmt.Errorf("%w: empty value", ErrInvalidLabelValue)}
		default:
			lerr = checkLabel(l.Name, l.Value, scheme)
		}
		if l.Name == model.MetricNameLabel {
			hasName = true
		}
		prev, first = l.Name, false
	})
	if lerr != nil {
		return lerr
	}
	if series && !hasName {
		return &labelError{"", ErrMissingMetricName}
	}
	return nil
}

// checkLabel checks one label's name and value; the metric name's value
// must be a valid metric name.
func checkLabel(name, value string, scheme model.ValidationScheme) *labelError {
	switch {
	case name == "":
		return &labelError{"", ErrEmptyLabelName}
	case !scheme.IsValidLabelName(name):
		return &labelError{name, ErrInvalidLabelName}
	case !utf8.ValidString(value):
		return &labelError{name, ErrInvalidLabelValue}
	case name == model.MetricNameLabel && value != "" && !scheme.IsValidMetricName(value):
		return &labelError{name, fmt.Errorf("%w %s", ErrInvalidMetricName, quote(value))}
	}
	return nil
}

// validateHistogram checks that exactly one of H and FH is set and that it
// validates.
func validateHistogram(h *Histogram) error {
	var err error
	switch {
	case h.H != nil && h.FH == nil:
		err = h.H.Validate()
	case h.FH != nil && h.H == nil:
		err = h.FH.Validate()
	default:
		return fmt.Errorf("%w: one of integer and float histogram must be set", ErrInvalidHistogram)
	}
	if err != nil {
		return fmt.Errorf("%w: %w", ErrInvalidHistogram, err)
	}
	return nil
}
