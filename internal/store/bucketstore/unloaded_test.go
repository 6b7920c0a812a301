package bucketstore_test

import (
	"bytes"
	"context"
	"io"
	"math"
	"path"
	"strings"
	"testing"
	"time"

	"github.com/prometheus/client_golang/prometheus"
	"github.com/prometheus/client_golang/prometheus/testutil"
	"github.com/prometheus/common/model"
	"github.com/prometheus/prometheus/model/labels"
	"github.com/stretchr/testify/require"
	"github.com/thanos-io/objstore"
	"google.golang.org/grpc/codes"
	"google.golang.org/grpc/status"

	"github.com/strata-io/strata/internal/store/bucketstore"
	"github.com/strata-io/strata/internal/store/storetest"
	"github.com/strata-io/strata/pkg/infopb"
	"github.com/strata-io/strata/pkg/metadata"
	"github.com/strata-io/strata/pkg/storepb"
)

// TestBlocksThatCannotBeLoadedAreReported: a block with a truncated index
// and one with a corrupted meta.json are counted in
// strata_blocks_meta_synced, and queries that may need them say so: a
// warning naming the block (partial response) or an error (abort).
func TestBlocksThatCannotBeLoadedAreReported(t *testing.T) {
	ctx := t.Context()
	dirs := sixBlocks(t)
	bkt := newCountingBucket()
	eu := labels.FromStrings("region", "eu")
	var metas []*metadata.Meta
	for _, dir := range dirs[:5] {
		metas = append(metas, uploadBlock(t, bkt, dir, eu, 0))
	}
	good, badIndex, badMeta, partial, marked := metas[0], metas[1], metas[2], metas[3], metas[4]
	index := path.Join(badIndex.ULID.String(), metadata.IndexFilename)
	b := readObject(t, bkt, index)
	require.NoError(t, bkt.Upload(ctx, index, bytes.NewReader(b[:len(b)/2])))
	require.NoError(t, bkt.Upload(ctx, path.Join(badMeta.ULID.String(), metadata.MetaFilename), strings.NewReader(`{"ulid": "`+badMeta.ULID.String()+`", "minTi`)))
	require.NoError(t, bkt.Delete(ctx, path.Join(partial.ULID.String(), metadata.MetaFilename)))
	require.NoError(t, metadata.WriteMarker(ctx, bkt, metadata.NewDeletionMark(marked.ULID, time.Now().Add(-72*time.Hour), "")))

	reg := prometheus.NewRegistry()
	s, err := bucketstore.New(testConfig(), bkt, nil, reg)
	require.NoError(t, err)
	t.Cleanup(func() { require.NoError(t, s.Close()) })
	require.NoError(t, s.SyncBlocks(ctx))
	require.NoError(t, testutil.GatherAndCompare(reg, strings.NewReader(`
# HELP strata_blocks_meta_synced Block directories of the bucket at the last sync, by state: loaded, failed (meta.json or index unreadable), corrupted-meta-json, no-meta-json, marked-for-deletion, time-excluded, label-excluded.
# TYPE strata_blocks_meta_synced gauge
strata_blocks_meta_synced{state="corrupted-meta-json"} 1
strata_blocks_meta_synced{state="failed"} 1
strata_blocks_meta_synced{state="label-excluded"} 0
strata_blocks_meta_synced{state="loaded"} 1
strata_blocks_meta_synced{state="marked-for-deletion"} 1
strata_blocks_meta_synced{state="no-meta-json"} 1
strata_blocks_meta_synced{state="time-excluded"} 0
`), "strata_blocks_meta_synced"))

	ms, err := storepb.MatchersToProto(labels.MustNewMatcher(labels.MatchRegexp, model.MetricNameLabel, ".+"))
	require.NoError(t, err)
	c := storepb.ServerAsClient(s)
	query := func(mint, maxt int64, strategy storepb.PartialResponseStrategy) (int, []string, error) {
		got, warns, _, err := storetest.CollectSeries(ctx, c, &storepb.SeriesRequest{MinTime: mint, MaxTime: maxt, Matchers: ms, PartialResponseStrategy: strategy})
		return len(got), warns, err
	}

	// Over the block whose index is truncated.
	_, warns, err := query(badIndex.MinTime, badIndex.MaxTime-1, storepb.PartialResponseStrategy_WARN)
	require.NoError(t, err)
	require.Len(t, warns, 2, "the block of the range, and the block of unknown range")
	require.Contains(t, warns[0], "block "+badIndex.ULID.String())
	require.Contains(t, warns[0], "could not be loaded")
	require.Contains(t, warns[0], "strata tools bucket verify")
	require.Contains(t, warns[1], "block "+badMeta.ULID.String())
	require.Contains(t, warns[1], "its time range is unknown")
	_, _, err = query(badIndex.MinTime, badIndex.MaxTime-1, storepb.PartialResponseStrategy_ABORT)
	require.ErrorContains(t, err, "block "+badIndex.ULID.String())

	// Over the good block: no word about the truncated one; the one of
	// unknown range is mentioned (a warning, not an error).
	n, warns, err := query(good.MinTime, good.MaxTime-1, storepb.PartialResponseStrategy_ABORT)
	require.NoError(t, err)
	require.NotZero(t, n)
	require.Len(t, warns, 1)
	require.Contains(t, warns[0], badMeta.ULID.String())

	// Label calls too.
	names, err := c.LabelNames(ctx, &storepb.LabelNamesRequest{Start: badIndex.MinTime, End: badIndex.MaxTime - 1})
	require.NoError(t, err)
	require.Len(t, names.GetWarnings(), 2)
	_, err = c.LabelValues(ctx, &storepb.LabelValuesRequest{Label: "__name__", Start: badIndex.MinTime, End: badIndex.MaxTime - 1, PartialResponseStrategy: storepb.PartialResponseStrategy_ABORT})
	require.ErrorContains(t, err, badIndex.ULID.String())

	// Fixed: no more warnings.
	uploadBlock(t, bkt, dirs[1], eu, 0)
	require.NoError(t, bkt.Delete(ctx, badMeta.ULID.String()+"/"+metadata.MetaFilename))
	require.NoError(t, s.SyncBlocks(ctx))
	_, warns, err = query(math.MinInt64, math.MaxInt64, storepb.PartialResponseStrategy_ABORT)
	require.NoError(t, err)
	require.Empty(t, warns)
}

