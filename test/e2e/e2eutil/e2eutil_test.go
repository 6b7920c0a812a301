package e2eutil

import (
	"encoding/json"
	"log/slog"
	"testing"
	"time"

	"github.com/prometheus/prometheus/config"
	"github.com/stretchr/testify/require"
)

// TestPromConfigLoadsInPrometheus checks that the rendered configs are what
// Prometheus itself accepts, with the labels, interval and targets asked for.
func TestPromConfigLoadsInPrometheus(t *testing.T) {
	for name, tc := range map[string]struct {
		cfg  PromConfig
		jobs int
	}{
		"no external labels, no jobs": {cfg: PromConfig{}},
		"labels and jobs": {
			cfg: PromConfig{
				ExternalLabels: map[string]string{"cluster": "eu1", "replica": "0"},
				ScrapeInterval: 2 * time.Second,
				Jobs:           map[string][]string{"prometheus": {"127.0.0.1:1", "127.0.0.1:2"}, "query": {"127.0.0.1:3"}},
			},
			jobs: 2,
		},
	} {
		t.Run(name, func(t *testing.T) {
			got, err := config.Load(tc.cfg.YAML(), slog.New(slog.DiscardHandler))
			require.NoError(t, err, "%s", tc.cfg.YAML())
			require.Len(t, got.ScrapeConfigs, tc.jobs)
			require.Equal(t, len(tc.cfg.ExternalLabels), got.GlobalConfig.ExternalLabels.Len())
			for k, v := range tc.cfg.ExternalLabels {
				require.Equal(t, v, got.GlobalConfig.ExternalLabels.Get(k))
			}
			want := tc.cfg.ScrapeInterval
			if want == 0 {
				want = time.Second
			}
			require.Equal(t, want, time.Duration(got.GlobalConfig.ScrapeInterval))
		})
	}
}

func TestPointDecodesAPIValues(t *testing.T) {
	var s Series
	require.NoError(t, json.Unmarshal([]byte(`{"metric":{"a":"1"},"values":[[1700000000.123,"1.5"],[1700000001,"NaN"]]}`), &s))
	require.Equal(t, []Point{{T: 1700000000123, V: "1.5"}, {T: 1700000001000, V: "NaN"}}, s.Values)
	require.Equal(t, 1.5, s.Values[0].Float())
	require.Equal(t, `{a="1"}`, s.Key())
	require.Equal(t, "1700000000.123", FormatTime(time.UnixMilli(1700000000123)))
}

func TestPortsAreNotHandedOutTwice(t *testing.T) {
	p := NewPorts()
	seen := map[int]bool{}
	for range 200 {
		port, err := p.Port()
		require.NoError(t, err)
		require.False(t, seen[port], "port %d handed out twice", port)
		seen[port] = true
	}
}
