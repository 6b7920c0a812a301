package rule

import (
	"context"
	"net/http"
	"net/http/httptest"
	"net/url"
	"sync"
	"testing"
	"time"

	"github.com/prometheus/client_golang/prometheus"
	"github.com/prometheus/client_golang/prometheus/testutil"
	"github.com/prometheus/prometheus/model/histogram"
	"github.com/prometheus/prometheus/model/labels"
	"github.com/prometheus/prometheus/promql"
	"github.com/stretchr/testify/require"
)

// fakeAPI answers /api/v1/query from a table of query → JSON result and
// records the requests' parameters.
type fakeAPI struct {
	mu       sync.Mutex
	answers  map[string]string
	requests []url.Values
}

func (f *fakeAPI) ServeHTTP(w http.ResponseWriter, r *http.Request) {
	if r.URL.Path != "/api/v1/query" || r.Method != http.MethodPost {
		http.NotFound(w, r)
		return
	}
	_ = r.ParseForm()
	f.mu.Lock()
	f.requests = append(f.requests, r.PostForm)
	res, ok := f.answers[r.PostForm.Get("query")]
	f.mu.Unlock()
	w.Header().Set("Content-Type", "application/json")
	if !ok {
		w.WriteHeader(http.StatusBadRequest)
		_, _ = w.Write([]byte(`{"status":"error","errorType":"bad_data","error":"unknown query"}`))
		return
	}
	_, _ = w.Write([]byte(`{"status":"success","data":` + res + `}`))
}

func (f *fakeAPI) last() url.Values {
	f.mu.Lock()
	defer f.mu.Unlock()
	return f.requests[len(f.requests)-1]
}

func mustURL(t *testing.T, s string) *url.URL {
	t.Helper()
	u, err := url.Parse(s)
	require.NoError(t, err)
	return u
}

func TestQuerierFailoverAndDecoding(t *testing.T) {
	api := &fakeAPI{answers: map[string]string{
		"up":        `{"resultType":"vector","result":[{"metric":{"__name__":"up","job":"a"},"value":[1700000000,"1"]},{"metric":{"job":"b"},"value":[1700000000,"0.5"]}]}`,
		"scalar(1)": `{"resultType":"scalar","result":[1700000000,"42"]}`,
		"m[1m]":     `{"resultType":"matrix","result":[]}`,
		"h":         `{"resultType":"vector","result":[{"metric":{"__name__":"h"},"histogram":[1700000000,{"count":"3","sum":"4.5","buckets":[[0,"1","2","1"],[0,"4","8","2"]]}]}]}`,
		"partial":   `{"resultType":"vector","result":[]},"warnings":["store eu-1 did not answer"]`,
	}}
	good := httptest.NewServer(api)
	defer good.Close()
	down := httptest.NewServer(http.NotFoundHandler())
	downURL := down.URL
	down.Close()

	reg := prometheus.NewRegistry()
	q, err := NewQuerier([]*url.URL{mustURL(t, downURL), mustURL(t, good.URL)}, nil, nil, reg)
	require.NoError(t, err)
	ts := time.UnixMilli(1700000000123)
	ctx := context.Background()

	// Each call starts with the next API in turn; the first is down, so
	// every answer comes from the second.
	for range 2 {
		v, err := q.Query(ctx, "up", ts, Warn)
		require.NoError(t, err)
		require.Equal(t, promql.Vector{
			{Metric: labels.FromStrings("__name__", "up", "job", "a"), T: 1700000000000, F: 1},
			{Metric: labels.FromStrings("job", "b"), T: 1700000000000, F: 0.5},
		}, v)
		require.Equal(t, "true", api.last().Get("partial_response"))
		require.Equal(t, "1700000000.123", api.last().Get("time"))
	}
	v, err := q.Query(ctx, "scalar(1)", ts, Abort)
	require.NoError(t, err)
	require.Equal(t, promql.Vector{{Metric: labels.EmptyLabels(), T: 1700000000000, F: 42}}, v)
	require.Equal(t, "false", api.last().Get("partial_response"))
	require.Zero(t, testutil.ToFloat64(q.failures.WithLabelValues("abort")))

	v, err = q.Query(ctx, "h", ts, Abort)
	require.NoError(t, err)
	require.Len(t, v, 1)
	require.NotNil(t, v[0].H)
	require.Equal(t, &histogram.FloatHistogram{
		Count: 3, Sum: 4.5, PositiveSpans: []histogram.Span{{Offset: 1, Length: 1}, {Offset: 1, Length: 1}}, PositiveBuckets: []float64{1, 2},
	}, v[0].H)

	v, err = q.Query(ctx, "partial", ts, Warn)
	require.NoError(t, err)
	require.Empty(t, v)
	require.Equal(t, 1.0, testutil.ToFloat64(q.warnings.WithLabelValues("warn")))

	_, err = q.Query(ctx, "m[1m]", ts, Abort)
	require.ErrorContains(t, err, "matrix, not a vector or scalar")
	_, err = q.Query(ctx, "nope", ts, Warn)
	require.ErrorContains(t, err, "bad_data: unknown query")
	require.Equal(t, 1.0, testutil.ToFloat64(q.failures.WithLabelValues("abort")))
	require.Equal(t, 1.0, testutil.ToFloat64(q.failures.WithLabelValues("warn")))
}

func TestNewQuerierRefusesBadURL(t *testing.T) {
	_, err := NewQuerier([]*url.URL{mustURL(t, "strata-query:10902")}, nil, nil, nil)
	require.ErrorContains(t, err, "is not a URL like")
	_, err = NewQuerier(nil, nil, nil, nil)
	require.ErrorContains(t, err, "--query")
}
