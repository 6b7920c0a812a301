package downsample_test

import (
	"bytes"
	"context"
	"crypto/rand"
	"encoding/binary"
	"log/slog"
	"math"
	mrand "math/rand/v2"
	"os"
	"path/filepath"
	"slices"
	"testing"
	"time"

	"github.com/oklog/ulid/v2"
	"github.com/prometheus/common/model"
	"github.com/prometheus/prometheus/model/labels"
	"github.com/prometheus/prometheus/model/value"
	"github.com/prometheus/prometheus/storage"
	"github.com/prometheus/prometheus/tsdb"
	"github.com/prometheus/prometheus/tsdb/chunkenc"
	"github.com/prometheus/prometheus/tsdb/chunks"
	"github.com/prometheus/prometheus/tsdb/index"
	"github.com/prometheus/prometheus/tsdb/tsdbutil"
	"github.com/stretchr/testify/require"
	"github.com/thanos-io/objstore"
	"go.uber.org/goleak"

	"github.com/strata-io/strata/internal/downsample"
	"github.com/strata-io/strata/internal/store/bucketstore"
	"github.com/strata-io/strata/internal/store/storetest"
	"github.com/strata-io/strata/internal/testkit"
	"github.com/strata-io/strata/pkg/metadata"
	"github.com/strata-io/strata/pkg/storepb"
)

func TestMain(m *testing.M) {
	goleak.VerifyTestMain(m)
}

const (
	hour = int64(time.Hour / time.Millisecond)
	t0   = int64(1_700_006_400_000) // a whole hour
	span = 24 * hour                // raw data covers [t0, t0+span)
	step = int64(15_000)
)

var ext = labels.FromStrings("region", "eu", "replica", "a")

// dataset returns float series (counters with resets, gauges with a gap and
// stale markers), a native histogram series and a series that switches
// between floats and histograms, over [t0, t0+span).
func dataset() []storage.Series {
	rng := mrand.New(mrand.NewPCG(1, 2))
	var sawtooth, errors, gauge, latency, mixed []storetest.Sample
	errV := 0.0
	for i := range span / step {
		ts := t0 + i*step
		sawtooth = append(sawtooth, storetest.Sample{T: ts, F: float64(i%300) * 2}) // resets every 75m
		errV += float64(rng.IntN(5))
		if rng.IntN(700) == 0 {
			errV = float64(rng.IntN(3)) // a reset to a small value, at random
		}
		errors = append(errors, storetest.Sample{T: ts, F: errV})
		switch {
		case ts == t0+5*hour:
			gauge = append(gauge, storetest.Sample{T: ts, F: math.Float64frombits(value.StaleNaN)})
		case ts > t0+5*hour && ts < t0+8*hour+7*60_000: // a gap of 3h7m
		default:
			gauge = append(gauge, storetest.Sample{T: ts, F: math.Sin(float64(i)/10) * 100})
		}
		if i%4 == 0 {
			latency = append(latency, storetest.Sample{T: ts, H: tsdbutil.GenerateTestHistogram(i / 4)})
			if ts >= t0+6*hour && ts < t0+12*hour {
				mixed = append(mixed, storetest.Sample{T: ts, FH: tsdbutil.GenerateTestFloatHistogram(i / 4)})
			} else {
				mixed = append(mixed, storetest.Sample{T: ts, F: float64(i)})
			}
		}
	}
	return []storage.Series{
		storetest.NewSeries(labels.FromStrings(model.MetricNameLabel, "requests_total", "pod", "a"), sawtooth),
		storetest.NewSeries(labels.FromStrings(model.MetricNameLabel, "errors_total", "pod", "a"), errors),
		storetest.NewSeries(labels.FromStrings(model.MetricNameLabel, "temperature", "pod", "a"), gauge),
		storetest.NewSeries(labels.FromStrings(model.MetricNameLabel, "latency", "pod", "a"), latency),
		storetest.NewSeries(labels.FromStrings(model.MetricNameLabel, "mixed", "pod", "a"), mixed),
	}
}

// samplesByName returns every series' samples by metric name.
func samplesByName(t *testing.T, series []storage.Series) map[string][]storetest.Sample {
	t.Helper()
	out := map[string][]storetest.Sample{}
	for _, s := range series {
		smps, err := storetest.SeriesSamples(s)
		require.NoError(t, err)
		out[s.Labels().Get(model.MetricNameLabel)] = smps
	}
	return out
}

