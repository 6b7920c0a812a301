package storegateway

import (
	"context"
	"encoding/json"
	"log/slog"
	"math"
	"net"
	"net/http"
	"net/http/httptest"
	"os"
	"path/filepath"
	"strings"
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
	"google.golang.org/grpc/test/bufconn"

	"github.com/strata-io/strata/internal/cache"
	"github.com/strata-io/strata/internal/component"
	"github.com/strata-io/strata/internal/datagen"
	"github.com/strata-io/strata/internal/server"
	"github.com/strata-io/strata/internal/store/bucketstore"
	"github.com/strata-io/strata/internal/store/storetest"
	"github.com/strata-io/strata/internal/testkit"
	"github.com/strata-io/strata/pkg/infopb"
	"github.com/strata-io/strata/pkg/storepb"
)

// parse registers the store flags on a fresh app and parses args.
func parse(t *testing.T, args ...string) *Config {
	t.Helper()
	cfg, err := parseErr(args...)
	require.NoError(t, err)
	return cfg
}

// parseErr registers the flags on a fresh app and parses args.
func parseErr(args ...string) (*Config, error) {
	app := kingpin.New("strata", "")
	cmd := app.Command("store", "")
	var cfg Config
	cfg.RegisterFlags(cmd)
	_, err := app.Parse(append([]string{"store"}, args...))
	return &cfg, err
}

func TestFlagsBindIntoTheLibraryConfig(t *testing.T) {
	cfg := parse(t, "--store.limits.request-series=1000", "--store.limits.request-samples=5000000",
		"--store.grpc.series-max-concurrency=4", "--index-cache-size=1GB", "--sync-block-duration=2s",
		"--min-time=-2w", "--max-time=2026-01-02T15:04:05Z", "--data-dir=/tmp/x")
	sc := cfg.Store
	require.Equal(t, uint64(1000), sc.RequestSeriesLimit)
	require.Equal(t, uint64(5000000), sc.RequestSamplesLimit)
	require.Equal(t, 4, sc.SeriesMaxConcurrency)
	require.Equal(t, 2*time.Second, sc.SyncInterval)
	require.Equal(t, "/tmp/x", sc.DataDir)
	now := time.Now()
	require.Equal(t, now.Add(-14*24*time.Hour).UnixMilli(), sc.MinTime.Millis(now, 0), "relative to the time asked")
	require.Equal(t, time.Date(2026, 1, 2, 15, 4, 5, 0, time.UTC).UnixMilli(), sc.MaxTime.Millis(now, 0))
	require.Equal(t, int64(1<<30), int64(cfg.IndexCache.InMemory.MaxSize))

	def := parse(t)
	want := bucketstore.DefaultConfig()
	want.DataDir = "./data"
	require.Equal(t, want, def.Store, "defaults are the library's")
	require.Equal(t, cache.DefaultInMemoryConfig(), def.IndexCache.InMemory)
}

func TestValidate(t *testing.T) {
	require.NoError(t, parse(t).Validate())
	for _, tc := range []struct {
		args    []string
		wantErr string
	}{
		{[]string{"--sync-block-duration=0s"}, "check --sync-block-duration"},
		{[]string{"--min-time=2026-01-02T00:00:00Z", "--max-time=2026-01-01T00:00:00Z"}, "nothing would be served"},
		{[]string{"--index-cache.config=type: REDIS"}, `unknown cache type "REDIS": supported types are IN-MEMORY, MEMCACHED`},
		{[]string{"--index-cache.config=type: MEMCACHED"}, "no address"},
		{[]string{"--index-cache.config=type: MEMCACHED\nconfig:\n  addresses: [dns+memcached:11211]"}, "not supported"},
		{[]string{"--index-cache.config=type: IN-MEMORY", "--index-cache.config-file=/x.yml"}, "--index-cache.config-file and --index-cache.config are mutually exclusive"},
		{[]string{"--index-cache.config=type: IN-MEMORY\nconfig:\n  maxsize: 1GB"}, "field maxsize not found"},
		{[]string{"--store.caching-bucket.config=type: GROUPCACHE"}, `check --store.caching-bucket.config(-file): unknown cache type "GROUPCACHE": supported types are IN-MEMORY, MEMCACHED`},
		{[]string{"--store.caching-bucket.config=type: IN-MEMORY\nchunk_subrange_size: 0"}, "chunk_subrange_size must be positive"},
		{[]string{"--store.caching-bucket.config=type: IN-MEMORY\nchunk_subrange: 10"}, "field chunk_subrange not found"},
		{[]string{"--store.caching-bucket.config=type: IN-MEMORY", "--store.caching-bucket.config-file=/x.yml"}, "mutually exclusive"},
	} {
		t.Run(strings.Join(tc.args, " "), func(t *testing.T) {
			app := kingpin.New("strata", "")
			cmd := app.Command("store", "")
			var cfg Config
			cfg.RegisterFlags(cmd)
			if _, err := app.Parse(append([]string{"store"}, tc.args...)); err != nil {
				require.ErrorContains(t, err, tc.wantErr, "refused by the flag parser")
				return
			}
			require.ErrorContains(t, cfg.Validate(), tc.wantErr)
		})
	}
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

	require.Len(t, parse(t, "--selector.relabel-config="+hashmod).Store.RelabelConfigs, 2)
	require.Len(t, parse(t, "--selector.relabel-config-file="+file).Store.RelabelConfigs, 2)
	require.Empty(t, parse(t).Store.RelabelConfigs, "no flag: every block")

	for args, want := range map[string][]string{
		"not both":                            {"--selector.relabel-config=" + hashmod, "--selector.relabel-config-file=" + file},
		"read --selector.relabel-config-file": {"--selector.relabel-config-file=" + file + ".missing"},
		"check --selector.relabel-config":     {"--selector.relabel-config=[{action: hashmod, target_label: x}]"},
	} {
		_, err := parseErr(append([]string{}, want...)...)
		require.ErrorContains(t, err, args)
	}
}

