package limits

import (
	"fmt"
	"net/http"
	"sync"
	"sync/atomic"

	"github.com/prometheus/client_golang/prometheus"
	"github.com/prometheus/client_golang/prometheus/promauto"
)

// Names of the limits, as LimitError.Limit and the limit label of
// strata_receive_limited_requests_total give them.
const (
	LimitSizeBytes      = "size_bytes_limit"
	LimitSeries         = "series_limit"
	LimitSamples        = "samples_limit"
	LimitHeadSeries     = "head_series_limit"
	LimitMaxConcurrency = "max_concurrency"
)

// LimitError is a write refused by a limit. Status is the HTTP status to
// answer with: 413 for a request over a request limit (the sender drops
// it), 429 for max_concurrency and head_series_limit (the sender retries).
type LimitError struct {
	// Limit is the name of the limit, one of the Limit* constants.
	Limit string
	// Tenant is the tenant of the refused request.
	Tenant string
	// Value is what the request (or the tenant, or all in-flight
	// requests) reached; Max is the limit it passed.
	Value, Max int64
	// Status is the HTTP status to answer with.
	Status int
	// Source is where the limit is set in the configuration file, e.g.
	// "write.tenants.acme.request.series_limit".
	Source string
}

// HTTPStatus returns Status: the write path answers with it.
func (e *LimitError) HTTPStatus() int { return e.Status }

// Error says which limit refused the write, with the value, the maximum and
// what to do.
func (e *LimitError) Error() string {
	switch e.Limit {
	case LimitSizeBytes:
		return fmt.Sprintf("request body of %d bytes is larger than tenant %s's %s %d: send smaller batches (queue_config.max_samples_per_send) or raise %s",
			e.Value, e.Tenant, e.Limit, e.Max, e.Source)
	case LimitSeries, LimitSamples:
		what := "series"
		if e.Limit == LimitSamples {
			what = "samples"
		}
		return fmt.Sprintf("request has %d %s, more than tenant %s's %s %d: send smaller batches (queue_config.max_samples_per_send) or raise %s",
			e.Value, what, e.Tenant, e.Limit, e.Max, e.Source)
	case LimitHeadSeries:
		return fmt.Sprintf("tenant %s has %d active series, its %s is %d: stop sending new series (drop or relabel high-cardinality labels), wait for old series to leave the head, or raise %s",
			e.Tenant, e.Value, e.Limit, e.Max, e.Source)
	case LimitMaxConcurrency:
		return fmt.Sprintf("%d write requests in flight over all tenants, more than the %s %d: retry later or raise %s",
			e.Value, e.Limit, e.Max, e.Source)
	}
	return fmt.Sprintf("tenant %s: %d is over the %s %d: raise %s", e.Tenant, e.Value, e.Limit, e.Max, e.Source)
}

// limit is one resolved limit: its maximum (0: unlimited) and where the
// configuration sets it.
type limit struct {
	max    int64
	source string
}

// tenantLimits are the resolved limits of one tenant.
type tenantLimits struct {
	sizeBytes, series, samples, headSeries limit
}

// state is a configuration resolved for lookups; it is never modified once
// built.
type state struct {
	cfg            *Config
	maxConcurrency limit
	def            tenantLimits
	tenants        map[string]tenantLimits
}

func resolve(cfg *Config) *state {
	s := &state{cfg: cfg, tenants: map[string]tenantLimits{}}
	if cfg == nil {
		return s
	}
	w := cfg.Write
	s.maxConcurrency = pick(w.Global.MaxConcurrency, limit{}, "write.global.max_concurrency")
	s.def = w.Default.resolve(tenantLimits{}, "write.default")
	for name, t := range w.Tenants {
		s.tenants[name] = t.resolve(s.def, "write.tenants."+name)
	}
	return s
}

func (t TenantConfig) resolve(def tenantLimits, prefix string) tenantLimits {
	return tenantLimits{
		sizeBytes:  pick(t.Request.SizeBytesLimit, def.sizeBytes, prefix+".request.size_bytes_limit"),
		series:     pick(t.Request.SeriesLimit, def.series, prefix+".request.series_limit"),
		samples:    pick(t.Request.SamplesLimit, def.samples, prefix+".request.samples_limit"),
		headSeries: pick(t.HeadSeriesLimit, def.headSeries, prefix+".head_series_limit"),
	}
}

// pick returns the limit v sets at source, or def when v is unset.
func pick(v *int64, def limit, source string) limit {
	if v == nil {
		if def.source == "" {
			def.source = source // unset everywhere: raising it means setting it here
		}
		return def
	}
	return limit{max: *v, source: source}
}

func (s *state) tenant(name string) tenantLimits {
	if t, ok := s.tenants[name]; ok {
		return t
	}
	return s.def
}

// Limiter enforces a limits configuration on write requests. It is safe for
// concurrent use; Update swaps the configuration while requests are being
// checked. A nil *Limiter enforces nothing.
type Limiter struct {
	state    atomic.Pointer[state]
	inflight atomic.Int64

	limited       *prometheus.CounterVec
	reloadSuccess prometheus.Gauge
	reloads       *prometheus.CounterVec
}

