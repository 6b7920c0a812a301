package compact

import (
	"context"
	"fmt"
	"path"
	"path/filepath"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/oklog/ulid/v2"
	"github.com/prometheus/client_golang/prometheus"
	"github.com/prometheus/client_golang/prometheus/testutil"
	"github.com/prometheus/common/model"
	"github.com/prometheus/prometheus/model/labels"
	"github.com/prometheus/prometheus/model/relabel"
	"github.com/stretchr/testify/require"
	"github.com/thanos-io/objstore"

	"github.com/strata-io/strata/pkg/metadata"
)

// base is 2025-01-01T00:00Z in ms: a multiple of 8h since the epoch.
var base = time.Date(2025, 1, 1, 0, 0, 0, 0, time.UTC).UnixMilli()

const (
	twoHours = 2 * hourMs
	minute   = int64(60_000)
)

// uploadStream uploads n consecutive 2h blocks from base for ext.
func uploadStream(t *testing.T, bkt objstore.Bucket, ext map[string]string, n int) []*metadata.Meta {
	var out []*metadata.Meta
	for i := range int64(n) {
		out = append(out, uploadBlock(t, bkt, ext, base+i*twoHours, base+(i+1)*twoHours, minute, 5))
	}
	return out
}

func testConfig(t *testing.T, now int64) Config {
	cfg := DefaultConfig()
	cfg.WorkDir = t.TempDir()
	cfg.ReplicaLabels = []string{"replica"}
	cfg.DeleteDelay = 0
	cfg.DisableDownsampling = true
	cfg.Now = func() time.Time { return time.UnixMilli(now) }
	return cfg
}

// blocksByStream counts live blocks per stream.
func blocksByStream(t *testing.T, bkt objstore.Bucket) map[string][]*Block {
	out := map[string][]*Block{}
	for _, b := range liveBlocks(t, bkt) {
		k := StreamLabels(b.Meta.Thanos.Labels, []string{"replica"}).String()
		out[k] = append(out[k], b)
	}
	return out
}

func TestRunOnceCompactsAndDeduplicatesReplicas(t *testing.T) {
	bkt := objstore.NewInMemBucket()
	uploadStream(t, bkt, map[string]string{"cluster": "eu1", "replica": "a"}, 4)
	uploadStream(t, bkt, map[string]string{"cluster": "eu1", "replica": "b"}, 4)
	uploadStream(t, bkt, map[string]string{"cluster": "us1", "replica": "a"}, 4)
	before := bucketDigest(t, bkt, []string{"replica"})
	require.Equal(t, 3*4*5*120, before.n)
	require.Len(t, before.samples, 2*4*5*120, "the eu1 replicas hold identical samples")

	reg := prometheus.NewRegistry()
	m := newTestMerger()
	c, err := New(testConfig(t, base+4*twoHours+minute), bkt, m, nil, discard, reg)
	require.NoError(t, err)
	require.NoError(t, c.RunOnce(context.Background()))

	after := bucketDigest(t, bkt, []string{"replica"})
	require.Equal(t, before.samples, after.samples, "every sample survives")
	require.Equal(t, len(after.samples), after.n, "each sample is stored once: the replicas are merged")

	streams := blocksByStream(t, bkt)
	require.Len(t, streams, 2)
	for k, bs := range streams {
		require.Len(t, bs, 1, "stream %s is one 8h block", k)
		b := bs[0]
		require.Equal(t, base, b.Meta.MinTime)
		require.Equal(t, map[string]string{"cluster": strings.Trim(strings.TrimPrefix(k, `{cluster="`), `"}`)}, b.Meta.Thanos.Labels, "replica label removed")
		require.Equal(t, metadata.CompactorSource, b.Meta.Thanos.Source)
	}
	require.Len(t, streams[`{cluster="eu1"}`][0].Meta.Compaction.Sources, 8)
	require.Equal(t, 3, streams[`{cluster="eu1"}`][0].Meta.Compaction.Level, "replicas merged per 2h window, then the 8h window")

	// With a zero delete delay, the sources are gone: only the two blocks remain.
	dirs := map[string]bool{}
	for _, n := range objectNames(t, bkt) {
		dirs[strings.Split(n, "/")[0]] = true
		require.NotEqual(t, metadata.DeletionMarkFilename, path.Base(n))
	}
	require.Len(t, dirs, 2)

	require.Equal(t, 6.0, testutil.ToFloat64(c.metrics.compactions))
	require.Equal(t, 16.0, testutil.ToFloat64(c.metrics.blocksCompacted), "8 replica blocks, then 4+4 2h blocks")
	require.Equal(t, 0.0, testutil.ToFloat64(c.metrics.groupFailures))
	require.Equal(t, 2.0, testutil.ToFloat64(c.metrics.groups))
	require.NotZero(t, testutil.ToFloat64(c.metrics.lastSuccess))
	require.Equal(t, 1, m.maxInputs(), "no block was compacted twice")

	// Nothing left to do.
	require.NoError(t, c.RunOnce(context.Background()))
	require.Equal(t, 6.0, testutil.ToFloat64(c.metrics.compactions))
}

