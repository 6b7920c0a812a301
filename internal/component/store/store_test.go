package store

import (
	"os"
	"path/filepath"
	"testing"
	"time"

	"github.com/alecthomas/kingpin/v2"
	"github.com/stretchr/testify/require"
)

// parse registers the store flags on a fresh app and parses args.
func parse(t *testing.T, args ...string) *Config {
	t.Helper()
	app := kingpin.New("strata", "")
	cmd := app.Command("store", "")
	var cfg Config
	cfg.RegisterFlags(cmd)
	_, err := app.Parse(append([]string{"store"}, args...))
	require.NoError(t, err)
	return &cfg
}

func TestLimitAndCacheFlags(t *testing.T) {
	cfg := parse(t, "--store.limits.request-series=1000", "--store.limits.request-samples=5000000",
		"--store.grpc.series-max-concurrency=4", "--store.index-cache-size=1GB")
	sc := cfg.storeConfig(time.Now())
	require.Equal(t, uint64(1000), sc.RequestSeriesLimit)
	require.Equal(t, uint64(5000000), sc.RequestSamplesLimit)
	require.Equal(t, 4, sc.SeriesMaxConcurrency)
	require.Equal(t, int64(1<<30), int64(cfg.IndexCacheSize))

	def := parse(t)
	require.Equal(t, 20, def.storeConfig(time.Now()).SeriesMaxConcurrency)
	require.Equal(t, int64(250<<20), int64(def.IndexCacheSize))
	require.Equal(t, 1<<20, def.memcachedConfig().MaxItemSize)
}

func TestRelabelConfigFlags(t *testing.T) {
	const hashmod = `
- source_labels: [__block_id]
  modulus: 2
  target_label: shard
  action: hashmod
- source_labels: [shard]
  regex: "1"
  action: keep
`
	file := filepath.Join(t.TempDir(), "relabel.yml")
	require.NoError(t, os.WriteFile(file, []byte(hashmod), 0o600))

	cfgs, err := parse(t, "--selector.relabel-config="+hashmod).relabelConfigs()
	require.NoError(t, err)
	require.Len(t, cfgs, 2)
	cfgs, err = parse(t, "--selector.relabel-config-file="+file).relabelConfigs()
	require.NoError(t, err)
	require.Len(t, cfgs, 2)
	cfgs, err = parse(t).relabelConfigs()
	require.NoError(t, err)
	require.Empty(t, cfgs, "no flag: every block")

	_, err = parse(t, "--selector.relabel-config="+hashmod, "--selector.relabel-config-file="+file).relabelConfigs()
	require.ErrorContains(t, err, "not both")
	_, err = parse(t, "--selector.relabel-config-file="+file+".missing").relabelConfigs()
	require.ErrorContains(t, err, "read --selector.relabel-config-file")
	_, err = parse(t, "--selector.relabel-config=[{action: hashmod, target_label: x}]").relabelConfigs()
	require.ErrorContains(t, err, "check --selector.relabel-config")
}
