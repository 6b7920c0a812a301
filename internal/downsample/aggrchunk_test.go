package downsample

import (
	"errors"
	"path/filepath"
	"testing"

	"github.com/prometheus/prometheus/tsdb/chunkenc"
	"github.com/prometheus/prometheus/tsdb/chunks"
	"github.com/stretchr/testify/require"

	"github.com/strata-io/strata/internal/testkit"
	"github.com/strata-io/strata/pkg/storepb"
)

type fsample struct {
	t int64
	v float64
}

func (s fsample) T() int64   { return s.t }
func (s fsample) F() float64 { return s.v }

func samplesOf(t testing.TB, it chunkenc.Iterator) []fsample {
	t.Helper()
	var out []fsample
	for vt := it.Next(); vt != chunkenc.ValNone; vt = it.Next() {
		require.Equal(t, chunkenc.ValFloat, vt)
		ts, v := it.At()
		out = append(out, fsample{ts, v})
	}
	require.NoError(t, it.Err())
	return out
}

func TestAggrTypeMatchesStorepb(t *testing.T) {
	// The store gateway converts request aggregates with AggrType(a).
	for a, want := range map[storepb.Aggr]AggrType{
		storepb.Aggr_COUNT: AggrCount, storepb.Aggr_SUM: AggrSum, storepb.Aggr_MIN: AggrMin,
		storepb.Aggr_MAX: AggrMax, storepb.Aggr_COUNTER: AggrCounter,
	} {
		require.Equal(t, want, AggrType(a), a.String())
		require.True(t, AggrType(a).Valid())
	}
	require.False(t, AggrType(storepb.Aggr_RAW).Valid(), "raw is not an aggregate")
}

func TestEncodeAggrChunkRoundTrip(t *testing.T) {
	full := [NumAggrTypes][]fsample{
		{{10, 2}, {20, 3}},
		{{10, 5.5}, {20, -1}},
		{{10, -3}, {20, -7}},
		{{10, 8}, {20, 2}},
		{{1, 0}, {10, 4}, {20, 9}, {20, 6}},
	}
	for _, tc := range []struct {
		name    string
		present []bool
	}{
		{name: "all present", present: []bool{true, true, true, true, true}},
		{name: "only counter", present: []bool{false, false, false, false, true}},
		{name: "counter absent at the end", present: []bool{true, true, true, true, false}},
		{name: "min and max only", present: []bool{false, false, true, true, false}},
		{name: "all absent", present: []bool{false, false, false, false, false}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			var in [NumAggrTypes]chunkenc.Chunk
			for i, p := range tc.present {
				if p {
					in[i] = testkit.XORChunk(t, full[i]...)
				}
			}
			b, err := EncodeAggrChunk(in)
			require.NoError(t, err)
			c := AggrChunk(b)
			require.NoError(t, c.Validate())
			require.Equal(t, ChunkEncAggr, c.Encoding())
			for i, at := range AllAggrTypes {
				chk, err := c.Get(at)
				if !tc.present[i] {
					require.ErrorIs(t, err, ErrAbsent, at.String())
					require.ErrorIs(t, NewAggrIterator(c, at).Err(), ErrAbsent)
					continue
				}
				require.NoError(t, err, at.String())
				require.Equal(t, full[i], samplesOf(t, chk.Iterator(nil)), at.String())
				require.Equal(t, full[i], samplesOf(t, NewAggrIterator(c, at)), at.String())
			}
		})
	}
}

func TestAggrChunkXOR2Section(t *testing.T) {
	c := chunkenc.NewXOR2Chunk()
	app, err := c.Appender()
	require.NoError(t, err)
	app.Append(0, 5, 1.5)
	app.Append(0, 9, 2.5)
	b, err := EncodeAggrChunk([NumAggrTypes]chunkenc.Chunk{nil, c})
	require.NoError(t, err)
	require.NoError(t, AggrChunk(b).Validate())
	require.Equal(t, []fsample{{5, 1.5}, {9, 2.5}}, samplesOf(t, NewAggrIterator(AggrChunk(b), AggrSum)))
}