// writeRawBlock writes series into a raw block with tsdb.CreateBlock, gives
// it a thanos section with ext and returns its directory.
func writeRawBlock(t *testing.T, series []storage.Series) string {
	t.Helper()
	dir, meta := testkit.CreateBlock(t, t.TempDir(), 10*span, series...)
	meta.Thanos.SetLabels(ext)
	meta.Thanos.Source = metadata.SidecarSource
	meta.Thanos.Extensions = map[string]any{"tenant": "team-a"}
	require.NoError(t, meta.WriteToDir(dir))
	return dir
}

// expWindow is what the raw float samples of one window aggregate to.
type expWindow struct {
	lastT                     int64
	count, sum, min, max, ctr float64
}

// expectedWindows aggregates the float samples of a series (stale markers
// skipped, histograms ignored) into windows of res, computing the counter as
// the raw value plus every reset seen since the first sample.
func expectedWindows(samples []storetest.Sample, res int64) []expWindow {
	var (
		out         []expWindow
		cur         = int64(math.MinInt64)
		prev, reset float64
		seen        bool
	)
	for _, s := range samples {
		if s.H != nil || s.FH != nil || value.IsStaleNaN(s.F) {
			continue
		}
		if seen && s.F < prev {
			reset += prev
		}
		prev, seen = s.F, true
		if w := downsample.WindowStart(s.T, res); w != cur {
			cur = w
			out = append(out, expWindow{min: s.F, max: s.F})
		}
		w := &out[len(out)-1]
		w.lastT = s.T
		w.count++
		w.sum += s.F
		w.min, w.max = min(w.min, s.F), max(w.max, s.F)
		w.ctr = s.F + reset
	}
	return out
}

// histSamples returns the histogram samples of a series.
func histSamples(samples []storetest.Sample) []storetest.Sample {
	return slices.DeleteFunc(slices.Clone(samples), func(s storetest.Sample) bool { return s.H == nil && s.FH == nil })
}

// blockSeries is one series read back from a downsampled block.
type blockSeries struct {
	chks []chunks.Meta // with Chunk set, bytes copied
	aggr []downsample.AggrChunk
	hist []storetest.Sample // samples of raw chunks
}

// readBlock opens dir with tsdb.OpenBlock and downsample.NewPool and
// returns its series by metric name, checking that chunks are ordered and
// do not overlap.
func readBlock(t *testing.T, dir string) map[string]*blockSeries {
	t.Helper()
	b, err := tsdb.OpenBlock(nil, dir, downsample.NewPool(), nil)
	require.NoError(t, err)
	defer func() { require.NoError(t, b.Close()) }()
	ir, err := b.Index()
	require.NoError(t, err)
	defer func() { require.NoError(t, ir.Close()) }()
	cr, err := b.Chunks()
	require.NoError(t, err)
	defer func() { require.NoError(t, cr.Close()) }()

	out := map[string]*blockSeries{}
	name, val := index.AllPostingsKey()
	p, err := ir.Postings(t.Context(), name, val)
	require.NoError(t, err)
	var builder labels.ScratchBuilder
	for p.Next() {
		var metas []chunks.Meta
		require.NoError(t, ir.Series(p.At(), &builder, &metas))
		s := &blockSeries{}
		for i, m := range metas {
			if i > 0 {
				require.Greater(t, m.MinTime, metas[i-1].MaxTime, "chunks of %s overlap", builder.Labels())
			}
			c, _, err := cr.ChunkOrIterable(m)
			require.NoError(t, err)
			if c.Encoding() == downsample.ChunkEncAggr {
				ac := downsample.AggrChunk(slices.Clone(c.Bytes()))
				require.NoError(t, ac.Validate())
				s.aggr = append(s.aggr, ac)
				m.Chunk = &ac
			} else {
				smps := chunkSamples(t, c)
				s.hist = append(s.hist, smps...)
				m.Chunk = nil
			}
			s.chks = append(s.chks, m)
		}
		out[builder.Labels().Get(model.MetricNameLabel)] = s
	}
	require.NoError(t, p.Err())
	return out
}