func TestRunOnceMarksCorruptBlockAndCompactsAroundIt(t *testing.T) {
	bkt := objstore.NewInMemBucket()
	eu := uploadStream(t, bkt, map[string]string{"cluster": "eu1"}, 4)
	uploadStream(t, bkt, map[string]string{"cluster": "us1"}, 4)
	truncateIndex(t, bkt, eu[1].ULID, false) // size differs from meta.json: found at download
	truncateIndex(t, bkt, eu[2].ULID, true)  // meta.json agrees: found by Merger.Check

	c, err := New(testConfig(t, base+4*twoHours+minute), bkt, newTestMerger(), nil, discard, prometheus.NewRegistry())
	require.NoError(t, err)
	require.NoError(t, c.RunOnce(context.Background()), "a corrupt block never stops the run")

	for _, id := range []ulidT{eu[1].ULID, eu[2].ULID} {
		var mark metadata.NoCompactMark
		require.NoError(t, metadata.ReadMarker(context.Background(), bkt, id, &mark))
		require.Equal(t, metadata.CorruptBlockReason, mark.Reason)
		require.NotEmpty(t, mark.Details)
	}
	require.Equal(t, 2.0, testutil.ToFloat64(c.metrics.marked.WithLabelValues(markerNoCompact, string(metadata.CorruptBlockReason))))
	require.Equal(t, 0.0, testutil.ToFloat64(c.metrics.groupFailures))

	streams := blocksByStream(t, bkt)
	require.Len(t, streams[`{cluster="us1"}`], 1, "the other stream is compacted")
	euBlocks := streams[`{cluster="eu1"}`]
	require.Len(t, euBlocks, 3, "the two good eu1 blocks are compacted, the corrupt ones stay")
	for _, b := range euBlocks {
		if b.Meta.ULID == eu[1].ULID || b.Meta.ULID == eu[2].ULID {
			require.NotNil(t, b.NoCompact)
		} else {
			require.Equal(t, []ulidT{eu[0].ULID, eu[3].ULID}, b.Meta.Compaction.Sources)
		}
	}

	// The next run leaves them alone and has nothing to do.
	require.NoError(t, c.RunOnce(context.Background()))
	require.Equal(t, 2.0, testutil.ToFloat64(c.metrics.compactions))
}

