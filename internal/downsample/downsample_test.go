package downsample

import (
	"math"
	"math/rand/v2"
	"testing"

	"github.com/prometheus/prometheus/model/histogram"
	"github.com/prometheus/prometheus/model/value"
	"github.com/prometheus/prometheus/tsdb/chunkenc"
	"github.com/prometheus/prometheus/tsdb/chunks"
	"github.com/stretchr/testify/require"

	"github.com/strata-io/strata/internal/testkit"
)

// rawSeries returns n samples every step ms from start. Without rng the
// values count up by one; with rng they form a counter with random
// increments, occasional resets, timestamp jitter and gaps.
func rawSeries(start, step int64, n int, rng *rand.Rand) []fsample {
	out := make([]fsample, 0, n)
	v := 0.0
	t := start
	for i := range n {
		if rng == nil {
			out = append(out, fsample{t, float64(i)})
			t += step
			continue
		}
		switch r := rng.Float64(); {
		case r < 0.003:
			v = rng.Float64() * 5 // reset
		case r < 0.006:
			t += 20 * step // gap: scrapes failed for a while
		default:
			v += rng.Float64() * 10
		}
		out = append(out, fsample{t, v})
		t += step + rng.Int64N(step/5) - step/10
	}
	return out
}

// listIterator returns a Seek-less iterator over ss.
func listIterator(ss []fsample) chunkenc.Iterator {
	ts := make([]int64, len(ss))
	vs := make([]float64, len(ss))
	for i, s := range ss {
		ts[i], vs[i] = s.t, s.v
	}
	return chunkenc.MockSeriesIterator(nil, ts, vs)
}

// rawChunks cuts ss into XOR chunks of 120 samples, as Prometheus does.
func rawChunks(t testing.TB, ss []fsample) []chunkenc.Chunk {
	var out []chunkenc.Chunk
	for len(ss) > 0 {
		n := min(120, len(ss))
		out = append(out, testkit.XORChunk(t, ss[:n]...))
		ss = ss[n:]
	}
	return out
}

type refWindow struct {
	lastT                int64
	count, sum, min, max float64
}

// referenceWindows aggregates ss the obvious way.
func referenceWindows(ss []fsample, res int64) []refWindow {
	var out []refWindow
	cur := int64(math.MinInt64)
	for _, s := range ss {
		if value.IsStaleNaN(s.v) {
			continue
		}
		w := int64(math.Floor(float64(s.t)/float64(res))) * res
		if w != cur {
			cur = w
			out = append(out, refWindow{min: math.Inf(1), max: math.Inf(-1)})
		}
		r := &out[len(out)-1]
		r.lastT = s.t
		r.count++
		r.sum += s.v
		r.min = math.Min(r.min, s.v)
		r.max = math.Max(r.max, s.v)
	}
	return out
}

// monotonic returns, per raw sample, the counter value with every earlier
// reset added back: what increase() over the raw data counts.
func monotonic(ss []fsample) map[int64]float64 {
	out := make(map[int64]float64, len(ss))
	offset, prev := 0.0, math.Inf(-1)
	for _, s := range ss {
		if value.IsStaleNaN(s.v) {
			continue
		}
		if s.v < prev {
			offset += prev
		}
		prev = s.v
		out[s.t] = s.v + offset
	}
	return out
}

func aggrChunks(t testing.TB, metas []chunks.Meta, at AggrType) []chunkenc.Chunk {
	t.Helper()
	out := make([]chunkenc.Chunk, 0, len(metas))
	for _, m := range metas {
		c, ok := m.Chunk.(*AggrChunk)
		require.True(t, ok, "chunk is %T", m.Chunk)
		chk, err := c.Get(at)
		require.NoError(t, err, at.String())
		out = append(out, chk)
	}
	return out
}