func readObject(t *testing.T, bkt objstore.BucketReader, name string) []byte {
	t.Helper()
	rc, err := bkt.Get(t.Context(), name)
	require.NoError(t, err)
	defer rc.Close()
	b, err := io.ReadAll(rc)
	require.NoError(t, err)
	return b
}

// gatedBucket holds every Get until release is closed: a slow first sync.
type gatedBucket struct {
	*countingBucket
	release chan struct{}
}

func (b *gatedBucket) Get(ctx context.Context, name string) (io.ReadCloser, error) {
	select {
	case <-b.release:
	case <-ctx.Done():
		return nil, ctx.Err()
	}
	return b.countingBucket.Get(ctx, name)
}

// TestNotReadyUntilTheFirstSyncEnds: while the first sync reads the
// bucket, the store is not ready, announces nothing and refuses queries
// with Unavailable (a querier then warns); once it ends, all of it at once.
func TestNotReadyUntilTheFirstSyncEnds(t *testing.T) {
	dirs := sixBlocks(t)
	bkt := &gatedBucket{countingBucket: newCountingBucket(), release: make(chan struct{})}
	eu := labels.FromStrings("region", "eu")
	for _, dir := range dirs {
		uploadBlock(t, bkt.countingBucket, dir, eu, 0)
	}
	s, err := bucketstore.New(testConfig(), bkt, nil, nil)
	require.NoError(t, err)
	ctx, cancel := context.WithCancel(t.Context())
	done := make(chan error, 1)
	go func() { done <- s.Run(ctx) }()
	t.Cleanup(func() {
		cancel()
		require.NoError(t, <-done)
		require.NoError(t, s.Close())
	})

	time.Sleep(200 * time.Millisecond) // the sync is under way, held by the bucket
	require.False(t, s.Ready())
	select {
	case <-s.ReadyC():
		t.Fatal("ReadyC closed before the first sync ended")
	default:
	}
	info, err := s.Info(t.Context(), &infopb.InfoRequest{})
	require.NoError(t, err)
	require.Empty(t, info.GetLabelSets())
	require.Greater(t, info.GetStore().GetMinTime(), info.GetStore().GetMaxTime(), "an empty range")
	_, _, _, err = storetest.CollectSeries(t.Context(), storepb.ServerAsClient(s), &storepb.SeriesRequest{MinTime: math.MinInt64, MaxTime: math.MaxInt64,
		Matchers: []*storepb.LabelMatcher{{Type: storepb.LabelMatcher_RE, Name: "__name__", Value: ".+"}}})
	require.Equal(t, codes.Unavailable, status.Code(err), "%v", err)
	require.ErrorContains(t, err, "not ready")

	close(bkt.release)
	select {
	case <-s.ReadyC():
	case <-time.After(10 * time.Second):
		t.Fatal("not ready 10s after the bucket answered")
	}
	require.True(t, s.Ready())
	require.Len(t, s.Blocks(), 6, "every block is loaded when it becomes ready")
	info, err = s.Info(t.Context(), &infopb.InfoRequest{})
	require.NoError(t, err)
	require.Len(t, info.GetLabelSets(), 1)
	require.LessOrEqual(t, info.GetStore().GetMinTime(), info.GetStore().GetMaxTime())
}
