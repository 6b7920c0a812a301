package limits

import (
	"net/http"
	"strings"
	"sync"
	"testing"

	"github.com/prometheus/client_golang/prometheus"
	"github.com/prometheus/client_golang/prometheus/testutil"
	"github.com/stretchr/testify/require"
)

func mustParse(t *testing.T, in string) *Config {
	t.Helper()
	cfg, err := Parse([]byte(in))
	require.NoError(t, err)
	return cfg
}

const exampleConfig = `
write:
  global:
    max_concurrency: 3
  default:
    request:
      size_bytes_limit: 1024
      series_limit: 1000
      samples_limit: 10
    head_series_limit: 1000
  tenants:
    acme:
      head_series_limit: 2000
`

func TestLimitErrors(t *testing.T) {
	l := New(mustParse(t, exampleConfig), nil)
	for _, tc := range []struct {
		name   string
		err    error
		limit  string
		value  int64
		max    int64
		status int
		msg    string
	}{
		{
			"series", l.CheckRequest("acme", 10, 2345, 1), LimitSeries, 2345, 1000, http.StatusRequestEntityTooLarge,
			"request has 2345 series, more than tenant acme's series_limit 1000: send smaller batches (queue_config.max_samples_per_send) or raise write.default.request.series_limit",
		},
		{
			"samples", l.CheckRequest("acme", 10, 1, 11), LimitSamples, 11, 10, http.StatusRequestEntityTooLarge,
			"request has 11 samples, more than tenant acme's samples_limit 10: send smaller batches (queue_config.max_samples_per_send) or raise write.default.request.samples_limit",
		},
		{
			"size", l.CheckRequest("acme", 1025, 1, 1), LimitSizeBytes, 1025, 1024, http.StatusRequestEntityTooLarge,
			"request body of 1025 bytes is larger than tenant acme's size_bytes_limit 1024: send smaller batches (queue_config.max_samples_per_send) or raise write.default.request.size_bytes_limit",
		},
		{
			"content length", l.CheckBodySize("acme", 4096), LimitSizeBytes, 4096, 1024, http.StatusRequestEntityTooLarge,
			"request body of 4096 bytes is larger than tenant acme's size_bytes_limit 1024",
		},
		{
			"head series", l.CheckHeadSeries("acme", 2000, -1), LimitHeadSeries, 2000, 2000, http.StatusTooManyRequests,
			"tenant acme has 2000 active series, its head_series_limit is 2000: stop sending new series",
		},
	} {
		t.Run(tc.name, func(t *testing.T) {
			var le *LimitError
			require.ErrorAs(t, tc.err, &le)
			require.Equal(t, tc.limit, le.Limit)
			require.Equal(t, "acme", le.Tenant)
			require.Equal(t, tc.value, le.Value)
			require.Equal(t, tc.max, le.Max)
			require.Equal(t, tc.status, le.Status)
			require.True(t, strings.HasPrefix(le.Error(), tc.msg), "got %q", le.Error())
			require.Contains(t, le.Error(), "raise write.")
		})
	}
}

func TestChecksAtTheLimitPass(t *testing.T) {
	l := New(mustParse(t, exampleConfig), nil)
	require.NoError(t, l.CheckRequest("acme", 1024, 1000, 10))
	require.NoError(t, l.CheckBodySize("acme", 1024))
	require.NoError(t, l.CheckBodySize("acme", -1), "unknown length passes")
	require.NoError(t, l.CheckHeadSeries("acme", 1999, -1))
	require.NoError(t, l.CheckHeadSeries("acme", 5000, 0), "a request adding no series passes a full head")
	require.Equal(t, int64(1024), l.BodySizeLimit("acme"))
}

func TestNoLimits(t *testing.T) {
	for name, l := range map[string]*Limiter{"nil config": New(nil, nil), "nil limiter": nil} {
		t.Run(name, func(t *testing.T) {
			require.NoError(t, l.CheckRequest("t", 1<<30, 1<<30, 1<<30))
			require.NoError(t, l.CheckBodySize("t", 1<<40))
			require.NoError(t, l.CheckHeadSeries("t", 1<<40, 1))
			require.Zero(t, l.BodySizeLimit("t"))
			var releases []func()
			for range 100 {
				release, err := l.Acquire("t")
				require.NoError(t, err)
				releases = append(releases, release)
			}
			for _, r := range releases {
				r()
			}
		})
	}
}