// chunkSamples decodes the samples of a raw chunk.
func chunkSamples(t *testing.T, c chunkenc.Chunk) []storetest.Sample {
	t.Helper()
	var out []storetest.Sample
	it := c.Iterator(nil)
	for vt := it.Next(); vt != chunkenc.ValNone; vt = it.Next() {
		switch vt {
		case chunkenc.ValFloat:
			ts, f := it.At()
			out = append(out, storetest.Sample{T: ts, F: f})
		case chunkenc.ValHistogram:
			ts, h := it.AtHistogram(nil)
			out = append(out, storetest.Sample{T: ts, H: h})
		case chunkenc.ValFloatHistogram:
			ts, fh := it.AtFloatHistogram(nil)
			out = append(out, storetest.Sample{T: ts, FH: fh})
		}
	}
	require.NoError(t, it.Err())
	return out
}

// point is one decoded aggregate sample.
type point struct {
	t int64
	v float64
}

// decodeAggr reads aggregate at of chunks in order: the counter with
// NewCounterIterator, the others with NewChunksIterator.
func decodeAggr(t *testing.T, chks []chunkenc.Chunk, at downsample.AggrType) []point {
	t.Helper()
	it := downsample.NewChunksIterator(chks)
	if at == downsample.AggrCounter {
		it = downsample.NewCounterIterator(chks)
	}
	var out []point
	for it.Next() == chunkenc.ValFloat {
		ts, v := it.At()
		out = append(out, point{ts, v})
	}
	require.NoError(t, it.Err())
	return out
}

// sections returns aggregate at of every chunk.
func sections(t *testing.T, aggr []downsample.AggrChunk, at downsample.AggrType) []chunkenc.Chunk {
	t.Helper()
	out := make([]chunkenc.Chunk, 0, len(aggr))
	for _, c := range aggr {
		chk, err := c.Get(at)
		require.NoError(t, err)
		out = append(out, chk)
	}
	return out
}

// requireWindows checks the five aggregates, given as per-aggregate chunk
// lists, against the windows computed from the raw samples.
func requireWindows(t *testing.T, want []expWindow, get func(downsample.AggrType) []chunkenc.Chunk) {
	t.Helper()
	require.NotEmpty(t, want)
	for _, at := range []downsample.AggrType{downsample.AggrCount, downsample.AggrSum, downsample.AggrMin, downsample.AggrMax} {
		got := decodeAggr(t, get(at), at)
		require.Len(t, got, len(want), "one %s sample per window", at)
		for i, w := range want {
			require.Equal(t, w.lastT, got[i].t, "%s sample %d is stamped with the window's last raw sample", at, i)
			exp := map[downsample.AggrType]float64{downsample.AggrCount: w.count, downsample.AggrSum: w.sum, downsample.AggrMin: w.min, downsample.AggrMax: w.max}[at]
			require.InDelta(t, exp, got[i].v, 1e-9*max(1, math.Abs(exp)), "%s of the window ending at %d", at, w.lastT)
		}
	}
	ctr := map[int64]float64{}
	for _, p := range decodeAggr(t, get(downsample.AggrCounter), downsample.AggrCounter) {
		ctr[p.t] = p.v
	}
	for _, w := range want {
		v, ok := ctr[w.lastT]
		require.True(t, ok, "counter sample at the end of the window ending at %d", w.lastT)
		require.InDelta(t, w.ctr, v, 1e-9*max(1, math.Abs(w.ctr)), "counter at %d (raw value plus resets)", w.lastT)
	}
}

// requireBlockSeries checks a series read back from a block of resolution
// res against its raw samples: aggregates per window for its floats, its
// histograms kept as they are.
func requireBlockSeries(t *testing.T, raw []storetest.Sample, got *blockSeries, res int64) {
	t.Helper()
	wantHist := histSamples(raw)
	require.Len(t, got.hist, len(wantHist), "native histogram samples kept at raw resolution")
	for i := range wantHist {
		require.True(t, wantHist[i].Equal(got.hist[i]), "histogram sample %d: want %s, got %s", i, wantHist[i], got.hist[i])
	}
	want := expectedWindows(raw, res)
	if len(want) == 0 {
		require.Empty(t, got.aggr)
		return
	}
	for _, c := range got.aggr {
		require.LessOrEqual(t, c.NumSamples(), downsample.WindowsPerChunk)
	}
	requireWindows(t, want, func(at downsample.AggrType) []chunkenc.Chunk { return sections(t, got.aggr, at) })
}

