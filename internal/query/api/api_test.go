package api

import (
	"context"
	"encoding/json"
	"io"
	"net/http"
	"net/http/httptest"
	"net/url"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/prometheus/client_golang/prometheus"
	"github.com/prometheus/client_golang/prometheus/testutil"
	"github.com/prometheus/prometheus/model/histogram"
	"github.com/prometheus/prometheus/model/labels"
	"github.com/prometheus/prometheus/promql"
	"github.com/prometheus/prometheus/storage"
	"github.com/prometheus/prometheus/util/teststorage"
	"github.com/stretchr/testify/require"
	"go.uber.org/goleak"

	"github.com/strata-io/strata/internal/query"
)

func TestMain(m *testing.M) {
	goleak.VerifyTestMain(m)
}

// recorder is a QueryableCreator that remembers the Options it was given.
type recorder struct {
	q    storage.Queryable
	mu   sync.Mutex
	opts []query.Options
}

func (r *recorder) create(o query.Options) storage.Queryable {
	r.mu.Lock()
	defer r.mu.Unlock()
	r.opts = append(r.opts, o)
	return r.q
}

func (r *recorder) last(t *testing.T) query.Options {
	r.mu.Lock()
	defer r.mu.Unlock()
	require.NotEmpty(t, r.opts, "the QueryableCreator was not called")
	return r.opts[len(r.opts)-1]
}

// testHistogram has a zero bucket of 1 and buckets (0.5,1] and (1,2] of 2.
func testHistogram() *histogram.Histogram {
	return &histogram.Histogram{
		Count:           5,
		Sum:             10,
		ZeroThreshold:   0.001,
		ZeroCount:       1,
		PositiveSpans:   []histogram.Span{{Offset: 0, Length: 2}},
		PositiveBuckets: []int64{2, 0},
	}
}

// newStorage holds up{instance="x"} = 1 and up{instance="y"} = 0.5 at 0s,
// 60s, 120s, and the native histogram hist at 0s and 60s.
func newStorage(t *testing.T) storage.Queryable {
	s := teststorage.New(t)
	app := s.Appender(context.Background())
	x := labels.FromStrings("__name__", "up", "instance", "x", "job", "a")
	y := labels.FromStrings("__name__", "up", "instance", "y", "job", "a")
	h := labels.FromStrings("__name__", "hist", "job", "b")
	for _, ts := range []int64{0, 60_000, 120_000} {
		_, err := app.Append(0, x, ts, 1)
		require.NoError(t, err)
		_, err = app.Append(0, y, ts, 0.5)
		require.NoError(t, err)
	}
	for _, ts := range []int64{0, 60_000} {
		_, err := app.AppendHistogram(0, h, ts, testHistogram(), nil)
		require.NoError(t, err)
	}
	require.NoError(t, app.Commit())
	return s
}

type fixture struct {
	api *API
	mux *http.ServeMux
	rec *recorder
	reg *prometheus.Registry
}

func newFixture(t *testing.T, cfg Config, q storage.Queryable, stores StoreStatuser, md MetadataFetcher) *fixture {
	if q == nil {
		q = newStorage(t)
	}
	rec := &recorder{q: q}
	engine := promql.NewEngine(promql.EngineOpts{
		MaxSamples:           1_000_000,
		Timeout:              time.Minute,
		EnableAtModifier:     true,
		EnableNegativeOffset: true,
	})
	reg := prometheus.NewRegistry()
	a := New(cfg, engine, rec.create, stores, md, nil, reg)
	a.now = func() time.Time { return time.Unix(120, 0) }
	mux := http.NewServeMux()
	a.Register(mux, "")
	return &fixture{api: a, mux: mux, rec: rec, reg: reg}
}

// do sends params as a query string (GET) or a form body (POST).
func (f *fixture) do(t *testing.T, method, path string, params url.Values) (int, string) {
	return f.doCtx(t, context.Background(), method, path, params)
}