func TestDownsampleMatchesReference(t *testing.T) {
	withStale := rawSeries(0, 15_000, 3000, rand.New(rand.NewPCG(7, 7)))
	for i := 100; i < len(withStale); i += 300 {
		withStale[i].v = math.Float64frombits(value.StaleNaN)
	}
	for _, tc := range []struct {
		name string
		raw  []fsample
		res  int64
	}{
		{name: "regular 15s at 5m", raw: rawSeries(0, 15_000, 48*240, nil), res: Resolution5m},
		{name: "random counter at 5m", raw: rawSeries(1_000_000, 15_000, 48*240, rand.New(rand.NewPCG(1, 2))), res: Resolution5m},
		{name: "random counter at 1h", raw: rawSeries(-7_200_000, 15_000, 30*240, rand.New(rand.NewPCG(3, 4))), res: Resolution1h},
		{name: "sparse 10m at 5m", raw: rawSeries(0, 600_000, 500, rand.New(rand.NewPCG(5, 6))), res: Resolution5m},
		{name: "stale markers skipped", raw: withStale, res: Resolution5m},
		{name: "single sample", raw: []fsample{{42, 3}}, res: Resolution5m},
	} {
		t.Run(tc.name, func(t *testing.T) {
			metas, err := Downsample(listIterator(tc.raw), tc.res)
			require.NoError(t, err)
			want := referenceWindows(tc.raw, tc.res)
			require.Len(t, metas, (len(want)+WindowsPerChunk-1)/WindowsPerChunk)

			for _, at := range []AggrType{AggrCount, AggrSum, AggrMin, AggrMax} {
				got := samplesOf(t, NewChunksIterator(aggrChunks(t, metas, at)))
				require.Equal(t, len(want), len(got), at.String())
				for i, w := range want {
					exp := map[AggrType]float64{AggrCount: w.count, AggrSum: w.sum, AggrMin: w.min, AggrMax: w.max}[at]
					require.Equal(t, fsample{w.lastT, exp}, got[i], "%s of window %d", at, i)
				}
			}

			// Counter sections: first raw sample, then one value per window
			// never decreasing, then the last raw value repeated.
			mono := monotonic(tc.raw)
			var rawByT = map[int64]float64{}
			for _, s := range tc.raw {
				rawByT[s.t] = s.v
			}
			for i, chk := range aggrChunks(t, metas, AggrCounter) {
				ss := samplesOf(t, chk.Iterator(nil))
				require.Len(t, ss, min(WindowsPerChunk, len(want)-i*WindowsPerChunk)+2)
				first, last, prev := ss[0], ss[len(ss)-1], ss[len(ss)-2]
				require.Equal(t, metas[i].MinTime, first.t)
				require.Equal(t, rawByT[first.t], first.v, "chunk %d starts with its first raw sample", i)
				require.Equal(t, metas[i].MaxTime, last.t)
				require.Equal(t, prev.t, last.t, "chunk %d repeats its last timestamp", i)
				require.Equal(t, rawByT[last.t], last.v, "chunk %d ends with its last raw value", i)
				for j := 1; j < len(ss)-1; j++ {
					require.GreaterOrEqual(t, ss[j].v, ss[j-1].v, "chunk %d sample %d decreases", i, j)
				}
			}

			// Read back, the counter is the raw counter with resets added
			// back, at the end of each window, at the first raw sample of the
			// series and at the first raw sample of a chunk after a gap.
			got := samplesOf(t, NewCounterIterator(aggrChunks(t, metas, AggrCounter)))
			var wantTs []int64
			for i, w := range want {
				if c := i / WindowsPerChunk; i%WindowsPerChunk == 0 && metas[c].MinTime != w.lastT {
					first := metas[c].MinTime
					if c == 0 || first-want[i-1].lastT > w.lastT-first {
						wantTs = append(wantTs, first)
					}
				}
				wantTs = append(wantTs, w.lastT)
			}
			require.Equal(t, len(wantTs), len(got))
			for i, s := range got {
				require.Equal(t, wantTs[i], s.t)
				require.InEpsilon(t, mono[s.t]+1, s.v+1, 1e-12, "counter at t=%d", s.t)
			}
		})
	}
}

func TestDownsampleChunking(t *testing.T) {
	// 48h at 15s: 576 windows of 5m, cut into chunks of 120 windows (10h).
	metas, err := Downsample(listIterator(rawSeries(0, 15_000, 48*240, nil)), Resolution5m)
	require.NoError(t, err)
	require.Len(t, metas, 5)
	for i, m := range metas {
		require.Equal(t, int64(i)*10*3600_000, m.MinTime, "chunk %d", i)
		require.Equal(t, min(int64(i+1)*10*3600_000, 48*3600_000)-15_000, m.MaxTime, "chunk %d", i)
		require.NoError(t, m.Chunk.(*AggrChunk).Validate())
	}
}