func TestBlockDownsampler(t *testing.T) {
	series := append(dataset(), storetest.NewSeries(labels.FromStrings(model.MetricNameLabel, "gone", "pod", "a"), []storetest.Sample{
		{T: t0, F: math.Float64frombits(value.StaleNaN)}, {T: t0 + hour, F: math.Float64frombits(value.StaleNaN)},
	}))
	raw := samplesByName(t, series)
	rawDir := writeRawBlock(t, series)
	rawMeta, err := metadata.ReadFromDir(rawDir)
	require.NoError(t, err)

	var logs bytes.Buffer
	d := downsample.NewBlockDownsampler(slog.New(slog.NewTextHandler(&logs, nil)))
	dst := t.TempDir()
	m5, err := d.Downsample(t.Context(), rawDir, dst, downsample.Resolution5m)
	require.NoError(t, err)
	dir5 := filepath.Join(dst, m5.ULID.String())
	m1h, err := d.Downsample(t.Context(), dir5, dst, downsample.Resolution1h)
	require.NoError(t, err)
	dir1h := filepath.Join(dst, m1h.ULID.String())

	t.Run("only_complete_blocks_in_destination", func(t *testing.T) {
		entries, err := os.ReadDir(dst)
		require.NoError(t, err)
		var names []string
		for _, e := range entries {
			names = append(names, e.Name())
		}
		require.ElementsMatch(t, []string{m5.ULID.String(), m1h.ULID.String()}, names, "no temporary directory left")
	})

	for _, tc := range []struct {
		name string
		dir  string
		res  int64
	}{{"5m", dir5, downsample.Resolution5m}, {"1h", dir1h, downsample.Resolution1h}} {
		t.Run("aggregates_equal_raw_windows_"+tc.name, func(t *testing.T) {
			got := readBlock(t, tc.dir)
			require.NotContains(t, got, "gone", "a series of stale markers only has nothing to downsample")
			require.Len(t, got, len(series)-1)
			for name, s := range got {
				t.Run(name, func(t *testing.T) { requireBlockSeries(t, raw[name], s, tc.res) })
			}
		})
	}

	t.Run("5m_to_1h_equals_raw_to_1h", func(t *testing.T) {
		got := readBlock(t, dir1h)
		for _, name := range []string{"requests_total", "errors_total", "temperature"} {
			direct, err := downsample.Downsample(storetest.NewSeries(labels.EmptyLabels(), raw[name]).Iterator(nil), downsample.Resolution1h)
			require.NoError(t, err)
			var directAggr []downsample.AggrChunk
			for _, m := range direct {
				directAggr = append(directAggr, *m.Chunk.(*downsample.AggrChunk))
			}
			for _, at := range downsample.AllAggrTypes {
				want := decodeAggr(t, sections(t, directAggr, at), at)
				have := decodeAggr(t, sections(t, got[name].aggr, at), at)
				require.Len(t, have, len(want), "%s %s", name, at)
				for i := range want {
					require.Equal(t, want[i].t, have[i].t, "%s %s sample %d", name, at, i)
					require.InDelta(t, want[i].v, have[i].v, 1e-9*max(1, math.Abs(want[i].v)), "%s %s at %d", name, at, want[i].t)
				}
			}
		}
	})

	t.Run("meta", func(t *testing.T) {
		for _, tc := range []struct {
			meta   *metadata.Meta
			dir    string
			parent *metadata.Meta
			res    int64
		}{{m5, dir5, rawMeta, downsample.Resolution5m}, {m1h, dir1h, m5, downsample.Resolution1h}} {
			onDisk, err := metadata.ReadFromDir(tc.dir)
			require.NoError(t, err)
			require.Equal(t, tc.meta, onDisk, "returned meta is the one written")
			m := tc.meta
			require.NotEqual(t, tc.parent.ULID, m.ULID)
			require.Equal(t, rawMeta.MinTime, m.MinTime)
			require.Equal(t, rawMeta.MaxTime, m.MaxTime)
			require.Equal(t, rawMeta.Compaction.Level, m.Compaction.Level)
			require.Equal(t, rawMeta.Compaction.Sources, m.Compaction.Sources)
			require.Equal(t, []tsdb.BlockDesc{{ULID: tc.parent.ULID, MinTime: tc.parent.MinTime, MaxTime: tc.parent.MaxTime}}, m.Compaction.Parents)
			require.Equal(t, ext.Map(), m.Thanos.Labels)
			require.Equal(t, tc.res, m.Thanos.Downsample.Resolution)
			require.Equal(t, metadata.CompactorSource, m.Thanos.Source)
			require.Equal(t, map[string]any{"tenant": "team-a"}, m.Thanos.Extensions)
			require.Equal(t, metadata.TSDBVersion1, m.Version)
			files, err := metadata.BlockFiles(tc.dir)
			require.NoError(t, err)
			require.Equal(t, files, m.Thanos.Files, "files with their sizes")
			require.Equal(t, []string{"000001"}, m.Thanos.SegmentFiles)
			require.Equal(t, uint64(len(series)-1), m.Stats.NumSeries)
			require.Equal(t, m.Stats.NumFloatSamples+m.Stats.NumHistogramSamples, m.Stats.NumSamples)
			require.Equal(t, uint64(len(histSamples(raw["latency"]))+len(histSamples(raw["mixed"]))), m.Stats.NumHistogramSamples,
				"histogram samples are kept one for one")
			var windows int
			for _, name := range []string{"requests_total", "errors_total", "temperature", "mixed"} {
				windows += len(expectedWindows(raw[name], tc.res))
			}
			require.Equal(t, uint64(windows), m.Stats.NumFloatSamples, "one float sample per window")
			require.NotZero(t, m.Stats.NumChunks)
		}
	})

	t.Run("log", func(t *testing.T) {
		require.Contains(t, logs.String(), "msg=\"block downsampled\" block="+rawMeta.ULID.String()+" new_block="+m5.ULID.String()+" from=raw to=5m series=5")
		require.Contains(t, logs.String(), "histogram_series_raw=2")
		require.Contains(t, logs.String(), "empty_series_dropped=1")
	})

	t.Run("store_gateway_serves_both", func(t *testing.T) {
		bkt := objstore.NewInMemBucket()
		for _, dir := range []string{rawDir, dir5, dir1h} {
			m, err := metadata.ReadFromDir(dir)
			require.NoError(t, err)
			if m.Thanos.Source == "" {
				m.Thanos.Source = metadata.SidecarSource
			}
			require.NoError(t, metadata.Upload(t.Context(), nil, bkt, dir, m))
		}
		s, err := bucketstore.New(bucketstore.DefaultConfig(), bkt, nil, nil)
		require.NoError(t, err)
		t.Cleanup(func() { require.NoError(t, s.Close()) })
		require.NoError(t, s.SyncBlocks(t.Context()))
		require.Len(t, s.Blocks(), 3)

		ms, err := storepb.MatchersToProto(labels.MustNewMatcher(labels.MatchEqual, "pod", "a"))
		require.NoError(t, err)
		for _, res := range []int64{downsample.Resolution5m, downsample.Resolution1h} {
			t.Run(map[int64]string{downsample.Resolution5m: "5m", downsample.Resolution1h: "1h"}[res], func(t *testing.T) {
				got, warns, _, err := storetest.CollectSeries(t.Context(), storepb.ServerAsClient(s), &storepb.SeriesRequest{
					MinTime: rawMeta.MinTime, MaxTime: rawMeta.MaxTime - 1, Matchers: ms, MaxResolutionWindow: res,
					Aggregates:              []storepb.Aggr{storepb.Aggr_COUNT, storepb.Aggr_SUM, storepb.Aggr_MIN, storepb.Aggr_MAX, storepb.Aggr_COUNTER},
					PartialResponseStrategy: storepb.PartialResponseStrategy_ABORT,
				})
				require.NoError(t, err)
				require.Empty(t, warns)
				require.Len(t, got, len(series)-1)
				for _, ser := range got {
					lset := storepb.LabelsFromProto(ser.GetLabels())
					require.Equal(t, "eu", lset.Get("region"), "external labels added")
					name := lset.Get(model.MetricNameLabel)
					var rawChks, aggrChks []*storepb.AggrChunk
					for _, c := range ser.GetChunks() {
						if c.GetRaw() != nil {
							rawChks = append(rawChks, c)
						} else {
							aggrChks = append(aggrChks, c)
						}
					}
					hist, err := storetest.DecodeSeries(&storepb.Series{Chunks: rawChks})
					require.NoError(t, err)
					wantHist := histSamples(raw[name])
					require.Len(t, hist, len(wantHist), "%s: histograms served as raw chunks", name)
					for i := range wantHist {
						require.True(t, wantHist[i].Equal(hist[i]), "%s histogram sample %d", name, i)
					}
					want := expectedWindows(raw[name], res)
					if len(want) == 0 {
						require.Empty(t, aggrChks, name)
						continue
					}
					t.Run(name, func(t *testing.T) {
						requireWindows(t, want, func(at downsample.AggrType) []chunkenc.Chunk {
							var out []chunkenc.Chunk
							for _, c := range aggrChks {
								wc := map[downsample.AggrType]*storepb.Chunk{
									downsample.AggrCount: c.GetCount(), downsample.AggrSum: c.GetSum(), downsample.AggrMin: c.GetMin(),
									downsample.AggrMax: c.GetMax(), downsample.AggrCounter: c.GetCounter(),
								}[at]
								require.NotNil(t, wc, "%s requested", at)
								chk, err := chunkenc.FromData(chunkenc.EncXOR, wc.GetData())
								require.NoError(t, err)
								out = append(out, chk)
							}
							return out
						})
					})
				}
			})
		}
	})
}

