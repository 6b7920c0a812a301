package api

import (
	"fmt"
	"net/http"
	"net/url"
	"strings"
	"testing"
	"time"

	"github.com/prometheus/prometheus/model/labels"
	"github.com/prometheus/prometheus/util/teststorage"
	"github.com/stretchr/testify/require"

	"github.com/strata-io/strata/internal/query"
)

func TestOptionsReachQueryable(t *testing.T) {
	cfg := DefaultConfig()
	cfg.ReplicaLabels = []string{"replica"}
	cfg.InstantMaxSourceResolution = time.Hour
	for _, tc := range []struct {
		name   string
		cfg    func(*Config)
		path   string
		params url.Values
		want   query.Options
	}{
		{
			name:   "defaults",
			path:   "/api/v1/query",
			params: url.Values{"query": {"up"}},
			want:   query.Options{Deduplicate: true, ReplicaLabels: []string{"replica"}},
		},
		{
			name:   "partial response default from config",
			cfg:    func(c *Config) { c.DefaultPartialResponse = true; c.DefaultDedup = false },
			path:   "/api/v1/query",
			params: url.Values{"query": {"up"}},
			want:   query.Options{PartialResponse: true, ReplicaLabels: []string{"replica"}},
		},
		{
			name: "every Thanos parameter",
			path: "/api/v1/query",
			params: url.Values{
				"query":                 {"up"},
				"dedup":                 {"false"},
				"partial_response":      {"true"},
				"replicaLabels[]":       {"r1", "r2"},
				"storeMatch[]":          {`{cluster="eu"}`, `{region=~"us.*"}`},
				"max_source_resolution": {"5m"},
			},
			want: query.Options{
				PartialResponse:     true,
				ReplicaLabels:       []string{"r1", "r2"},
				MaxResolutionMillis: 300_000,
				StoreMatchers: [][]*labels.Matcher{
					{labels.MustNewMatcher(labels.MatchEqual, "cluster", "eu")},
					{labels.MustNewMatcher(labels.MatchRegexp, "region", "us.*")},
				},
			},
		},
		{
			name:   "max_source_resolution 0s",
			path:   "/api/v1/query_range",
			params: url.Values{"query": {"up"}, "start": {"0"}, "end": {"3600"}, "step": {"60"}, "max_source_resolution": {"0s"}},
			want:   query.Options{Deduplicate: true, ReplicaLabels: []string{"replica"}},
		},
		{
			name:   "max_source_resolution 1h",
			path:   "/api/v1/query_range",
			params: url.Values{"query": {"up"}, "start": {"0"}, "end": {"3600"}, "step": {"60"}, "max_source_resolution": {"1h"}},
			want:   query.Options{Deduplicate: true, ReplicaLabels: []string{"replica"}, MaxResolutionMillis: 3_600_000},
		},
		{
			name:   "max_source_resolution auto is step/5 for ranges",
			path:   "/api/v1/query_range",
			params: url.Values{"query": {"up"}, "start": {"0"}, "end": {"36000"}, "step": {"25m"}, "max_source_resolution": {"auto"}},
			want:   query.Options{Deduplicate: true, ReplicaLabels: []string{"replica"}, MaxResolutionMillis: 300_000},
		},
		{
			name:   "max_source_resolution auto for instant queries",
			path:   "/api/v1/query",
			params: url.Values{"query": {"up"}, "max_source_resolution": {"auto"}},
			want:   query.Options{Deduplicate: true, ReplicaLabels: []string{"replica"}, MaxResolutionMillis: 3_600_000},
		},
		{
			name:   "auto downsampling by default",
			cfg:    func(c *Config) { c.AutoDownsampling = true },
			path:   "/api/v1/query_range",
			params: url.Values{"query": {"up"}, "start": {"0"}, "end": {"3600"}, "step": {"50"}},
			want:   query.Options{Deduplicate: true, ReplicaLabels: []string{"replica"}, MaxResolutionMillis: 10_000},
		},
		{
			name:   "series read any resolution",
			path:   "/api/v1/series",
			params: url.Values{"match[]": {"up"}, "dedup": {"false"}, "replicaLabels[]": {"rep"}},
			want:   query.Options{ReplicaLabels: []string{"rep"}, MaxResolutionMillis: 1<<63 - 1},
		},
		{
			name:   "labels",
			path:   "/api/v1/labels",
			params: url.Values{"partial_response": {"1"}, "storeMatch[]": {`{a="b"}`}},
			want: query.Options{
				Deduplicate: true, PartialResponse: true, ReplicaLabels: []string{"replica"}, MaxResolutionMillis: 1<<63 - 1,
				StoreMatchers: [][]*labels.Matcher{{labels.MustNewMatcher(labels.MatchEqual, "a", "b")}},
			},
		},
		{
			name:   "label values",
			path:   "/api/v1/label/job/values",
			params: url.Values{"dedup": {"0"}},
			want:   query.Options{ReplicaLabels: []string{"replica"}, MaxResolutionMillis: 1<<63 - 1},
		},
	} {
		for _, m := range methods {
			t.Run(tc.name+"/"+m, func(t *testing.T) {
				c := cfg
				if tc.cfg != nil {
					tc.cfg(&c)
				}
				f := newFixture(t, c, nil, nil, nil)
				code, body := f.do(t, m, tc.path, tc.params)
				require.Equal(t, http.StatusOK, code, body)
				got := f.rec.last(t)
				require.Equal(t, tc.want.Deduplicate, got.Deduplicate, "dedup")
				require.Equal(t, tc.want.PartialResponse, got.PartialResponse, "partial response")
				require.Equal(t, tc.want.ReplicaLabels, got.ReplicaLabels, "replica labels")
				require.Equal(t, tc.want.MaxResolutionMillis, got.MaxResolutionMillis, "max resolution")
				require.Equal(t, matchersString(tc.want.StoreMatchers), matchersString(got.StoreMatchers), "store matchers")
			})
		}
	}
}

