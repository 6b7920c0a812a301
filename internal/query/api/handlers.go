package api

import (
	"cmp"
	"context"
	"errors"
	"fmt"
	"math"
	"net/http"
	"os"
	"runtime"
	"runtime/debug"
	"slices"
	"strconv"
	"strings"
	"time"

	"github.com/prometheus/common/model"
	"github.com/prometheus/prometheus/model/labels"
	"github.com/prometheus/prometheus/model/metadata"
	"github.com/prometheus/prometheus/model/timestamp"
	"github.com/prometheus/prometheus/promql"
	"github.com/prometheus/prometheus/storage"
	"github.com/prometheus/prometheus/util/annotations"
	"github.com/prometheus/prometheus/util/stats"

	"github.com/strata-io/strata/internal/query"
	"github.com/strata-io/strata/internal/tenancy"
)

var errTruncated = errors.New("results truncated due to limit")

// requestContext bounds r's context by Config.QueryTimeout and by the
// request's timeout parameter. The caller must call the returned cancel.
func (a *API) requestContext(r *http.Request) (context.Context, context.CancelFunc, *apiError) {
	ctx, cancel := r.Context(), context.CancelFunc(func() {})
	if a.cfg.QueryTimeout > 0 {
		ctx, cancel = context.WithTimeout(ctx, a.cfg.QueryTimeout)
	}
	if v := r.FormValue("timeout"); v != "" {
		d, err := parseTimeout(v)
		if err != nil {
			cancel()
			return nil, nil, &apiError{errorBadData, fmt.Errorf("invalid parameter %q: %w", "timeout", err)}
		}
		outer := cancel
		var inner context.CancelFunc
		ctx, inner = context.WithTimeout(ctx, d)
		cancel = func() { inner(); outer() }
	}
	return ctx, cancel, nil
}

// tenantMatcher returns the matcher that scopes r's reads to its tenant,
// or nil when tenancy is not enforced. An invalid tenant header is a
// bad_data error.
func (a *API) tenantMatcher(r *http.Request) (*labels.Matcher, *apiError) {
	tc := a.cfg.Tenancy
	if !tc.Enforce {
		return nil, nil
	}
	t, err := tc.FromRequest(r)
	if err != nil {
		return nil, &apiError{errorBadData, err}
	}
	return tc.Matcher(t), nil
}

// defaultLookbackDelta is the engine's lookback delta when none is
// configured (Prometheus' default).
const defaultLookbackDelta = 5 * time.Minute

// engineOpts returns the engine options of a request: stats, and the
// lookback delta (the lookback_delta parameter, else the configured one
// widened to twice maxRes, the resolution the request may read).
func (a *API) engineOpts(r *http.Request, maxRes time.Duration) (promql.QueryOpts, error) {
	lookback := a.cfg.LookbackDelta
	if maxRes > 0 {
		// Downsampled series have one sample per window: an instant
		// selector must look back further than a window to find one.
		if lookback <= 0 {
			lookback = defaultLookbackDelta
		}
		lookback = max(lookback, 2*maxRes)
	}
	if v := r.FormValue("lookback_delta"); v != "" {
		d, err := parseLookbackDelta(v)
		if err != nil {
			return nil, fmt.Errorf("error parsing lookback delta duration: %w", err)
		}
		lookback = d
	}
	return promql.NewPrometheusQueryOpts(r.FormValue("stats") == "all", lookback), nil
}

func (a *API) query(r *http.Request) result {
	limit, err := limitParam(r)
	if err != nil {
		return badParam("limit", err)
	}
	ts, err := timeParam(r, "time", a.now())
	if err != nil {
		return badParam("time", err)
	}
	return a.runQuery(r, limit, a.cfg.InstantMaxSourceResolution, func(ctx context.Context, q storage.Queryable, o promql.QueryOpts, qs string) (promql.Query, error) {
		return a.engine.NewInstantQuery(ctx, q, o, qs, ts)
	})
}

