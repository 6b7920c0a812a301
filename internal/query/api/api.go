// Package api serves the querier's Prometheus HTTP API v1 (/api/v1/query,
// /api/v1/query_range, /api/v1/series, ...) over a PromQL engine and a
// query.QueryableCreator, plus the Thanos extras (dedup, partial_response,
// replicaLabels[], storeMatch[], max_source_resolution, /api/v1/stores).
//
// Paths, parameters, JSON bodies, error types and status codes follow
// Prometheus' own API so that Grafana and promtool work unchanged.
package api

import (
	"context"
	"log/slog"
	"net/http"
	"strconv"
	"time"

	"github.com/prometheus/client_golang/prometheus"
	"github.com/prometheus/client_golang/prometheus/promauto"
	"github.com/prometheus/prometheus/model/metadata"
	"github.com/prometheus/prometheus/promql"
	"github.com/prometheus/prometheus/promql/parser"
	"github.com/prometheus/prometheus/util/annotations"

	"github.com/strata-io/strata/internal/endpoint"
	"github.com/strata-io/strata/internal/query"
	"github.com/strata-io/strata/internal/tenancy"
)

// DefaultMaxPointsPerSeries is Prometheus' limit on the number of steps of a
// range query.
const DefaultMaxPointsPerSeries = 11000

// BuildInfo is what /api/v1/status/buildinfo reports.
type BuildInfo struct {
	Version   string `json:"version"`
	Revision  string `json:"revision"`
	Branch    string `json:"branch"`
	BuildUser string `json:"buildUser"`
	BuildDate string `json:"buildDate"`
	GoVersion string `json:"goVersion"`
}

// Config holds the API's flag-driven defaults. Start from DefaultConfig: in
// the zero value dedup is off and queries have no timeout.
type Config struct {
	// QueryTimeout bounds every query and metadata request (0 = no bound
	// beyond the request's own context and its `timeout` parameter).
	QueryTimeout time.Duration
	// LookbackDelta is the default lookback of instant vector selectors
	// (0 = the engine's default, 5m). The lookback_delta parameter overrides it.
	LookbackDelta time.Duration
	// DefaultDedup is the value of the dedup parameter when it is absent.
	DefaultDedup bool
	// ReplicaLabels are the label names that tell HA replicas apart, used
	// unless the request sends replicaLabels[].
	ReplicaLabels []string
	// DefaultPartialResponse is the value of partial_response when absent.
	DefaultPartialResponse bool
	// AutoDownsampling makes an absent max_source_resolution behave like
	// "auto" (step/5 for range queries).
	AutoDownsampling bool
	// InstantMaxSourceResolution is the resolution "auto" means for instant
	// queries (Thanos' --query.instant.default.max_source_resolution, 0 = raw).
	InstantMaxSourceResolution time.Duration
	// MaxPointsPerSeries rejects range queries with more steps than this
	// (0 = DefaultMaxPointsPerSeries).
	MaxPointsPerSeries int
	// Flags is what /api/v1/status/flags reports (flag name → value).
	Flags map[string]string
	// BuildInfo is what /api/v1/status/buildinfo reports.
	BuildInfo BuildInfo
	// Parser parses match[] and storeMatch[] selectors; nil = the default
	// PromQL parser. It should match the engine's parser options.
	Parser parser.Parser
	// Limits bound the query and selector text before it is parsed.
	Limits QueryLimits
	// Tenancy says where a request's tenant comes from and whether every
	// read is scoped to it (the zero value scopes nothing).
	Tenancy tenancy.Config
	// MaxConcurrent bounds the number of PromQL queries parsed and executed
	// at once (--query.max-concurrent, 0 = no bound); the others wait within
	// their timeout.
	MaxConcurrent int
}

// DefaultConfig returns the flag defaults of a Thanos-like querier.
func DefaultConfig() Config {
	return Config{
		QueryTimeout:       2 * time.Minute,
		DefaultDedup:       true,
		MaxPointsPerSeries: DefaultMaxPointsPerSeries,
		Limits:             DefaultQueryLimits(),
		MaxConcurrent:      20,
		Tenancy:            tenancy.DefaultConfig(),
	}
}

// StoreStatuser reports the state of the querier's StoreAPI endpoints. It
// must be safe for concurrent use.
type StoreStatuser interface {
	// Status returns a snapshot of every known endpoint; the caller owns it.
	Status() []endpoint.Status
}

// MetadataFetcher answers /api/v1/metadata. Implementations must be safe for
// concurrent use.
type MetadataFetcher interface {
	// MetricMetadata returns metadata per metric family name. metric == ""
	// asks for every metric; limit < 0 means no limit on the number of
	// metrics, otherwise at most limit metrics are returned. The returned
	// annotations become the response's warnings (e.g. stores that failed
	// under partial response); an error fails the request.
	MetricMetadata(ctx context.Context, metric string, limit int) (map[string][]metadata.Metadata, annotations.Annotations, error)
}

