package downsample

import (
	"errors"
	"math"
	"math/rand/v2"
	"testing"

	"github.com/prometheus/prometheus/tsdb/chunkenc"
	"github.com/stretchr/testify/require"

	"github.com/strata-io/strata/internal/testkit"
)

// maxChunkSamples bounds the samples read from one section: a chunk stores
// its sample count in 16 bits, so an iterator that yields more loops.
const maxChunkSamples = math.MaxUint16 + 1

// fuzzSeedChunks returns aggregate chunks as the downsampler writes them
// from a realistic scrape: a counter with a reset and a gauge, 15s
// interval with jitter, at 5m resolution, plus chunks with absent and XOR2
// sections.
func fuzzSeedChunks(t testing.TB) [][]byte {
	rng := rand.New(rand.NewPCG(1, 2))
	var counter, gauge []fsample
	c := 0.0
	for i := range 240 {
		ts := int64(1_700_000_000_000 + i*15_000 + rng.IntN(300))
		c += float64(rng.IntN(50))
		if i == 150 {
			c = 3 // process restart
		}
		counter = append(counter, fsample{ts, c})
		gauge = append(gauge, fsample{ts, 40 + rng.NormFloat64()*5})
	}
	var out [][]byte
	for _, ss := range [][]fsample{counter, gauge} {
		metas, err := Downsample(listIterator(ss), 5*60*1000)
		require.NoError(t, err)
		for _, m := range metas {
			out = append(out, append([]byte(nil), m.Chunk.Bytes()...))
		}
	}
	x2 := chunkenc.NewXOR2Chunk()
	app, err := x2.Appender()
	require.NoError(t, err)
	app.Append(0, 1_700_000_300_000, 12.5)
	app.Append(0, 1_700_000_600_000, math.NaN())
	b, err := EncodeAggrChunk([NumAggrTypes]chunkenc.Chunk{nil, x2, nil, testkit.XORChunk(t, fsample{1_700_000_300_000, 7}), nil})
	require.NoError(t, err)
	return append(out, b, []byte{0, 0, 0, 0, 0})
}

// readSection returns the samples of aggregate at of c; ok is false when the
// section is absent, corrupt or its samples cannot be read.
func readSection(t *testing.T, c AggrChunk, at AggrType) (ss []fsample, enc chunkenc.Encoding, ok bool) {
	chk, err := c.Get(at)
	if err != nil {
		if !errors.Is(err, ErrAbsent) && !errors.Is(err, ErrCorrupt) {
			t.Fatalf("Get(%s) error %v wraps neither ErrAbsent nor ErrCorrupt", at, err)
		}
		return nil, 0, false
	}
	it := chk.Iterator(nil)
	for vt := it.Next(); vt != chunkenc.ValNone; vt = it.Next() {
		if vt != chunkenc.ValFloat {
			t.Fatalf("%s section of a float encoding yielded a %s sample", at, vt)
		}
		ts, v := it.At()
		ss = append(ss, fsample{ts, v})
		if len(ss) > maxChunkSamples {
			t.Fatalf("%s section yields more than %d samples", at, maxChunkSamples)
		}
	}
	return ss, chk.Encoding(), it.Err() == nil
}

// FuzzAggrChunk decodes arbitrary bytes as an aggregate chunk: no panic, no
// endless iterator, errors that wrap ErrAbsent or ErrCorrupt; and every
// chunk that decodes re-encodes to a chunk with the same samples.
func FuzzAggrChunk(f *testing.F) {
	for _, b := range fuzzSeedChunks(f) {
		f.Add(b)
	}
	f.Fuzz(func(t *testing.T, data []byte) {
		c := AggrChunk(data)
		valid := c.Validate() == nil
		_ = c.NumSamples()
		var (
			in      [NumAggrTypes]chunkenc.Chunk
			samples [NumAggrTypes][]fsample
			counter []chunkenc.Chunk
		)
		for i, at := range AllAggrTypes {
			ss, enc, ok := readSection(t, c, at)
			if !ok {
				continue
			}
			samples[i] = ss
			// Rebuild the section from its samples: the round trip below
			// compares samples, not bytes (uvarint lengths may be padded).
			var chk chunkenc.Chunk = chunkenc.NewXORChunk()
			if enc == chunkenc.EncXOR2 {
				chk = chunkenc.NewXOR2Chunk()
			}
			app, err := chk.Appender()
			require.NoError(t, err)
			for _, s := range ss {
				app.Append(0, s.t, s.v)
			}
			in[i] = chk
			if at == AggrCounter {
				counter = append(counter, chk)
			}
		}
		it := NewCounterIterator(counter)
		for n := 0; it.Next() != chunkenc.ValNone; n++ {
			require.Less(t, n, maxChunkSamples, "counter iterator does not end")
		}
		if !valid {
			return
		}
		b, err := EncodeAggrChunk(in)
		if err != nil {
			// Only a section with no samples cannot be written back.
			return
		}
		re := AggrChunk(b)
		require.NoError(t, re.Validate())
		for i, at := range AllAggrTypes {
			ss, _, ok := readSection(t, re, at)
			require.Equal(t, in[i] != nil, ok, "%s section present after the round trip", at)
			requireSameSamples(t, samples[i], ss)
		}
	})
}

// requireSameSamples compares samples bit for bit (NaN equals NaN).
func requireSameSamples(t *testing.T, want, got []fsample) {
	t.Helper()
	require.Len(t, got, len(want))
	for i := range want {
		require.Equal(t, want[i].t, got[i].t, "timestamp of sample %d", i)
		require.Equal(t, math.Float64bits(want[i].v), math.Float64bits(got[i].v), "value of sample %d: want %v, got %v", i, want[i].v, got[i].v)
	}
}
