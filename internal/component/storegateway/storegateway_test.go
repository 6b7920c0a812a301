package storegateway

import (
	"context"
	"log/slog"
	"os"
	"path/filepath"
	"testing"
	"time"

	"github.com/alecthomas/kingpin/v2"
	"github.com/prometheus/client_golang/prometheus"
	"github.com/prometheus/prometheus/model/labels"
	"github.com/stretchr/testify/require"
	"github.com/thanos-io/objstore/providers/filesystem"
	"google.golang.org/grpc"
	"google.golang.org/grpc/credentials/insecure"
	healthpb "google.golang.org/grpc/health/grpc_health_v1"

	"github.com/strata-io/strata/internal/datagen"
	"github.com/strata-io/strata/internal/testkit"
	"github.com/strata-io/strata/pkg/infopb"
	"github.com/strata-io/strata/pkg/storepb"
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

// TestHealthServingOnlyWithBlocks: `strata store`'s gRPC health says
// SERVING only once its Info announces the bucket's blocks, so a querier
// never takes a starting store gateway for one without data.
func TestHealthServingOnlyWithBlocks(t *testing.T) {
	dir := t.TempDir()
	bkt, err := filesystem.NewBucket(dir)
	require.NoError(t, err)
	dc := datagen.Config{Series: 50, End: time.Now().Truncate(2 * time.Hour), Duration: 24 * time.Hour, Interval: time.Minute, Seed: 3}
	_, err = datagen.GenerateBucket(t.Context(), bkt, dc, labels.FromStrings("cluster", "eu1"), "", nil)
	require.NoError(t, err)

	grpcAddr := testkit.ClosedAddr(t)
	cfg := parse(t, "--objstore.config=type: FILESYSTEM\nconfig:\n  directory: "+dir, "--grpc-address="+grpcAddr,
		"--http-address="+testkit.ClosedAddr(t), "--data-dir="+t.TempDir())
	ctx, cancel := context.WithCancel(t.Context())
	done := make(chan error, 1)
	go func() { done <- Run(ctx, *cfg, slog.New(slog.DiscardHandler), prometheus.NewRegistry()) }()
	t.Cleanup(func() {
		cancel()
		require.NoError(t, <-done)
	})

	conn, err := grpc.NewClient(grpcAddr, grpc.WithTransportCredentials(insecure.NewCredentials()), grpc.WithDefaultCallOptions(grpc.ForceCodecV2(storepb.Codec{})))
	require.NoError(t, err)
	defer conn.Close()
	health, info := healthpb.NewHealthClient(conn), infopb.NewInfoClient(conn)
	deadline := time.Now().Add(30 * time.Second)
	for {
		require.True(t, time.Now().Before(deadline), "never SERVING")
		resp, err := health.Check(t.Context(), &healthpb.HealthCheckRequest{})
		if err == nil && resp.GetStatus() == healthpb.HealthCheckResponse_SERVING {
			break
		}
		time.Sleep(2 * time.Millisecond)
	}
	resp, err := info.Info(t.Context(), &infopb.InfoRequest{})
	require.NoError(t, err)
	require.Len(t, resp.GetLabelSets(), 1, "SERVING announces the blocks")
	require.LessOrEqual(t, resp.GetStore().GetMinTime(), resp.GetStore().GetMaxTime())
}
