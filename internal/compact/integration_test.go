package compact

import (
	"context"
	"testing"

	"github.com/prometheus/client_golang/prometheus"
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
