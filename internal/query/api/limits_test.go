package api

import (
	"context"
	"errors"
	"net/url"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/prometheus/prometheus/model/labels"
	"github.com/prometheus/prometheus/storage"
	"github.com/prometheus/prometheus/util/annotations"
	"github.com/stretchr/testify/require"
)

type apiErrBody struct {
	Status    string `json:"status"`
	ErrorType string `json:"errorType"`
	Error     string `json:"error"`
}

func TestQueryLimitsRejectBeforeParsing(t *testing.T) {
	f := newFixture(t, DefaultConfig(), nil, nil, nil)
	// 20k terms parse for seconds (the parser's type check is quadratic);
	// they fit in --query.max-length, so the operator count must stop them.
	terms := "1" + strings.Repeat("+1", 20_000)
	orChain := "up" + strings.Repeat(" or up", 2_000)
	nested := strings.Repeat("(", 5_000) + "1" + strings.Repeat(")", 5_000)
	long := `up{job="` + strings.Repeat("x", 70_000) + `"}`
	rng := url.Values{"start": {"0"}, "end": {"120"}, "step": {"60"}}
	with := func(base url.Values, k, v string) url.Values {
		out := url.Values{}
		for kk, vv := range base {
			out[kk] = vv
		}
		out.Set(k, v)
		return out
	}
	for _, tc := range []struct {
		name, path string
		params     url.Values
		wantErr    string
	}{
		{"query terms", "/api/v1/query", url.Values{"query": {terms}}, `invalid parameter "query": query has more than 1000 operators (raise it with --query.max-binary-operators)`},
		{"query or chain", "/api/v1/query", url.Values{"query": {orChain}}, `--query.max-binary-operators`},
		{"query nesting", "/api/v1/query", url.Values{"query": {nested}}, `invalid parameter "query": query nests parentheses, brackets or braces deeper than 256 levels (raise it with --query.max-nesting-depth)`},
		{"query length", "/api/v1/query", url.Values{"query": {long}}, `invalid parameter "query": query is 70010 bytes long, over the limit of 65536 bytes (raise it with --query.max-length)`},
		{"query_range terms", "/api/v1/query_range", with(rng, "query", terms), `--query.max-binary-operators`},
		{"query_range nesting", "/api/v1/query_range", with(rng, "query", nested), `--query.max-nesting-depth`},
		{"format_query", "/api/v1/format_query", url.Values{"query": {terms}}, `--query.max-binary-operators`},
		{"query_exemplars", "/api/v1/query_exemplars", url.Values{"query": {nested}}, `--query.max-nesting-depth`},
		{"series match[]", "/api/v1/series", url.Values{"match[]": {"up", long}}, `invalid parameter "match[]": match[] is 70010 bytes long`},
		{"labels match[]", "/api/v1/labels", url.Values{"match[]": {long}}, `--query.max-length`},
		{"label values match[]", "/api/v1/label/job/values", url.Values{"match[]": {long}}, `--query.max-length`},
		{"storeMatch[]", "/api/v1/query", url.Values{"query": {"up"}, "storeMatch[]": {long}}, `invalid parameter "storeMatch[]": storeMatch[] is 70010 bytes long`},
	} {
		for _, m := range methods {
			t.Run(tc.name+"/"+m, func(t *testing.T) {
				start := time.Now()
				code, body := f.do(t, m, tc.path, tc.params)
				require.Less(t, time.Since(start), time.Second, "the limit must be checked before the parser runs")
				require.Equal(t, 400, code, body)
				var got apiErrBody
				require.NoError(t, jsonUnmarshal(body, &got))
				require.Equal(t, "error", got.Status)
				require.Equal(t, "bad_data", got.ErrorType)
				require.Contains(t, got.Error, tc.wantErr)
			})
		}
	}
}

func TestQueryLimitsAcceptRealQueries(t *testing.T) {
	f := newFixture(t, DefaultConfig(), nil, nil, nil)
	for _, q := range []string{
		`sum by (job) (rate(http_requests_total{code=~"5..",path!="/a+b-c*d"}[5m])) / on (job) group_left sum by (job) (rate(http_requests_total[5m])) > 0.05`,
		`histogram_quantile(0.99, sum by (le) (rate(req_bucket{job="api"}[5m]))) # a comment with + - * / and or`,
		"up == 1 and on (instance) (node_load1 >= 2 or node_load5 <= 3) unless absent(up) - -1 ^ 2 % 3 atan2 1",
		`label_replace(up, "dst", "$1", "src", "(.*)") + ` + "`" + `((((((((` + "`" + ` == bool 0`,
	} {
		_, body := f.do(t, "GET", "/api/v1/format_query", url.Values{"query": {q}})
		require.NotContains(t, body, "--query.max", q)
	}
	// Every operator is counted once, strings, comments and matchers not at all.
	l := QueryLimits{MaxBinaryOperators: 11}
	require.NoError(t, l.check("query", "up == 1 and on (instance) (node_load1 >= 2 or node_load5 <= 3) unless absent(up) - -1 ^ 2 % 3 atan2 1"))
	require.Error(t, l.check("query", "up == 1 and on (instance) (node_load1 >= 2 or node_load5 <= 3) unless absent(up) - -1 ^ 2 % 3 atan2 1 + 1"))
	require.NoError(t, QueryLimits{MaxNestingDepth: 2}.check("q", `sum(x{a="(((((", b=~"[[[["})`))
	require.Error(t, QueryLimits{MaxNestingDepth: 2}.check("q", `sum(rate(x[5m]))`))
}

