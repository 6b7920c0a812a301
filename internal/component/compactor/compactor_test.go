package compactor

import (
	"context"
	"errors"
	"fmt"
	"net/http"
	"net/http/httptest"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/alecthomas/kingpin/v2"
	"github.com/oklog/ulid/v2"
	"github.com/prometheus/client_golang/prometheus"
	"github.com/prometheus/prometheus/model/labels"
	"github.com/prometheus/prometheus/storage"
	"github.com/prometheus/prometheus/tsdb/chunks"
	"github.com/stretchr/testify/require"
	"github.com/thanos-io/objstore"

	"github.com/strata-io/strata/internal/block"
	"github.com/strata-io/strata/internal/compact"
	"github.com/strata-io/strata/internal/compact/merge"
	"github.com/strata-io/strata/internal/testkit"
	"github.com/strata-io/strata/pkg/metadata"
)

// parse registers the flags on a fresh app and parses args.
func parse(t *testing.T, args ...string) (*Config, error) {
	t.Helper()
	app := kingpin.New("strata", "")
	var cfg Config
	cfg.RegisterFlags(app.Command("compact", ""))
	_, err := app.Parse(append([]string{"compact"}, args...))
	return &cfg, err
}

func TestDefaultsAreTheLibraries(t *testing.T) {
	cfg, err := parse(t)
	require.NoError(t, err)
	require.NoError(t, cfg.Validate())
	want := DefaultConfig()
	require.Equal(t, want.Compact.Ranges, cfg.Compact.Ranges)
	require.Equal(t, compact.DefaultDeleteDelay, cfg.Compact.DeleteDelay)
	require.Equal(t, compact.DefaultConcurrency, cfg.Compact.Concurrency)
	require.Equal(t, compact.DefaultMetaFetchConcurrency, cfg.Compact.MetaFetchConcurrency)
	require.Equal(t, "./data", cfg.Compact.WorkDir)
	require.Equal(t, merge.DefaultConfig(), cfg.Merge)
	require.Equal(t, want.Web, cfg.Web)
	require.Equal(t, DefaultWaitInterval, cfg.WaitInterval)
	require.False(t, cfg.Wait)
	require.Empty(t, cfg.Compact.RelabelConfigs)
}

func TestFlagsReachTheLibraries(t *testing.T) {
	cfg, err := parse(t, "--data-dir=/tmp/x",
		"--deduplication.replica-label=replica", "--deduplication.replica-label=rule_replica",
		"--deduplication.func=penalty", "--compact.shard=1/3", "--compact.concurrency=4",
		"--selector.relabel-config=[{action: keep, source_labels: [cluster], regex: eu.*}]",
		"--delete-delay=2h", "--retention.resolution-raw=30d", "--retention.resolution-5m=90d", "--retention.resolution-1h=1y",
		"--downsampling.disable", "--compact.block-max-index-size=1GiB", "--block-meta-fetch-concurrency=7",
		"--wait", "--wait-interval=1m", "--web.refresh-interval=10s")
	require.NoError(t, err)
	require.NoError(t, cfg.Validate())
	cc := cfg.Compact
	require.Equal(t, "/tmp/x", cc.WorkDir)
	require.Equal(t, []string{"replica", "rule_replica"}, cc.ReplicaLabels)
	require.Equal(t, compact.Shard{Index: 1, Count: 3}, cc.Shard)
	require.Len(t, cc.RelabelConfigs, 1)
	require.True(t, block.RelabelKeeps(cc.RelabelConfigs, labels.FromStrings("cluster", "eu1"), ulid.Make()))
	require.False(t, block.RelabelKeeps(cc.RelabelConfigs, labels.FromStrings("cluster", "us1"), ulid.Make()))
	require.Equal(t, 4, cc.Concurrency)
	require.Equal(t, 7, cc.MetaFetchConcurrency)
	require.Equal(t, 2*time.Hour, cc.DeleteDelay)
	require.True(t, cc.DisableDownsampling)
	require.Equal(t, block.Retention{Raw: 30 * 24 * time.Hour, FiveMinutes: 90 * 24 * time.Hour, OneHour: 365 * 24 * time.Hour}, cc.Retention)
	require.Equal(t, merge.DedupPenalty, cfg.Merge.Mode)
	require.EqualValues(t, 1<<30, cfg.Merge.IndexSizeLimit)
	require.True(t, cfg.Wait)
	require.Equal(t, time.Minute, cfg.WaitInterval)
	require.Equal(t, 10*time.Second, cfg.Web.RefreshInterval)
}