func TestDownsampleRejects(t *testing.T) {
	t.Run("native histograms", func(t *testing.T) {
		c := chunkenc.NewHistogramChunk()
		app, err := c.Appender()
		require.NoError(t, err)
		_, _, _, err = app.AppendHistogram(nil, 0, 1000, &histogram.Histogram{Count: 1, ZeroCount: 1, ZeroThreshold: 0.001}, false)
		require.NoError(t, err)
		_, err = Downsample(c.Iterator(nil), Resolution5m)
		require.ErrorIs(t, err, ErrHistogram)
		require.ErrorContains(t, err, "histogram samples")
	})
	t.Run("out of order", func(t *testing.T) {
		_, err := Downsample(listIterator([]fsample{{10, 1}, {10, 2}}), Resolution5m)
		require.ErrorContains(t, err, "out of order")
	})
	t.Run("zero resolution", func(t *testing.T) {
		_, err := Downsample(listIterator([]fsample{{10, 1}}), 0)
		require.ErrorContains(t, err, "must be positive")
	})
	t.Run("empty series", func(t *testing.T) {
		metas, err := Downsample(listIterator(nil), Resolution5m)
		require.NoError(t, err)
		require.Empty(t, metas)
	})
}

func TestWindowStart(t *testing.T) {
	for _, tc := range []struct{ t, res, want int64 }{
		{0, 300_000, 0},
		{299_999, 300_000, 0},
		{300_000, 300_000, 300_000},
		{-1, 300_000, -300_000},
		{-300_000, 300_000, -300_000},
		{-300_001, 300_000, -600_000},
	} {
		require.Equal(t, tc.want, WindowStart(tc.t, tc.res), "t=%d", tc.t)
	}
}

func TestNaNWindows(t *testing.T) {
	// One NaN in a window makes its sum NaN but does not hide the other
	// values from min and max.
	metas, err := Downsample(listIterator([]fsample{{0, 1}, {1, math.NaN()}, {2, 3}, {300_000, math.NaN()}}), Resolution5m)
	require.NoError(t, err)
	mins := samplesOf(t, NewChunksIterator(aggrChunks(t, metas, AggrMin)))
	maxs := samplesOf(t, NewChunksIterator(aggrChunks(t, metas, AggrMax)))
	sums := samplesOf(t, NewChunksIterator(aggrChunks(t, metas, AggrSum)))
	require.Equal(t, 1.0, mins[0].v)
	require.Equal(t, 3.0, maxs[0].v)
	require.True(t, math.IsNaN(sums[0].v))
	require.True(t, math.IsNaN(mins[1].v), "a window of NaNs has a NaN min")
}

// TestDownsampleBlocksCounter downsamples a series cut into two blocks, as the
// compactor does, and reads the counter across both: a reset at the cut
// counts, and no reset at the cut is invented from resets inside the first.
func TestDownsampleBlocksCounter(t *testing.T) {
	raw := rawSeries(0, 15_000, 4*240*10, rand.New(rand.NewPCG(31, 32))) // ~40h with resets
	split := len(raw) / 2
	withReset := append([]fsample(nil), raw...)
	withReset[split].v = 0.25
	for _, tc := range []struct {
		name string
		raw  []fsample
	}{
		{name: "no reset at the cut", raw: raw},
		{name: "reset at the cut", raw: withReset},
	} {
		t.Run(tc.name, func(t *testing.T) {
			a, err := Downsample(listIterator(tc.raw[:split]), Resolution5m)
			require.NoError(t, err)
			b, err := Downsample(listIterator(tc.raw[split:]), Resolution5m)
			require.NoError(t, err)
			mono := monotonic(tc.raw)
			got := samplesOf(t, NewCounterIterator(aggrChunks(t, append(a, b...), AggrCounter)))
			require.Greater(t, len(got), len(tc.raw)/20-5)
			for _, s := range got {
				require.InEpsilon(t, mono[s.t]+1, s.v+1, 1e-12, "counter at t=%d", s.t)
			}
		})
	}
}
