package storepb

import (
	"math/rand/v2"
	"strings"
	"testing"

	"github.com/prometheus/prometheus/model/histogram"
	"github.com/prometheus/prometheus/tsdb/chunkenc"
)

// Truncated and random chunk bytes of every encoding a store may read give
// an error or samples, never a panic.
func TestChunkFromDataShortAndRandom(t *testing.T) {
	encs := []chunkenc.Encoding{
		chunkenc.EncXOR, chunkenc.EncHistogram, chunkenc.EncFloatHistogram,
		chunkenc.EncXOR2, chunkenc.EncHistogramST, chunkenc.EncFloatHistogramST,
	}
	rng := rand.New(rand.NewPCG(1, 2))
	for _, enc := range encs {
		for n := range 64 {
			for range 50 {
				data := make([]byte, n)
				for i := range data {
					data[i] = byte(rng.UintN(256))
				}
				chk, err := ChunkFromData(enc, data)
				if n < chunkHeaderLen(enc) {
					if err == nil {
						t.Fatalf("%s chunk of %d bytes accepted, want a truncation error", enc, n)
					}
					continue
				}
				if err != nil {
					continue
				}
				it := chk.Iterator(nil)
				for i := 0; it.Next() != chunkenc.ValNone && i < 1<<16; i++ {
				}
				if _, err := Reencode(chk); err == nil && it.Err() != nil {
					t.Fatalf("%s chunk %x: iterator fails (%v) but Reencode succeeded", enc, data, it.Err())
				}
			}
		}
	}
}

// Real histogram chunks pass the layout check and decode unchanged.
func TestChunkFromDataRealHistograms(t *testing.T) {
	h := &histogram.Histogram{
		Count: 12, ZeroCount: 2, ZeroThreshold: 0.001, Sum: 18.4, Schema: 1,
		PositiveSpans:   []histogram.Span{{Offset: 0, Length: 2}, {Offset: 1, Length: 2}},
		PositiveBuckets: []int64{1, 1, -1, 0},
		NegativeSpans:   []histogram.Span{{Offset: 0, Length: 2}},
		NegativeBuckets: []int64{2, -1},
	}
	for _, enc := range []chunkenc.Encoding{chunkenc.EncHistogram, chunkenc.EncFloatHistogram} {
		chk, err := chunkenc.NewEmptyChunk(enc)
		if err != nil {
			t.Fatal(err)
		}
		app, err := chk.Appender()
		if err != nil {
			t.Fatal(err)
		}
		for i := range 5 {
			hi := h.Copy()
			hi.Count += uint64(i)
			hi.PositiveBuckets[0] += int64(i)
			if enc == chunkenc.EncHistogram {
				_, _, app, err = app.AppendHistogram(nil, 0, int64(i)*15000, hi, false)
			} else {
				_, _, app, err = app.AppendFloatHistogram(nil, 0, int64(i)*15000, hi.ToFloat(nil), false)
			}
			if err != nil {
				t.Fatal(err)
			}
		}
		got, err := ChunkFromData(enc, chk.Bytes())
		if err != nil {
			t.Fatalf("%s: real chunk refused: %v", enc, err)
		}
		if got.NumSamples() != 5 {
			t.Fatalf("%s: %d samples, want 5", enc, got.NumSamples())
		}
		n := 0
		for it := SafeIterator(got); it.Next() != chunkenc.ValNone; n++ {
		}
		if n != 5 {
			t.Fatalf("%s: iterated %d samples, want 5", enc, n)
		}
	}
}

// A histogram chunk of a few bytes declaring thousands or millions of
// buckets is refused before Prometheus' decoder allocates them.
func TestChunkFromDataHugeLayout(t *testing.T) {
	for _, tc := range []struct {
		length uint64
		want   string
	}{
		{length: 1 << 24, want: "declares more than 2097152 buckets"},
		{length: 5000, want: "declares 5000 buckets but only 32 bits follow"},
	} {
		var w bitWriter
		w.put(0, 8)           // zero threshold 0
		w.put(0, 1)           // schema 0
		w.put(0b10, 2)        // one positive span
		w.put(1, 3)           //
		w.put(0b1111110, 7)   // its length, 25 bits wide
		w.put(tc.length, 25)  //
		w.put(0, 1)           // offset 0
		w.put(0, 1)           // no negative span
		w.put(0xffffffff, 32) // four bytes of "samples"
		data := append([]byte{0, 1, 0}, w.b...)
		for _, enc := range []chunkenc.Encoding{chunkenc.EncHistogram, chunkenc.EncFloatHistogram, chunkenc.EncHistogramST, chunkenc.EncFloatHistogramST} {
			_, err := ChunkFromData(enc, data)
			if err == nil || !strings.Contains(err.Error(), tc.want) {
				t.Fatalf("%s, span of %d: err = %v, want %q", enc, tc.length, err, tc.want)
			}
		}
	}
}

type bitWriter struct {
	b []byte
	n int
}

func (w *bitWriter) put(v uint64, bits int) {
	for i := bits - 1; i >= 0; i-- {
		if w.n%8 == 0 {
			w.b = append(w.b, 0)
		}
		w.b[len(w.b)-1] |= byte(v>>i&1) << (7 - w.n%8)
		w.n++
	}
}

// FuzzChunkFromData decodes arbitrary bytes as every chunk encoding a store
// or querier reads: an error or samples, never a panic or a huge allocation.
func FuzzChunkFromData(f *testing.F) {
	f.Add(uint8(chunkenc.EncXOR), []byte{0, 1, 0x80})
	f.Add(uint8(chunkenc.EncHistogram), []byte{0, 1, 0, 0, 0x20})
	f.Add(uint8(chunkenc.EncXOR2), []byte{0, 1, 0, 0})
	f.Fuzz(func(t *testing.T, e uint8, data []byte) {
		enc := chunkenc.Encoding(e%8 + 1)
		if !chunkenc.IsValidEncoding(enc) {
			return
		}
		chk, err := ChunkFromData(enc, data)
		if err != nil {
			return
		}
		it := SafeIterator(chk)
		for i := 0; i < 1<<16 && it.Next() != chunkenc.ValNone; i++ {
		}
		_, _ = Reencode(chk)
	})
}