// API is the HTTP API v1 of the querier. It is safe for concurrent use.
type API struct {
	cfg      Config
	engine   promql.QueryEngine
	qc       query.QueryableCreator
	stores   StoreStatuser
	md       MetadataFetcher
	rulesSrc RulesFetcher // nil: no rules (SetRules)
	parser   parser.Parser
	slots    chan struct{} // nil: no bound on concurrent queries
	logger   *slog.Logger
	now      func() time.Time
	started  time.Time
	requests *prometheus.CounterVec
	duration *prometheus.HistogramVec
}

// New returns an API over engine and qc. stores and md may be nil: the
// stores endpoint then lists nothing and metadata answers an empty object.
// reg may be nil.
func New(cfg Config, engine promql.QueryEngine, qc query.QueryableCreator, stores StoreStatuser, md MetadataFetcher, logger *slog.Logger, reg prometheus.Registerer) *API {
	if cfg.MaxPointsPerSeries <= 0 {
		cfg.MaxPointsPerSeries = DefaultMaxPointsPerSeries
	}
	if logger == nil {
		logger = slog.New(slog.DiscardHandler)
	}
	p := cfg.Parser
	if p == nil {
		p = parser.NewParser(parser.Options{})
	}
	var slots chan struct{}
	if cfg.MaxConcurrent > 0 {
		slots = make(chan struct{}, cfg.MaxConcurrent)
	}
	f := promauto.With(reg)
	return &API{
		slots:   slots,
		cfg:     cfg,
		engine:  engine,
		qc:      qc,
		stores:  stores,
		md:      md,
		parser:  p,
		logger:  logger,
		now:     time.Now,
		started: time.Now(),
		requests: f.NewCounterVec(prometheus.CounterOpts{
			Name: "strata_query_api_requests_total",
			Help: "HTTP API v1 requests by handler and status code.",
		}, []string{"handler", "code"}),
		duration: f.NewHistogramVec(prometheus.HistogramOpts{
			Name:                        "strata_query_api_request_duration_seconds",
			Help:                        "Time to answer an HTTP API v1 request, by handler.",
			Buckets:                     []float64{0.005, 0.025, 0.1, 0.25, 1, 2.5, 10, 30, 60, 120},
			NativeHistogramBucketFactor: 1.1,
		}, []string{"handler"}),
	}
}

// Register adds every endpoint to mux under prefix + "/api/v1/" (prefix ""
// or e.g. "/strata", without a trailing slash). Every endpoint accepts GET
// (query string) and POST (form body); other methods get 405.
func (a *API) Register(mux *http.ServeMux, prefix string) {
	for path, h := range map[string]apiFunc{
		"/query":               a.query,
		"/query_range":         a.queryRange,
		"/query_exemplars":     a.queryExemplars,
		"/format_query":        a.formatQuery,
		"/series":              a.series,
		"/labels":              a.labelNames,
		"/label/{name}/values": a.labelValues,
		"/metadata":            a.metadata,
		"/stores":              a.storesStatus,
		"/rules":               a.rules,
		"/alerts":              a.alerts,
		"/targets":             a.targets,
		"/status/buildinfo":    a.buildInfo,
		"/status/flags":        a.flags,
		"/status/runtimeinfo":  a.runtimeInfo,
		"/status/config":       a.config,
	} {
		handler := a.wrap(path, h)
		mux.Handle("GET "+prefix+"/api/v1"+path, handler)
		mux.Handle("POST "+prefix+"/api/v1"+path, handler)
	}
	notFound := a.wrap("other", a.notFound)
	mux.Handle("GET "+prefix+"/api/v1/", notFound)
	mux.Handle("POST "+prefix+"/api/v1/", notFound)
}

// statusRecorder remembers the status code a handler wrote.
type statusRecorder struct {
	http.ResponseWriter
	code int
}

func (s *statusRecorder) WriteHeader(code int) {
	s.code = code
	s.ResponseWriter.WriteHeader(code)
}

// wrap turns an apiFunc into an instrumented http.Handler that writes its
// result as a Prometheus API response.
func (a *API) wrap(name string, f apiFunc) http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		start := time.Now()
		if h := a.cfg.Tenancy.Header; h != "" && r.Header.Get(h) != "" {
			a.logger.Debug("api request", "handler", name, "tenant", r.Header.Get(h))
		}
		rec := &statusRecorder{ResponseWriter: w, code: http.StatusOK}
		res := f(r)
		if res.err != nil {
			a.respondError(rec, res.err, res.data)
		} else {
			a.respond(rec, r, res)
		}
		if res.finalizer != nil {
			res.finalizer()
		}
		a.requests.WithLabelValues(name, strconv.Itoa(rec.code)).Inc()
		a.duration.WithLabelValues(name).Observe(time.Since(start).Seconds())
	})
}
