package downsample

import (
	"testing"

	"github.com/prometheus/prometheus/tsdb/chunkenc"
	"github.com/stretchr/testify/require"
)

// BenchmarkDownsample aggregates one series of 48h scraped every 15s (11,520
// samples, read from XOR chunks) into 5m windows.
func BenchmarkDownsample(b *testing.B) {
	raw := rawChunks(b, rawSeries(0, 15_000, 48*240, nil))
	b.ReportAllocs()
	for b.Loop() {
		metas, err := Downsample(NewChunksIterator(raw), Resolution5m)
		if err != nil || len(metas) != 5 {
			b.Fatalf("got %d chunks, err %v", len(metas), err)
		}
	}
	b.ReportMetric(float64(48*240), "samples/op")
}

// BenchmarkAggrChunk encodes one 120-window chunk of five aggregates and
// decodes every aggregate of it.
func BenchmarkAggrChunk(b *testing.B) {
	metas, err := Downsample(listIterator(rawSeries(0, 15_000, 10*240, nil)), Resolution5m)
	require.NoError(b, err)
	require.Len(b, metas, 1)
	var parts [NumAggrTypes]chunkenc.Chunk
	for i, at := range AllAggrTypes {
		parts[i], err = metas[0].Chunk.(*AggrChunk).Get(at)
		require.NoError(b, err)
	}
	b.Run("encode", func(b *testing.B) {
		b.ReportAllocs()
		for b.Loop() {
			if _, err := EncodeAggrChunk(parts); err != nil {
				b.Fatal(err)
			}
		}
	})
	b.Run("decode", func(b *testing.B) {
		c := *metas[0].Chunk.(*AggrChunk)
		b.ReportAllocs()
		var it chunkenc.Iterator
		for b.Loop() {
			n := 0
			for _, at := range AllAggrTypes {
				chk, err := c.Get(at)
				if err != nil {
					b.Fatal(err)
				}
				it = chk.Iterator(it)
				for it.Next() != chunkenc.ValNone {
					n++
				}
			}
			if n != 5*120+2 {
				b.Fatalf("decoded %d samples", n)
			}
		}
	})
}