func (f *fixture) doCtx(t *testing.T, ctx context.Context, method, path string, params url.Values) (int, string) {
	t.Helper()
	var req *http.Request
	if method == http.MethodGet {
		target := path
		if len(params) > 0 {
			target += "?" + params.Encode()
		}
		req = httptest.NewRequestWithContext(ctx, method, target, nil)
	} else {
		req = httptest.NewRequestWithContext(ctx, method, path, strings.NewReader(params.Encode()))
		req.Header.Set("Content-Type", "application/x-www-form-urlencoded")
	}
	w := httptest.NewRecorder()
	f.mux.ServeHTTP(w, req)
	b, err := io.ReadAll(w.Result().Body)
	require.NoError(t, err)
	return w.Code, string(b)
}

var methods = []string{http.MethodGet, http.MethodPost}

const (
	histJSON = `{"count":"5","sum":"10","buckets":[[3,"-0.001","0.001","1"],[0,"0.5","1","2"],[0,"1","2","2"]]}`
)

func TestQueryResultJSON(t *testing.T) {
	f := newFixture(t, DefaultConfig(), nil, nil, nil)
	for _, tc := range []struct {
		name   string
		path   string
		params url.Values
		want   string
	}{
		{
			name:   "vector",
			path:   "/api/v1/query",
			params: url.Values{"query": {"up"}, "time": {"120"}},
			want: `{"status":"success","data":{"resultType":"vector","result":[` +
				`{"metric":{"__name__":"up","instance":"x","job":"a"},"value":[120,"1"]},` +
				`{"metric":{"__name__":"up","instance":"y","job":"a"},"value":[120,"0.5"]}]}}`,
		},
		{
			name:   "vector at RFC3339 time with ms",
			path:   "/api/v1/query",
			params: url.Values{"query": {"up{instance=\"x\"}"}, "time": {"1970-01-01T00:01:00.5Z"}},
			want: `{"status":"success","data":{"resultType":"vector","result":[` +
				`{"metric":{"__name__":"up","instance":"x","job":"a"},"value":[60.500,"1"]}]}}`,
		},
		{
			name:   "empty vector is []",
			path:   "/api/v1/query",
			params: url.Values{"query": {"nope"}, "time": {"120"}},
			want:   `{"status":"success","data":{"resultType":"vector","result":[]}}`,
		},
		{
			name:   "scalar",
			path:   "/api/v1/query",
			params: url.Values{"query": {"1.5"}, "time": {"120"}},
			want:   `{"status":"success","data":{"resultType":"scalar","result":[120,"1.5"]}}`,
		},
		{
			name:   "special floats",
			path:   "/api/v1/query",
			params: url.Values{"query": {"+Inf"}, "time": {"120"}},
			want:   `{"status":"success","data":{"resultType":"scalar","result":[120,"+Inf"]}}`,
		},
		{
			name:   "string",
			path:   "/api/v1/query",
			params: url.Values{"query": {`"foo"`}, "time": {"120"}},
			want:   `{"status":"success","data":{"resultType":"string","result":[120,"foo"]}}`,
		},
		{
			name:   "histogram vector",
			path:   "/api/v1/query",
			params: url.Values{"query": {"hist"}, "time": {"60"}},
			want: `{"status":"success","data":{"resultType":"vector","result":[` +
				`{"metric":{"__name__":"hist","job":"b"},"histogram":[60,` + histJSON + `]}]}}`,
		},
		{
			name:   "matrix",
			path:   "/api/v1/query_range",
			params: url.Values{"query": {`up{instance="x"}`}, "start": {"0"}, "end": {"120"}, "step": {"1m"}},
			want: `{"status":"success","data":{"resultType":"matrix","result":[` +
				`{"metric":{"__name__":"up","instance":"x","job":"a"},"values":[[0,"1"],[60,"1"],[120,"1"]]}]}}`,
		},
		{
			name:   "range vector from instant query",
			path:   "/api/v1/query",
			params: url.Values{"query": {`up{instance="y"}[2m]`}, "time": {"120"}},
			want: `{"status":"success","data":{"resultType":"matrix","result":[` +
				`{"metric":{"__name__":"up","instance":"y","job":"a"},"values":[[60,"0.5"],[120,"0.5"]]}]}}`,
		},
		{
			name:   "histogram matrix",
			path:   "/api/v1/query_range",
			params: url.Values{"query": {"hist"}, "start": {"0"}, "end": {"60"}, "step": {"60"}},
			want: `{"status":"success","data":{"resultType":"matrix","result":[` +
				`{"metric":{"__name__":"hist","job":"b"},"histograms":[[0,` + histJSON + `],[60,` + histJSON + `]]}]}}`,
		},
		{
			name:   "limit truncates with a warning",
			path:   "/api/v1/query",
			params: url.Values{"query": {"up"}, "time": {"120"}, "limit": {"1"}},
			want: `{"status":"success","data":{"resultType":"vector","result":[` +
				`{"metric":{"__name__":"up","instance":"x","job":"a"},"value":[120,"1"]}]},` +
				`"warnings":["results truncated due to limit"]}`,
		},
	} {
		for _, m := range methods {
			t.Run(tc.name+"/"+m, func(t *testing.T) {
				code, body := f.do(t, m, tc.path, tc.params)
				require.Equal(t, http.StatusOK, code, body)
				require.Equal(t, tc.want, body)
			})
		}
	}
}

