package remotewrite

import (
	"net/http"
	"strconv"
)

// The response headers in which a 2.0 receiver says what it wrote.
const (
	SamplesWrittenHeader    = "X-Prometheus-Remote-Write-Samples-Written"
	HistogramsWrittenHeader = "X-Prometheus-Remote-Write-Histograms-Written"
	ExemplarsWrittenHeader  = "X-Prometheus-Remote-Write-Exemplars-Written"
)

// WriteStats counts what a receiver wrote of a request.
type WriteStats struct {
	// Samples is the number of float samples written.
	Samples int
	// Histograms is the number of native histogram samples written.
	Histograms int
	// Exemplars is the number of exemplars written.
	Exemplars int
}

// Add returns the sum of s and o.
func (s WriteStats) Add(o WriteStats) WriteStats {
	return WriteStats{
		Samples:    s.Samples + o.Samples,
		Histograms: s.Histograms + o.Histograms,
		Exemplars:  s.Exemplars + o.Exemplars,
	}
}

// SetHeaders sets the three X-Prometheus-Remote-Write-*-Written headers of a
// response to s. A 2.0 receiver sets them on every response, errors
// included, so that the sender knows what of a partly failed request was
// written; they must be set before the response's WriteHeader.
func (s WriteStats) SetHeaders(h http.Header) {
	h.Set(SamplesWrittenHeader, strconv.Itoa(s.Samples))
	h.Set(HistogramsWrittenHeader, strconv.Itoa(s.Histograms))
	h.Set(ExemplarsWrittenHeader, strconv.Itoa(s.Exemplars))
}
