package bucketstore_test

import (
	"bytes"
	"context"
	"fmt"
	"log/slog"
	"math"
	"path"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/oklog/ulid/v2"
	"github.com/prometheus/client_golang/prometheus"
	"github.com/prometheus/client_golang/prometheus/testutil"
	"github.com/prometheus/common/model"
	"github.com/prometheus/prometheus/model/labels"
	"github.com/prometheus/prometheus/storage"
	"github.com/stretchr/testify/require"

	"github.com/strata-io/strata/internal/store/bucketstore"
	"github.com/strata-io/strata/internal/store/storetest"
	"github.com/strata-io/strata/internal/testkit"
	"github.com/strata-io/strata/pkg/infopb"
	"github.com/strata-io/strata/pkg/metadata"
	"github.com/strata-io/strata/pkg/storepb"
)

// sixBlocks writes the contract data set as six half-hour blocks.
func sixBlocks(t *testing.T) []string {
	minT := storetest.DefaultMinTime
	var ranges [][2]int64
	for i := range int64(6) {
		ranges = append(ranges, [2]int64{minT + i*hour/2, minT + (i+1)*hour/2 - 1})
	}
	return writeBlocks(t, storetest.Dataset(minT), ranges, nil)
}

func blockIDs(s *bucketstore.Store) []ulid.ULID {
	var out []ulid.ULID
	for _, b := range s.Blocks() {
		out = append(out, b.ID)
	}
	return out
}

func seriesCount(t *testing.T, s *bucketstore.Store, mint, maxt int64) int {
	t.Helper()
	ms, err := storepb.MatchersToProto(labels.MustNewMatcher(labels.MatchRegexp, model.MetricNameLabel, ".+"))
	require.NoError(t, err)
	got, warns, _, err := storetest.CollectSeries(t.Context(), storepb.ServerAsClient(s), &storepb.SeriesRequest{
		MinTime: mint, MaxTime: maxt, Matchers: ms, PartialResponseStrategy: storepb.PartialResponseStrategy_ABORT,
	})
	require.NoError(t, err)
	require.Empty(t, warns)
	return len(got)
}

