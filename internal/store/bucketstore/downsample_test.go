package bucketstore_test

import (
	"crypto/rand"
	"math"
	"path/filepath"
	"slices"
	"testing"

	"github.com/oklog/ulid/v2"
	"github.com/prometheus/common/model"
	"github.com/prometheus/prometheus/model/labels"
	"github.com/prometheus/prometheus/storage"
	"github.com/prometheus/prometheus/tsdb"
	"github.com/stretchr/testify/require"

	"github.com/strata-io/strata/internal/downsample"
	"github.com/strata-io/strata/internal/store/storetest"
	"github.com/strata-io/strata/internal/testkit"
	"github.com/strata-io/strata/pkg/metadata"
	"github.com/strata-io/strata/pkg/storepb"
)

// writeDownsampledBlock writes a block of resolution res holding the
// samples of series in [mint, maxt] (ms, inclusive) as aggregate chunks
// made by downsample.Downsample, and returns its directory.
func writeDownsampledBlock(t *testing.T, series []storage.Series, mint, maxt, res int64) string {
	t.Helper()
	id := ulid.MustNew(ulid.Now(), rand.Reader)
	dir := filepath.Join(t.TempDir(), id.String())
	var (
		kit     []testkit.ChunkSeries
		samples uint64
	)
	for _, s := range series {
		all, err := storetest.SeriesSamples(s)
		require.NoError(t, err)
		var in []storetest.Sample
		for _, smp := range all {
			if smp.T >= mint && smp.T <= maxt {
				in = append(in, smp)
			}
		}
		metas, err := downsample.Downsample(storetest.NewSeries(s.Labels(), in).Iterator(nil), res)
		require.NoError(t, err)
		kit = append(kit, testkit.ChunkSeries{Labels: s.Labels(), Chunks: metas})
		samples += uint64(len(in))
	}
	stats := testkit.WriteChunks(t, dir, kit)
	stats.NumSamples = samples // raw samples, not aggregates
	meta := &metadata.Meta{BlockMeta: tsdb.BlockMeta{
		ULID: id, MinTime: mint, MaxTime: maxt + 1, Stats: stats, Version: metadata.TSDBVersion1,
		Compaction: tsdb.BlockMetaCompaction{Level: 1, Sources: []ulid.ULID{id}},
	}}
	meta.Thanos.Downsample.Resolution = res
	require.NoError(t, meta.WriteToDir(dir))
	return dir
}

// window is what a 5m window of raw samples aggregates to.
type window struct {
	count, sum, min, max float64
}

// rawWindows aggregates the float samples in [mint, maxt] per window of res.
func rawWindows(samples []storetest.Sample, mint, maxt, res int64) map[int64]window {
	out := map[int64]window{}
	for _, s := range samples {
		if s.T < mint || s.T > maxt {
			continue
		}
		k := downsample.WindowStart(s.T, res)
		w, ok := out[k]
		if !ok {
			w = window{min: math.Inf(1), max: math.Inf(-1)}
		}
		w.count++
		w.sum += s.F
		w.min, w.max = min(w.min, s.F), max(w.max, s.F)
		out[k] = w
	}
	return out
}

// aggrWindows decodes one aggregate of the chunks (nil when no chunk holds
// it) by window of res.
func aggrWindows(t *testing.T, cs []*storepb.AggrChunk, get func(*storepb.AggrChunk) *storepb.Chunk, res int64) map[int64]float64 {
	t.Helper()
	out := map[int64]float64{}
	for _, c := range cs {
		if get(c) == nil {
			continue
		}
		smps, err := storetest.DecodeChunk(get(c))
		require.NoError(t, err)
		for _, s := range smps {
			out[downsample.WindowStart(s.T, res)] = s.F
		}
	}
	return out
}