func TestBlockDownsamplerOnlyHistograms(t *testing.T) {
	var ints, floats []storetest.Sample
	for i := range int64(2 * 60) {
		ts := t0 + i*60_000
		ints = append(ints, storetest.Sample{T: ts, H: tsdbutil.GenerateTestHistogram(i)})
		floats = append(floats, storetest.Sample{T: ts, FH: tsdbutil.GenerateTestFloatHistogram(i)})
	}
	series := []storage.Series{
		storetest.NewSeries(labels.FromStrings(model.MetricNameLabel, "h_int"), ints),
		storetest.NewSeries(labels.FromStrings(model.MetricNameLabel, "h_float"), floats),
	}
	raw := samplesByName(t, series)
	d := downsample.NewBlockDownsampler(nil)
	dst := t.TempDir()
	src := writeRawBlock(t, series)
	for _, res := range []int64{downsample.Resolution5m, downsample.Resolution1h} {
		m, err := d.Downsample(t.Context(), src, dst, res)
		require.NoError(t, err)
		require.Equal(t, uint64(2), m.Stats.NumSeries)
		require.Equal(t, uint64(2*len(ints)), m.Stats.NumHistogramSamples)
		require.Zero(t, m.Stats.NumFloatSamples)
		src = filepath.Join(dst, m.ULID.String())
		got := readBlock(t, src)
		require.Len(t, got, 2)
		for name, s := range got {
			require.Empty(t, s.aggr, "%s: nothing to aggregate", name)
			requireBlockSeries(t, raw[name], s, res)
		}
	}
}

