package merge

import (
	"context"
	"os"
	"sync"
	"testing"

	"github.com/prometheus/prometheus/model/labels"
	"github.com/stretchr/testify/require"
)

// haPair writes two replica blocks of n series x 2h at 15s, replica b
// scraping 5s later.
func haPair(t testing.TB, src string, n int) (string, string) {
	var a, b []testSeries
	for i := range n {
		a = append(a, testSeries{series("up", i), floats(0, 2*hour, 15*sec, gauge(i))})
		b = append(b, testSeries{series("up", i), floats(5*sec, 2*hour, 15*sec, gauge(i))})
	}
	dirA, _ := writeBlock(t, src, blockSpec{series: a, ext: replicaA})
	dirB, _ := writeBlock(t, src, blockSpec{series: b, ext: replicaB})
	return dirA, dirB
}

func TestMergeConcurrentCalls(t *testing.T) {
	m := newMerger(t, Config{Mode: DedupPenalty})
	ext := labels.FromStrings("cluster", "eu1")
	var wg sync.WaitGroup
	errs := make([]error, 3)
	samples := make([]uint64, 3)
	for i := range errs {
		dirA, dirB := haPair(t, t.TempDir(), 20)
		dst := t.TempDir()
		wg.Go(func() {
			meta, err := m.Merge(context.Background(), []string{dirA, dirB}, dst, ext, 0)
			errs[i] = err
			if err == nil {
				samples[i] = meta.Stats.NumSamples
			}
		})
	}
	wg.Wait()
	for i := range errs {
		require.NoError(t, errs[i])
		require.Equal(t, samples[0], samples[i], "the same input gives the same output")
	}
}

func BenchmarkMerge(b *testing.B) {
	for _, mode := range []Mode{Vertical, DedupPenalty} {
		b.Run(mode.String(), func(b *testing.B) {
			dirA, dirB := haPair(b, b.TempDir(), 200)
			m, err := New(Config{Mode: mode}, nil, nil)
			require.NoError(b, err)
			b.ResetTimer()
			var samples uint64
			for b.Loop() {
				dst := b.TempDir()
				meta, err := m.Merge(context.Background(), []string{dirA, dirB}, dst, labels.FromStrings("cluster", "eu1"), 0)
				require.NoError(b, err)
				samples += meta.Stats.NumSamples
				require.NoError(b, os.RemoveAll(dst))
			}
			b.ReportMetric(float64(samples)/b.Elapsed().Seconds(), "samples/s")
		})
	}
}