func TestConfigErrorsSayWhatToFix(t *testing.T) {
	relabelFile := filepath.Join(t.TempDir(), "relabel.yaml")
	require.NoError(t, os.WriteFile(relabelFile, []byte("[{action: keep, source_labels: [cluster], regex: eu.*}]"), 0o644))
	for _, tc := range []struct {
		name    string
		args    []string
		wantErr string
	}{
		{name: "bad shard", args: []string{"--compact.shard=3/3"}, wantErr: "--compact.shard"},
		{name: "zero wait interval", args: []string{"--wait", "--wait-interval=0s"}, wantErr: "--wait-interval"},
		{name: "bad dedup func", args: []string{"--deduplication.func=median"}, wantErr: `--deduplication.func: unknown deduplication function "median"`},
		{name: "no data dir", args: []string{"--data-dir="}, wantErr: "--data-dir"},
		{name: "zero concurrency", args: []string{"--compact.concurrency=0"}, wantErr: "--compact.concurrency"},
		{name: "bad delete delay", args: []string{"--delete-delay=2 days"}, wantErr: "--delete-delay"},
		{name: "bad retention", args: []string{"--retention.resolution-5m=forever"}, wantErr: "--retention.resolution-5m"},
		{name: "bad web refresh", args: []string{"--web.refresh-interval=0s"}, wantErr: "--web.refresh-interval"},
		{name: "bad relabel config", args: []string{"--selector.relabel-config=[{action: explode}]"}, wantErr: "--selector.relabel-config"},
		{name: "relabel flag and file", args: []string{"--selector.relabel-config=[]", "--selector.relabel-config-file=" + relabelFile},
			wantErr: "set --selector.relabel-config or --selector.relabel-config-file, not both"},
		{name: "missing relabel file", args: []string{"--selector.relabel-config-file=" + relabelFile + ".gone"}, wantErr: "read --selector.relabel-config-file"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			cfg, err := parse(t, tc.args...)
			if err == nil {
				err = cfg.Validate()
			}
			require.ErrorContains(t, err, tc.wantErr)
		})
	}
}

func TestNewNeedsABucket(t *testing.T) {
	_, err := New(DefaultConfig(), Deps{})
	require.ErrorContains(t, err, "--objstore.config")
}

// uploadBlock uploads a 2h block of 5 series, one sample a minute from
// mint, with external labels ext.
func uploadBlock(t *testing.T, bkt objstore.Bucket, ext labels.Labels, mint int64) ulid.ULID {
	t.Helper()
	var series []storage.Series
	for s := range 5 {
		var samples []chunks.Sample
		for ts := mint; ts < mint+2*3600_000; ts += 60_000 {
			samples = append(samples, testkit.Sample{Time: ts, Value: float64(ts/1000 + int64(s))})
		}
		series = append(series, storage.NewListSeries(labels.FromStrings("__name__", "m", "s", fmt.Sprint(s)), samples))
	}
	dir, meta := testkit.CreateBlock(t, t.TempDir(), 0, series...)
	meta.Thanos.SetLabels(ext)
	meta.Thanos.Source = metadata.SidecarSource
	require.NoError(t, metadata.Upload(t.Context(), nil, bkt, dir, meta))
	return meta.ULID
}

// liveBlocks returns the metas of the blocks of bkt with meta.json and
// without deletion mark.
func liveBlocks(t *testing.T, bkt objstore.Bucket) []*metadata.Meta {
	t.Helper()
	var out []*metadata.Meta
	require.NoError(t, bkt.Iter(t.Context(), "", func(name string) error {
		id, err := ulid.ParseStrict(strings.TrimSuffix(name, "/"))
		if err != nil {
			return nil
		}
		m, err := metadata.ReadFromBucket(t.Context(), bkt, id)
		if err != nil {
			return err
		}
		switch err := metadata.ReadMarker(t.Context(), bkt, id, &metadata.DeletionMark{}); {
		case err == nil:
			return nil
		case !errors.Is(err, metadata.ErrMarkerNotFound):
			return err
		}
		out = append(out, m)
		return nil
	}))
	return out
}

// hashmodShard is the relabel config keeping the clusters whose hash mod
// 2 is i.
func hashmodShard(i int) string {
	return fmt.Sprintf(`
- action: hashmod
  source_labels: [cluster]
  target_label: __tmp_shard
  modulus: 2
- action: keep
  source_labels: [__tmp_shard]
  regex: "%d"
`, i)
}

