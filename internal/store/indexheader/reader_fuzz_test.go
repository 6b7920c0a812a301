package indexheader

import (
	"bytes"
	"context"
	"encoding/binary"
	"errors"
	"fmt"
	"hash/crc32"
	"log/slog"
	"os"
	"path/filepath"
	"runtime"
	"testing"

	"github.com/oklog/ulid/v2"
	"github.com/prometheus/common/model"
	"github.com/prometheus/prometheus/model/labels"
	"github.com/prometheus/prometheus/storage"
	"github.com/prometheus/prometheus/tsdb"
	"github.com/prometheus/prometheus/tsdb/chunks"
	"github.com/stretchr/testify/require"
	"github.com/thanos-io/objstore"
)

// fuzzIndex returns the index of a small block as Prometheus writes it:
// node-exporter-like series of two HA replicas, a label only some series
// have, a non-ASCII value.
func fuzzIndex(t testing.TB) []byte {
	t.Helper()
	var series []storage.Series
	for i := range 24 {
		b := labels.NewScratchBuilder(6)
		b.Add(model.MetricNameLabel, []string{"node_cpu_seconds_total", "node_load1", "up"}[i%3])
		b.Add("instance", fmt.Sprintf("10.0.%d.%d:9100", i%2, i%5))
		b.Add("replica", []string{"a", "b"}[i%2])
		if i%3 == 0 {
			b.Add("mode", []string{"idle", "user", "système"}[(i/3)%3])
		}
		b.Sort()
		series = append(series, storage.NewListSeries(b.Labels(), chunks.GenerateSamples(i*7, 3)))
	}
	dir, err := tsdb.CreateBlock(series, t.TempDir(), 0, slog.New(slog.DiscardHandler))
	require.NoError(t, err)
	data, err := os.ReadFile(filepath.Join(dir, "index"))
	require.NoError(t, err)
	return data
}

// buildFromIndex returns the header bytes Build makes from index data.
func buildFromIndex(data []byte) ([]byte, error) {
	ctx := context.Background()
	bkt := objstore.NewInMemBucket()
	id := ulid.MustParse("01JC0N9Q5ZB9M6V3X1Y2Z3A4B5")
	if err := bkt.Upload(ctx, IndexName(id), bytes.NewReader(data)); err != nil {
		return nil, err
	}
	return buildBytes(ctx, bkt, IndexName(id))
}

// fixSection rewrites the CRC32 of the length-prefixed section at off of b,
// if it lies within b, so that a mutation inside the section gets past its
// checksum and reaches the decoder.
func fixSection(b []byte, off uint64) {
	if off > uint64(len(b)) || uint64(len(b))-off < 8 {
		return
	}
	n := uint64(binary.BigEndian.Uint32(b[off:]))
	end := off + 4 + n
	if end+4 > uint64(len(b)) {
		return
	}
	binary.BigEndian.PutUint32(b[end:], crc32.Checksum(b[off+4:end], castagnoli))
}

// fixHeaderCRCs rewrites the checksums of a mutated header file: both
// sections and the file's own.
func fixHeaderCRCs(b []byte) {
	if len(b) < fixedLen+crc32.Size {
		return
	}
	body := b[:len(b)-crc32.Size]
	fixSection(body, fixedLen)
	if len(body) >= fixedLen+4 {
		fixSection(body, fixedLen+8+uint64(binary.BigEndian.Uint32(body[fixedLen:])))
	}
	binary.BigEndian.PutUint32(b[len(body):], crc32.Checksum(body, castagnoli))
}

// fixIndexCRCs rewrites the checksums of a mutated index: the symbol table,
// the postings offset table and the TOC.
func fixIndexCRCs(b []byte) {
	if len(b) < tocLen {
		return
	}
	toc := b[len(b)-tocLen:]
	fixSection(b[:len(b)-tocLen], binary.BigEndian.Uint64(toc[0:]))
	fixSection(b[:len(b)-tocLen], binary.BigEndian.Uint64(toc[40:]))
	binary.BigEndian.PutUint32(toc[48:], crc32.Checksum(toc[:48], castagnoli))
}

