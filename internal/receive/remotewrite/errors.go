package remotewrite

import (
	"errors"
	"net/http"
	"strconv"
	"strings"
)

// Errors of Decode. Each maps to one HTTP status (ErrorStatus); errors
// about one series come wrapped in a *SeriesError.
var (
	// ErrBodyTooLarge is a body above Config.MaxBodyBytes (413).
	ErrBodyTooLarge = newError(http.StatusRequestEntityTooLarge, "request body too large")
	// ErrDecodedTooLarge is a decoded message above Config.MaxDecodedBytes (413).
	ErrDecodedTooLarge = newError(http.StatusRequestEntityTooLarge, "decoded request too large")

	// ErrUnsupportedContentType is a Content-Type other than remote write's (415).
	ErrUnsupportedContentType = newError(http.StatusUnsupportedMediaType, "unsupported content type")
	// ErrUnsupportedEncoding is a Content-Encoding other than snappy (415).
	ErrUnsupportedEncoding = newError(http.StatusUnsupportedMediaType, "unsupported content encoding")

	// ErrReadBody is a body that could not be read to its end (400).
	ErrReadBody = newError(http.StatusBadRequest, "read request body")
	// ErrSnappy is a body that is not a valid snappy block (400).
	ErrSnappy = newError(http.StatusBadRequest, "invalid snappy block")
	// ErrProtobuf is a decoded body that is not a valid protobuf message (400).
	ErrProtobuf = newError(http.StatusBadRequest, "invalid protobuf message")
	// ErrInvalidTenant is a tenant that cannot name a tenant (400).
	ErrInvalidTenant = newError(http.StatusBadRequest, "invalid tenant")

	// ErrMissingMetricName is a series without a __name__ label (400).
	ErrMissingMetricName = newError(http.StatusBadRequest, "missing metric name (__name__ label)")
	// ErrInvalidMetricName is a metric name the name validation refuses (400).
	ErrInvalidMetricName = newError(http.StatusBadRequest, "invalid metric name")
	// ErrEmptyLabelName is a label with an empty name (400).
	ErrEmptyLabelName = newError(http.StatusBadRequest, "empty label name")
	// ErrInvalidLabelName is a label name the name validation refuses (400).
	ErrInvalidLabelName = newError(http.StatusBadRequest, "invalid label name")
	// ErrInvalidLabelValue is a label value that is not valid UTF-8 (400).
	ErrInvalidLabelValue = newError(http.StatusBadRequest, "label value is not valid UTF-8")
	// ErrDuplicateLabelName is a label name given twice in one label set (400).
	ErrDuplicateLabelName = newError(http.StatusBadRequest, "duplicate label name")
	// ErrUnsortedLabels is a 1.0 label set not sorted by name (400).
	ErrUnsortedLabels = newError(http.StatusBadRequest, "labels not sorted by name")
	// ErrLabelRefs is a 2.0 label reference list of odd length (400).
	ErrLabelRefs = newError(http.StatusBadRequest, "odd number of label references")
	// ErrSymbolRef is a 2.0 reference outside the symbols table (400).
	ErrSymbolRef = newError(http.StatusBadRequest, "symbol reference outside the symbols table")
	// ErrSymbolsTable is a 2.0 symbols table whose first entry is not "" (400).
	ErrSymbolsTable = newError(http.StatusBadRequest, "first entry of the symbols table is not the empty string")
	// ErrSamplesAndHistograms is a 2.0 series with both kinds of samples (400).
	ErrSamplesAndHistograms = newError(http.StatusBadRequest, "series has both float samples and histograms")
	// ErrInvalidHistogram is a native histogram that does not validate (400).
	ErrInvalidHistogram = newError(http.StatusBadRequest, "invalid native histogram")
)

// statusError is an error of Decode with its HTTP status.
type statusError struct {
	status int
	msg    string
}

func newError(status int, msg string) error { return &statusError{status: status, msg: msg} }

func (e *statusError) Error() string { return e.msg }

// ErrorStatus returns the HTTP status for err as the remote-write
// specification wants it: 200 for nil, 413 for a body too large (raw or
// decoded, and for the *http.MaxBytesError of a server-side limit), 415 for
// an unsupported content type or encoding, 400 for what a retry cannot fix
// (every other error of Decode), and 500 for an error it does not know,
// which a sender retries.
func ErrorStatus(err error) int {
	if err == nil {
		return http.StatusOK
	}
	var se *statusError
	if errors.As(err, &se) {
		return se.status
	}
	var mbe *http.MaxBytesError
	if errors.As(err, &mbe) {
		return http.StatusRequestEntityTooLarge
	}
	return http.StatusInternalServerError
}

// SeriesError is an error about one series of a request: it says which
// series (index in the request and metric name), which label, and what is
// wrong (Err, one of the package's errors, possibly with details).
type SeriesError struct {
	// Series is the series' index in the request's time series.
	Series int
	// Metric is the series' metric name, if it has one.
	Metric string
	// Label is the name of the label at fault, if one is.
	Label string
	// Err says what is wrong.
	Err error
}

// Error returns e.g. `series 3 (metric "up"): label "job": duplicate label name`.
func (e *SeriesError) Error() string {
	var b strings.Builder
	b.WriteString("series ")
	b.WriteString(strconv.Itoa(e.Series))
	if e.Metric != "" {
		b.WriteString(" (metric ")
		b.WriteString(quote(e.Metric))
		b.WriteString(")")
	}
	b.WriteString(": ")
	if e.Label != "" {
		b.WriteString("label ")
		b.WriteString(quote(e.Label))
		b.WriteString(": ")
	}
	b.WriteString(e.Err.Error())
	return b.String()
}

// Unwrap returns Err.
func (e *SeriesError) Unwrap() error { return e.Err }

// maxQuoted bounds a name or value quoted in an error message, which goes
// back to the sender and into logs.
const maxQuoted = 128

// quote quotes s for an error message, cut to maxQuoted bytes.
func quote(s string) string {
	if len(s) > maxQuoted {
		return strconv.Quote(s[:maxQuoted]) + "..."
	}
	return strconv.Quote(s)
}
