// Package handler is the receiver's remote-write HTTP endpoint: it decodes
// a request with remotewrite.Decoder, appends its series to the tenant's
// storage and answers with the status a remote-write sender acts on.
//
// Statuses: 204 No Content when everything was stored; 405 for a method
// other than POST; the 4xx of remotewrite.ErrorStatus for a request that
// cannot be decoded (nothing is stored); 409 for samples refused for their
// timestamp (the others are stored); 503 when the storage is closed or the
// request waited for a write slot until it was cancelled; 500 for another
// storage failure. Senders retry 5xx and drop 4xx. A 2.0 request gets the
// X-Prometheus-Remote-Write-*-Written headers on every answer.
package handler

import (
	"context"
	"errors"
	"log/slog"
	"net/http"
	"strconv"

	"github.com/prometheus/client_golang/prometheus"
	"github.com/prometheus/client_golang/prometheus/promauto"

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

// Handler is the remote-write endpoint. It is safe for concurrent use.
type Handler struct {
	dec    *remotewrite.Decoder
	app    Appender
	logger *slog.Logger
	slots  chan struct{}

	requests *prometheus.CounterVec
	inflight prometheus.Gauge
}

// New returns a Handler decoding with dec and storing into app, with at
// most maxConcurrent requests (decoding and appending) at once; more wait
// for a slot. A nil logger discards logs; reg may be nil.
func New(dec *remotewrite.Decoder, app Appender, maxConcurrent int, logger *slog.Logger, reg prometheus.Registerer) (*Handler, error) {
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

	req, err := h.dec.Decode(r)
	if err != nil {
		h.fail(w, remotewrite.ErrorStatus(err), err.Error(), err)
		return
	}
	stats, err := h.app.Append(r.Context(), req.Tenant, req.Series)
	if req.Version == remotewrite.V2 {
		remotewrite.WriteStats{Samples: stats.Samples, Histograms: stats.Histograms, Exemplars: stats.Exemplars}.SetHeaders(w.Header())
	}
	if err != nil {
		h.fail(w, multitsdb.ErrorStatus(err), err.Error(), err)
		return
	}
	h.requests.WithLabelValues(strconv.Itoa(http.StatusNoContent)).Inc()
	w.WriteHeader(http.StatusNoContent)
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
