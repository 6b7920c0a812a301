package downsample

import (
	"testing"

	"github.com/prometheus/prometheus/model/histogram"

	"github.com/prometheus/prometheus/tsdb/chunkenc"
	"github.com/stretchr/testify/require"

	"github.com/strata-io/strata/internal/testkit"
)

func TestCounterIterator(t *testing.T) {
	// Raw counter 10 20 30 | 40 5 15 in chunk A (windows of 300ms ending at
	// 300 and 600, one reset inside), so A stores the first raw sample, the
	// window values made monotonic, and the last raw value repeated.
	chunkA := []fsample{{0, 10}, {300, 30}, {600, 55}, {600, 15}}
	for _, tc := range []struct {
		name   string
		chunks [][]fsample
		want   []fsample
	}{
		{
			name:   "one chunk",
			chunks: [][]fsample{chunkA},
			want:   []fsample{{0, 10}, {300, 30}, {600, 55}},
		},
		{
			name:   "reset between chunks",
			chunks: [][]fsample{chunkA, {{700, 3}, {900, 13}, {900, 13}}},
			// 3 after 15 is a reset: 3 more than 55, then 10 more.
			want: []fsample{{0, 10}, {300, 30}, {600, 55}, {900, 68}},
		},
		{
			name:   "no reset between chunks",
			chunks: [][]fsample{chunkA, {{700, 20}, {900, 30}, {900, 30}}},
			// 20 after 15: 5 more than 55, then 10 more.
			want: []fsample{{0, 10}, {300, 30}, {600, 55}, {900, 70}},
		},
		{
			name:   "reset across a gap keeps the chunk's first sample",
			chunks: [][]fsample{chunkA, {{5000, 3}, {5200, 13}, {5200, 13}}},
			want:   []fsample{{0, 10}, {300, 30}, {600, 55}, {5000, 58}, {5200, 68}},
		},
		{
			name:   "single-sample windows",
			chunks: [][]fsample{{{0, 1}, {0, 1}, {0, 1}}, {{300, 0.5}, {300, 0.5}, {300, 0.5}}},
			want:   []fsample{{0, 1}, {300, 1.5}},
		},
		{
			name:   "a repeated chunk is ignored",
			chunks: [][]fsample{chunkA, chunkA, {{700, 20}, {900, 30}, {900, 30}}},
			// The repeated A must not look like a reset (its first raw 10
			// is below A's last raw 15): same answer as without it.
			want: []fsample{{0, 10}, {300, 30}, {600, 55}, {900, 70}},
		},
	} {
		t.Run(tc.name, func(t *testing.T) {
			var chks []chunkenc.Chunk
			for _, c := range tc.chunks {
				chks = append(chks, testkit.XORChunk(t, c...))
			}
			require.Equal(t, tc.want, samplesOf(t, NewCounterIterator(chks)))

			for _, w := range tc.want {
				it := NewCounterIterator(chks)
				require.Equal(t, chunkenc.ValFloat, it.Seek(w.t-1))
				ts, v := it.At()
				require.Equal(t, w, fsample{ts, v}, "seek to %d", w.t-1)
				require.Equal(t, chunkenc.ValFloat, it.Seek(w.t-100), "seek backwards stays")
				require.Equal(t, w.t, it.AtT())
			}
			it := NewCounterIterator(chks)
			require.Equal(t, chunkenc.ValNone, it.Seek(tc.want[len(tc.want)-1].t+1))
			require.NoError(t, it.Err())
		})
	}
}

func TestCounterIteratorErrors(t *testing.T) {
	drain := func(it chunkenc.Iterator) error {
		for it.Next() != chunkenc.ValNone {
		}
		return it.Err()
	}
	h := chunkenc.NewHistogramChunk()
	app, err := h.Appender()
	require.NoError(t, err)
	_, _, _, err = app.AppendHistogram(nil, 0, 5, &histogram.Histogram{Count: 1, ZeroCount: 1, ZeroThreshold: 0.001}, false)
	require.NoError(t, err)
	require.ErrorContains(t, drain(NewCounterIterator([]chunkenc.Chunk{testkit.XORChunk(t, fsample{0, 1}), h})), "want floats")

	ac := AggrChunk{1, 2, 3}
	require.ErrorIs(t, drain(NewCounterIterator([]chunkenc.Chunk{&ac})), ErrNotAggregate, "a whole aggregate chunk is not a counter section")
}

func TestAverageIterator(t *testing.T) {
	sums := []chunkenc.Chunk{testkit.XORChunk(t, fsample{10, 30}, fsample{20, 9}), testkit.XORChunk(t, fsample{30, 5})}
	counts := []chunkenc.Chunk{testkit.XORChunk(t, fsample{10, 3}, fsample{20, 3}), testkit.XORChunk(t, fsample{30, 2})}
	require.Equal(t, []fsample{{10, 10}, {20, 3}, {30, 2.5}}, samplesOf(t, NewAverageIterator(sums, counts)))

	it := NewAverageIterator(sums, counts)
	require.Equal(t, chunkenc.ValFloat, it.Seek(15))
	ts, v := it.At()
	require.Equal(t, fsample{20, 3}, fsample{ts, v})

	for _, tc := range []struct {
		name        string
		sums, count []chunkenc.Chunk
		err         string
	}{
		{name: "chunk counts differ", sums: sums, count: counts[:1], err: "one count chunk per sum chunk"},
		{name: "timestamps differ", sums: sums[:1], count: []chunkenc.Chunk{testkit.XORChunk(t, fsample{10, 3}, fsample{21, 3})}, err: "disagree"},
		{name: "sample counts differ", sums: sums[:1], count: []chunkenc.Chunk{testkit.XORChunk(t, fsample{10, 3})}, err: "different numbers of samples"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			it := NewAverageIterator(tc.sums, tc.count)
			for it.Next() != chunkenc.ValNone {
			}
			require.ErrorContains(t, it.Err(), tc.err)
		})
	}
}

func TestChunksIteratorDropsRepeats(t *testing.T) {
	chks := []chunkenc.Chunk{testkit.XORChunk(t, fsample{1, 1}, fsample{2, 2}), testkit.XORChunk(t, fsample{2, 9}, fsample{3, 3}), testkit.XORChunk(t, fsample{1, 7})}
	require.Equal(t, []fsample{{1, 1}, {2, 2}, {3, 3}}, samplesOf(t, NewChunksIterator(chks)))
}
