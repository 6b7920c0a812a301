package limits

import (
	"os"
	"path/filepath"
	"testing"

	"github.com/stretchr/testify/require"
)

func TestLoadFileUpstreamExample(t *testing.T) {
	cfg, err := LoadFile("testdata/upstream.yaml")
	require.NoError(t, err)
	require.Equal(t, int64(30), *cfg.Write.Global.MaxConcurrency)
	require.Equal(t, int64(1000), *cfg.Write.Default.Request.SeriesLimit)
	require.Equal(t, int64(0), *cfg.Write.Tenants["acme"].Request.SeriesLimit)
	require.Nil(t, cfg.Write.Tenants["ajax"].HeadSeriesLimit)
	require.Equal(t, []string{
		"write.global.meta_monitoring_url",
		"write.global.meta_monitoring_limit_query",
		"write.global.meta_monitoring_http_client",
	}, cfg.Ignored())

	l := New(cfg, nil)
	// acme: request limits explicitly 0 (unlimited) despite the default.
	require.NoError(t, l.CheckRequest("acme", 1<<20, 1<<20, 1<<20))
	require.Equal(t, int64(0), l.BodySizeLimit("acme"))
	// ajax: its own series/samples limits, size and head from the default.
	require.NoError(t, l.CheckRequest("ajax", 1024, 50000, 500))
	require.Equal(t, int64(1024), l.BodySizeLimit("ajax"))
	require.Error(t, l.CheckHeadSeries("ajax", 1000, -1))
	// acme's own head_series_limit.
	require.NoError(t, l.CheckHeadSeries("acme", 1999, -1))
	require.Error(t, l.CheckHeadSeries("acme", 2000, -1))
	// any other tenant: the default.
	require.Error(t, l.CheckRequest("other", 10, 1001, 1))
	require.Error(t, l.CheckRequest("other", 10, 1, 11))
	require.NoError(t, l.CheckRequest("other", 1024, 1000, 10))
}

func TestInheritance(t *testing.T) {
	cfg, err := Parse([]byte(`
write:
  default:
    request:
      series_limit: 100
      samples_limit: 200
    head_series_limit: 300
  tenants:
    unlimited:
      request:
        series_limit: 0
      head_series_limit: 0
    partial:
      request:
        samples_limit: 50
    empty:
`))
	require.NoError(t, err)
	l := New(cfg, nil)

	var le *LimitError
	// unlimited: series and head explicitly 0, samples inherited.
	require.NoError(t, l.CheckRequest("unlimited", 0, 1e6, 200))
	require.ErrorAs(t, l.CheckRequest("unlimited", 0, 1, 201), &le)
	require.Equal(t, "write.default.request.samples_limit", le.Source)
	require.NoError(t, l.CheckHeadSeries("unlimited", 1e9, -1))
	// partial: own samples limit, series inherited.
	require.ErrorAs(t, l.CheckRequest("partial", 0, 1, 51), &le)
	require.Equal(t, int64(50), le.Max)
	require.Equal(t, "write.tenants.partial.request.samples_limit", le.Source)
	require.ErrorAs(t, l.CheckRequest("partial", 0, 101, 1), &le)
	require.Equal(t, int64(100), le.Max)
	// empty entry: everything from the default.
	require.ErrorAs(t, l.CheckHeadSeries("empty", 300, -1), &le)
	require.Equal(t, int64(300), le.Max)
	// size unset everywhere: unlimited.
	require.NoError(t, l.CheckBodySize("partial", 1<<40))
}

func TestParseEmptyHasNoLimits(t *testing.T) {
	for _, in := range []string{"", "# nothing\n", "write:\n"} {
		cfg, err := Parse([]byte(in))
		require.NoError(t, err, "%q", in)
		l := New(cfg, nil)
		require.NoError(t, l.CheckRequest("t", 1<<30, 1<<30, 1<<30))
		release, err := l.Acquire("t")
		require.NoError(t, err)
		release()
	}
}

func TestParseErrorsNameTheField(t *testing.T) {
	for _, tc := range []struct {
		name, in string
		want     []string
	}{
		{"unknown request field", "write:\n  default:\n    request:\n      series_limt: 1\n", []string{"series_limt", "line 4", "series_limit"}},
		{"unknown tenant field", "write:\n  tenants:\n    acme:\n      head_series: 1\n", []string{"head_series", "head_series_limit"}},
		{"unknown global field", "write:\n  global:\n    max_concurency: 1\n", []string{"max_concurency", "max_concurrency"}},
		{"unknown top-level", "writes:\n  global: {}\n", []string{"writes"}},
		{"negative default", "write:\n  default:\n    request:\n      size_bytes_limit: -1\n", []string{"write.default.request.size_bytes_limit is -1", "0 for unlimited"}},
		{"negative tenant", "write:\n  tenants:\n    acme:\n      head_series_limit: -5\n", []string{"write.tenants.acme.head_series_limit is -5"}},
		{"negative concurrency", "write:\n  global:\n    max_concurrency: -2\n", []string{"write.global.max_concurrency is -2"}},
		{"not a number", "write:\n  default:\n    request:\n      series_limit: many\n", []string{"many", "line 4"}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			_, err := Parse([]byte(tc.in))
			require.Error(t, err)
			for _, w := range tc.want {
				require.Contains(t, err.Error(), w)
			}
			require.NotContains(t, err.Error(), "limits.RequestConfig")
		})
	}
}

func TestLoadFileErrorsNameTheFile(t *testing.T) {
	dir := t.TempDir()
	_, err := LoadFile(filepath.Join(dir, "missing.yaml"))
	require.ErrorContains(t, err, "missing.yaml")

	bad := filepath.Join(dir, "bad.yaml")
	require.NoError(t, os.WriteFile(bad, []byte("write:\n  default:\n    head_series_limit: -1\n"), 0o600))
	_, err = LoadFile(bad)
	require.ErrorContains(t, err, bad)
	require.ErrorContains(t, err, "write.default.head_series_limit")
}
