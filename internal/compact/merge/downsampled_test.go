package merge

import (
	"context"
	"os"
	"path/filepath"
	"testing"

	"github.com/prometheus/prometheus/model/labels"
	"github.com/prometheus/prometheus/tsdb/chunks"
	"github.com/stretchr/testify/require"

	"github.com/strata-io/strata/internal/downsample"
	"github.com/strata-io/strata/internal/testkit"
	"github.com/strata-io/strata/pkg/metadata"
)

// aggrChunks downsamples float samples to 5m aggregate chunks.
func aggrChunks(t *testing.T, ss []smpl) []chunks.Meta {
	t.Helper()
	chks, err := downsample.Downsample(testkit.XORChunk(t, ss...).Iterator(nil), metadata.Resolution5m)
	require.NoError(t, err)
	require.NotEmpty(t, chks)
	return chks
}

// writeDownsampled writes a 5m block of the given series, each downsampled
// from floats(from, to, 15s, gauge(i)) (shifted by shift ms).
func writeDownsampled(t *testing.T, parent string, from, to, shift int64, ids ...int) (string, *metadata.Meta) {
	t.Helper()
	var cs []chunkSeries
	for _, i := range ids {
		cs = append(cs, chunkSeries{lset: series("up", i), chks: aggrChunks(t, floats(from+shift, to, 15*sec, gauge(i)))})
	}
	return writeChunkBlock(t, parent, cs, from, to, blockSpec{ext: stream, resolution: metadata.Resolution5m})
}

func TestMergeDownsampled(t *testing.T) {
	src := t.TempDir()
	dirD1, metaD1 := writeDownsampled(t, src, 0, 4*hour, 0, 1, 2)
	dirD2, metaD2 := writeDownsampled(t, src, 4*hour, 8*hour, 0, 1, 2, 3)
	// D1 again under another ULID: an identical replica.
	dirCopy, _ := writeDownsampled(t, src, 0, 4*hour, 0, 1, 2)
	// Same range as D1 but other data (scrapes 7s later).
	dirOther, metaOther := writeDownsampled(t, src, 0, 4*hour, 7*sec, 1, 2)
	ext := labels.FromMap(stream)

	for _, d := range []string{dirD1, dirD2} {
		require.NoError(t, newMerger(t, Config{}).Check(context.Background(), d), "a downsampled block passes Check")
	}

	t.Run("non-overlapping blocks: chunks copied", func(t *testing.T) {
		dst := t.TempDir()
		meta, err := newMerger(t, Config{}).Merge(context.Background(), []string{dirD1, dirD2}, dst, ext, metadata.Resolution5m)
		require.NoError(t, err)
		require.Equal(t, metadata.Resolution5m, meta.Thanos.Downsample.Resolution)
		require.Equal(t, metaD1.Stats.NumChunks+metaD2.Stats.NumChunks, meta.Stats.NumChunks)
		_, raw1 := readBlock(t, dirD1)
		_, raw2 := readBlock(t, dirD2)
		_, got := readBlock(t, filepath.Join(dst, meta.ULID.String()))
		for _, i := range []int{1, 2, 3} {
			k := series("up", i).String()
			require.Equal(t, append(raw1[k], raw2[k]...), got[k], k)
		}
	})
	t.Run("identical overlapping blocks: kept once", func(t *testing.T) {
		dst := t.TempDir()
		meta, err := newMerger(t, Config{Mode: DedupExact}).Merge(context.Background(), []string{dirD1, dirCopy}, dst, ext, metadata.Resolution5m)
		require.NoError(t, err)
		require.Equal(t, metaD1.Stats.NumChunks, meta.Stats.NumChunks)
		_, raw1 := readBlock(t, dirD1)
		_, got := readBlock(t, filepath.Join(dst, meta.ULID.String()))
		require.Equal(t, raw1, got)
	})
	for _, mode := range []Mode{Vertical, DedupPenalty, DedupExact} {
		t.Run("overlapping different data with "+mode.String(), func(t *testing.T) {
			dst := t.TempDir()
			before, err := os.ReadFile(filepath.Join(dirOther, metadata.MetaFilename))
			require.NoError(t, err)
			_, err = newMerger(t, Config{Mode: mode}).Merge(context.Background(), []string{dirD1, dirOther}, dst, ext, metadata.Resolution5m)
			be, ok := asBlockError(err)
			require.True(t, ok, "error %v is a BlockError", err)
			require.Equal(t, metadata.DownsampleVerticalCompactionReason, be.NoCompactReason())
			require.Equal(t, metaOther.ULID, be.Block(), "the block with the later chunk is blamed")
			entries, err := os.ReadDir(dst)
			require.NoError(t, err)
			require.Empty(t, entries, "no partial block left behind")
			after, err := os.ReadFile(filepath.Join(dirOther, metadata.MetaFilename))
			require.NoError(t, err)
			require.Equal(t, string(before), string(after), "the source's meta.json is put back after the failure")
		})
	}
}