func TestBlockDownsamplerRefusesResolutionPairs(t *testing.T) {
	rawDir := writeRawBlock(t, dataset()[:1])
	d := downsample.NewBlockDownsampler(nil)
	withRes := func(t *testing.T, res int64) string {
		dir := filepath.Join(t.TempDir(), "block")
		require.NoError(t, os.CopyFS(dir, os.DirFS(rawDir)))
		m, err := metadata.ReadFromDir(dir)
		require.NoError(t, err)
		m.Thanos.Downsample.Resolution = res
		require.NoError(t, m.WriteToDir(dir))
		return dir
	}
	for _, tc := range []struct {
		name     string
		from, to int64
		errMsg   string
	}{
		{"raw_to_1h", downsample.ResolutionRaw, downsample.Resolution1h, "resolution raw (0ms) to 1h (3600000ms)"},
		{"raw_to_raw", downsample.ResolutionRaw, downsample.ResolutionRaw, "resolution raw (0ms) to raw (0ms)"},
		{"raw_to_odd", downsample.ResolutionRaw, 60_000, "resolution raw (0ms) to 60000ms (60000ms)"},
		{"5m_to_5m", downsample.Resolution5m, downsample.Resolution5m, "resolution 5m (300000ms) to 5m (300000ms)"},
		{"5m_to_raw", downsample.Resolution5m, downsample.ResolutionRaw, "ask for 3600000ms"},
		{"1h_to_1h", downsample.Resolution1h, downsample.Resolution1h, "1h (3600000ms), the coarsest there is"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			dst := t.TempDir()
			_, err := d.Downsample(t.Context(), withRes(t, tc.from), dst, tc.to)
			require.ErrorContains(t, err, tc.errMsg)
			entries, err := os.ReadDir(dst)
			require.NoError(t, err)
			require.Empty(t, entries, "nothing written")
		})
	}
}