func (a *API) queryRange(r *http.Request) result {
	limit, err := limitParam(r)
	if err != nil {
		return badParam("limit", err)
	}
	start, err := parseTime(r.FormValue("start"))
	if err != nil {
		return badParam("start", err)
	}
	end, err := parseTime(r.FormValue("end"))
	if err != nil {
		return badParam("end", err)
	}
	if end.Before(start) {
		return badParam("end", errors.New("end timestamp must not be before start time"))
	}
	step, err := parseDuration(r.FormValue("step"))
	if err != nil {
		return badParam("step", err)
	}
	if step <= 0 {
		return badParam("step", errors.New("zero or negative query resolution step widths are not accepted. Try a positive integer"))
	}
	if end.Sub(start)/step > time.Duration(a.cfg.MaxPointsPerSeries) {
		return errResult(errorBadData, fmt.Errorf("exceeded maximum resolution of %s points per timeseries. Try decreasing the query resolution (?step=XX)", thousands(a.cfg.MaxPointsPerSeries)))
	}
	return a.runQuery(r, limit, step/5, func(ctx context.Context, q storage.Queryable, o promql.QueryOpts, qs string) (promql.Query, error) {
		return a.engine.NewRangeQuery(ctx, q, o, qs, start, end, step)
	})
}

type newQueryFunc func(ctx context.Context, q storage.Queryable, opts promql.QueryOpts, qs string) (promql.Query, error)

// runQuery is the shared part of query and queryRange: options, timeout,
// execution, truncation and stats.
func (a *API) runQuery(r *http.Request, limit int, autoRes time.Duration, newQuery newQueryFunc) result {
	tm, apiErr := a.tenantMatcher(r)
	if apiErr != nil {
		return result{err: apiErr}
	}
	opts, apiErr := a.queryOptions(r, autoRes)
	if apiErr != nil {
		return result{err: apiErr}
	}
	ctx, cancel, apiErr := a.requestContext(r)
	if apiErr != nil {
		return result{err: apiErr}
	}
	defer cancel()
	engOpts, err := a.engineOpts(r, time.Duration(opts.MaxResolutionMillis)*time.Millisecond)
	if err != nil {
		return errResult(errorBadData, err)
	}
	qs := r.FormValue("query")
	if apiErr := a.checkQueries("query", []string{qs}); apiErr != nil {
		return result{err: apiErr}
	}
	// Parsing and execution both happen inside a query slot and within the
	// request's timeout; the limits above keep the parse short.
	release, apiErr := a.acquireSlot(ctx)
	if apiErr != nil {
		return result{err: apiErr}
	}
	defer release()
	q := a.qc(opts)
	if tm != nil {
		// Every selector of the query gets the tenant matcher; the
		// Queryable adds it again to whatever the engine selects, so that
		// nothing it reads escapes the tenant.
		expr, err := a.parser.ParseExpr(qs)
		if err != nil {
			return badParam("query", err)
		}
		qs = tenancy.EnforceExpr(expr, tm).String()
		q = tenancy.Queryable(q, tm)
	}
	qry, err := newQuery(ctx, q, engOpts, qs)
	if err != nil {
		return badParam("query", err)
	}
	res := qry.Exec(ctx)
	if res.Err != nil {
		return result{err: execError(res.Err), warnings: res.Warnings, query: qs, finalizer: qry.Close}
	}
	if err := ctx.Err(); err != nil {
		// The deadline passed or the client left while the engine was
		// finishing: what it has may lack the data of stores that were cut
		// off, and must not be served as a complete answer.
		return result{err: execError(err), warnings: res.Warnings, query: qs, finalizer: qry.Close}
	}
	warnings := res.Warnings
	value := res.Value
	if limit > 0 {
		switch v := value.(type) {
		case promql.Vector:
			if len(v) > limit {
				value = v[:limit]
				warnings.Add(errTruncated)
			}
		case promql.Matrix:
			if len(v) > limit {
				value = v[:limit]
				warnings.Add(errTruncated)
			}
		}
	}
	data := &queryData{Result: value}
	switch sp := r.FormValue("stats"); sp {
	case "":
	case "true", "all":
		data.Stats = stats.NewQueryStats(qry.Stats())
	default:
		data.Stats = stats.NewQueryStats(qry.Stats())
		warnings.Add(fmt.Errorf("value %q for parameter \"stats\" is deprecated and will be rejected in the next major release, use %q or %q", sp, "true", "all"))
	}
	return result{data: data, warnings: warnings, query: qs, finalizer: qry.Close}
}