// TestComplementaryRelabelShards runs two one-shot compactors, one after
// the other, on one bucket with complementary hashmod selectors: the
// first compacts (and deduplicates) only the clusters of its shard, the
// second the others, and together every stream ends compacted.
func TestComplementaryRelabelShards(t *testing.T) {
	bkt := objstore.NewInMemBucket()
	base := time.Date(2025, 1, 1, 0, 0, 0, 0, time.UTC).UnixMilli() // a multiple of 8h
	clusters := map[int][]string{}
	for c := range 6 {
		cluster := fmt.Sprint("c", c)
		for _, replica := range []string{"a", "b"} {
			for i := range int64(4) {
				uploadBlock(t, bkt, labels.FromStrings("cluster", cluster, "replica", replica), base+i*2*3600_000)
			}
		}
		for shard := range 2 {
			cfgs, err := block.ParseRelabelConfigs([]byte(hashmodShard(shard)))
			require.NoError(t, err)
			if block.RelabelKeeps(cfgs, labels.FromStrings("cluster", cluster, "replica", "a"), ulid.Make()) {
				clusters[shard] = append(clusters[shard], cluster)
			}
		}
	}
	require.NotEmpty(t, clusters[0], "the data spans both shards")
	require.NotEmpty(t, clusters[1], "the data spans both shards")
	require.Equal(t, 6, len(clusters[0])+len(clusters[1]), "each cluster in one shard")

	// compacted reports which clusters hold one compacted block without
	// replica label, and requires the others to be as uploaded.
	compacted := func() []string {
		t.Helper()
		byCluster := map[string][]*metadata.Meta{}
		for _, m := range liveBlocks(t, bkt) {
			byCluster[m.Thanos.Labels["cluster"]] = append(byCluster[m.Thanos.Labels["cluster"]], m)
		}
		var done []string
		for cluster, ms := range byCluster {
			if len(ms) == 1 {
				require.Greater(t, ms[0].Compaction.Level, 1, "cluster %s", cluster)
				require.NotContains(t, ms[0].Thanos.Labels, "replica", "cluster %s: replicas merged", cluster)
				done = append(done, cluster)
				continue
			}
			require.Len(t, ms, 8, "cluster %s: as uploaded", cluster)
		}
		return done
	}

	for shard := range 2 {
		cfg, err := parse(t, "--data-dir="+t.TempDir(), "--selector.relabel-config="+hashmodShard(shard),
			"--deduplication.replica-label=replica", "--deduplication.func=penalty", "--downsampling.disable", "--delete-delay=0s")
		require.NoError(t, err)
		reg := prometheus.NewRegistry()
		c, err := New(*cfg, Deps{Registerer: reg, Bucket: bkt})
		require.NoError(t, err)
		require.NoError(t, c.Run(t.Context()), "one run, then Run returns")
		require.NoError(t, c.Close())
		// The other shard's blocks at the last sync: as uploaded for the
		// first compactor, compacted for the second.
		ignored := 8 * len(clusters[1])
		if shard == 1 {
			ignored = len(clusters[0])
		}
		require.Equal(t, float64(ignored), testkit.MetricValue(t, reg, "strata_compact_blocks_ignored"),
			"compactor %d ignores the other shard's blocks", shard)

		want := clusters[0]
		if shard == 1 {
			want = append(append([]string{}, clusters[0]...), clusters[1]...)
		}
		require.ElementsMatch(t, want, compacted(), "after compactor %d", shard)
	}
}

func TestRunWithWaitStopsWithTheContext(t *testing.T) {
	bkt := objstore.NewInMemBucket()
	cfg, err := parse(t, "--data-dir="+t.TempDir(), "--wait", "--wait-interval=1h")
	require.NoError(t, err)
	c, err := New(*cfg, Deps{Bucket: bkt})
	require.NoError(t, err)
	mux := http.NewServeMux()
	c.Register(mux, nil)
	require.NoError(t, c.Ready())

	ctx, cancel := context.WithCancel(t.Context())
	done := make(chan error, 1)
	go func() { done <- c.Run(ctx) }()
	rec := httptest.NewRecorder()
	mux.ServeHTTP(rec, httptest.NewRequest(http.MethodGet, "/", nil))
	require.Equal(t, http.StatusOK, rec.Code, "the block viewer page")
	require.Contains(t, rec.Body.String(), "<html")
	select {
	case err := <-done:
		t.Fatalf("Run returned before the context ended: %v", err)
	case <-time.After(100 * time.Millisecond):
	}
	cancel()
	select {
	case err := <-done:
		require.NoError(t, err)
	case <-time.After(10 * time.Second):
		t.Fatal("Run did not return after the context ended")
	}
}

func TestOneRunFailureEndsRunWithTheError(t *testing.T) {
	// A work directory that cannot be created fails the run.
	file := filepath.Join(t.TempDir(), "file")
	require.NoError(t, os.WriteFile(file, nil, 0o644))
	cfg, err := parse(t, "--data-dir="+file)
	require.NoError(t, err)
	c, err := New(*cfg, Deps{Bucket: objstore.NewInMemBucket()})
	require.NoError(t, err)
	require.ErrorContains(t, c.Run(t.Context()), "compaction run")
}