func TestBlockDownsamplerFailures(t *testing.T) {
	d := downsample.NewBlockDownsampler(nil)
	t.Run("cancelled", func(t *testing.T) {
		dst := t.TempDir()
		ctx, cancel := context.WithCancel(t.Context())
		cancel()
		_, err := d.Downsample(ctx, writeRawBlock(t, dataset()), dst, downsample.Resolution5m)
		require.ErrorIs(t, err, context.Canceled)
		entries, err := os.ReadDir(dst)
		require.NoError(t, err)
		require.Empty(t, entries, "the partial block is removed")
	})
	t.Run("truncated_chunks", func(t *testing.T) {
		dst := t.TempDir()
		src := writeRawBlock(t, dataset())
		seg := filepath.Join(src, metadata.ChunksDirname, "000001")
		info, err := os.Stat(seg)
		require.NoError(t, err)
		require.NoError(t, os.Truncate(seg, info.Size()/2))
		_, err = d.Downsample(t.Context(), src, dst, downsample.Resolution5m)
		require.ErrorIs(t, err, downsample.ErrUnreadableBlock, "a block that will never downsample is told apart")
		require.ErrorContains(t, err, "pod=\"a\"", "the error names the series")
		entries, err := os.ReadDir(dst)
		require.NoError(t, err)
		require.Empty(t, entries, "the partial block is removed")
	})
	t.Run("no_meta", func(t *testing.T) {
		_, err := d.Downsample(t.Context(), t.TempDir(), t.TempDir(), downsample.Resolution5m)
		require.ErrorIs(t, err, metadata.ErrMetaNotFound)
	})
}

// BenchmarkBlockDownsampler measures raw -> 5m over a block of 200 series x
// 24h at 15s (1.15M samples) and reports raw samples per second.
func BenchmarkBlockDownsampler(b *testing.B) {
	const numSeries = 200
	series := make([]storage.Series, 0, numSeries)
	var numSamples int
	for s := range numSeries {
		smps := make([]storetest.Sample, 0, span/step)
		v := 0.0
		for i := range span / step {
			v += float64((int64(s) + i) % 7)
			smps = append(smps, storetest.Sample{T: t0 + i*step, F: v})
		}
		numSamples += len(smps)
		series = append(series, storetest.NewSeries(labels.FromStrings(model.MetricNameLabel, "requests_total", "series", string(rune('a'+s%26))+string(rune('a'+s/26))), smps))
	}
	dir, _ := testkit.CreateBlock(b, b.TempDir(), 10*span, series...)
	d := downsample.NewBlockDownsampler(nil)
	for b.Loop() {
		dst := b.TempDir()
		_, err := d.Downsample(b.Context(), dir, dst, downsample.Resolution5m)
		require.NoError(b, err)
	}
	b.ReportMetric(float64(numSamples)*float64(b.N)/b.Elapsed().Seconds(), "samples/s")
}

// writeBlock writes a block of resolution res with the given chunks per
// series with Prometheus' writers and returns its directory.
func writeBlock(t *testing.T, res int64, series []labels.Labels, chks [][]chunks.Meta) string {
	t.Helper()
	id := ulid.MustNew(ulid.Now(), rand.Reader)
	dir := filepath.Join(t.TempDir(), id.String())
	kit := make([]testkit.ChunkSeries, 0, len(series))
	for i, ls := range series {
		kit = append(kit, testkit.ChunkSeries{Labels: ls, Chunks: chks[i]})
	}
	testkit.WriteChunks(t, dir, kit)
	m := &metadata.Meta{BlockMeta: tsdb.BlockMeta{
		ULID: id, MinTime: t0, MaxTime: t0 + span, Version: metadata.TSDBVersion1,
		Compaction: tsdb.BlockMetaCompaction{Level: 3, Sources: []ulid.ULID{id}},
	}}
	m.Thanos.SetLabels(ext)
	m.Thanos.Downsample.Resolution = res
	require.NoError(t, m.WriteToDir(dir))
	return dir
}

