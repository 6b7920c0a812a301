package merge

import (
	"context"
	"encoding/binary"
	"hash/crc32"
	"os"
	"path/filepath"
	"testing"

	"github.com/oklog/ulid/v2"
	"github.com/prometheus/prometheus/model/labels"
	"github.com/prometheus/prometheus/tsdb/chunks"
	"github.com/prometheus/prometheus/tsdb/encoding"
	"github.com/prometheus/prometheus/tsdb/index"
	"github.com/stretchr/testify/require"

	"github.com/strata-io/strata/internal/downsample"
	"github.com/strata-io/strata/internal/testkit"
	"github.com/strata-io/strata/pkg/metadata"
)

// copyBlock copies the block in dir under parent (same ULID) so that a test
// can damage the copy.
func copyBlock(t *testing.T, dir, parent string) string {
	t.Helper()
	dst := filepath.Join(parent, filepath.Base(dir))
	require.NoError(t, os.CopyFS(dst, os.DirFS(dir)))
	return dst
}

// truncate cuts the file to a fraction of its size.
func truncate(t *testing.T, name string, keep float64) {
	t.Helper()
	fi, err := os.Stat(name)
	require.NoError(t, err)
	require.NoError(t, os.Truncate(name, int64(float64(fi.Size())*keep)))
}

// patchSeriesChunks rewrites in place the chunk metas of series lset in the
// index of the block in dir to what fix returns, without any validation. The
// new entry must not be longer than the old one (give fix fewer chunks).
func patchSeriesChunks(t *testing.T, dir string, lset labels.Labels, fix func([]chunks.Meta) []chunks.Meta) {
	t.Helper()
	name := filepath.Join(dir, metadata.IndexFilename)
	ir, err := index.NewFileReader(name, index.DecodePostingsRaw)
	require.NoError(t, err)
	var kvs []string
	lset.Range(func(l labels.Label) { kvs = append(kvs, l.Name, l.Value) })
	p, err := ir.Postings(context.Background(), kvs[0], kvs[1])
	require.NoError(t, err)
	p = index.Intersect(p, must(ir.Postings(context.Background(), kvs[2], kvs[3])))
	require.True(t, p.Next())
	ref := p.At()
	var (
		sb   labels.ScratchBuilder
		chks []chunks.Meta
	)
	require.NoError(t, ir.Series(ref, &sb, &chks))
	require.NoError(t, ir.Close())
	chks = fix(chks)

	b, err := os.ReadFile(name)
	require.NoError(t, err)
	off := int(ref) * 16
	l, n := binary.Uvarint(b[off:])
	data := b[off+n : off+n+int(l)]
	// Keep the label part, re-encode the chunk part.
	d := encoding.Decbuf{B: data}
	k := d.Uvarint()
	for range 2 * k {
		d.Uvarint()
	}
	labelLen := len(data) - d.Len()
	var e encoding.Encbuf
	e.PutUvarint(len(chks))
	e.PutVarint64(chks[0].MinTime)
	e.PutUvarint64(uint64(chks[0].MaxTime - chks[0].MinTime))
	e.PutUvarint64(uint64(chks[0].Ref))
	for i := 1; i < len(chks); i++ {
		e.PutUvarint64(uint64(chks[i].MinTime - chks[i-1].MaxTime))
		e.PutUvarint64(uint64(chks[i].MaxTime - chks[i].MinTime))
		e.PutVarint64(int64(chks[i].Ref) - int64(chks[i-1].Ref))
	}
	require.LessOrEqual(t, labelLen+e.Len(), len(data), "patched series entry must fit")
	tail := data[labelLen:]
	clear(tail)
	copy(tail, e.Get())
	binary.BigEndian.PutUint32(b[off+n+int(l):], crc32.Checksum(data, crc32.MakeTable(crc32.Castagnoli)))
	require.NoError(t, os.WriteFile(name, b, 0o666))
}

func must[T any](v T, err error) T {
	if err != nil {
		panic(err)
	}
	return v
}