func TestRunOnceDownsamplesFinalBlocksAndAppliesRetention(t *testing.T) {
	bkt := objstore.NewInMemBucket()
	raw := uploadBlock(t, bkt, map[string]string{"cluster": "eu1"}, base, base+twoHours, minute, 5)
	require.NoError(t, metadata.WriteMarker(context.Background(), bkt, metadata.NewNoCompactMark(raw.ULID, time.Now(), metadata.ManualReason, "")))

	cfg := testConfig(t, raw.MaxTime+48*hourMs)
	cfg.DisableDownsampling = false
	cfg.Retention.Raw = 24 * time.Hour
	c, err := New(cfg, bkt, newTestMerger(), copyDownsampler{}, discard, prometheus.NewRegistry())
	require.NoError(t, err)
	require.NoError(t, c.RunOnce(context.Background()))

	live := liveBlocks(t, bkt)
	require.Len(t, live, 1, "the raw block past retention is gone once its 5m copy exists")
	require.Equal(t, metadata.Resolution5m, live[0].Meta.Thanos.Downsample.Resolution)
	require.Equal(t, []ulidT{raw.ULID}, live[0].Meta.Compaction.Sources)
	require.Equal(t, 1.0, testutil.ToFloat64(c.metrics.downsampled.WithLabelValues("5m")))
	require.Equal(t, 1.0, testutil.ToFloat64(c.metrics.marked.WithLabelValues(markerDeletion, deletionReasonRetention)))
}

func TestRunRetentionHoldsRawWithoutDownsampledCopy(t *testing.T) {
	bkt := objstore.NewInMemBucket()
	raw := uploadBlock(t, bkt, map[string]string{"cluster": "eu1"}, base, base+twoHours, minute, 5)
	cfg := testConfig(t, raw.MaxTime+48*hourMs)
	cfg.DisableDownsampling = false
	cfg.Retention.Raw = 24 * time.Hour

	c, err := New(cfg, bkt, nil, nil, discard, prometheus.NewRegistry())
	require.NoError(t, err)
	require.NoError(t, c.RunRetention(context.Background()))
	require.Len(t, liveBlocks(t, bkt), 1, "raw data without a 5m copy is kept")
	require.Equal(t, 1.0, testutil.ToFloat64(c.metrics.retentionHeld))

	cfg.DisableDownsampling = true
	c, err = New(cfg, bkt, nil, nil, discard, prometheus.NewRegistry())
	require.NoError(t, err)
	require.NoError(t, c.RunRetention(context.Background()))
	require.Empty(t, liveBlocks(t, bkt), "without downsampling, raw retention applies")
}

func TestCleanerWaitsForTheDelay(t *testing.T) {
	ctx := context.Background()
	bkt := objstore.NewInMemBucket()
	realNow := time.Now()
	kept := uploadBlock(t, bkt, map[string]string{"cluster": "eu1"}, base, base+twoHours, minute, 1)
	marked := uploadBlock(t, bkt, map[string]string{"cluster": "eu1"}, base+twoHours, base+2*twoHours, minute, 1)
	require.NoError(t, metadata.WriteMarker(ctx, bkt, metadata.NewDeletionMark(marked.ULID, realNow, "")))
	// A partial upload whose ULID is old but whose objects were just written
	// (an old block being uploaded now), and an old one.
	uploading := ulidAt(realNow.Add(-100 * time.Hour))
	require.NoError(t, bkt.Upload(ctx, uploading.String()+"/chunks/000001", strings.NewReader("x")))

	run := func(now time.Time) {
		t.Helper()
		cfg := testConfig(t, now.UnixMilli())
		cfg.DeleteDelay = 48 * time.Hour
		c, err := New(cfg, bkt, newTestMerger(), nil, discard, nil)
		require.NoError(t, err)
		st, err := c.sync(ctx)
		require.NoError(t, err)
		failed, err := c.clean(ctx, st)
		require.NoError(t, err)
		require.False(t, failed)
	}
	dirs := func() []string {
		set := map[string]bool{}
		for _, n := range objectNames(t, bkt) {
			set[strings.Split(n, "/")[0]] = true
		}
		var out []string
		for d := range set {
			out = append(out, d)
		}
		return out
	}

	run(realNow.Add(47 * time.Hour))
	require.ElementsMatch(t, []string{kept.ULID.String(), marked.ULID.String(), uploading.String()}, dirs(), "nothing is older than the delay")

	run(realNow.Add(49 * time.Hour))
	require.ElementsMatch(t, []string{kept.ULID.String()}, dirs(), "the marked block and the stale partial upload are gone")
}