func TestSyncBlocks(t *testing.T) {
	ctx := t.Context()
	dirs := sixBlocks(t)
	bkt := newCountingBucket()
	ext := labels.FromStrings("region", "eu")
	var metas []*metadata.Meta
	for i, dir := range dirs {
		res := int64(0)
		if i == 3 {
			res = metadata.Resolution5m // downsampled: served too
		}
		metas = append(metas, uploadBlock(t, bkt, dir, ext, res))
	}
	id := func(i int) ulid.ULID { return metas[i].ULID }
	// Block 1: a partial upload (meta.json missing).
	meta1, err := bkt.Get(ctx, path.Join(id(1).String(), metadata.MetaFilename))
	require.NoError(t, err)
	require.NoError(t, meta1.Close())
	require.NoError(t, bkt.Delete(ctx, path.Join(id(1).String(), metadata.MetaFilename)))
	// Block 4: marked for deletion 2h ago (ignored after the 1h delay);
	// block 5: marked just now (still served).
	require.NoError(t, metadata.WriteMarker(ctx, bkt, metadata.NewDeletionMark(id(4), time.Now().Add(-2*time.Hour), "test")))
	require.NoError(t, metadata.WriteMarker(ctx, bkt, metadata.NewDeletionMark(id(5), time.Now(), "test")))

	cfg := testConfig()
	cfg.IgnoreDeletionMarksDelay = time.Hour
	s, err := bucketstore.New(cfg, bkt, nil, nil)
	require.NoError(t, err)
	t.Cleanup(func() { require.NoError(t, s.Close()) })
	require.False(t, s.Ready(), "not ready before the first sync")
	require.NoError(t, s.SyncBlocks(ctx))
	require.True(t, s.Ready())
	require.Equal(t, []ulid.ULID{id(0), id(2), id(3), id(5)}, blockIDs(s),
		"partial upload and block marked for deletion long ago are not served; the downsampled block is")
	require.Equal(t, ext, s.Blocks()[0].Labels)

	// The partial upload completes, block 0 is deleted (meta.json first).
	uploadBlock(t, bkt, dirs[1], ext, 0)
	require.NoError(t, bkt.Delete(ctx, path.Join(id(0).String(), metadata.MetaFilename)))
	require.NoError(t, s.SyncBlocks(ctx))
	require.Equal(t, []ulid.ULID{id(1), id(2), id(3), id(5)}, blockIDs(s))
	require.Equal(t, metadata.Resolution5m, s.Blocks()[2].Resolution)
	require.NotZero(t, seriesCount(t, s, math.MinInt64, math.MaxInt64))

	t.Run("time_partitioning", func(t *testing.T) {
		cfg := testConfig()
		require.NoError(t, cfg.MinTime.Set(time.UnixMilli(metas[2].MinTime+1).UTC().Format(time.RFC3339Nano))) // inside block 2
		require.NoError(t, cfg.MaxTime.Set(time.UnixMilli(metas[2].MaxTime-1).UTC().Format(time.RFC3339Nano))) // last ms of block 2
		s := newStore(t, cfg, bkt)
		require.Equal(t, []ulid.ULID{id(2)}, blockIDs(s))
	})
	t.Run("time_partitioning_relative", func(t *testing.T) {
		cfg := testConfig()
		// Relative to now, as --min-time=-2w: a minute in the middle of
		// block 2 (30m long), whenever the sync runs.
		ago := func(ms int64) string { return fmt.Sprintf("-%dms", time.Now().UnixMilli()-ms) }
		mid := (metas[2].MinTime + metas[2].MaxTime) / 2
		require.NoError(t, cfg.MinTime.Set(ago(mid)))
		require.NoError(t, cfg.MaxTime.Set(ago(mid+time.Minute.Milliseconds())))
		s := newStore(t, cfg, bkt)
		require.Equal(t, []ulid.ULID{id(2)}, blockIDs(s))
	})
	t.Run("listing_fails", func(t *testing.T) {
		bkt.failIter = true
		defer func() { bkt.failIter = false }()
		require.Error(t, s.SyncBlocks(ctx))
		require.Equal(t, []ulid.ULID{id(1), id(2), id(3), id(5)}, blockIDs(s), "blocks kept while the bucket cannot be listed")
	})
}

func TestRunSyncsPeriodically(t *testing.T) {
	dirs := sixBlocks(t)[:2]
	bkt := newCountingBucket()
	uploadBlock(t, bkt, dirs[0], labels.EmptyLabels(), 0)
	cfg := testConfig()
	cfg.SyncInterval = 20 * time.Millisecond
	s, err := bucketstore.New(cfg, bkt, nil, nil)
	require.NoError(t, err)
	ctx, cancel := context.WithCancel(t.Context())
	done := make(chan error, 1)
	go func() { done <- s.Run(ctx) }()
	require.Eventually(t, s.Ready, 5*time.Second, 5*time.Millisecond)
	uploadBlock(t, bkt, dirs[1], labels.EmptyLabels(), 0)
	require.Eventually(t, func() bool { return len(s.Blocks()) == 2 }, 5*time.Second, 5*time.Millisecond)
	cancel()
	require.NoError(t, <-done)
	require.NoError(t, s.Close())
}

