package api

import (
	"encoding/json"
	"math"
	"net/http"
	"net/http/httptest"
	"net/url"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/prometheus/client_golang/prometheus"
	"github.com/prometheus/prometheus/model/labels"
	"github.com/prometheus/prometheus/model/timestamp"
	"github.com/prometheus/prometheus/promql"
	"github.com/prometheus/prometheus/storage"
	"github.com/prometheus/prometheus/util/teststorage"
	"github.com/stretchr/testify/require"

	"github.com/strata-io/strata/internal/query"
)

// Values of time parameters as Grafana, promtool and the Prometheus UI send
// them.
var fuzzTimeSeeds = []string{
	"1731283200", "1731290400.123", "1435781451.7816", "-1.5", "0",
	"2024-11-11T00:00:00Z", "2024-11-11T01:00:00.123456789+01:00",
	minTimeFormatted, maxTimeFormatted, "", "now",
}

// Values of duration parameters (step, timeout, lookback_delta,
// max_source_resolution).
var fuzzDurationSeeds = []string{
	"15", "0.5", "15s", "5m", "1h30m", "1d", "2m0s", "0", "-1", "-5m",
	"1e30", "auto", "", "5x",
}

// floatTolerance is how far (in the unit of v) a float parameter may be
// from its parsed value: rounding to ms, and float64 precision.
func floatTolerance(v, unit float64) float64 {
	return max(unit, math.Abs(v)*1e-12)
}

// FuzzParseTime: a time parameter is rejected or parsed to a time inside
// the range PromQL can represent, and a number is the time it says.
func FuzzParseTime(f *testing.F) {
	for _, s := range fuzzTimeSeeds {
		f.Add(s)
	}
	f.Fuzz(func(t *testing.T, s string) {
		got, err := parseTime(s)
		if err != nil {
			require.Contains(t, err.Error(), strconv.Quote(s), "the error names the value")
			return
		}
		require.False(t, got.Before(minTime) || got.After(maxTime), "%q parsed to %s, outside [%s, %s]", s, got, minTime, maxTime)
		if v, err := strconv.ParseFloat(s, 64); err == nil {
			ms := float64(timestamp.FromTime(got))
			require.InDelta(t, v*1000, ms, floatTolerance(v*1000, 1), "%q parsed to %s", s, got)
		}
	})
}

// FuzzParseDuration: a duration parameter is rejected or parsed to the
// duration it says (no NaN or overflow turned into an arbitrary value).
func FuzzParseDuration(f *testing.F) {
	for _, s := range fuzzDurationSeeds {
		f.Add(s)
	}
	f.Fuzz(func(t *testing.T, s string) {
		got, err := parseDuration(s)
		if err != nil {
			require.Contains(t, err.Error(), strconv.Quote(s), "the error names the value")
			return
		}
		if v, err := strconv.ParseFloat(s, 64); err == nil {
			ns := v * float64(time.Second)
			require.InDelta(t, ns, float64(got), floatTolerance(ns, 1), "%q parsed to %s", s, got)
		}
	})
}

// fuzzEndpoints are the endpoints whose parameters FuzzHTTPParams sends.
var fuzzEndpoints = []string{
	"/api/v1/query", "/api/v1/query_range", "/api/v1/series", "/api/v1/labels",
	"/api/v1/label/job/values", "/api/v1/query_exemplars",
}

// fuzzQueries are fixed PromQL queries: the PromQL parser is not fuzzed
// here, only the parameters around it.
var fuzzQueries = []string{`up`, `sum by (job) (rate(up[5m]))`, `up{instance="x"} offset 1m`}

// newFuzzAPI returns an API over two HA replicas scraping up and a counter
// at different phases.
func newFuzzAPI(t testing.TB) *http.ServeMux {
	s := teststorage.New(t)
	app := s.Appender(t.Context())
	for r, phase := range map[string]int64{"a": 0, "b": 7_000} {
		for i := range int64(40) {
			ts := 1_731_283_200_000 + phase + i*15_000
			_, err := app.Append(0, labels.FromStrings("__name__", "up", "job", "node", "instance", "x", "replica", r), ts, 1)
			require.NoError(t, err)
			_, err = app.Append(0, labels.FromStrings("__name__", "http_requests_total", "job", "api", "replica", r), ts, float64(i*(10+phase/1000)))
			require.NoError(t, err)
		}
	}
	require.NoError(t, app.Commit())
	engine := promql.NewEngine(promql.EngineOpts{MaxSamples: 1_000_000, Timeout: time.Minute})
	cfg := DefaultConfig()
	cfg.ReplicaLabels = []string{"replica"}
	a := New(cfg, engine, func(query.Options) storage.Queryable { return s }, nil, nil, nil, prometheus.NewRegistry())
	a.now = func() time.Time { return time.UnixMilli(1_731_283_800_000) }
	mux := http.NewServeMux()
	a.Register(mux, "")
	return mux
}

