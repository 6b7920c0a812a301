package indexheader_test

import (
	"context"
	"os"
	"path/filepath"
	"testing"

	"github.com/stretchr/testify/require"

	"github.com/strata-io/strata/internal/store/indexheader"
)

// BenchmarkHeader measures Build (from an in-memory bucket) and NewReader
// for a block of 20k series, and reports the header size next to the
// index size.
func BenchmarkHeader(b *testing.B) {
	fx := newIndexFixture(b, 20_000)
	dst := filepath.Join(b.TempDir(), "h")
	ctx := context.Background()

	b.Run("Build", func(b *testing.B) {
		b.ReportAllocs()
		for b.Loop() {
			require.NoError(b, indexheader.Build(ctx, fx.bkt, fx.id, dst))
		}
		fi, err := os.Stat(dst)
		require.NoError(b, err)
		b.ReportMetric(float64(fi.Size()), "header-bytes")
		b.ReportMetric(float64(len(fx.data)), "index-bytes")
	})
	b.Run("NewReader", func(b *testing.B) {
		b.ReportAllocs()
		var size int64
		for b.Loop() {
			r, err := indexheader.NewReader(dst)
			require.NoError(b, err)
			size = r.Size()
			require.NoError(b, r.Close())
		}
		b.ReportMetric(float64(size), "mem-bytes")
	})
}