func TestCorruptIndexSkipped(t *testing.T) {
	for _, tc := range []struct {
		name string
		// listSize keeps the index size in meta.json (the store then asks
		// for bytes past the truncated end); otherwise the store asks the
		// bucket for the size.
		listSize bool
	}{
		{name: "size_from_meta", listSize: true},
		{name: "size_from_bucket"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			ctx := t.Context()
			dirs := sixBlocks(t)[:3]
			bkt := newCountingBucket()
			var metas []*metadata.Meta
			for _, dir := range dirs {
				metas = append(metas, uploadBlock(t, bkt, dir, labels.FromStrings("region", "eu"), 0))
			}
			bad := metas[1]
			name := path.Join(bad.ULID.String(), metadata.IndexFilename)
			rc, err := bkt.Get(ctx, name)
			require.NoError(t, err)
			var buf bytes.Buffer
			_, err = buf.ReadFrom(rc)
			require.NoError(t, err)
			require.NoError(t, rc.Close())
			require.NoError(t, bkt.Upload(ctx, name, bytes.NewReader(buf.Bytes()[:buf.Len()/2])))
			if !tc.listSize {
				bad.Thanos.Files = slices.DeleteFunc(bad.Thanos.Files, func(f metadata.File) bool { return f.RelPath == metadata.IndexFilename })
				b, err := bad.Marshal()
				require.NoError(t, err)
				require.NoError(t, bkt.Upload(ctx, path.Join(bad.ULID.String(), metadata.MetaFilename), bytes.NewReader(b)))
			}

			var logs bytes.Buffer
			reg := prometheus.NewRegistry()
			s, err := bucketstore.New(testConfig(), bkt, slog.New(slog.NewTextHandler(&logs, nil)), reg)
			require.NoError(t, err)
			t.Cleanup(func() { require.NoError(t, s.Close()) })
			require.NoError(t, s.SyncBlocks(ctx), "a bad block does not fail the sync")
			require.Equal(t, []ulid.ULID{metas[0].ULID, metas[2].ULID}, blockIDs(s))
			require.NoError(t, testutil.GatherAndCompare(reg, strings.NewReader(`
# HELP strata_bucket_store_block_load_failures_total Blocks whose index could not be opened (truncated or corrupt); they are not served.
# TYPE strata_bucket_store_block_load_failures_total counter
strata_bucket_store_block_load_failures_total 1
`), "strata_bucket_store_block_load_failures_total"))
			require.Contains(t, logs.String(), "level=ERROR")
			require.Contains(t, logs.String(), bad.ULID.String())

			require.NotZero(t, seriesCount(t, s, metas[0].MinTime, metas[0].MaxTime-1), "the other blocks serve")
			require.NotZero(t, seriesCount(t, s, metas[2].MinTime, metas[2].MaxTime-1))
			// Over the skipped block: an error naming it, not an empty answer.
			_, _, _, err = storetest.CollectSeries(t.Context(), storepb.ServerAsClient(s), &storepb.SeriesRequest{
				MinTime: bad.MinTime + 1, MaxTime: bad.MaxTime - 2, PartialResponseStrategy: storepb.PartialResponseStrategy_ABORT,
				Matchers: []*storepb.LabelMatcher{{Type: storepb.LabelMatcher_RE, Name: model.MetricNameLabel, Value: ".+"}},
			})
			require.ErrorContains(t, err, bad.ULID.String())

			// The next sync tries the bad block again (the error may have
			// been transient), and counts it again.
			require.NoError(t, s.SyncBlocks(ctx))
			require.Equal(t, []ulid.ULID{metas[0].ULID, metas[2].ULID}, blockIDs(s))
			require.Equal(t, 2.0, testkit.MetricValue(t, reg, "strata_bucket_store_block_load_failures_total"))
		})
	}
}

func TestPartialResponse(t *testing.T) {
	dirs := sixBlocks(t)[:2]
	bkt := newCountingBucket()
	for _, dir := range dirs {
		uploadBlock(t, bkt, dir, labels.EmptyLabels(), 0)
	}
	s := newStore(t, testConfig(), bkt)
	bkt.failRange = func(name string) bool { return strings.Contains(name, "/chunks/") }
	ms, err := storepb.MatchersToProto(labels.MustNewMatcher(labels.MatchEqual, model.MetricNameLabel, "up"))
	require.NoError(t, err)
	req := &storepb.SeriesRequest{MinTime: math.MinInt64, MaxTime: math.MaxInt64, Matchers: ms}
	c := storepb.ServerAsClient(s)

	req.PartialResponseStrategy = storepb.PartialResponseStrategy_WARN
	_, warns, _, err := storetest.CollectSeries(t.Context(), c, req)
	require.NoError(t, err)
	require.Len(t, warns, 2, "one warning per block")
	require.Contains(t, warns[0], "bucket down")

	req.PartialResponseStrategy = storepb.PartialResponseStrategy_ABORT
	_, _, _, err = storetest.CollectSeries(t.Context(), c, req)
	require.ErrorContains(t, err, "bucket down")
}