// thousands formats n with comma separators, as in Prometheus' "11,000".
func thousands(n int) string {
	s := fmt.Sprint(n)
	var b strings.Builder
	for i, c := range s {
		if i > 0 && (len(s)-i)%3 == 0 {
			b.WriteByte(',')
		}
		b.WriteRune(c)
	}
	return b.String()
}

// metadataRange reads start and end (defaults: all time) and the Thanos
// options of series, labels and label values. Those endpoints may read any
// resolution, as in Thanos.
func (a *API) metadataRange(r *http.Request) (start, end time.Time, opts query.Options, res *result) {
	var err error
	if start, err = timeParam(r, "start", minTime); err != nil {
		br := badParam("start", err)
		return start, end, opts, &br
	}
	if end, err = timeParam(r, "end", maxTime); err != nil {
		br := badParam("end", err)
		return start, end, opts, &br
	}
	opts, apiErr := a.queryOptions(r, 0)
	if apiErr != nil {
		return start, end, opts, &result{err: apiErr}
	}
	opts.MaxResolutionMillis = math.MaxInt64
	return start, end, opts, nil
}

func (a *API) series(r *http.Request) (res result) {
	if err := r.ParseForm(); err != nil {
		return errResult(errorBadData, fmt.Errorf("error parsing form values: %w", err))
	}
	if len(r.Form["match[]"]) == 0 {
		return errResult(errorBadData, errors.New("no match[] parameter provided"))
	}
	limit, err := limitParam(r)
	if err != nil {
		return badParam("limit", err)
	}
	tm, apiErr := a.tenantMatcher(r)
	if apiErr != nil {
		return result{err: apiErr}
	}
	start, end, opts, bad := a.metadataRange(r)
	if bad != nil {
		return *bad
	}
	sets, err := a.matchersParam(r.Form["match[]"])
	if err != nil {
		return badParam("match[]", err)
	}
	if tm != nil {
		for i := range sets {
			sets[i] = tenancy.EnforceMatchers(sets[i], tm)
		}
	}
	ctx, cancel, apiErr := a.requestContext(r)
	if apiErr != nil {
		return result{err: apiErr}
	}
	defer cancel()
	qb := a.qc(opts)
	q, err := qb.Querier(timestamp.FromTime(start), timestamp.FromTime(end))
	if err != nil {
		return result{err: execError(err)}
	}
	defer closeQuerier(q, &res)

	hints := &storage.SelectHints{
		Start: timestamp.FromTime(start),
		End:   timestamp.FromTime(end),
		Func:  "series", // no samples needed
		Limit: hintLimit(limit),
	}
	var set storage.SeriesSet
	if len(sets) == 1 {
		set = q.Select(ctx, false, hints, sets[0]...)
	} else {
		all := make([]storage.SeriesSet, 0, len(sets))
		for _, ms := range sets {
			all = append(all, q.Select(ctx, true, hints, ms...))
		}
		set = storage.NewMergeSeriesSet(all, 0, storage.ChainedSeriesMerge)
	}
	out := []labels.Labels{}
	var warnings annotations.Annotations
	for set.Next() {
		if limit > 0 && len(out) == limit {
			warnings.Add(errTruncated)
			break
		}
		out = append(out, set.At().Labels())
	}
	warnings.Merge(set.Warnings())
	if err := set.Err(); err != nil {
		return result{err: execError(err), warnings: warnings}
	}
	if err := ctx.Err(); err != nil {
		return result{err: execError(err), warnings: warnings}
	}
	return result{data: out, warnings: warnings}
}