func matchersString(sets [][]*labels.Matcher) []string {
	var out []string
	for _, ms := range sets {
		var parts []string
		for _, m := range ms {
			parts = append(parts, m.String())
		}
		out = append(out, strings.Join(parts, ","))
	}
	return out
}

func TestLookbackDelta(t *testing.T) {
	cfg := DefaultConfig()
	cfg.LookbackDelta = 30 * time.Second
	f := newFixture(t, cfg, nil, nil, nil)
	// The last sample is at 120s: at 170s only a lookback over 50s finds it.
	code, body := f.do(t, http.MethodGet, "/api/v1/query", url.Values{"query": {`up{instance="x"}`}, "time": {"170"}})
	require.Equal(t, http.StatusOK, code, body)
	require.Contains(t, body, `"result":[]`)
	code, body = f.do(t, http.MethodGet, "/api/v1/query", url.Values{"query": {`up{instance="x"}`}, "time": {"170"}, "lookback_delta": {"1m"}})
	require.Equal(t, http.StatusOK, code, body)
	require.Contains(t, body, `"value":[170,"1"]`)
}

func TestParseTime(t *testing.T) {
	for _, tc := range []struct {
		in   string
		want time.Time
	}{
		{"0", time.Unix(0, 0).UTC()},
		{"1435781451.781", time.Unix(1435781451, 781_000_000).UTC()},
		{"1435781451.7816", time.Unix(1435781451, 782_000_000).UTC()},
		{"-1.5", time.Unix(-1, -500_000_000).UTC()},
		{"2015-07-01T20:10:51.781Z", time.Unix(1435781451, 781_000_000).UTC()},
		{"2015-07-01T22:10:51+02:00", time.Unix(1435781451, 0)},
		{minTimeFormatted, minTime},
		{maxTimeFormatted, maxTime},
	} {
		t.Run(tc.in, func(t *testing.T) {
			got, err := parseTime(tc.in)
			require.NoError(t, err)
			require.True(t, tc.want.Equal(got), "got %s", got)
		})
	}
}

func TestParseDuration(t *testing.T) {
	for _, tc := range []struct {
		in   string
		want time.Duration
		err  string
	}{
		{in: "15", want: 15 * time.Second},
		{in: "0.5", want: 500 * time.Millisecond},
		{in: "5m", want: 5 * time.Minute},
		{in: "1h30m", want: 90 * time.Minute},
		{in: "1d", want: 24 * time.Hour},
		{in: "1e30", err: `cannot parse "1e30" to a valid duration. It overflows int64`},
		{in: "five", err: `cannot parse "five" to a valid duration`},
	} {
		t.Run(tc.in, func(t *testing.T) {
			got, err := parseDuration(tc.in)
			if tc.err != "" {
				require.EqualError(t, err, tc.err)
				return
			}
			require.NoError(t, err)
			require.Equal(t, tc.want, got)
		})
	}
}

// TestLookbackWidenedForDownsampledData: a series with one sample per hour
// (as a 1h-downsampled one) is found by an instant query 40 minutes after
// its last sample when the request may read 1h data; with raw data only,
// the 5m lookback finds nothing, as in Prometheus.
func TestLookbackWidenedForDownsampledData(t *testing.T) {
	s := teststorage.New(t)
	app := s.Appender(t.Context())
	lset := labels.FromStrings("__name__", "hourly")
	for _, ts := range []int64{0, 3_600_000, 7_200_000} {
		_, err := app.Append(0, lset, ts, float64(ts))
		require.NoError(t, err)
	}
	require.NoError(t, app.Commit())
	cfg := DefaultConfig()
	cfg.LookbackDelta = 5 * time.Minute
	f := newFixture(t, cfg, s, nil, nil)
	at := fmt.Sprint(7200 + 40*60)

	code, body := f.do(t, http.MethodGet, "/api/v1/query", url.Values{"query": {"hourly"}, "time": {at}})
	require.Equal(t, http.StatusOK, code, body)
	require.Contains(t, body, `"result":[]`, "raw: nothing within 5m")

	code, body = f.do(t, http.MethodGet, "/api/v1/query", url.Values{"query": {"hourly"}, "time": {at}, "max_source_resolution": {"1h"}})
	require.Equal(t, http.StatusOK, code, body)
	require.Contains(t, body, `"7200000"`, "1h data: the last window's sample is found")
}
