package datagen

import (
	"context"
	"os"
	"path/filepath"
	"testing"
	"time"

	"github.com/prometheus/prometheus/model/labels"
	"github.com/stretchr/testify/require"
	"github.com/thanos-io/objstore"

	"github.com/strata-io/strata/internal/testkit"
	"github.com/strata-io/strata/pkg/metadata"
)

func TestGenerateBucketUploadsEveryBlockWithLabels(t *testing.T) {
	bkt := objstore.NewInMemBucket()
	end := time.Date(2026, 3, 1, 12, 0, 0, 0, time.UTC)
	dc := Config{Series: 54, End: end, Duration: 6 * time.Hour, Interval: time.Minute, Seed: 1}
	ext := labels.FromStrings("cluster", "bench", "replica", "0")

	st, err := GenerateBucket(context.Background(), bkt, dc, ext, "", nil)
	require.NoError(t, err)
	require.Equal(t, 3, st.Blocks)

	ms := testkit.BucketMetas(t, bkt)
	require.Len(t, ms, 3)
	var samples uint64
	for i, m := range ms {
		require.Equal(t, map[string]string{"cluster": "bench", "replica": "0"}, m.Thanos.Labels)
		require.Equal(t, Source, m.Thanos.Source)
		require.Equal(t, metadata.ResolutionRaw, m.Thanos.Downsample.Resolution)
		require.Equal(t, uint64(54), m.Stats.NumSeries)
		require.Equal(t, []string{"000001"}, m.Thanos.SegmentFiles)
		// Every file the meta lists is in the bucket.
		for _, f := range m.Thanos.Files {
			ok, err := bkt.Exists(context.Background(), m.ULID.String()+"/"+f.RelPath)
			require.NoError(t, err)
			require.True(t, ok, "block %s lacks %s", m.ULID, f.RelPath)
		}
		blockStart := end.Add(time.Duration(i-3) * BlockDuration).UnixMilli()
		require.GreaterOrEqual(t, m.MinTime, blockStart)
		require.LessOrEqual(t, m.MaxTime, blockStart+BlockDuration.Milliseconds())
		samples += m.Stats.NumSamples
	}
	require.Equal(t, uint64(st.Samples), samples)
}

func TestGenerateBucketKeepsBlocksInOutDirAndRefusesToOverlapThem(t *testing.T) {
	bkt := objstore.NewInMemBucket()
	outDir := filepath.Join(t.TempDir(), "data")
	dc := Config{Series: 10, End: time.Date(2026, 3, 1, 12, 0, 0, 0, time.UTC), Duration: 4 * time.Hour, Interval: 5 * time.Minute, Seed: 2}
	ext := labels.FromStrings("cluster", "bench")

	require.NoError(t, CheckNoBlocks(outDir), "a missing directory holds no blocks")
	st, err := GenerateBucket(context.Background(), bkt, dc, ext, outDir, nil)
	require.NoError(t, err)
	require.Equal(t, 2, st.Blocks)
	for _, m := range testkit.BucketMetas(t, bkt) {
		_, err := os.Stat(filepath.Join(outDir, m.ULID.String(), metadata.MetaFilename))
		require.NoError(t, err, "block %s is not kept in the out dir", m.ULID)
	}

	_, err = GenerateBucket(context.Background(), bkt, dc, ext, outDir, nil)
	require.ErrorContains(t, err, "already holds block")
	require.Len(t, testkit.BucketMetas(t, bkt), 2, "nothing more is uploaded")

	_, err = GenerateBucket(context.Background(), bkt, dc, labels.EmptyLabels(), "", nil)
	require.ErrorContains(t, err, "external labels")
}