func TestInfo(t *testing.T) {
	dirs := sixBlocks(t)[:3]
	bkt := newCountingBucket()
	eu, us := labels.FromStrings("region", "eu"), labels.FromStrings("region", "us")
	m0 := uploadBlock(t, bkt, dirs[0], eu, 0)
	m1 := uploadBlock(t, bkt, dirs[1], eu, 0)
	m2 := uploadBlock(t, bkt, dirs[2], us, 0)

	s, err := bucketstore.New(testConfig(), bkt, nil, nil)
	require.NoError(t, err)
	t.Cleanup(func() { require.NoError(t, s.Close()) })
	resp, err := s.Info(t.Context(), &infopb.InfoRequest{})
	require.NoError(t, err)
	require.Empty(t, resp.GetLabelSets(), "nothing served before the first sync")

	require.NoError(t, s.SyncBlocks(t.Context()))
	resp, err = s.Info(t.Context(), &infopb.InfoRequest{})
	require.NoError(t, err)
	require.Equal(t, "store", resp.GetComponentType())
	var sets []labels.Labels
	for _, ls := range resp.GetLabelSets() {
		sets = append(sets, storepb.LabelsFromProto(ls.GetLabels()))
	}
	require.Equal(t, []labels.Labels{eu, us}, sets)
	require.Equal(t, m0.MinTime, resp.GetStore().GetMinTime())
	require.Equal(t, m2.MaxTime-1, resp.GetStore().GetMaxTime(), "inclusive")
	require.True(t, resp.GetStore().GetSupportsWithoutReplicaLabels())
	require.Len(t, resp.GetStore().GetTsdbInfos(), 2)
	require.Equal(t, m1.MaxTime-1, resp.GetStore().GetTsdbInfos()[0].GetMaxTime(), "the eu stream ends with block 1")
}

// bigSeries returns n series of 50 metrics with two samples each.
func bigSeries(n int) []storage.Series {
	out := make([]storage.Series, 0, n)
	for i := range n {
		lset := labels.FromStrings(model.MetricNameLabel, fmt.Sprintf("metric_%02d", i%50), "instance", fmt.Sprintf("host-%06d:9100", i), "job", "node")
		t0 := storetest.DefaultMinTime
		out = append(out, storetest.NewSeries(lset, []storetest.Sample{{T: t0, F: float64(i)}, {T: t0 + 15_000, F: float64(i + 1)}}))
	}
	slices.SortFunc(out, func(a, b storage.Series) int { return labels.Compare(a.Labels(), b.Labels()) })
	return out
}