func TestAcquireConcurrency(t *testing.T) {
	const n = 8
	cfg := mustParse(t, "write:\n  global:\n    max_concurrency: 8\n")
	reg := prometheus.NewRegistry()
	l := New(cfg, reg)

	// n goroutines take every slot at once.
	releases := make([]func(), n)
	errs := make([]error, n)
	var wg sync.WaitGroup
	for i := range n {
		wg.Go(func() { releases[i], errs[i] = l.Acquire("acme") })
	}
	wg.Wait()
	for _, err := range errs {
		require.NoError(t, err)
	}

	// The n+1th is refused with 429, from any tenant.
	_, err := l.Acquire("ajax")
	var le *LimitError
	require.ErrorAs(t, err, &le)
	require.Equal(t, http.StatusTooManyRequests, le.Status)
	require.Equal(t, LimitMaxConcurrency, le.Limit)
	require.Equal(t, int64(n), le.Max)
	require.Equal(t, int64(n+1), le.Value)
	require.Contains(t, le.Error(), "9 write requests in flight over all tenants, more than the max_concurrency 8: retry later or raise write.global.max_concurrency")
	require.Equal(t, 1.0, testutil.ToFloat64(l.limited.WithLabelValues("ajax", LimitMaxConcurrency)))

	// Releasing one (twice: the second call does nothing) frees one slot.
	releases[0]()
	releases[0]()
	release, err := l.Acquire("ajax")
	require.NoError(t, err)
	_, err = l.Acquire("ajax")
	require.Error(t, err)

	// Releasing all frees all.
	release()
	for _, r := range releases[1:] {
		r()
	}
	for i := range n {
		wg.Go(func() { releases[i], errs[i] = l.Acquire("acme") })
	}
	wg.Wait()
	for i := range n {
		require.NoError(t, errs[i])
		releases[i]()
	}
}

func TestAcquireRaceWithUpdate(t *testing.T) {
	l := New(mustParse(t, "write:\n  global:\n    max_concurrency: 2\n"), nil)
	unlimited := mustParse(t, "write:\n  global:\n    max_concurrency: 0\n")
	limited := mustParse(t, "write:\n  global:\n    max_concurrency: 2\n")
	var wg sync.WaitGroup
	for i := range 4 {
		wg.Go(func() {
			for j := range 500 {
				if i == 0 && j%10 == 0 {
					if j%20 == 0 {
						l.Update(unlimited)
					} else {
						l.Update(limited)
					}
				}
				release, err := l.Acquire("t")
				if err == nil {
					_ = l.CheckRequest("t", 1, 1, 1)
					release()
				}
			}
		})
	}
	wg.Wait()
	// Every slot came back: with the limit in force, 2 are admitted again.
	l.Update(limited)
	r1, err := l.Acquire("t")
	require.NoError(t, err)
	r2, err := l.Acquire("t")
	require.NoError(t, err)
	_, err = l.Acquire("t")
	require.Error(t, err)
	r1()
	r2()
}

func TestLimitedRequestsMetric(t *testing.T) {
	reg := prometheus.NewRegistry()
	l := New(mustParse(t, exampleConfig), reg)
	_ = l.CheckRequest("acme", 10, 2000, 1)
	_ = l.CheckRequest("acme", 10, 2000, 1)
	_ = l.CheckRequest("ajax", 10, 1, 100)
	_ = l.CheckBodySize("ajax", 1<<20)
	_ = l.CheckHeadSeries("ajax", 1000, 5)
	_ = l.CheckRequest("ajax", 10, 1, 1) // passes: not counted

	require.NoError(t, testutil.GatherAndCompare(reg, strings.NewReader(`
# HELP strata_receive_limited_requests_total Write requests refused by a limit of the limits configuration, by tenant and limit.
# TYPE strata_receive_limited_requests_total counter
strata_receive_limited_requests_total{limit="head_series_limit",tenant="ajax"} 1
strata_receive_limited_requests_total{limit="samples_limit",tenant="ajax"} 1
strata_receive_limited_requests_total{limit="series_limit",tenant="acme"} 2
strata_receive_limited_requests_total{limit="size_bytes_limit",tenant="ajax"} 1
`), "strata_receive_limited_requests_total"))
}

func TestUpdateAppliesNewLimits(t *testing.T) {
	l := New(mustParse(t, exampleConfig), nil)
	require.Error(t, l.CheckRequest("acme", 10, 1001, 1))
	l.Update(mustParse(t, "write:\n  tenants:\n    acme:\n      request:\n        series_limit: 5000\n"))
	require.NoError(t, l.CheckRequest("acme", 10, 1001, 1))
	require.NoError(t, l.CheckRequest("other", 1<<20, 1001, 1000), "default limits removed")
	l.Update(nil)
	require.NoError(t, l.CheckRequest("acme", 10, 1e6, 1))
	require.Nil(t, l.Config())
}