func TestSeriesDownsampled(t *testing.T) {
	const (
		t0       = int64(1_700_006_400_000) // a whole hour
		step     = int64(15_000)
		res      = metadata.Resolution5m
		dsEnd    = t0 + 2*hour - 1 // the 5m block covers [t0, dsEnd]
		rawEnd   = t0 + 4*hour - 1 // the raw block covers [t0, rawEnd]
		numSteps = 4 * hour / step
	)
	var counter, gauge []storetest.Sample
	for i := range numSteps {
		ts := t0 + i*step
		counter = append(counter, storetest.Sample{T: ts, F: float64(i%300) * 2}) // resets every 75m
		gauge = append(gauge, storetest.Sample{T: ts, F: math.Sin(float64(i)/10) * 100})
	}
	byName := map[string][]storetest.Sample{"requests_total": counter, "temperature": gauge}
	series := []storage.Series{
		storetest.NewSeries(labels.FromStrings(model.MetricNameLabel, "requests_total", "pod", "a"), counter),
		storetest.NewSeries(labels.FromStrings(model.MetricNameLabel, "temperature", "pod", "a"), gauge),
	}
	ext := labels.FromStrings("region", "eu")
	bkt := newCountingBucket()
	rawDir := writeBlocks(t, series, [][2]int64{{t0, rawEnd}}, nil)[0]
	uploadBlock(t, bkt, rawDir, ext, metadata.ResolutionRaw)
	uploadBlock(t, bkt, writeDownsampledBlock(t, series, t0, dsEnd, res), ext, res)
	s := newStore(t, testConfig(), bkt)
	require.Len(t, s.Blocks(), 2, "raw and 5m blocks are both served")

	query := func(t *testing.T, mint, maxt, maxRes int64, aggrs ...storepb.Aggr) []*storepb.Series {
		t.Helper()
		ms, err := storepb.MatchersToProto(labels.MustNewMatcher(labels.MatchEqual, "pod", "a"))
		require.NoError(t, err)
		got, warns, _, err := storetest.CollectSeries(t.Context(), storepb.ServerAsClient(s), &storepb.SeriesRequest{
			MinTime: mint, MaxTime: maxt, Matchers: ms, MaxResolutionWindow: maxRes, Aggregates: aggrs,
			PartialResponseStrategy: storepb.PartialResponseStrategy_ABORT,
		})
		require.NoError(t, err)
		require.Empty(t, warns)
		require.Len(t, got, 2)
		return got
	}
	name := func(s *storepb.Series) string {
		return storepb.LabelsFromProto(s.GetLabels()).Get(model.MetricNameLabel)
	}
	// split returns the raw and the aggregate chunks of a series.
	split := func(s *storepb.Series) (raw, aggr []*storepb.AggrChunk) {
		for _, c := range s.GetChunks() {
			if c.GetRaw() != nil {
				raw = append(raw, c)
			} else {
				aggr = append(aggr, c)
			}
		}
		return raw, aggr
	}
	// requireRaw checks that the raw chunks hold exactly the raw samples
	// in [mint, maxt].
	requireRaw := func(t *testing.T, want []storetest.Sample, raw []*storepb.AggrChunk, mint, maxt int64) {
		t.Helper()
		got, err := storetest.DecodeSeries(&storepb.Series{Chunks: raw})
		require.NoError(t, err)
		got = slices.DeleteFunc(got, func(s storetest.Sample) bool { return s.T < mint || s.T > maxt })
		want = slices.DeleteFunc(slices.Clone(want), func(s storetest.Sample) bool { return s.T < mint || s.T > maxt })
		require.Equal(t, want, got)
	}
	// requireAggr checks that the aggregate chunks hold count, sum, min
	// and max per window equal to the raw data's in [mint, maxt].
	requireAggr := func(t *testing.T, want []storetest.Sample, aggr []*storepb.AggrChunk, mint, maxt int64) {
		t.Helper()
		exp := rawWindows(want, mint, maxt, res)
		counts := aggrWindows(t, aggr, (*storepb.AggrChunk).GetCount, res)
		sums := aggrWindows(t, aggr, (*storepb.AggrChunk).GetSum, res)
		mins := aggrWindows(t, aggr, (*storepb.AggrChunk).GetMin, res)
		maxs := aggrWindows(t, aggr, (*storepb.AggrChunk).GetMax, res)
		require.Len(t, counts, len(exp), "one count per 5m window")
		for k, w := range exp {
			require.Equal(t, w.count, counts[k], "count of window %d", k)
			require.InDelta(t, w.sum, sums[k], 1e-6, "sum of window %d", k)
			require.Equal(t, w.min, mins[k], "min of window %d", k)
			require.Equal(t, w.max, maxs[k], "max of window %d", k)
		}
	}
	all := []storepb.Aggr{storepb.Aggr_COUNT, storepb.Aggr_SUM, storepb.Aggr_MIN, storepb.Aggr_MAX}

	t.Run("max_resolution_0_serves_raw_only", func(t *testing.T) {
		for _, ser := range query(t, t0, rawEnd, 0, all...) {
			raw, aggr := split(ser)
			require.Empty(t, aggr)
			requireRaw(t, byName[name(ser)], raw, t0, rawEnd)
		}
	})
	t.Run("only_raw_requested_serves_raw_only", func(t *testing.T) {
		for _, ser := range query(t, t0, dsEnd, res, storepb.Aggr_RAW) {
			raw, aggr := split(ser)
			require.Empty(t, aggr, "a client asking for RAW only cannot read aggregates")
			requireRaw(t, byName[name(ser)], raw, t0, dsEnd)
		}
	})
	for _, maxRes := range []int64{res, hour} {
		t.Run("aggregates_from_5m_block_at_max_resolution_"+map[int64]string{res: "5m", hour: "1h"}[maxRes], func(t *testing.T) {
			for _, ser := range query(t, t0, dsEnd, maxRes, all...) {
				raw, aggr := split(ser)
				require.Empty(t, raw, "the 5m block covers the whole range")
				require.NotEmpty(t, aggr)
				for _, c := range aggr {
					require.Nil(t, c.GetCounter(), "counter not requested")
				}
				requireAggr(t, byName[name(ser)], aggr, t0, dsEnd)
			}
		})
	}
	t.Run("only_requested_aggregates_filled", func(t *testing.T) {
		for _, ser := range query(t, t0, dsEnd, res, storepb.Aggr_COUNTER, storepb.Aggr_RAW) {
			raw, aggr := split(ser)
			require.Empty(t, raw)
			require.NotEmpty(t, aggr)
			for _, c := range aggr {
				require.NotNil(t, c.GetCounter())
				require.Equal(t, storepb.Chunk_XOR, c.GetCounter().GetType())
				require.Nil(t, c.GetCount())
				require.Nil(t, c.GetSum())
				require.Nil(t, c.GetMin())
				require.Nil(t, c.GetMax())
			}
		}
	})
	t.Run("gap_filled_from_raw", func(t *testing.T) {
		for _, ser := range query(t, t0, rawEnd, res, all...) {
			raw, aggr := split(ser)
			for _, c := range aggr {
				require.LessOrEqual(t, c.GetMaxTime(), dsEnd, "aggregates only where the 5m block has data")
			}
			for _, c := range raw {
				require.Greater(t, c.GetMaxTime(), dsEnd, "raw chunks only where no 5m block has data")
			}
			requireAggr(t, byName[name(ser)], aggr, t0, dsEnd)
			requireRaw(t, byName[name(ser)], raw, dsEnd+1, rawEnd)
		}
	})
	t.Run("unknown_aggregate_refused", func(t *testing.T) {
		_, _, _, err := storetest.CollectSeries(t.Context(), storepb.ServerAsClient(s), &storepb.SeriesRequest{
			MinTime: t0, MaxTime: rawEnd, MaxResolutionWindow: res, Aggregates: []storepb.Aggr{42},
			Matchers: []*storepb.LabelMatcher{{Type: storepb.LabelMatcher_EQ, Name: "pod", Value: "a"}},
		})
		require.ErrorContains(t, err, "unknown aggregate 42")
	})
}