// hintLimit asks storage for one more than limit so that truncation can be
// reported.
func hintLimit(limit int) int {
	if limit > 0 && limit < math.MaxInt {
		return limit + 1
	}
	return limit
}

// closeQuerier closes q when a handler returns: a Close error fails a
// request that has not failed already.
func closeQuerier(q storage.Querier, res *result) {
	if err := q.Close(); err != nil && res.err == nil {
		*res = result{err: execError(err), warnings: res.warnings}
	}
}

// labelLookup runs one label query per matcher set (or one without
// matchers) and returns the sorted union.
func (a *API) labelLookup(r *http.Request, lookup func(ctx context.Context, q storage.Querier, hints *storage.LabelHints, ms []*labels.Matcher) ([]string, annotations.Annotations, error)) (res result) {
	limit, err := limitParam(r)
	if err != nil {
		return badParam("limit", err)
	}
	tm, apiErr := a.tenantMatcher(r)
	if apiErr != nil {
		return result{err: apiErr}
	}
	start, end, opts, bad := a.metadataRange(r)
	if bad != nil {
		return *bad
	}
	sets, err := a.matchersParam(r.Form["match[]"])
	if err != nil {
		return errResult(errorBadData, err)
	}
	if len(sets) == 0 {
		sets = [][]*labels.Matcher{nil}
	}
	if tm != nil {
		for i := range sets {
			sets[i] = tenancy.EnforceMatchers(sets[i], tm)
		}
	}
	ctx, cancel, apiErr := a.requestContext(r)
	if apiErr != nil {
		return result{err: apiErr}
	}
	defer cancel()
	qb := a.qc(opts)
	q, err := qb.Querier(timestamp.FromTime(start), timestamp.FromTime(end))
	if err != nil {
		return result{err: execError(err)}
	}
	defer closeQuerier(q, &res)

	hints := &storage.LabelHints{Limit: hintLimit(limit)}
	var warnings annotations.Annotations
	seen := map[string]struct{}{}
	for _, ms := range sets {
		vals, ws, err := lookup(ctx, q, hints, ms)
		warnings.Merge(ws)
		if err != nil {
			return result{err: execError(err), warnings: warnings}
		}
		for _, v := range vals {
			seen[v] = struct{}{}
		}
	}
	out := make([]string, 0, len(seen))
	for v := range seen {
		out = append(out, v)
	}
	slices.Sort(out)
	if limit > 0 && len(out) > limit {
		out = out[:limit]
		warnings.Add(errTruncated)
	}
	return result{data: out, warnings: warnings}
}

func (a *API) labelNames(r *http.Request) result {
	return a.labelLookup(r, func(ctx context.Context, q storage.Querier, hints *storage.LabelHints, ms []*labels.Matcher) ([]string, annotations.Annotations, error) {
		return q.LabelNames(ctx, hints, ms...)
	})
}

func (a *API) labelValues(r *http.Request) result {
	name := r.PathValue("name")
	if strings.HasPrefix(name, "U__") {
		name = model.UnescapeName(name, model.ValueEncodingEscaping)
	}
	if !model.UTF8Validation.IsValidLabelName(name) {
		return errResult(errorBadData, fmt.Errorf("invalid label name: %q", name))
	}
	return a.labelLookup(r, func(ctx context.Context, q storage.Querier, hints *storage.LabelHints, ms []*labels.Matcher) ([]string, annotations.Annotations, error) {
		return q.LabelValues(ctx, name, hints, ms...)
	})
}

