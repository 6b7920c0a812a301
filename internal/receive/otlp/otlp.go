// Package otlp is the receiver's OpenTelemetry metrics endpoint: OTLP/HTTP
// export requests (protobuf or JSON, optionally gzip) converted to
// Prometheus series by the Prometheus module's own OTLP translator, then
// stored like a remote write (locally or through the hashring).
//
// An OpenTelemetry Collector's otlphttp exporter with endpoint
// http://<receive>:19291/api/v1/otlp posts to /api/v1/otlp/v1/metrics. The
// tenant comes from the same header as remote write. Statuses: 200 stored;
// 400 for a body that cannot be decoded or converted (nothing stored); 413
// over the size limit; 415 for another content type; the write path's
// status otherwise (409 conflicts, 429 limits, 503 no quorum).
package otlp

import (
	"bytes"
	"compress/gzip"
	"context"
	"fmt"
	"io"
	"log/slog"
	"mime"
	"net/http"
	"strings"

	"github.com/prometheus/prometheus/model/histogram"
	"github.com/prometheus/prometheus/model/labels"
	"github.com/prometheus/prometheus/storage"
	"github.com/prometheus/prometheus/storage/remote/otlptranslator/prometheusremotewrite"
	"go.opentelemetry.io/collector/pdata/pmetric/pmetricotlp"

	"github.com/strata-io/strata/internal/receive/handler"
	"github.com/strata-io/strata/internal/receive/remotewrite"
)

// Paths of the endpoint: the base an exporter is configured with, and the
// path the OTLP/HTTP exporter appends /v1/metrics to it for.
const (
	Path        = "/api/v1/otlp"
	MetricsPath = Path + "/v1/metrics"
)

// Handler serves OTLP metrics export requests. Safe for concurrent use.
type Handler struct {
	dec    *remotewrite.Decoder // tenant header, default tenant, limits, validation
	app    handler.Appender
	logger *slog.Logger
}

// New returns a Handler taking the tenant and size limits from dec's
// configuration and storing with app.
func New(dec *remotewrite.Decoder, app handler.Appender, logger *slog.Logger) *Handler {
	if logger == nil {
		logger = slog.New(slog.DiscardHandler)
	}
	return &Handler{dec: dec, app: app, logger: logger}
}

// ServeHTTP implements http.Handler.
func (h *Handler) ServeHTTP(w http.ResponseWriter, r *http.Request) {
	if r.Method != http.MethodPost {
		w.Header().Set("Allow", http.MethodPost)
		http.Error(w, "OTLP export takes POST requests only", http.StatusMethodNotAllowed)
		return
	}
	req, err := h.decode(r)
	if err != nil {
		st := handler.StatusOf(err)
		h.logger.Debug("otlp export refused", "status", st, "err", err)
		http.Error(w, err.Error(), st)
		return
	}
	if len(req.Series) > 0 {
		if _, err := h.app.Append(r.Context(), req.Tenant, req.Series); err != nil {
			st := handler.StatusOf(err)
			if st >= http.StatusInternalServerError {
				h.logger.Warn("otlp export failed", "status", st, "err", err)
			}
			http.Error(w, err.Error(), st)
			return
		}
	}
	// An empty ExportMetricsServiceResponse is zero bytes in protobuf.
	w.Header().Set("Content-Type", "application/x-protobuf")
	w.WriteHeader(http.StatusOK)
}

// errBadRequest marks what the sender must fix (400).
type errBadRequest struct{ err error }

func (e errBadRequest) Error() string   { return e.err.Error() }
func (e errBadRequest) Unwrap() error   { return e.err }
func (e errBadRequest) HTTPStatus() int { return http.StatusBadRequest }

type statusErr struct {
	status int
	msg    string
}

func (e statusErr) Error() string   { return e.msg }
func (e statusErr) HTTPStatus() int { return e.status }

