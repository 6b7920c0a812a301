// Package handler is the receiver's remote-write HTTP endpoint: it decodes
// a request with remotewrite.Decoder, appends its series to the tenant's
// storage and answers with the status a remote-write sender acts on.
//
// Statuses: 204 No Content when everything was stored; 405 for a method
// other than POST; the 4xx of remotewrite.ErrorStatus for a request that
// cannot be decoded (nothing is stored); 409 for samples refused for their
// timestamp (the others are stored); 503 when the storage is closed or the
// request waited for a write slot until it was cancelled; 500 for another
// storage failure; 413 and 429 for a request over a limit of
// --receive.limits-config-file (413: the request itself is too big and is
// dropped; 429: the sender backs off and retries); the status of a
// router's error (quorum, forwarding). Senders retry 5xx and 429 and drop
// other 4xx. A 2.0 request gets the X-Prometheus-Remote-Write-*-Written
// headers on every answer.
package handler

import (
	"context"
	"errors"
	"log/slog"
	"net/http"
	"strconv"

	"github.com/prometheus/client_golang/prometheus"
	"github.com/prometheus/client_golang/prometheus/promauto"

	"github.com/strata-io/strata/internal/receive/limits"
	"github.com/strata-io/strata/internal/receive/multitsdb"
	"github.com/strata-io/strata/internal/receive/remotewrite"
)

// DefaultMaxConcurrentWrites is the default bound on requests decoded and
// appended at once.
const DefaultMaxConcurrentWrites = 32

// Appender stores decoded series of one tenant (*multitsdb.MultiTSDB).
type Appender interface {
	Append(ctx context.Context, tenant string, series []remotewrite.Series) (multitsdb.WriteStats, error)
}

// Options configure a Handler.
type Options struct {
	// MaxConcurrent bounds the requests decoded and appended at once
	// (--receive.max-concurrent-writes); more wait for a slot.
	MaxConcurrent int
	// Limiter enforces --receive.limits-config-file; nil enforces none.
	Limiter *limits.Limiter
}

// Handler is the remote-write endpoint. It is safe for concurrent use.
type Handler struct {
	dec    *remotewrite.Decoder
	app    Appender
	lim    *limits.Limiter
	logger *slog.Logger
	slots  chan struct{}

	requests *prometheus.CounterVec
	inflight prometheus.Gauge
}

// New returns a Handler decoding with dec and storing into app. A nil
// logger discards logs; reg may be nil.
func New(dec *remotewrite.Decoder, app Appender, opts Options, logger *slog.Logger, reg prometheus.Registerer) (*Handler, error) {
	maxConcurrent := opts.MaxConcurrent
	if dec == nil || app == nil {
		return nil, errors.New("remote-write handler: decoder and appender are required")
	}
	if maxConcurrent <= 0 {
		return nil, errors.New("remote-write handler: set --receive.max-concurrent-writes to a positive number")
	}
	if logger == nil {
		logger = slog.New(slog.DiscardHandler)
	}
	f := promauto.With(reg)
	return &Handler{
		dec:    dec,
		app:    app,
		lim:    opts.Limiter,
		logger: logger,
		slots:  make(chan struct{}, maxConcurrent),
		requests: f.NewCounterVec(prometheus.CounterOpts{
			Name: "strata_receive_write_requests_total",
			Help: "Remote-write requests answered, by HTTP status code.",
		}, []string{"code"}),
		inflight: f.NewGauge(prometheus.GaugeOpts{
			Name: "strata_receive_write_requests_inflight",
			Help: "Remote-write requests being decoded or appended.",
		}),
	}, nil
}

// ServeHTTP implements http.Handler.
func (h *Handler) ServeHTTP(w http.ResponseWriter, r *http.Request) {
	if r.Method != http.MethodPost {
		w.Header().Set("Allow", http.MethodPost)
		h.fail(w, http.StatusMethodNotAllowed, "remote write takes POST requests only", nil)
		return
	}
	tenant := h.dec.Tenant(r)
	if err := h.lim.CheckBodySize(tenant, r.ContentLength); err != nil {
		h.fail(w, StatusOf(err), err.Error(), err)
		return
	}
	release, err := h.lim.Acquire(tenant)
	if err != nil {
		h.fail(w, StatusOf(err), err.Error(), err)
		return
	}
	defer release()
	select {
	case h.slots <- struct{}{}:
	case <-r.Context().Done():
		h.fail(w, http.StatusServiceUnavailable, "request cancelled while waiting for a write slot", r.Context().Err())
		return
	}
	h.inflight.Inc()
	defer func() {
		h.inflight.Dec()
		<-h.slots
	}()

	maxBody := h.lim.BodySizeLimit(tenant)
	req, err := h.dec.DecodeLimit(r, maxBody)
	if err != nil {
		if errors.Is(err, remotewrite.ErrBodyTooLarge) && maxBody > 0 {
			// Over the tenant's size_bytes_limit: say which limit.
			if lerr := h.lim.CheckBodySize(tenant, maxBody+1); lerr != nil {
				err = lerr
			}
		}
		h.fail(w, StatusOf(err), err.Error(), err)
		return
	}
	st := req.Stats()
	if err := h.lim.CheckRequest(req.Tenant, req.BodyBytes, len(req.Series), st.Samples+st.Histograms); err != nil {
		h.fail(w, StatusOf(err), err.Error(), err)
		return
	}
	stats, err := h.app.Append(r.Context(), req.Tenant, req.Series)
	if req.Version == remotewrite.V2 {
		remotewrite.WriteStats{Samples: stats.Samples, Histograms: stats.Histograms, Exemplars: stats.Exemplars}.SetHeaders(w.Header())
	}
	if err != nil {
		h.fail(w, StatusOf(err), err.Error(), err)
		return
	}
	h.requests.WithLabelValues(strconv.Itoa(http.StatusNoContent)).Inc()
	w.WriteHeader(http.StatusNoContent)
}

// statusError is an error that knows its HTTP status (*limits.LimitError,
// the router's errors).
type statusError interface {
	error
	HTTPStatus() int
}

// StatusOf returns the HTTP status of a write failure: the status of the
// first error in its chain that knows one, remotewrite.ErrorStatus for a
// decoding error, else multitsdb.ErrorStatus.
func StatusOf(err error) int {
	if e, ok := errors.AsType[statusError](err); ok {
		return e.HTTPStatus()
	}
	if st := remotewrite.ErrorStatus(err); st != http.StatusInternalServerError {
		return st
	}
	return multitsdb.ErrorStatus(err)
}

// fail answers with status and msg, and logs server-side failures.
func (h *Handler) fail(w http.ResponseWriter, status int, msg string, err error) {
	h.requests.WithLabelValues(strconv.Itoa(status)).Inc()
	if status >= http.StatusInternalServerError {
		h.logger.Warn("remote write failed", "status", status, "err", err)
	} else {
		h.logger.Debug("remote write refused", "status", status, "err", err)
	}
	http.Error(w, msg, status)
}