func (a *API) queryExemplars(r *http.Request) result {
	start, err := timeParam(r, "start", minTime)
	if err != nil {
		return badParam("start", err)
	}
	end, err := timeParam(r, "end", maxTime)
	if err != nil {
		return badParam("end", err)
	}
	if end.Before(start) {
		return errResult(errorBadData, errors.New("end timestamp must not be before start timestamp"))
	}
	if apiErr := a.checkQueries("query", []string{r.FormValue("query")}); apiErr != nil {
		return result{err: apiErr}
	}
	if _, err := a.parser.ParseExpr(r.FormValue("query")); err != nil {
		return errResult(errorBadData, err)
	}
	// Strata's stores do not serve exemplars yet.
	return result{data: []struct{}{}}
}

func (a *API) formatQuery(r *http.Request) result {
	if apiErr := a.checkQueries("query", []string{r.FormValue("query")}); apiErr != nil {
		return result{err: apiErr}
	}
	expr, err := a.parser.ParseExpr(r.FormValue("query"))
	if err != nil {
		return badParam("query", err)
	}
	return result{data: expr.Pretty(0)}
}

func (a *API) metadata(r *http.Request) result {
	limit := -1
	if v := r.FormValue("limit"); v != "" {
		n, err := strconv.Atoi(v)
		if err != nil {
			return errResult(errorBadData, errors.New("limit must be a number"))
		}
		limit = n
	}
	tm, apiErr := a.tenantMatcher(r)
	if apiErr != nil {
		return result{err: apiErr}
	}
	if a.md == nil {
		return result{data: map[string][]metadata.Metadata{}}
	}
	ctx, cancel, apiErr := a.requestContext(r)
	if apiErr != nil {
		return result{err: apiErr}
	}
	defer cancel()
	fetchLimit := limit
	if tm != nil {
		// Filtered below: the limit applies to what the tenant sees.
		fetchLimit = -1
	}
	md, warnings, err := a.md.MetricMetadata(ctx, r.FormValue("metric"), fetchLimit)
	if err != nil {
		return result{err: execError(err), warnings: warnings}
	}
	if md == nil {
		md = map[string][]metadata.Metadata{}
	}
	if tm != nil {
		// The metadata StoreAPI has no series to scope: keep the metric
		// families of which the tenant has series.
		if err := a.scopeMetadata(ctx, r, tm, md); err != nil {
			return result{err: execError(err), warnings: warnings}
		}
	}
	if limit >= 0 && len(md) > limit {
		names := make([]string, 0, len(md))
		for n := range md {
			names = append(names, n)
		}
		slices.Sort(names)
		for _, n := range names[limit:] {
			delete(md, n)
		}
	}
	return result{data: md, warnings: warnings}
}

// familySuffixes are the suffixes a metric family's series names may add
// to the family name of its metadata.
var familySuffixes = []string{"", "_total", "_bucket", "_count", "_sum", "_created", "_info", "_gcount", "_gsum"}

// scopeMetadata removes from md the metric families the tenant of tm has
// no series of (over the request's start and end, all time by default).
func (a *API) scopeMetadata(ctx context.Context, r *http.Request, tm *labels.Matcher, md map[string][]metadata.Metadata) (err error) {
	start, end, opts, bad := a.metadataRange(r)
	if bad != nil {
		return bad.err
	}
	q, err := a.qc(opts).Querier(timestamp.FromTime(start), timestamp.FromTime(end))
	if err != nil {
		return err
	}
	defer func() {
		if cerr := q.Close(); err == nil {
			err = cerr
		}
	}()
	names, _, err := q.LabelValues(ctx, model.MetricNameLabel, nil, tm)
	if err != nil {
		return err
	}
	have := make(map[string]struct{}, len(names))
	for _, n := range names {
		have[n] = struct{}{}
	}
	for family := range md {
		keep := false
		for _, s := range familySuffixes {
			if _, ok := have[family+s]; ok {
				keep = true
				break
			}
		}
		if !keep {
			delete(md, family)
		}
	}
	return nil
}