// decode reads, decompresses and converts an export request.
func (h *Handler) decode(r *http.Request) (*remotewrite.Request, error) {
	cfg := h.dec.Config()
	tenant := h.dec.Tenant(r)
	ct, _, err := mime.ParseMediaType(r.Header.Get("Content-Type"))
	if err != nil || (ct != "application/x-protobuf" && ct != "application/json") {
		return nil, statusErr{http.StatusUnsupportedMediaType, fmt.Sprintf("content type %q: send application/x-protobuf or application/json", r.Header.Get("Content-Type"))}
	}
	if r.ContentLength > cfg.MaxBodyBytes {
		return nil, statusErr{http.StatusRequestEntityTooLarge, fmt.Sprintf("body of %d bytes is over the limit of %d", r.ContentLength, cfg.MaxBodyBytes)}
	}
	body, err := readAll(io.LimitReader(r.Body, cfg.MaxBodyBytes+1), cfg.MaxBodyBytes)
	if err != nil {
		return nil, err
	}
	switch enc := strings.ToLower(r.Header.Get("Content-Encoding")); enc {
	case "", "identity":
	case "gzip":
		zr, err := gzip.NewReader(bytes.NewReader(body))
		if err != nil {
			return nil, errBadRequest{fmt.Errorf("gzip body: %w", err)}
		}
		if body, err = readAll(io.LimitReader(zr, cfg.MaxDecodedBytes+1), cfg.MaxDecodedBytes); err != nil {
			return nil, err
		}
	default:
		return nil, statusErr{http.StatusUnsupportedMediaType, fmt.Sprintf("content encoding %q: send gzip or none", enc)}
	}
	exp := pmetricotlp.NewExportRequest()
	if ct == "application/json" {
		err = exp.UnmarshalJSON(body)
	} else {
		err = exp.UnmarshalProto(body)
	}
	if err != nil {
		return nil, errBadRequest{fmt.Errorf("OTLP metrics export request: %w", err)}
	}

	col := newCollector()
	conv := prometheusremotewrite.NewPrometheusConverter(col)
	// Prometheus' default OTLP translation (UnderscoreEscapingWithSuffixes):
	// http.server.requests becomes http_server_requests_total.
	settings := prometheusremotewrite.Settings{AddMetricSuffixes: true}
	annots, err := conv.FromMetrics(context.WithoutCancel(r.Context()), exp.Metrics(), settings)
	if err != nil {
		return nil, errBadRequest{fmt.Errorf("convert OTLP metrics: %w", err)}
	}
	if len(annots) > 0 {
		warnings, _ := annots.AsStrings("", 0, 0)
		h.logger.Debug("otlp conversion warnings", "tenant", tenant, "warnings", warnings)
	}
	req := &remotewrite.Request{Version: remotewrite.V1, Tenant: tenant, Series: col.series, BodyBytes: len(body)}
	if err := req.Validate(cfg.NameValidation); err != nil {
		return nil, errBadRequest{err}
	}
	return req, nil
}

// readAll reads r, failing with 413 past limit bytes.
func readAll(r io.Reader, limit int64) ([]byte, error) {
	b, err := io.ReadAll(r)
	if err != nil {
		return nil, errBadRequest{fmt.Errorf("read body: %w", err)}
	}
	if int64(len(b)) > limit {
		return nil, statusErr{http.StatusRequestEntityTooLarge, fmt.Sprintf("body is over the limit of %d bytes", limit)}
	}
	return b, nil
}

// collector is the storage.AppenderV2 the translator appends to: it
// gathers the samples per series, in the order appended.
type collector struct {
	index  map[uint64][]int // labels hash -> indexes in series
	series []remotewrite.Series
}

func newCollector() *collector { return &collector{index: map[uint64][]int{}} }

// Append implements storage.AppenderV2.
func (c *collector) Append(_ storage.SeriesRef, ls labels.Labels, st, t int64, v float64, h *histogram.Histogram, fh *histogram.FloatHistogram, opts storage.AppendV2Options) (storage.SeriesRef, error) {
	hash := ls.Hash()
	i := -1
	for _, j := range c.index[hash] {
		if labels.Equal(c.series[j].Labels, ls) {
			i = j
			break
		}
	}
	if i < 0 {
		i = len(c.series)
		c.index[hash] = append(c.index[hash], i)
		c.series = append(c.series, remotewrite.Series{Labels: ls.Copy(), Metadata: opts.Metadata})
	}
	s := &c.series[i]
	switch {
	case fh != nil:
		s.Histograms = append(s.Histograms, remotewrite.Histogram{T: t, ST: st, FH: fh.Copy()})
	case h != nil:
		s.Histograms = append(s.Histograms, remotewrite.Histogram{T: t, ST: st, H: h.Copy()})
	default:
		s.Samples = append(s.Samples, remotewrite.Sample{T: t, V: v, ST: st})
	}
	for _, e := range opts.Exemplars {
		e.Labels = e.Labels.Copy()
		s.Exemplars = append(s.Exemplars, e)
	}
	return storage.SeriesRef(i + 1), nil
}

// Commit implements storage.AppenderV2: the series are taken from the
// collector afterwards.
func (c *collector) Commit() error { return nil }

// Rollback implements storage.AppenderV2.
func (c *collector) Rollback() error {
	c.series = nil
	clear(c.index)
	return nil
}

var _ storage.AppenderV2 = (*collector)(nil)