// New returns a Limiter enforcing cfg; a nil cfg sets no limit. Its metrics
// are registered on reg, which may be nil.
func New(cfg *Config, reg prometheus.Registerer) *Limiter {
	f := promauto.With(reg)
	l := &Limiter{
		limited: f.NewCounterVec(prometheus.CounterOpts{
			Name: "strata_receive_limited_requests_total",
			Help: "Write requests refused by a limit of the limits configuration, by tenant and limit.",
		}, []string{"tenant", "limit"}),
		reloadSuccess: f.NewGauge(prometheus.GaugeOpts{
			Name: "strata_receive_limits_config_last_reload_successful",
			Help: "1 if the last reload of the limits configuration file succeeded, 0 if it failed and the previous configuration is still in force.",
		}),
		reloads: f.NewCounterVec(prometheus.CounterOpts{
			Name: "strata_receive_limits_config_reloads_total",
			Help: "Reloads of the limits configuration file after its content changed, by result (success, failure).",
		}, []string{"result"}),
	}
	l.reloadSuccess.Set(1)
	l.reloads.WithLabelValues("success")
	l.reloads.WithLabelValues("failure")
	l.state.Store(resolve(cfg))
	return l
}

// Update makes cfg the configuration in force for the checks that follow;
// nil removes every limit. Requests already admitted are not re-checked.
func (l *Limiter) Update(cfg *Config) {
	l.state.Store(resolve(cfg))
}

// Config returns the configuration in force (nil: no limits).
func (l *Limiter) Config() *Config {
	if l == nil {
		return nil
	}
	return l.state.Load().cfg
}

// BodySizeLimit returns the tenant's size_bytes_limit, for the handler to
// cap its body reader; 0 is no limit.
func (l *Limiter) BodySizeLimit(tenant string) int64 {
	if l == nil {
		return 0
	}
	return l.state.Load().tenant(tenant).sizeBytes.max
}

// CheckBodySize checks a request's body size, as Content-Length gives it,
// against the tenant's size_bytes_limit before the body is read. An unknown
// length (negative) passes: cap the reader at BodySizeLimit and call
// CheckRequest with the bytes read.
func (l *Limiter) CheckBodySize(tenant string, contentLength int64) error {
	if l == nil || contentLength < 0 {
		return nil
	}
	return l.check(tenant, LimitSizeBytes, l.state.Load().tenant(tenant).sizeBytes, contentLength, http.StatusRequestEntityTooLarge)
}

// CheckRequest checks a request of bodyBytes bytes (as received) carrying
// series series and samples samples (floats and histograms) against the
// tenant's request limits. It returns nil or a *LimitError with status 413
// naming the first limit passed, in the order size, series, samples.
func (l *Limiter) CheckRequest(tenant string, bodyBytes, series, samples int) error {
	if l == nil {
		return nil
	}
	t := l.state.Load().tenant(tenant)
	if err := l.check(tenant, LimitSizeBytes, t.sizeBytes, int64(bodyBytes), http.StatusRequestEntityTooLarge); err != nil {
		return err
	}
	if err := l.check(tenant, LimitSeries, t.series, int64(series), http.StatusRequestEntityTooLarge); err != nil {
		return err
	}
	return l.check(tenant, LimitSamples, t.samples, int64(samples), http.StatusRequestEntityTooLarge)
}

// CheckHeadSeries checks the tenant's head_series_limit given the series its
// head holds now. A request is refused (*LimitError, status 429) when the
// head already holds at least head_series_limit series, unless newSeries is
// 0: the caller knows the request only appends to series the head holds.
// Pass a negative newSeries when that is not known. The check is not exact:
// requests admitted together may take the head past the limit.
func (l *Limiter) CheckHeadSeries(tenant string, headSeries uint64, newSeries int) error {
	if l == nil || newSeries == 0 {
		return nil
	}
	lim := l.state.Load().tenant(tenant).headSeries
	if lim.max == 0 || headSeries < uint64(lim.max) {
		return nil
	}
	l.limited.WithLabelValues(tenant, LimitHeadSeries).Inc()
	return &LimitError{Limit: LimitHeadSeries, Tenant: tenant, Value: int64(min(headSeries, 1<<63-1)), Max: lim.max, Status: http.StatusTooManyRequests, Source: lim.source}
}

// Acquire admits a write request of tenant under write.global.max_concurrency:
// it returns a release function to call once the request is handled (calls
// after the first do nothing), or a *LimitError with status 429 when
// max_concurrency requests are in flight already. It never waits.
func (l *Limiter) Acquire(tenant string) (release func(), err error) {
	if l == nil {
		return func() {}, nil
	}
	n := l.inflight.Add(1)
	lim := l.state.Load().maxConcurrency
	if lim.max > 0 && n > lim.max {
		l.inflight.Add(-1)
		l.limited.WithLabelValues(tenant, LimitMaxConcurrency).Inc()
		return nil, &LimitError{Limit: LimitMaxConcurrency, Tenant: tenant, Value: n, Max: lim.max, Status: http.StatusTooManyRequests, Source: lim.source}
	}
	var once sync.Once
	return func() { once.Do(func() { l.inflight.Add(-1) }) }, nil
}

// check returns a *LimitError when value passes lim, counting it.
func (l *Limiter) check(tenant, name string, lim limit, value int64, status int) error {
	if lim.max == 0 || value <= lim.max {
		return nil
	}
	l.limited.WithLabelValues(tenant, name).Inc()
	return &LimitError{Limit: name, Tenant: tenant, Value: value, Max: lim.max, Status: status, Source: lim.source}
}
