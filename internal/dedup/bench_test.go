package dedup

import (
	"testing"

	"github.com/prometheus/prometheus/tsdb/chunkenc"
	"github.com/stretchr/testify/require"
)

// xorChunk encodes n float samples every step ms from start, skipping the
// ones in [gapFrom, gapTo).
func xorChunk(b *testing.B, start, step int64, n int, gapFrom, gapTo int64) chunkenc.Chunk {
	c := chunkenc.NewXORChunk()
	app, err := c.Appender()
	require.NoError(b, err)
	for i := range n {
		t := start + int64(i)*step
		if t >= gapFrom && t < gapTo {
			continue
		}
		app.Append(0, t, float64(i))
	}
	return c
}

// BenchmarkDedupIterator deduplicates 2 replicas of 10k samples each (15s
// scrape interval, phase 5s, one 10-minute gap in the first replica).
func BenchmarkDedupIterator(b *testing.B) {
	const n = 10_000
	a := xorChunk(b, 0, 15_000, n, 30_000_000, 30_600_000)
	r := xorChunk(b, 5_000, 15_000, n, 0, 0)
	for _, isCounter := range []bool{false, true} {
		name := "gauge"
		if isCounter {
			name = "counter"
		}
		b.Run(name, func(b *testing.B) {
			b.ReportAllocs()
			var ia, ir chunkenc.Iterator
			it := NewSeriesIterator(isCounter)
			for b.Loop() {
				ia, ir = a.Iterator(ia), r.Iterator(ir)
				it.Reset(isCounter, ia, ir)
				got := 0
				for vt := it.Next(); vt != chunkenc.ValNone; vt = it.Next() {
					got++
				}
				if got < n {
					b.Fatalf("got %d samples, want at least %d", got, n)
				}
			}
		})
	}
}
