package dedup

import (
	"testing"

	"github.com/prometheus/prometheus/tsdb/chunkenc"

	"github.com/strata-io/strata/internal/testkit"
)

// gappedXOR encodes n float samples (values 0, 1, ...) every step ms from
// start, skipping the ones in [gapFrom, gapTo).
func gappedXOR(b *testing.B, start, step int64, n int, gapFrom, gapTo int64) chunkenc.Chunk {
	var ss []testkit.Sample
	for i := range n {
		t := start + int64(i)*step
		if t >= gapFrom && t < gapTo {
			continue
		}
		ss = append(ss, testkit.Sample{Time: t, Value: float64(i)})
	}
	return testkit.XORChunk(b, ss...)
}

// BenchmarkDedupIterator deduplicates 2 replicas of 10k samples each (15s
// scrape interval, phase 5s, one 10-minute gap in the first replica).
func BenchmarkDedupIterator(b *testing.B) {
	const n = 10_000
	a := gappedXOR(b, 0, 15_000, n, 30_000_000, 30_600_000)
	r := gappedXOR(b, 5_000, 15_000, n, 0, 0)
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