func TestCheck(t *testing.T) {
	src := t.TempDir()
	var good []testSeries
	for i := range 20 {
		good = append(good, testSeries{series("up", i), floats(0, 2*hour, 15*sec, gauge(i))})
	}
	dirGood, metaGood := writeBlock(t, src, blockSpec{series: good, ext: stream})

	// Prometheus' index writer refuses chunks out of order, so valid blocks
	// are written and their index patched, as old Prometheus versions wrote.
	ss := floats(0, 60*minute, 15*sec, gauge(1))
	fourChunks := []chunkSeries{
		{lset: series("up", 0), chks: []chunks.Meta{testkit.XORChunkMeta(t, ss[:60]...)}},
		{lset: series("up", 1), chks: []chunks.Meta{testkit.XORChunkMeta(t, ss[:60]...), testkit.XORChunkMeta(t, ss[60:120]...), testkit.XORChunkMeta(t, ss[120:180]...), testkit.XORChunkMeta(t, ss[180:]...)}},
	}
	dirOverlap, metaOverlap := writeChunkBlock(t, src, fourChunks, 0, hour, blockSpec{ext: stream})
	patchSeriesChunks(t, dirOverlap, series("up", 1), func(c []chunks.Meta) []chunks.Meta {
		c[1].MinTime = c[0].MaxTime - 5*minute
		return c[:2]
	})
	dirReversed, metaReversed := writeChunkBlock(t, src, fourChunks, 0, hour, blockSpec{ext: stream})
	patchSeriesChunks(t, dirReversed, series("up", 1), func(c []chunks.Meta) []chunks.Meta {
		return []chunks.Meta{c[1], c[0]}
	})

	bad := downsample.AggrChunk([]byte{0x05, 0x01, 0x00}) // count section cut short
	badAggr := []chunkSeries{{lset: series("up", 1), chks: []chunks.Meta{{MinTime: 0, MaxTime: 10, Chunk: &bad}}}}
	dirBadAggr, metaBadAggr := writeChunkBlock(t, src, badAggr, 0, hour, blockSpec{ext: stream, resolution: metadata.Resolution5m})

	damaged := t.TempDir()
	dirTruncIndex := copyBlock(t, dirGood, filepath.Join(damaged, "index"))
	truncate(t, filepath.Join(dirTruncIndex, metadata.IndexFilename), 0.5)
	dirTruncChunks := copyBlock(t, dirGood, filepath.Join(damaged, "chunks"))
	truncate(t, filepath.Join(dirTruncChunks, metadata.ChunksDirname, "000001"), 0.7)
	dirNoIndex := copyBlock(t, dirGood, filepath.Join(damaged, "noindex"))
	require.NoError(t, os.Remove(filepath.Join(dirNoIndex, metadata.IndexFilename)))
	dirBadMeta := copyBlock(t, dirGood, filepath.Join(damaged, "meta"))
	require.NoError(t, os.WriteFile(filepath.Join(dirBadMeta, metadata.MetaFilename), []byte("{"), 0o666))

	for _, tc := range []struct {
		name   string
		dir    string
		id     ulid.ULID
		reason metadata.Reason // "" = no error
		msg    string
	}{
		{"good block", dirGood, metaGood.ULID, "", ""},
		{"overlapping chunks", dirOverlap, metaOverlap.ULID, metadata.OutOfOrderChunksReason, "overlaps the chunk"},
		{"chunks out of order", dirReversed, metaReversed.ULID, metadata.OutOfOrderChunksReason, "out of order"},
		{"truncated index", dirTruncIndex, metaGood.ULID, metadata.CorruptBlockReason, "open index"},
		{"truncated chunk segment", dirTruncChunks, metaGood.ULID, metadata.CorruptBlockReason, "chunk"},
		{"missing index", dirNoIndex, metaGood.ULID, metadata.CorruptBlockReason, "open index"},
		{"malformed aggregate chunk", dirBadAggr, metaBadAggr.ULID, metadata.CorruptBlockReason, "chunk [0, 10]"},
		{"unreadable meta.json", dirBadMeta, metaGood.ULID, metadata.CorruptBlockReason, "meta.json"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			err := newMerger(t, Config{}).Check(context.Background(), tc.dir)
			if tc.reason == "" {
				require.NoError(t, err)
				return
			}
			be, ok := asBlockError(err)
			require.True(t, ok, "error %v is a BlockError", err)
			require.Equal(t, tc.reason, be.NoCompactReason())
			require.Equal(t, tc.id, be.Block())
			require.ErrorContains(t, err, tc.msg)
		})
	}
}

func TestMergeCorruptSourceIsBlamed(t *testing.T) {
	src, dst := t.TempDir(), t.TempDir()
	dirA, _ := writeBlock(t, src, blockSpec{series: []testSeries{{series("up", 1), floats(0, hour, 15*sec, gauge(1))}}, ext: stream})
	dirB, metaB := writeBlock(t, src, blockSpec{series: []testSeries{{series("up", 1), floats(hour, 2*hour, 15*sec, gauge(1))}}, ext: stream})
	truncate(t, filepath.Join(dirB, metadata.IndexFilename), 0.5)
	_, err := newMerger(t, Config{}).Merge(context.Background(), []string{dirA, dirB}, dst, labels.FromMap(stream), 0)
	be, ok := asBlockError(err)
	require.True(t, ok, "error %v is a BlockError", err)
	require.Equal(t, metadata.CorruptBlockReason, be.NoCompactReason())
	require.Equal(t, metaB.ULID, be.Block())
}