// TestConcurrentShardedInstancesNeverCollide runs two sharded instances
// (0/2 and 1/2, two workers each) at once on one bucket.
func TestConcurrentShardedInstancesNeverCollide(t *testing.T) {
	bkt := objstore.NewInMemBucket()
	for i := range 6 {
		for _, r := range []string{"a", "b"} {
			uploadStream(t, bkt, map[string]string{"cluster": fmt.Sprintf("c%d", i), "replica": r}, 4)
		}
	}
	before := bucketDigest(t, bkt, []string{"replica"})

	m := newTestMerger()
	now := base + 4*twoHours + minute
	var cs []*Compactor
	for i := range 2 {
		cfg := testConfig(t, now)
		cfg.Shard = Shard{Index: i, Count: 2}
		cfg.Concurrency = 2
		c, err := New(cfg, bkt, m, nil, discard, prometheus.NewRegistry())
		require.NoError(t, err)
		cs = append(cs, c)
	}
	runAll(t, cs)
	runAll(t, cs)

	require.Equal(t, 1, m.maxInputs(), "no block was compacted twice")
	for _, c := range cs {
		require.NotZero(t, testutil.ToFloat64(c.metrics.compactions), "each shard did part of the work")
		require.Zero(t, testutil.ToFloat64(c.metrics.groupFailures))
	}
	after := bucketDigest(t, bkt, []string{"replica"})
	require.Equal(t, before.samples, after.samples)
	require.Equal(t, len(after.samples), after.n)
	streams := blocksByStream(t, bkt)
	require.Len(t, streams, 6)
	for k, bs := range streams {
		require.Len(t, bs, 1, "stream %s", k)
	}
}

// TestConcurrentInstancesOnOneShardLoseNothing runs two instances that
// wrongly own the same streams: they may compact the same blocks, but no
// sample is lost, and the next run merges the overlapping copies.
func TestConcurrentInstancesOnOneShardLoseNothing(t *testing.T) {
	bkt := objstore.NewInMemBucket()
	for i := range 4 {
		for _, r := range []string{"a", "b"} {
			uploadStream(t, bkt, map[string]string{"cluster": fmt.Sprintf("c%d", i), "replica": r}, 4)
		}
	}
	before := bucketDigest(t, bkt, []string{"replica"})

	now := base + 4*twoHours + minute
	var cs []*Compactor
	for range 2 {
		cfg := testConfig(t, now)
		cfg.Concurrency = 2
		c, err := New(cfg, bkt, newTestMerger(), nil, discard, prometheus.NewRegistry())
		require.NoError(t, err)
		cs = append(cs, c)
	}
	runAll(t, cs)
	mid := bucketDigest(t, bkt, []string{"replica"})
	require.Equal(t, before.samples, mid.samples, "no sample is lost")

	require.NoError(t, cs[0].RunOnce(context.Background()))
	after := bucketDigest(t, bkt, []string{"replica"})
	require.Equal(t, before.samples, after.samples)
	require.Equal(t, len(after.samples), after.n, "overlapping copies are merged")
	for k, bs := range blocksByStream(t, bkt) {
		require.Len(t, bs, 1, "stream %s", k)
	}
}

func runAll(t *testing.T, cs []*Compactor) {
	t.Helper()
	var wg sync.WaitGroup
	errs := make([]error, len(cs))
	for i, c := range cs {
		wg.Go(func() { errs[i] = c.RunOnce(context.Background()) })
	}
	wg.Wait()
	for _, err := range errs {
		require.NoError(t, err)
	}
}

// faultyMerger fails every merge that includes block bad with an error
// naming it, as merge.Merger does for an index over the size limit.
type faultyMerger struct {
	*testMerger
	bad ulid.ULID
}

type blockFaultError struct{ id ulid.ULID }

func (e blockFaultError) Error() string                    { return "index too large in " + e.id.String() }
func (e blockFaultError) NoCompactReason() metadata.Reason { return metadata.IndexSizeExceedingReason }
func (e blockFaultError) Block() ulid.ULID                 { return e.id }