// FuzzHTTPParams sends requests with arbitrary time, duration and Thanos
// parameters to the data endpoints. No request may panic or get a 500;
// every error is a Prometheus-style JSON body, and bad parameters are a
// 400 bad_data, never a timeout or an execution error.
func FuzzHTTPParams(f *testing.F) {
	type req struct {
		endpoint, method                                   uint8
		start, end, step, timeout, at, lookback            string
		dedup, partial, maxRes, replica, storeMatch, match string
	}
	for i, r := range []req{
		{endpoint: 1, start: "1731283200", end: "1731283800", step: "15", dedup: "true", replica: "replica", match: "up"},
		{endpoint: 1, method: 1, start: "2024-11-11T00:00:00Z", end: "2024-11-11T00:10:00.5Z", step: "1m", maxRes: "auto", partial: "true", timeout: "30s"},
		{endpoint: 0, at: "1731283500.123", lookback: "1m", maxRes: "5m", dedup: "false", storeMatch: `{__address__=~"store-.*"}`},
		{endpoint: 0, at: "2024-11-11T00:05:00+01:00", timeout: "1", partial: "0", replica: "prometheus_replica"},
		{endpoint: 2, start: minTimeFormatted, end: maxTimeFormatted, match: `up{job="node"}`, maxRes: "1h"},
		{endpoint: 3, start: "-1.5", match: `{__name__=~"http_.*"}`, storeMatch: `{zone="eu-1"}`},
		{endpoint: 4, end: "1731283800", match: `{job!=""}`, dedup: "1"},
		{endpoint: 5, start: "1731283200", end: "1731283800"},
		{endpoint: 1, start: "1731283800", end: "1731283200", step: "-15"},
		{endpoint: 1, start: "NaN", end: "1e300", step: "NaN", timeout: "-1s", lookback: "+Inf", maxRes: "-5m"},
		{endpoint: 0, at: "now", timeout: "NaN", dedup: "maybe", match: `{}`},
	} {
		f.Add(r.endpoint, r.method+uint8(i%3)<<1, r.start, r.end, r.step, r.timeout, r.at, r.lookback, r.dedup, r.partial, r.maxRes, r.replica, r.storeMatch, r.match)
	}
	mux := newFuzzAPI(f)
	f.Fuzz(func(t *testing.T, endpoint, method uint8, start, end, step, timeout, at, lookback, dedup, partial, maxRes, replica, storeMatch, match string) {
		params := url.Values{"query": {fuzzQueries[int(method>>1)%len(fuzzQueries)]}}
		for name, v := range map[string]string{
			"start": start, "end": end, "step": step, "timeout": timeout, "time": at, "lookback_delta": lookback,
			paramDedup: dedup, paramPartialResponse: partial, paramMaxSourceResolution: maxRes,
			paramReplicaLabels: replica, paramStoreMatch: storeMatch, "match[]": match,
		} {
			if v != "" {
				params.Set(name, v)
			}
		}
		path := fuzzEndpoints[int(endpoint)%len(fuzzEndpoints)]
		var r *http.Request
		if method%2 == 0 {
			r = httptest.NewRequest(http.MethodGet, path+"?"+params.Encode(), nil)
		} else {
			r = httptest.NewRequest(http.MethodPost, path, strings.NewReader(params.Encode()))
			r.Header.Set("Content-Type", "application/x-www-form-urlencoded")
		}
		w := httptest.NewRecorder()
		mux.ServeHTTP(w, r)

		var body struct {
			Status    string          `json:"status"`
			ErrorType string          `json:"errorType"`
			Error     string          `json:"error"`
			Data      json.RawMessage `json:"data"`
		}
		require.NoError(t, json.Unmarshal(w.Body.Bytes(), &body), "%s %s: body is not JSON: %s", r.Method, path, w.Body)
		require.Equal(t, "application/json", w.Header().Get("Content-Type"))
		if w.Code == http.StatusOK {
			require.Equal(t, "success", body.Status)
			// A request that succeeds had valid parameters: a timeout
			// that cannot elapse or a negative lookback must not be
			// silently replaced by a default.
			if strings.HasPrefix(path, "/api/v1/query") && path != "/api/v1/query_exemplars" {
				if timeout != "" {
					d, err := parseDuration(timeout)
					require.NoError(t, err, "timeout %q accepted", timeout)
					require.Positive(t, d, "timeout %q accepted", timeout)
				}
				if lookback != "" {
					d, err := parseDuration(lookback)
					require.NoError(t, err, "lookback_delta %q accepted", lookback)
					require.GreaterOrEqual(t, d, time.Duration(0), "lookback_delta %q accepted", lookback)
				}
			}
			return
		}
		require.Equal(t, "error", body.Status, "status %d", w.Code)
		require.NotEmpty(t, body.Error, "status %d", w.Code)
		switch w.Code {
		case http.StatusBadRequest:
			require.Equal(t, string(errorBadData), body.ErrorType, body.Error)
		case http.StatusUnprocessableEntity:
			require.Equal(t, string(errorExec), body.ErrorType, body.Error)
		case http.StatusServiceUnavailable:
			// Only a (tiny) positive timeout the client asked for times out.
			require.Equal(t, string(errorTimeout), body.ErrorType, body.Error)
			d, err := parseDuration(timeout)
			require.NoError(t, err, "timed out without a valid timeout parameter: %s", body.Error)
			require.Positive(t, d, "a non-positive timeout is bad input, not a timeout: %s", body.Error)
		default:
			t.Fatalf("%s %s?%s: status %d: %s", r.Method, path, params.Encode(), w.Code, w.Body)
		}
	})
}