// newBucket returns a filesystem bucket with a day of generated blocks.
func newBucket(t *testing.T) *filesystem.Bucket {
	t.Helper()
	bkt, err := filesystem.NewBucket(t.TempDir())
	require.NoError(t, err)
	dc := datagen.Config{Series: 50, End: time.Now().Truncate(2 * time.Hour), Duration: 24 * time.Hour, Interval: time.Minute, Seed: 3}
	_, err = datagen.GenerateBucket(t.Context(), bkt, dc, labels.FromStrings("cluster", "eu1"), "", nil)
	require.NoError(t, err)
	return bkt
}

// TestHealthServingOnlyWithBlocks: run by component.Serve as `strata
// store` runs it, the store gateway's gRPC health says SERVING only once
// its Info announces the bucket's blocks, so a querier never takes a
// starting store gateway for one without data.
func TestHealthServingOnlyWithBlocks(t *testing.T) {
	bkt := newBucket(t)
	cfg := parse(t, "--data-dir="+t.TempDir())
	reg := prometheus.NewRegistry()
	sg, err := New(*cfg, Deps{Logger: slog.New(slog.DiscardHandler), Registerer: reg, Bucket: bkt})
	require.NoError(t, err)
	require.ErrorContains(t, sg.Ready(), "first bucket sync not finished")

	grpcAddr := testkit.ClosedAddr(t)
	sc := component.ServeConfig{
		HTTP: server.HTTPConfig{Address: testkit.ClosedAddr(t)},
		GRPC: &server.GRPCConfig{Address: grpcAddr, GracePeriod: time.Second},
	}
	ctx, cancel := context.WithCancel(t.Context())
	done := make(chan error, 1)
	go func() { done <- component.Serve(ctx, sc, slog.New(slog.DiscardHandler), reg, sg) }()
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
	require.NoError(t, sg.Ready())
}

// TestRegister: New opens no listener; Register puts the StoreAPI and
// Info on the process' gRPC server and /api/v1/blocks on its mux.
func TestRegister(t *testing.T) {
	bkt := newBucket(t)
	reg := prometheus.NewRegistry()
	sg, err := New(*parse(t, "--data-dir="+t.TempDir(), "--index-cache-size=10MB"), Deps{Registerer: reg, Bucket: bkt})
	require.NoError(t, err)
	defer func() { require.NoError(t, sg.Close()) }()

	mux := http.NewServeMux()
	lis := bufconn.Listen(1 << 20)
	srv := grpc.NewServer(grpc.ForceServerCodecV2(storepb.Codec{}))
	sg.Register(mux, srv)
	go func() { _ = srv.Serve(lis) }()
	defer srv.Stop()

	ctx, cancel := context.WithCancel(t.Context())
	runDone := make(chan error, 1)
	go func() { runDone <- sg.Run(ctx) }()
	defer func() { cancel(); require.NoError(t, <-runDone) }()
	require.Eventually(t, func() bool { return sg.Ready() == nil }, 30*time.Second, 5*time.Millisecond)

	conn, err := grpc.NewClient("passthrough:///bufnet",
		grpc.WithContextDialer(func(ctx context.Context, _ string) (net.Conn, error) { return lis.DialContext(ctx) }),
		grpc.WithTransportCredentials(insecure.NewCredentials()), grpc.WithDefaultCallOptions(grpc.ForceCodecV2(storepb.Codec{})))
	require.NoError(t, err)
	defer conn.Close()
	info, err := infopb.NewInfoClient(conn).Info(t.Context(), &infopb.InfoRequest{})
	require.NoError(t, err)
	require.Equal(t, "store", info.GetComponentType())

	srvHTTP := httptest.NewServer(mux)
	defer srvHTTP.Close()
	resp, err := http.Get(srvHTTP.URL + "/api/v1/blocks")
	require.NoError(t, err)
	defer resp.Body.Close()
	var body struct {
		Data struct {
			Blocks []struct {
				Labels map[string]string `json:"labels"`
			} `json:"blocks"`
		} `json:"data"`
	}
	require.NoError(t, json.NewDecoder(resp.Body).Decode(&body))
	require.NotEmpty(t, body.Data.Blocks)
	require.Equal(t, map[string]string{"cluster": "eu1"}, body.Data.Blocks[0].Labels)

	// A Series call fills the in-memory index cache of --index-cache-size.
	_, _, _, err = storetest.CollectSeries(t.Context(), storepb.NewStoreClient(conn), &storepb.SeriesRequest{
		MinTime: math.MinInt64, MaxTime: math.MaxInt64, Matchers: []*storepb.LabelMatcher{{Type: storepb.LabelMatcher_RE, Name: "__name__", Value: ".+"}},
	})
	require.NoError(t, err)
	require.Positive(t, testkit.MetricValue(t, reg, "strata_index_cache_items"))
}

