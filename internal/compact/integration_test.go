package compact

import (
	"context"
	"errors"
	"testing"

	"github.com/prometheus/client_golang/prometheus"
	"github.com/prometheus/client_golang/prometheus/testutil"
	"github.com/stretchr/testify/require"
	"github.com/thanos-io/objstore"

	"github.com/strata-io/strata/internal/compact/merge"
	"github.com/strata-io/strata/internal/downsample"
	"github.com/strata-io/strata/pkg/metadata"
)

// TestRunOnceWithRealMergerAndDownsampler runs the compactor with the
// implementations `strata compact` uses: an HA pair of four 2h blocks each
// becomes one 8h block without replica label holding every sample once
// (penalty deduplication), and, its 14d window being long over, it is
// downsampled to 5m and then to 1h in the same run.
func TestRunOnceWithRealMergerAndDownsampler(t *testing.T) {
	bkt := objstore.NewInMemBucket()
	uploadStream(t, bkt, map[string]string{"cluster": "eu1", "replica": "a"}, 4)
	uploadStream(t, bkt, map[string]string{"cluster": "eu1", "replica": "b"}, 4)
	want := bucketDigest(t, bkt, []string{"replica"})
	require.Equal(t, 2*len(want.samples), want.n, "the replicas hold the same samples")

	m, err := merge.New(merge.Config{Mode: merge.DedupPenalty}, discard, nil)
	require.NoError(t, err)
	cfg := testConfig(t, base+30*24*hourMs)
	cfg.DisableDownsampling = false
	c, err := New(cfg, bkt, m, downsample.NewBlockDownsampler(discard), discard, prometheus.NewRegistry())
	require.NoError(t, err)
	require.NoError(t, c.RunOnce(context.Background()))

	got := bucketDigest(t, bkt, []string{"replica"})
	require.Equal(t, want.samples, got.samples, "every sample survives")
	require.Equal(t, len(want.samples), got.n, "once")

	byRes := map[int64][]*Block{}
	for _, b := range liveBlocks(t, bkt) {
		require.NotContains(t, b.Meta.Thanos.Labels, "replica")
		byRes[b.Meta.Thanos.Downsample.Resolution] = append(byRes[b.Meta.Thanos.Downsample.Resolution], b)
	}
	require.Len(t, byRes[metadata.ResolutionRaw], 1)
	raw := byRes[metadata.ResolutionRaw][0].Meta
	require.Equal(t, base, raw.MinTime)
	require.Len(t, raw.Compaction.Sources, 8, "both replicas' blocks")
	for _, res := range []int64{metadata.Resolution5m, metadata.Resolution1h} {
		require.Len(t, byRes[res], 1, "one block at resolution %d", res)
		require.ElementsMatch(t, raw.Compaction.Sources, byRes[res][0].Meta.Compaction.Sources)
		require.Positive(t, byRes[res][0].Meta.Stats.NumSamples)
	}

	// Nothing left: a second run changes nothing.
	require.NoError(t, c.RunOnce(context.Background()))
	require.Len(t, liveBlocks(t, bkt), 3)
}

// TestRunOnceMarksCorruptBlocksNoDownsample: blocks that cannot be read
// are marked no-downsample (reason block-corrupt) once, instead of failing
// their downsampling at every run.
func TestRunOnceMarksCorruptBlocksNoDownsample(t *testing.T) {
	bkt := objstore.NewInMemBucket()
	eu := uploadStream(t, bkt, map[string]string{"cluster": "eu1"}, 4)
	truncateIndex(t, bkt, eu[1].ULID, false) // size differs from meta.json: found at download
	truncateIndex(t, bkt, eu[2].ULID, true)  // meta.json agrees: found when opened

	cfg := testConfig(t, base+30*24*hourMs)
	cfg.DisableDownsampling = false
	c, err := New(cfg, bkt, newTestMerger(), downsample.NewBlockDownsampler(discard), discard, prometheus.NewRegistry())
	require.NoError(t, err)
	require.NoError(t, c.RunOnce(context.Background()), "a corrupt block is marked, not a failure of the run")
	for _, id := range []ulidT{eu[1].ULID, eu[2].ULID} {
		var mark metadata.NoDownsampleMark
		require.NoError(t, metadata.ReadMarker(context.Background(), bkt, id, &mark), "block %s", id)
		require.Equal(t, metadata.CorruptBlockReason, mark.Reason)
		require.NotEmpty(t, mark.Details)
	}
	require.Equal(t, 2.0, testutil.ToFloat64(c.metrics.marked.WithLabelValues(markerNoDownsample, string(metadata.CorruptBlockReason))))
	require.Equal(t, 0.0, testutil.ToFloat64(c.metrics.downFailures))

	// The next runs leave them alone: no failure, nothing marked again.
	for range 2 {
		require.NoError(t, c.RunOnce(context.Background()))
	}
	require.Equal(t, 0.0, testutil.ToFloat64(c.metrics.downFailures))
	require.Equal(t, 2.0, testutil.ToFloat64(c.metrics.marked.WithLabelValues(markerNoDownsample, string(metadata.CorruptBlockReason))))
}

// failingDownsampler fails every block with an error that may go away.
type failingDownsampler struct{}

func (failingDownsampler) Downsample(context.Context, string, string, int64) (*metadata.Meta, error) {
	return nil, errors.New("no space left on device")
}

// TestRunOnceReportsFailures: a run whose downsampling failed returns an
// error (a one-shot `strata compact` exits non-zero) after doing the rest.
func TestRunOnceReportsFailures(t *testing.T) {
	bkt := objstore.NewInMemBucket()
	uploadStream(t, bkt, map[string]string{"cluster": "eu1"}, 4)
	cfg := testConfig(t, base+30*24*hourMs)
	cfg.DisableDownsampling = false
	c, err := New(cfg, bkt, newTestMerger(), failingDownsampler{}, discard, prometheus.NewRegistry())
	require.NoError(t, err)
	err = c.RunOnce(context.Background())
	require.ErrorIs(t, err, ErrRunFailures)
	require.ErrorContains(t, err, "downsample")
	require.Equal(t, 1.0, testutil.ToFloat64(c.metrics.downFailures))
	require.Zero(t, testutil.ToFloat64(c.metrics.lastSuccess))
	require.Len(t, liveBlocks(t, bkt), 1, "the compaction was done")
	var mark metadata.NoDownsampleMark
	require.ErrorIs(t, metadata.ReadMarker(context.Background(), bkt, liveBlocks(t, bkt)[0].Meta.ULID, &mark), metadata.ErrMarkerNotFound,
		"a failure that may go away marks nothing")
}
