//go:build !go1.27

// client_golang's v1 API gains an Infos return value from Go 1.27 on
// (api_127.go); this test is written against the Go 1.26 signatures.

package api

import (
	"context"
	"errors"
	"net/http"
	"net/http/httptest"
	"testing"
	"time"

	"github.com/prometheus/client_golang/api"
	promv1 "github.com/prometheus/client_golang/api/prometheus/v1"
	"github.com/prometheus/common/model"
	"github.com/stretchr/testify/require"
)

// TestClientGolangCompatibility queries the API with Prometheus' own Go
// client, the one promtool and many tools use.
func TestClientGolangCompatibility(t *testing.T) {
	cfg := DefaultConfig()
	cfg.Flags = map[string]string{"query.timeout": "2m"}
	cfg.BuildInfo = BuildInfo{Version: "0.1.0"}
	f := newFixture(t, cfg, nil, nil, nil)
	srv := httptest.NewServer(f.mux)
	defer srv.Close()
	tr := &http.Transport{}
	defer tr.CloseIdleConnections()
	c, err := api.NewClient(api.Config{Address: srv.URL, RoundTripper: tr})
	require.NoError(t, err)
	p := promv1.NewAPI(c)
	ctx := context.Background()

	t.Run("query", func(t *testing.T) {
		v, warns, err := p.Query(ctx, "up", time.Unix(120, 0))
		require.NoError(t, err)
		require.Empty(t, warns)
		vec, ok := v.(model.Vector)
		require.True(t, ok, "got %T", v)
		require.Len(t, vec, 2)
		require.Equal(t, model.SampleValue(1), vec[0].Value)
		require.Equal(t, model.Time(120_000), vec[0].Timestamp)
	})
	t.Run("histogram", func(t *testing.T) {
		v, _, err := p.Query(ctx, "hist", time.Unix(60, 0))
		require.NoError(t, err)
		vec := v.(model.Vector)
		require.Len(t, vec, 1)
		require.NotNil(t, vec[0].Histogram)
		require.Equal(t, model.FloatString(5), vec[0].Histogram.Count)
		require.Len(t, vec[0].Histogram.Buckets, 3)
	})
	t.Run("query_range", func(t *testing.T) {
		v, _, err := p.QueryRange(ctx, `up{instance="x"}`, promv1.Range{Start: time.Unix(0, 0), End: time.Unix(120, 0), Step: time.Minute})
		require.NoError(t, err)
		m := v.(model.Matrix)
		require.Len(t, m, 1)
		require.Len(t, m[0].Values, 3)
	})
	t.Run("bad query", func(t *testing.T) {
		_, _, err := p.Query(ctx, "sum(", time.Unix(120, 0))
		var apiErr *promv1.Error
		require.True(t, errors.As(err, &apiErr), "got %v", err)
		require.Equal(t, promv1.ErrBadData, apiErr.Type)
	})
	t.Run("series", func(t *testing.T) {
		s, _, err := p.Series(ctx, []string{"up"}, time.Unix(0, 0), time.Unix(200, 0))
		require.NoError(t, err)
		require.Len(t, s, 2)
	})
	t.Run("labels", func(t *testing.T) {
		names, _, err := p.LabelNames(ctx, nil, time.Time{}, time.Time{})
		require.NoError(t, err)
		require.Equal(t, model.LabelNames{"__name__", "instance", "job"}, names)
		vals, _, err := p.LabelValues(ctx, "job", []string{"up"}, time.Time{}, time.Time{})
		require.NoError(t, err)
		require.Equal(t, model.LabelValues{"a"}, vals)
	})
	t.Run("status", func(t *testing.T) {
		bi, err := p.Buildinfo(ctx)
		require.NoError(t, err)
		require.Equal(t, "0.1.0", bi.Version)
		fl, err := p.Flags(ctx)
		require.NoError(t, err)
		require.Equal(t, "2m", fl["query.timeout"])
		_, err = p.Runtimeinfo(ctx)
		require.NoError(t, err)
		_, err = p.Rules(ctx, nil)
		require.NoError(t, err)
		_, err = p.Alerts(ctx)
		require.NoError(t, err)
		_, err = p.Targets(ctx)
		require.NoError(t, err)
		md, err := p.Metadata(ctx, "", "")
		require.NoError(t, err)
		require.Empty(t, md)
		ex, err := p.QueryExemplars(ctx, "up", time.Unix(0, 0), time.Unix(120, 0))
		require.NoError(t, err)
		require.Empty(t, ex)
	})
}