func TestIndexReadWithRanges(t *testing.T) {
	ctx := t.Context()
	minT := storetest.DefaultMinTime
	dirs := writeBlocks(t, bigSeries(20000), [][2]int64{{minT, minT + hour}}, nil)
	bkt := newCountingBucket()
	meta := uploadBlock(t, bkt, dirs[0], labels.EmptyLabels(), 0)
	var indexSize int64
	for _, f := range meta.Thanos.Files {
		if f.RelPath == metadata.IndexFilename {
			indexSize = f.SizeBytes
		}
	}
	require.Greater(t, indexSize, int64(1<<20), "the test needs an index of many pages")
	bkt.reset()

	s := newStore(t, testConfig(), bkt)
	gets, ranges := bkt.count("/index")
	require.Zero(t, gets, "the index is never downloaded whole")
	require.LessOrEqual(t, ranges, 4, "opening a block costs a few ranged GETs of its index")
	indexName := path.Join(meta.ULID.String(), metadata.IndexFilename)
	fetchedBytes := func() (n int64) {
		bkt.mu.Lock()
		defer bkt.mu.Unlock()
		for _, l := range bkt.rangeLens[indexName] {
			require.Less(t, l, indexSize, "no GET of the whole index")
			n += l
		}
		return n
	}
	openBytes := fetchedBytes()
	require.Less(t, openBytes, indexSize/2, "opening reads the symbol and postings offset tables, not the series and postings")
	t.Logf("index of %d bytes opened with %d ranged GETs of %d bytes in total", indexSize, ranges, openBytes)
	bkt.reset()

	// One metric of 50: its postings and 400 series entries.
	ms, err := storepb.MatchersToProto(labels.MustNewMatcher(labels.MatchEqual, model.MetricNameLabel, "metric_07"))
	require.NoError(t, err)
	got, _, _, err := storetest.CollectSeries(ctx, storepb.ServerAsClient(s), &storepb.SeriesRequest{
		MinTime: minT, MaxTime: minT + hour, Matchers: ms, PartialResponseStrategy: storepb.PartialResponseStrategy_ABORT,
	})
	require.NoError(t, err)
	require.Len(t, got, 400)
	gets, _ = bkt.count("/index")
	require.Zero(t, gets)
	queryBytes := fetchedBytes()
	require.Less(t, queryBytes, indexSize/10, "a query for 2%% of the series reads a small part of the index")
	t.Logf("a query for 400 of 20000 series fetched %d more index bytes", queryBytes)

	// Chunk reads: the 400 series' chunks are spread over the segment (the
	// index orders series by labels: metric name first); all 20000
	// series' chunks are contiguous, read with one GET.
	_, chunkGets := bkt.count("/chunks/000001")
	require.Positive(t, chunkGets)
	t.Logf("their chunks were read with %d GETs", chunkGets)
	require.LessOrEqual(t, chunkGets, 4, "close chunks are read with one GET")
	bkt.reset()
	all, err := storepb.MatchersToProto(labels.MustNewMatcher(labels.MatchRegexp, model.MetricNameLabel, ".+"))
	require.NoError(t, err)
	req := &storepb.SeriesRequest{MinTime: minT, MaxTime: minT + hour, Matchers: all, PartialResponseStrategy: storepb.PartialResponseStrategy_ABORT}
	got, _, _, err = storetest.CollectSeries(ctx, storepb.ServerAsClient(s), req)
	require.NoError(t, err)
	require.Len(t, got, 20000)
	_, chunkGets = bkt.count("/chunks/000001")
	require.Equal(t, (20000+1023)/1024, chunkGets, "one GET per window of 1024 series")
}

// TestQueriesDuringSync drops and re-adds a block while queries run: a
// dropped block's index is released only after the queries reading it
// return (a use after release would crash).
func TestQueriesDuringSync(t *testing.T) {
	ctx := t.Context()
	dirs := sixBlocks(t)[:2]
	bkt := newCountingBucket()
	m0 := uploadBlock(t, bkt, dirs[0], labels.EmptyLabels(), 0)
	uploadBlock(t, bkt, dirs[1], labels.EmptyLabels(), 0)
	s := newStore(t, testConfig(), bkt)
	metaName := path.Join(m0.ULID.String(), metadata.MetaFilename)
	metaBytes, err := m0.Marshal()
	require.NoError(t, err)

	stop := make(chan struct{})
	errs := make(chan error, 4)
	for range 4 {
		go func() {
			ms, _ := storepb.MatchersToProto(labels.MustNewMatcher(labels.MatchRegexp, model.MetricNameLabel, ".+"))
			for {
				select {
				case <-stop:
					errs <- nil
					return
				default:
				}
				got, _, _, err := storetest.CollectSeries(ctx, storepb.ServerAsClient(s), &storepb.SeriesRequest{
					MinTime: math.MinInt64, MaxTime: math.MaxInt64, Matchers: ms, PartialResponseStrategy: storepb.PartialResponseStrategy_ABORT,
				})
				if err == nil && len(got) == 0 {
					err = fmt.Errorf("no series")
				}
				if err != nil {
					errs <- err
					return
				}
			}
		}()
	}
	for i := range 10 {
		if i%2 == 0 {
			require.NoError(t, bkt.Delete(ctx, metaName))
		} else {
			require.NoError(t, bkt.Upload(ctx, metaName, bytes.NewReader(metaBytes)))
		}
		require.NoError(t, s.SyncBlocks(ctx))
	}
	close(stop)
	for range 4 {
		require.NoError(t, <-errs)
	}
}