// storeEntry is one endpoint in /api/v1/stores, shaped like Thanos'.
type storeEntry struct {
	Name      string          `json:"name"`
	LastCheck time.Time       `json:"lastCheck"`
	LastError *string         `json:"lastError"`
	LabelSets []labels.Labels `json:"labelSets"`
	MinTime   int64           `json:"minTime"`
	MaxTime   int64           `json:"maxTime"`
}

func (a *API) storesStatus(*http.Request) result {
	out := map[string][]storeEntry{}
	if a.stores == nil {
		return result{data: out}
	}
	for _, s := range a.stores.Status() {
		typ := s.ComponentType
		if typ == "" {
			typ = "unknown"
		}
		e := storeEntry{
			Name:      s.Name,
			LastCheck: s.LastCheck,
			LabelSets: s.LabelSets,
			MinTime:   s.MinTime,
			MaxTime:   s.MaxTime,
		}
		if e.LabelSets == nil {
			e.LabelSets = []labels.Labels{}
		}
		if s.LastError != "" {
			e.LastError = &s.LastError
		}
		out[typ] = append(out[typ], e)
	}
	for _, es := range out {
		slices.SortFunc(es, func(x, y storeEntry) int { return cmp.Compare(x.Name, y.Name) })
	}
	return result{data: out}
}

func (a *API) notFound(r *http.Request) result {
	return errResult(errorNotFound, fmt.Errorf("unknown API endpoint %s", r.URL.Path))
}

// The querier scrapes no targets; this answer lets Grafana's and
// Prometheus UI's probes succeed.

func (a *API) targets(*http.Request) result {
	return result{data: map[string]any{
		"activeTargets":       []struct{}{},
		"droppedTargets":      []struct{}{},
		"droppedTargetCounts": map[string]int{},
	}}
}

func (a *API) buildInfo(*http.Request) result {
	bi := a.cfg.BuildInfo
	if bi.GoVersion == "" {
		bi.GoVersion = runtime.Version()
	}
	return result{data: bi}
}

func (a *API) flags(*http.Request) result {
	f := a.cfg.Flags
	if f == nil {
		f = map[string]string{}
	}
	return result{data: f}
}

func (a *API) config(*http.Request) result {
	return result{data: map[string]string{"yaml": ""}}
}

// runtimeInfo is the subset of Prometheus' runtime information that makes
// sense for a querier.
type runtimeInfo struct {
	StartTime           time.Time `json:"startTime"`
	CWD                 string    `json:"CWD"`
	Hostname            string    `json:"hostname"`
	ServerTime          time.Time `json:"serverTime"`
	ReloadConfigSuccess bool      `json:"reloadConfigSuccess"`
	LastConfigTime      time.Time `json:"lastConfigTime"`
	CorruptionCount     int64     `json:"corruptionCount"`
	GoroutineCount      int       `json:"goroutineCount"`
	GOMAXPROCS          int       `json:"GOMAXPROCS"`
	GOMEMLIMIT          int64     `json:"GOMEMLIMIT"`
	GOGC                string    `json:"GOGC"`
	GODEBUG             string    `json:"GODEBUG"`
	StorageRetention    string    `json:"storageRetention"`
}

func (a *API) runtimeInfo(*http.Request) result {
	cwd, _ := os.Getwd()
	host, _ := os.Hostname()
	return result{data: runtimeInfo{
		StartTime:           a.started,
		CWD:                 cwd,
		Hostname:            host,
		ServerTime:          a.now().UTC(),
		ReloadConfigSuccess: true,
		LastConfigTime:      a.started,
		GoroutineCount:      runtime.NumGoroutine(),
		GOMAXPROCS:          runtime.GOMAXPROCS(0),
		GOMEMLIMIT:          debug.SetMemoryLimit(-1),
		GOGC:                os.Getenv("GOGC"),
		GODEBUG:             os.Getenv("GODEBUG"),
		StorageRetention:    "",
	}}
}