// histogramAggrChunk returns an aggregate chunk like those Thanos compactors
// with native histogram downsampling write: count, sum and counter sections
// holding histogram chunks, min and max absent.
func histogramAggrChunk(t *testing.T, ts int64) downsample.AggrChunk {
	t.Helper()
	hc := chunkenc.NewHistogramChunk()
	app, err := hc.Appender()
	require.NoError(t, err)
	_, _, _, err = app.AppendHistogram(nil, 0, ts, tsdbutil.GenerateTestHistogram(1), false)
	require.NoError(t, err)
	var b []byte
	for _, at := range downsample.AllAggrTypes {
		if at == downsample.AggrMin || at == downsample.AggrMax {
			b = binary.AppendUvarint(b, 0)
			continue
		}
		b = binary.AppendUvarint(b, uint64(len(hc.Bytes())))
		b = append(b, byte(chunkenc.EncHistogram))
		b = append(b, hc.Bytes()...)
	}
	return downsample.AggrChunk(b)
}

// Test5mBlockFromOtherWriters downsamples to 1h a 5m block holding what other
// writers leave in such blocks: raw float chunks among aggregate chunks,
// empty float chunks, histogram aggregate chunks.
func Test5mBlockFromOtherWriters(t *testing.T) {
	raw := samplesByName(t, dataset())["errors_total"]
	half := t0 + span/2
	var first, second []storetest.Sample
	for _, s := range raw {
		if s.T < half {
			first = append(first, s)
		} else {
			second = append(second, s)
		}
	}
	// The first half as 5m aggregates, the second as raw XOR chunks of 120
	// samples.
	aggr, err := downsample.Downsample(storetest.NewSeries(labels.EmptyLabels(), first).Iterator(nil), downsample.Resolution5m)
	require.NoError(t, err)
	mixed := slices.Clone(aggr)
	for len(second) > 0 {
		n := min(120, len(second))
		c := chunkenc.NewXORChunk()
		app, err := c.Appender()
		require.NoError(t, err)
		for _, s := range second[:n] {
			app.Append(0, s.T, s.F)
		}
		mixed = append(mixed, chunks.Meta{MinTime: second[0].T, MaxTime: second[n-1].T, Chunk: c})
		second = second[n:]
	}
	empty := chunkenc.NewXORChunk()
	mixed = append([]chunks.Meta{{MinTime: t0 - 1, MaxTime: t0 - 1, Chunk: empty}}, mixed...)
	hist := histogramAggrChunk(t, t0+hour)

	lsets := []labels.Labels{
		labels.FromStrings(model.MetricNameLabel, "errors_total", "pod", "a"),
		labels.FromStrings(model.MetricNameLabel, "latency", "pod", "a"),
		labels.FromStrings(model.MetricNameLabel, "nothing", "pod", "a"),
	}
	src := writeBlock(t, downsample.Resolution5m, lsets, [][]chunks.Meta{
		mixed,
		{{MinTime: t0 + hour, MaxTime: t0 + hour, Chunk: &hist}},
		{{MinTime: t0, MaxTime: t0, Chunk: chunkenc.NewXORChunk()}},
	})

	var logs bytes.Buffer
	d := downsample.NewBlockDownsampler(slog.New(slog.NewTextHandler(&logs, nil)))
	dst := t.TempDir()
	m, err := d.Downsample(t.Context(), src, dst, downsample.Resolution1h)
	require.NoError(t, err)
	require.Equal(t, uint64(1), m.Stats.NumSeries, "only errors_total has data this block can hold")
	got := readBlock(t, filepath.Join(dst, m.ULID.String()))
	require.Len(t, got, 1)
	requireBlockSeries(t, raw, got["errors_total"], downsample.Resolution1h)
	require.Contains(t, logs.String(), "native histogram aggregate chunks dropped")
	require.Contains(t, logs.String(), "histogram_aggr_chunks_dropped=1")
}