func (m faultyMerger) Merge(ctx context.Context, srcDirs []string, dstParent string, ext labels.Labels, resolution int64) (*metadata.Meta, error) {
	for _, d := range srcDirs {
		if filepath.Base(d) == m.bad.String() {
			return nil, fmt.Errorf("merge: %w", blockFaultError{m.bad})
		}
	}
	return m.testMerger.Merge(ctx, srcDirs, dstParent, ext, resolution)
}

// TestRunOnceMarksBlockAMergeBlames: a merge failing because of one input
// marks that input no-compact and the others are compacted without it, in
// the same run, instead of the same merge failing run after run.
func TestRunOnceMarksBlockAMergeBlames(t *testing.T) {
	bkt := objstore.NewInMemBucket()
	eu := uploadStream(t, bkt, map[string]string{"cluster": "eu1"}, 4)
	c, err := New(testConfig(t, base+4*twoHours+minute), bkt, faultyMerger{newTestMerger(), eu[2].ULID}, nil, discard, prometheus.NewRegistry())
	require.NoError(t, err)
	require.NoError(t, c.RunOnce(context.Background()))

	var mark metadata.NoCompactMark
	require.NoError(t, metadata.ReadMarker(context.Background(), bkt, eu[2].ULID, &mark))
	require.Equal(t, metadata.IndexSizeExceedingReason, mark.Reason)
	require.Contains(t, mark.Details, "index too large")
	require.Zero(t, testutil.ToFloat64(c.metrics.compactFailures), "a blamed block is not a failure")
	live := blocksByStream(t, bkt)[`{cluster="eu1"}`]
	require.Len(t, live, 2, "the marked block and the compaction of the three others")
}

// TestSelectorLeavesDroppedBlocksAlone: the blocks the relabel configs
// drop are neither compacted, marked by retention nor deleted when their
// deletion mark is due; the kept ones are, in the same run.
func TestSelectorLeavesDroppedBlocksAlone(t *testing.T) {
	ctx := context.Background()
	bkt := objstore.NewInMemBucket()
	eu := uploadStream(t, bkt, map[string]string{"cluster": "eu1"}, 4)
	us := uploadStream(t, bkt, map[string]string{"cluster": "us1"}, 4)
	// A us1 block marked for deletion long ago: only an owner deletes it.
	require.NoError(t, metadata.WriteMarker(ctx, bkt, metadata.NewDeletionMark(us[3].ULID, time.UnixMilli(base), "")))

	cfg := testConfig(t, base+4*twoHours+49*hourMs)
	cfg.Retention.Raw = 24 * time.Hour
	cfg.RelabelConfigs = []*relabel.Config{{
		Action: relabel.Keep, SourceLabels: model.LabelNames{"cluster"}, Regex: relabel.MustNewRegexp("eu.*"),
		Separator: ";", Replacement: "$1",
	}}
	m := newTestMerger()
	c, err := New(cfg, bkt, m, nil, discard, prometheus.NewRegistry())
	require.NoError(t, err)
	require.NoError(t, c.RunOnce(ctx))

	streams := blocksByStream(t, bkt)
	require.Empty(t, streams[`{cluster="eu1"}`], "eu1 compacted, then past retention")
	for _, b := range eu {
		require.Equal(t, 1, m.inputs[b.ULID], "eu1 block %s merged once", b.ULID)
	}
	require.Len(t, streams[`{cluster="us1"}`], 3, "us1 blocks neither compacted nor marked by retention")
	for _, b := range streams[`{cluster="us1"}`] {
		require.Equal(t, 1, b.Meta.Compaction.Level, "us1 block %s left as uploaded", b.Meta.ULID)
	}
	for _, b := range us {
		require.Zero(t, m.inputs[b.ULID], "us1 block %s never merged", b.ULID)
	}
	_, err = metadata.ReadFromBucket(ctx, bkt, us[3].ULID)
	require.NoError(t, err, "the marked us1 block is not deleted")
	require.Equal(t, 4.0, testutil.ToFloat64(c.metrics.ignored), "the us1 blocks are ignored")
}