// blockingQueryable's Select waits for its context to end and records it.
type blockingQueryable struct {
	started chan struct{}
	mu      sync.Mutex
	ctxErrs []error
}

func (b *blockingQueryable) Querier(int64, int64) (storage.Querier, error) {
	return blockingQuerier{b}, nil
}

type blockingQuerier struct{ b *blockingQueryable }

func (q blockingQuerier) Select(ctx context.Context, _ bool, _ *storage.SelectHints, _ ...*labels.Matcher) storage.SeriesSet {
	select {
	case q.b.started <- struct{}{}:
	default:
	}
	<-ctx.Done()
	q.b.mu.Lock()
	q.b.ctxErrs = append(q.b.ctxErrs, ctx.Err())
	q.b.mu.Unlock()
	return storage.ErrSeriesSet(ctx.Err())
}

func (blockingQuerier) LabelNames(context.Context, *storage.LabelHints, ...*labels.Matcher) ([]string, annotations.Annotations, error) {
	return nil, nil, nil
}

func (blockingQuerier) LabelValues(context.Context, string, *storage.LabelHints, ...*labels.Matcher) ([]string, annotations.Annotations, error) {
	return nil, nil, nil
}
func (blockingQuerier) Close() error { return nil }

func TestWaitingForQuerySlotTimesOut(t *testing.T) {
	cfg := DefaultConfig()
	cfg.MaxConcurrent = 1
	b := &blockingQueryable{started: make(chan struct{}, 1)}
	f := newFixture(t, cfg, b, nil, nil)

	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan int)
	go func() {
		code, _ := f.doCtx(t, ctx, "GET", "/api/v1/query", url.Values{"query": {"up"}})
		done <- code
	}()
	<-b.started // the only slot is taken

	code, body := f.do(t, "GET", "/api/v1/query", url.Values{"query": {"up"}, "timeout": {"100ms"}})
	require.Equal(t, 503, code, body)
	var got apiErrBody
	require.NoError(t, jsonUnmarshal(body, &got))
	require.Equal(t, "timeout", got.ErrorType)
	require.Contains(t, got.Error, "--query.max-concurrent")

	// The first query's client leaves: its engine query is cancelled.
	cancel()
	select {
	case code := <-done:
		require.Equal(t, 499, code)
	case <-time.After(5 * time.Second):
		t.Fatal("a query whose client went away kept running")
	}
	b.mu.Lock()
	require.Equal(t, []error{context.Canceled}, b.ctxErrs)
	b.mu.Unlock()

	// The slot is free again.
	code, body = f.do(t, "GET", "/api/v1/query", url.Values{"query": {"vector(1)"}})
	require.Equal(t, 200, code, body)
}

// lateQueryable's Select ignores its context like a store whose stream ended
// on the deadline before the context said so: it sleeps past the deadline and
// answers nothing, with a warning, as if the store had been merely slow.
type lateQueryable struct{}

func (lateQueryable) Querier(int64, int64) (storage.Querier, error) { return lateQuerier{}, nil }

type lateQuerier struct{ blockingQuerier }

func (lateQuerier) Select(ctx context.Context, _ bool, _ *storage.SelectHints, _ ...*labels.Matcher) storage.SeriesSet {
	dl, _ := ctx.Deadline()
	time.Sleep(time.Until(dl) + 20*time.Millisecond)
	return warningSet{SeriesSet: storage.EmptySeriesSet(), warning: errors.New("endpoint store-1: rpc error: timed out after 2m0s")}
}

func TestQueryPastDeadlineIsATimeoutNotData(t *testing.T) {
	f := newFixture(t, DefaultConfig(), lateQueryable{}, nil, nil)
	for _, tc := range []struct{ path string }{{"/api/v1/query"}, {"/api/v1/query_range"}} {
		params := url.Values{"query": {"up"}, "timeout": {"50ms"}, "start": {"0"}, "end": {"120"}, "step": {"60"}}
		code, body := f.do(t, "GET", tc.path, params)
		require.Equal(t, 503, code, body)
		var got apiErrBody
		require.NoError(t, jsonUnmarshal(body, &got))
		require.Equal(t, "timeout", got.ErrorType, body)
	}
}
