package downsample

import (
	"math/rand/v2"
	"testing"

	"github.com/prometheus/prometheus/tsdb/chunkenc"
	"github.com/prometheus/prometheus/tsdb/chunks"
	"github.com/stretchr/testify/require"
)

func asAggrChunks(t testing.TB, metas []chunks.Meta) []AggrChunk {
	out := make([]AggrChunk, 0, len(metas))
	for _, m := range metas {
		c, ok := m.Chunk.(*AggrChunk)
		require.True(t, ok)
		out = append(out, *c)
	}
	return out
}

// TestDownsampleAggrMatchesRaw checks that 5m chunks downsampled to 1h hold
// what downsampling the raw data to 1h directly gives, also when the series
// is split into blocks downsampled separately, with a reset at the split.
func TestDownsampleAggrMatchesRaw(t *testing.T) {
	raw := rawSeries(0, 15_000, 14*24*240, rand.New(rand.NewPCG(21, 22))) // 14 days
	// Blocks start at whole hours: split at the first sample of day 7.
	split := 0
	for raw[split].t < 7*24*3600_000 {
		split++
	}
	withReset := append([]fsample(nil), raw...)
	withReset[split].v = 0.5 // reset where the second block starts
	for _, tc := range []struct {
		name   string
		raw    []fsample
		blocks [][]fsample
	}{
		{name: "one block", raw: raw, blocks: [][]fsample{raw}},
		{name: "two blocks", raw: raw, blocks: [][]fsample{raw[:split], raw[split:]}},
		{name: "two blocks with a reset between", raw: withReset, blocks: [][]fsample{withReset[:split], withReset[split:]}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			raw := tc.raw
			direct, err := Downsample(listIterator(raw), Resolution1h)
			require.NoError(t, err)
			want := referenceWindows(raw, Resolution1h)
			mono := monotonic(raw)

			var got []chunks.Meta
			for _, b := range tc.blocks {
				fine, err := Downsample(listIterator(b), Resolution5m)
				require.NoError(t, err)
				coarse, err := Aggr(asAggrChunks(t, fine), Resolution1h)
				require.NoError(t, err)
				for _, m := range coarse {
					require.NoError(t, m.Chunk.(*AggrChunk).Validate())
				}
				got = append(got, coarse...)
			}
			if len(tc.blocks) == 1 {
				require.Len(t, got, len(direct))
			}
			for _, at := range []AggrType{AggrCount, AggrSum, AggrMin, AggrMax} {
				ss := samplesOf(t, NewChunksIterator(aggrChunks(t, got, at)))
				require.Equal(t, len(want), len(ss), at.String())
				for i, w := range want {
					exp := map[AggrType]float64{AggrCount: w.count, AggrSum: w.sum, AggrMin: w.min, AggrMax: w.max}[at]
					require.Equal(t, w.lastT, ss[i].t, "%s of window %d", at, i)
					require.InEpsilon(t, exp, ss[i].v, 1e-12, "%s of window %d", at, i)
				}
			}
			// The counter read across all chunks (and blocks) is the raw
			// counter with every reset added back.
			ctr := samplesOf(t, NewCounterIterator(aggrChunks(t, got, AggrCounter)))
			require.Equal(t, raw[0], ctr[0], "starts with the first raw sample")
			for _, s := range ctr {
				require.InEpsilon(t, mono[s.t], s.v, 1e-12, "counter at t=%d", s.t)
			}
			require.GreaterOrEqual(t, len(ctr), len(want))
			// The last chunk ends with the last raw value.
			last := samplesOf(t, aggrChunks(t, got, AggrCounter)[len(got)-1].Iterator(nil))
			require.Equal(t, raw[len(raw)-1], last[len(last)-1])
		})
	}
}

func TestDownsampleAggrRejects(t *testing.T) {
	metas, err := Downsample(listIterator(rawSeries(0, 15_000, 100, nil)), Resolution5m)
	require.NoError(t, err)
	in := asAggrChunks(t, metas)

	sum, err := in[0].Get(AggrSum)
	require.NoError(t, err)
	onlySum, err := EncodeAggrChunk([NumAggrTypes]chunkenc.Chunk{nil, sum})
	require.NoError(t, err)
	_, err = Aggr([]AggrChunk{onlySum}, Resolution1h)
	require.ErrorIs(t, err, ErrAbsent)
	require.ErrorContains(t, err, "from raw data")

	_, err = Aggr([]AggrChunk{in[0][:5]}, Resolution1h)
	require.ErrorIs(t, err, ErrCorrupt)

	out, err := Aggr(nil, Resolution1h)
	require.NoError(t, err)
	require.Empty(t, out)
}