func TestAggrChunkCorrupt(t *testing.T) {
	in := [NumAggrTypes]chunkenc.Chunk{
		testkit.XORChunk(t, fsample{1, 1}), testkit.XORChunk(t, fsample{1, 2}), testkit.XORChunk(t, fsample{1, 3}),
		testkit.XORChunk(t, fsample{1, 4}), testkit.XORChunk(t, fsample{1, 5}, fsample{1, 5}),
	}
	good, err := EncodeAggrChunk(in)
	require.NoError(t, err)

	t.Run("every truncation is reported", func(t *testing.T) {
		for n := 0; n < len(good); n++ {
			c := AggrChunk(good[:n])
			require.ErrorIs(t, c.Validate(), ErrCorrupt, "prefix of %d bytes", n)
			_, err := c.Get(AggrCounter)
			require.ErrorIs(t, err, ErrCorrupt, "prefix of %d bytes", n)
		}
	})
	for _, tc := range []struct {
		name string
		data []byte
		aggr AggrType // section whose Get must fail
	}{
		{name: "length overflows", data: []byte{0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0x01}, aggr: AggrCount},
		{name: "length beyond the data", data: []byte{0x7f, byte(chunkenc.EncXOR), 0, 0}, aggr: AggrCount},
		{name: "histogram section", data: append([]byte{2, byte(chunkenc.EncHistogram), 0, 0}, 0, 0, 0, 0), aggr: AggrCount},
		{name: "nested aggregate section", data: append([]byte{0, 2, byte(ChunkEncAggr), 0, 0}, 0, 0, 0), aggr: AggrSum},
	} {
		t.Run(tc.name, func(t *testing.T) {
			c := AggrChunk(tc.data)
			require.ErrorIs(t, c.Validate(), ErrCorrupt)
			_, err := c.Get(tc.aggr)
			require.ErrorIs(t, err, ErrCorrupt)
			require.False(t, errors.Is(err, ErrAbsent))
		})
	}
	t.Run("trailing bytes", func(t *testing.T) {
		require.ErrorIs(t, AggrChunk(append(append([]byte{}, good...), 0)).Validate(), ErrCorrupt)
	})
	t.Run("invalid aggregate type", func(t *testing.T) {
		_, err := AggrChunk(good).Get(AggrType(0))
		require.ErrorContains(t, err, "out of range")
		_, err = AggrChunk(good).Get(AggrType(6))
		require.ErrorContains(t, err, "out of range")
	})
	t.Run("iterated as a plain chunk", func(t *testing.T) {
		c := AggrChunk(good)
		it := c.Iterator(nil)
		require.Equal(t, chunkenc.ValNone, it.Next())
		require.ErrorIs(t, it.Err(), ErrNotAggregate)
		_, err := c.Appender()
		require.Error(t, err)
	})
}

func TestEncodeAggrChunkRejects(t *testing.T) {
	h := chunkenc.NewHistogramChunk()
	_, err := EncodeAggrChunk([NumAggrTypes]chunkenc.Chunk{nil, h})
	require.ErrorContains(t, err, "sum aggregate")
	require.ErrorContains(t, err, "not a float chunk encoding")

	empty := chunkenc.NewXORChunk()
	empty.Reset(nil)
	_, err = EncodeAggrChunk([NumAggrTypes]chunkenc.Chunk{empty})
	require.ErrorContains(t, err, "pass nil")
}

// TestChunkSegmentRoundTrip writes aggregate chunks into a block's chunk
// segment with Prometheus' chunks.Writer and reads them back with its Reader:
// the writer stores 0xff and the payload as is; the reader needs NewPool.
func TestChunkSegmentRoundTrip(t *testing.T) {
	raw := rawSeries(0, 15_000, 6*3600/15, nil) // 6h at 15s
	metas, err := Downsample(listIterator(raw), Resolution5m)
	require.NoError(t, err)
	require.Len(t, metas, 1)
	plain := chunks.Meta{MinTime: 0, MaxTime: 10, Chunk: testkit.XORChunk(t, fsample{0, 1}, fsample{10, 2})}
	metas = append(metas, plain)

	dir := filepath.Join(t.TempDir(), "chunks")
	w, err := chunks.NewWriter(dir)
	require.NoError(t, err)
	require.NoError(t, w.WriteChunks(metas...))
	require.NoError(t, w.Close())

	t.Run("with NewPool", func(t *testing.T) {
		r, err := chunks.NewDirReader(dir, NewPool())
		require.NoError(t, err)
		defer func() { require.NoError(t, r.Close()) }()

		got, _, err := r.ChunkOrIterable(metas[0])
		require.NoError(t, err)
		require.Equal(t, ChunkEncAggr, got.Encoding())
		ac, ok := got.(*AggrChunk)
		require.True(t, ok, "pool returns %T", got)
		require.Equal(t, metas[0].Chunk.Bytes(), ac.Bytes())
		require.Equal(t, 6*60/5, ac.NumSamples(), "one count per 5m window")
		cnt, err := ac.Get(AggrCount)
		require.NoError(t, err)
		for _, s := range samplesOf(t, cnt.Iterator(nil)) {
			require.Equal(t, 20.0, s.v, "20 raw samples per 5m window at 15s")
		}

		got, _, err = r.ChunkOrIterable(metas[1])
		require.NoError(t, err)
		require.Equal(t, chunkenc.EncXOR, got.Encoding())
		require.Equal(t, []fsample{{0, 1}, {10, 2}}, samplesOf(t, got.Iterator(nil)))
	})
	t.Run("with Prometheus' default pool", func(t *testing.T) {
		r, err := chunks.NewDirReader(dir, nil)
		require.NoError(t, err)
		defer func() { require.NoError(t, r.Close()) }()
		_, _, err = r.ChunkOrIterable(metas[0])
		require.ErrorContains(t, err, "invalid chunk encoding")
	})
}