func TestQueryStats(t *testing.T) {
	f := newFixture(t, DefaultConfig(), nil, nil, nil)
	for _, m := range methods {
		t.Run(m, func(t *testing.T) {
			code, body := f.do(t, m, "/api/v1/query", url.Values{"query": {"up"}, "time": {"120"}, "stats": {"true"}})
			require.Equal(t, http.StatusOK, code, body)
			require.Contains(t, body, `"stats":{"timings":{`)
			require.Contains(t, body, `"samples":{"totalQueryableSamples":2,`)
		})
	}
}

func TestUnsupportedMethod(t *testing.T) {
	f := newFixture(t, DefaultConfig(), nil, nil, nil)
	code, _ := f.do(t, http.MethodDelete, "/api/v1/query", nil)
	require.Equal(t, http.StatusMethodNotAllowed, code)
}

func TestPrefix(t *testing.T) {
	rec := &recorder{q: newStorage(t)}
	a := New(DefaultConfig(), promql.NewEngine(promql.EngineOpts{MaxSamples: 1000, Timeout: time.Minute}), rec.create, nil, nil, nil, nil)
	mux := http.NewServeMux()
	a.Register(mux, "/strata")
	w := httptest.NewRecorder()
	mux.ServeHTTP(w, httptest.NewRequest(http.MethodGet, "/strata/api/v1/query?query=1", nil))
	require.Equal(t, http.StatusOK, w.Code, w.Body.String())
	w = httptest.NewRecorder()
	mux.ServeHTTP(w, httptest.NewRequest(http.MethodGet, "/api/v1/query?query=1", nil))
	require.Equal(t, http.StatusNotFound, w.Code)
}

func TestRequestMetrics(t *testing.T) {
	f := newFixture(t, DefaultConfig(), nil, nil, nil)
	f.do(t, http.MethodGet, "/api/v1/query", url.Values{"query": {"up"}})
	f.do(t, http.MethodPost, "/api/v1/query", url.Values{"query": {"up"}})
	f.do(t, http.MethodGet, "/api/v1/query", url.Values{"query": {"up("}})
	f.do(t, http.MethodGet, "/api/v1/series", nil)
	require.NoError(t, testutil.GatherAndCompare(f.reg, strings.NewReader(`
# HELP strata_query_api_requests_total HTTP API v1 requests by handler and status code.
# TYPE strata_query_api_requests_total counter
strata_query_api_requests_total{code="200",handler="/query"} 2
strata_query_api_requests_total{code="400",handler="/query"} 1
strata_query_api_requests_total{code="400",handler="/series"} 1
`), "strata_query_api_requests_total"))
	require.Equal(t, 2, testutil.CollectAndCount(f.reg, "strata_query_api_request_duration_seconds"))
}

func jsonUnmarshal(body string, v any) error {
	return json.Unmarshal([]byte(body), v)
}