// TestInProcessWithoutGRPC: registered without a gRPC server (a querier
// in the same process reads it), the store gateway serves its StoreAPI
// through StoreServer once the first sync is done.
func TestInProcessWithoutGRPC(t *testing.T) {
	sg, err := New(*parse(t, "--data-dir="+t.TempDir()), Deps{Bucket: newBucket(t)})
	require.NoError(t, err)
	defer func() { require.NoError(t, sg.Close()) }()
	sg.Register(http.NewServeMux(), nil)
	ctx, cancel := context.WithCancel(t.Context())
	defer cancel()
	done := make(chan error, 1)
	go func() { done <- sg.Run(ctx) }()
	require.Eventually(t, func() bool { return sg.Ready() == nil }, 30*time.Second, 10*time.Millisecond)
	series, _, _, err := storetest.CollectSeries(t.Context(), storepb.ServerAsClient(sg.StoreServer()), &storepb.SeriesRequest{
		MinTime: math.MinInt64, MaxTime: math.MaxInt64, Matchers: []*storepb.LabelMatcher{{Type: storepb.LabelMatcher_RE, Name: "__name__", Value: ".+"}},
		SkipChunks: true,
	})
	require.NoError(t, err)
	require.NotEmpty(t, series)
	cancel()
	require.NoError(t, <-done)
}

// TestCachingBucket: with --store.caching-bucket.config, Series answers
// the same as without, and a repeated call reads chunks and metadata from
// the cache.
func TestCachingBucket(t *testing.T) {
	bkt := newBucket(t)
	series := func(sg *StoreGateway) []*storepb.Series {
		t.Helper()
		out, _, _, err := storetest.CollectSeries(t.Context(), storepb.ServerAsClient(sg.store), &storepb.SeriesRequest{
			MinTime: math.MinInt64, MaxTime: math.MaxInt64, Matchers: []*storepb.LabelMatcher{{Type: storepb.LabelMatcher_RE, Name: "__name__", Value: ".+"}},
		})
		require.NoError(t, err)
		return out
	}
	start := func(args ...string) (*StoreGateway, *prometheus.Registry) {
		t.Helper()
		reg := prometheus.NewRegistry()
		sg, err := New(*parse(t, append(args, "--data-dir="+t.TempDir(), "--index-cache-size=0")...), Deps{Registerer: reg, Bucket: bkt})
		require.NoError(t, err)
		t.Cleanup(func() { require.NoError(t, sg.Close()) })
		require.NoError(t, sg.store.SyncBlocks(t.Context()))
		return sg, reg
	}
	plain, _ := start()
	want := series(plain)
	require.NotEmpty(t, want)

	cached, reg := start("--store.caching-bucket.config=type: IN-MEMORY\nchunk_subrange_size: 4000")
	require.Equal(t, want, series(cached))
	require.Equal(t, want, series(cached))
	require.NoError(t, cached.store.SyncBlocks(t.Context()))
	hits := map[string]float64{}
	mfs, err := reg.Gather()
	require.NoError(t, err)
	for _, mf := range mfs {
		if mf.GetName() == "strata_caching_bucket_operation_hits_total" {
			for _, m := range mf.GetMetric() {
				hits[m.GetLabel()[0].GetValue()] = m.GetCounter().GetValue()
			}
		}
	}
	require.Positive(t, hits["get_range"], "chunks from the cache: %v", hits)
	require.Positive(t, hits["iter"], "the second sync lists the blocks from the cache: %v", hits)
	require.Zero(t, hits["get"]+hits["exists"], "meta.json is read once per block, not at every sync: %v", hits)
}