// allocated returns the bytes f allocates on the heap.
func allocated(f func()) uint64 {
	var before, after runtime.MemStats
	runtime.ReadMemStats(&before)
	f()
	runtime.ReadMemStats(&after)
	return after.TotalAlloc - before.TotalAlloc
}

// maxAlloc is the heap a reader may allocate for a file of n bytes: a few
// words per entry of its tables, never a size read from the file.
func maxAlloc(n int) uint64 { return 64*uint64(n) + 1<<20 }

// checkReader opens a header and reads everything it holds: a file that
// opens must answer every lookup its tables promise, with ranges inside the
// index it describes.
func checkReader(t *testing.T, b []byte) {
	var (
		r   *Reader
		err error
	)
	n := allocated(func() { r, err = newReader(b) })
	require.LessOrEqual(t, n, maxAlloc(len(b)), "opening a %d-byte header allocated %d bytes", len(b), n)
	if err != nil {
		require.True(t, errors.Is(err, ErrCorrupt), "error %v does not wrap ErrCorrupt", err)
		return
	}
	defer func() { require.NoError(t, r.Close()) }()

	for i := range min(r.numSymbols, 1<<16) {
		_, err := r.LookupSymbol(i)
		require.NoError(t, err, "symbol %d of %d", i, r.numSymbols)
	}
	_, err = r.LookupSymbol(r.numSymbols)
	require.ErrorIs(t, err, ErrNotFound)
	it := r.Symbols()
	for i := 0; it.Next(); i++ {
		require.Less(t, i, len(b), "symbol iterator does not end")
	}
	names, err := r.LabelNames()
	require.NoError(t, err)
	for _, name := range append(names, "") {
		values, err := r.LabelValues(name)
		require.NoError(t, err)
		if name == "" {
			// The all-postings list; a damaged header may lack it.
			values = nil
			if _, ok := r.postings[""]; ok {
				values = []string{""}
			}
		}
		for _, v := range values {
			rng, err := r.PostingsOffset(name, v)
			require.NoError(t, err, "label %q=%q listed but not found", name, v)
			require.Less(t, rng.Start, rng.End, "postings of %q=%q", name, v)
			require.GreaterOrEqual(t, rng.Start, int64(r.toc.Postings), "postings of %q=%q before the postings section", name, v)
			require.LessOrEqual(t, rng.End, r.IndexSize(), "postings of %q=%q beyond the index", name, v)
		}
	}
}

// FuzzReader opens mutated index-header files. With fix set the test
// rewrites the checksums after the mutation, so that the mutated tables
// reach the decoders. No input may panic, allocate more than a small
// multiple of the file size, or open with tables that point outside the
// index; corrupt input is an error wrapping ErrCorrupt.
func FuzzReader(f *testing.F) {
	h, err := buildFromIndex(fuzzIndex(f))
	require.NoError(f, err)
	f.Add(h, false)
	f.Add(h, true)
	f.Fuzz(func(t *testing.T, data []byte, fix bool) {
		if fix {
			fixHeaderCRCs(data)
		}
		checkReader(t, data)
	})
}

// FuzzBuild builds a header from a mutated index (checksums rewritten when
// fix is set) and opens it: no panic, no allocation beyond a small multiple
// of the index size, and a header Build accepts opens.
func FuzzBuild(f *testing.F) {
	idx := fuzzIndex(f)
	f.Add(idx, false)
	f.Add(idx, true)
	f.Fuzz(func(t *testing.T, data []byte, fix bool) {
		if fix {
			fixIndexCRCs(data)
		}
		var (
			h   []byte
			err error
		)
		n := allocated(func() { h, err = buildFromIndex(data) })
		// The in-memory bucket keeps a copy of the index.
		require.LessOrEqual(t, n, maxAlloc(len(data)), "building from a %d-byte index allocated %d bytes", len(data), n)
		if err != nil {
			return
		}
		checkReader(t, h)
	})
}
