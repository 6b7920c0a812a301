package indexheader_test

import (
	"bytes"
	"context"
	"fmt"
	"hash/crc32"
	"io"
	"log/slog"
	"os"
	"path/filepath"
	"sync"
	"testing"

	"github.com/oklog/ulid/v2"
	"github.com/prometheus/common/model"
	"github.com/prometheus/prometheus/model/labels"
	"github.com/prometheus/prometheus/storage"
	"github.com/prometheus/prometheus/tsdb"
	"github.com/prometheus/prometheus/tsdb/chunks"
	"github.com/prometheus/prometheus/tsdb/encoding"
	"github.com/prometheus/prometheus/tsdb/index"
	"github.com/stretchr/testify/require"
	"github.com/thanos-io/objstore"

	"github.com/strata-io/strata/internal/store/indexheader"
)

var castagnoli = crc32.MakeTable(crc32.Castagnoli)

// testSeries returns n series whose labels cover the cases a header must
// handle: a label with a value per series, labels with many and few values,
// a label only some series have, empty-looking and non-ASCII values.
func testSeries(n int) []storage.Series {
	series := make([]storage.Series, 0, n)
	for i := range n {
		b := labels.NewScratchBuilder(6)
		b.Add(model.MetricNameLabel, fmt.Sprintf("metric_%d", i%7))
		b.Add("instance", fmt.Sprintf("host-%03d:9100", i%150))
		b.Add("pod", fmt.Sprintf("pod-%06d", i))
		b.Add("zone", []string{"eu-1", "us-2", "ap-3"}[i%3])
		if i%4 == 0 {
			b.Add("path", fmt.Sprintf("/api/v1/ünïcode/%d", i%40))
		}
		b.Sort()
		series = append(series, storage.NewListSeries(b.Labels(), chunks.GenerateSamples(i, 2)))
	}
	return series
}

// indexFixture is a block index written by Prometheus and uploaded to an
// in-memory bucket.
type indexFixture struct {
	id   ulid.ULID
	path string // the index file on local disk
	data []byte // its contents
	bkt  objstore.Bucket
}

// newIndexFixture writes a block of n series with tsdb and uploads its index.
func newIndexFixture(t testing.TB, n int) indexFixture {
	t.Helper()
	dir, err := tsdb.CreateBlock(testSeries(n), t.TempDir(), 0, slog.New(slog.DiscardHandler))
	require.NoError(t, err)
	id, err := ulid.Parse(filepath.Base(dir))
	require.NoError(t, err)
	path := filepath.Join(dir, "index")
	data, err := os.ReadFile(path)
	require.NoError(t, err)
	bkt := objstore.NewInMemBucket()
	require.NoError(t, bkt.Upload(context.Background(), indexheader.IndexName(id), bytes.NewReader(data)))
	return indexFixture{id: id, path: path, data: data, bkt: bkt}
}

// countingBucket records the GETs made through it.
type countingBucket struct {
	objstore.BucketReader
	mu     sync.Mutex
	gets   int     // whole-object GETs
	ranges []int64 // lengths of ranged GETs
}

func (b *countingBucket) Get(ctx context.Context, name string) (io.ReadCloser, error) {
	b.mu.Lock()
	b.gets++
	b.mu.Unlock()
	return b.BucketReader.Get(ctx, name)
}

func (b *countingBucket) GetRange(ctx context.Context, name string, off, length int64) (io.ReadCloser, error) {
	b.mu.Lock()
	b.ranges = append(b.ranges, length)
	b.mu.Unlock()
	return b.BucketReader.GetRange(ctx, name, off, length)
}

func TestBuildAndRead(t *testing.T) {
	ctx := context.Background()
	for _, n := range []int{1, 300} {
		t.Run(fmt.Sprintf("%d series", n), func(t *testing.T) {
			fx := newIndexFixture(t, n)
			cb := &countingBucket{BucketReader: fx.bkt}
			dst := filepath.Join(t.TempDir(), "headers", fx.id.String())
			require.NoError(t, indexheader.Build(ctx, cb, fx.id, dst))

			// Only a few ranged GETs, none of the whole index.
			require.Zero(t, cb.gets, "whole-object GETs")
			require.Len(t, cb.ranges, 4, "ranged GETs: TOC, head, symbols, postings offset table")
			for _, l := range cb.ranges {
				require.Less(t, l, int64(len(fx.data)), "a GET read the whole index")
			}

			r, err := indexheader.NewReader(dst)
			require.NoError(t, err)
			t.Cleanup(func() { require.NoError(t, r.Close()) })
			ir, err := index.NewFileReader(fx.path, index.DecodePostingsRaw)
			require.NoError(t, err)
			t.Cleanup(func() { require.NoError(t, ir.Close()) })

			require.Equal(t, ir.Version(), r.IndexVersion())
			require.Equal(t, int64(len(fx.data)), r.IndexSize())
			fi, err := os.Stat(dst)
			require.NoError(t, err)
			require.Less(t, fi.Size(), int64(len(fx.data)), "header not smaller than the index")

			// Symbols: same list, same references.
			want := collect(t, ir.Symbols())
			require.Equal(t, want, collect(t, r.Symbols()))
			for i, s := range want {
				got, err := r.LookupSymbol(uint32(i))
				require.NoError(t, err)
				require.Equal(t, s, got, "symbol %d", i)
			}
			_, err = r.LookupSymbol(uint32(len(want)))
			require.ErrorIs(t, err, indexheader.ErrNotFound)

			names, err := ir.LabelNames(ctx)
			require.NoError(t, err)
			gotNames, err := r.LabelNames()
			require.NoError(t, err)
			require.Equal(t, names, gotNames)
			require.Contains(t, names, "pod")

			// Every postings list decodes, at the returned range of the
			// original file, to what Prometheus reads.
			allName, allValue := index.AllPostingsKey()
			checkPostings(t, ir, r, fx.data, allName, allValue)
			lists := 1
			for _, name := range names {
				values, err := ir.SortedLabelValues(ctx, name, nil)
				require.NoError(t, err)
				got, err := r.LabelValues(name)
				require.NoError(t, err)
				require.Equal(t, values, got, "values of %s", name)
				for _, v := range values {
					checkPostings(t, ir, r, fx.data, name, v)
					lists++
				}
			}
			// The same lists as Prometheus' PostingsRanges, whose ranges
			// hold the list alone (no length, no CRC32).
			ranges, err := ir.PostingsRanges()
			require.NoError(t, err)
			require.Len(t, ranges, lists)
			for l, want := range ranges {
				got, err := r.PostingsOffset(l.Name, l.Value)
				require.NoError(t, err)
				require.Equal(t, want.Start-4, got.Start, "%s", l)
				require.GreaterOrEqual(t, got.End, want.End+4, "%s", l)
			}
			if n == 300 {
				require.Greater(t, lists, 300+150)
			}

			got, err := r.LabelValues("no_such_label")
			require.NoError(t, err)
			require.Empty(t, got)
			_, err = r.PostingsOffset("no_such_label", "x")
			require.ErrorIs(t, err, indexheader.ErrNotFound)
			_, err = r.PostingsOffset("zone", "eu-0")
			require.ErrorIs(t, err, indexheader.ErrNotFound)
			_, err = r.PostingsOffset("zone", "zz")
			require.ErrorIs(t, err, indexheader.ErrNotFound)
		})
	}
}

// checkPostings compares the postings list of name=value read at the range
// the header gives with Prometheus' own reader.
func checkPostings(t *testing.T, ir *index.Reader, r *indexheader.Reader, data []byte, name, value string) {
	t.Helper()
	rng, err := r.PostingsOffset(name, value)
	require.NoError(t, err, "%s=%q", name, value)
	require.Less(t, rng.Start, rng.End)
	require.LessOrEqual(t, rng.End, int64(len(data)))
	d := encoding.NewDecbufAt(byteSlice(data[rng.Start:rng.End]), 0, castagnoli)
	require.NoError(t, d.Err(), "%s=%q at %v", name, value, rng)
	require.LessOrEqual(t, rng.End-rng.Start-int64(d.Len())-8, int64(3), "range larger than list and padding")
	_, p, err := index.DecodePostingsRaw(d)
	require.NoError(t, err)
	got, err := index.ExpandPostings(p)
	require.NoError(t, err)
	wp, err := ir.Postings(context.Background(), name, value)
	require.NoError(t, err)
	want, err := index.ExpandPostings(wp)
	require.NoError(t, err)
	require.NotEmpty(t, want)
	require.Equal(t, want, got, "postings of %s=%q", name, value)
}

func collect(t *testing.T, it index.StringIter) []string {
	t.Helper()
	var out []string
	for it.Next() {
		out = append(out, it.At())
	}
	require.NoError(t, it.Err())
	return out
}

type byteSlice []byte

func (b byteSlice) Len() int                    { return len(b) }
func (b byteSlice) Range(start, end int) []byte { return b[start:end] }

func TestNewReaderRejectsCorruptFiles(t *testing.T) {
	fx := newIndexFixture(t, 50)
	good := filepath.Join(t.TempDir(), "good")
	require.NoError(t, indexheader.Build(context.Background(), fx.bkt, fx.id, good))
	data, err := os.ReadFile(good)
	require.NoError(t, err)

	flip := func(i int) []byte {
		b := bytes.Clone(data)
		b[i] ^= 0x40
		return b
	}
	for _, tc := range []struct {
		name string
		data []byte
		msg  string
	}{
		{"empty", nil, "truncated"},
		{"fixed part only", data[:70], "checksum"},
		{"last byte missing", data[:len(data)-1], "checksum"},
		{"byte in symbols flipped", flip(100), "checksum"},
		{"byte in postings table flipped", flip(len(data) - 20), "checksum"},
		{"magic", flip(0), "magic"},
		{"format version", flip(4), "format version"},
		{"trailing garbage", append(bytes.Clone(data), 1, 2, 3, 4), "checksum"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			p := filepath.Join(t.TempDir(), "h")
			require.NoError(t, os.WriteFile(p, tc.data, 0o644))
			r, err := indexheader.NewReader(p)
			require.ErrorIs(t, err, indexheader.ErrCorrupt)
			require.ErrorContains(t, err, tc.msg)
			require.ErrorContains(t, err, p, "error names the file")
			require.Nil(t, r)
		})
	}

	_, err = indexheader.NewReader(filepath.Join(t.TempDir(), "missing"))
	require.ErrorIs(t, err, os.ErrNotExist)
	require.NotErrorIs(t, err, indexheader.ErrCorrupt)
}

func TestBuildErrors(t *testing.T) {
	ctx := context.Background()
	fx := newIndexFixture(t, 10)
	put := func(data []byte) (objstore.Bucket, ulid.ULID) {
		bkt := objstore.NewInMemBucket()
		id := ulid.MustNew(1, nil)
		require.NoError(t, bkt.Upload(ctx, indexheader.IndexName(id), bytes.NewReader(data)))
		return bkt, id
	}
	flipped := func(i int) []byte {
		b := bytes.Clone(fx.data)
		b[i] ^= 0x40
		return b
	}
	for _, tc := range []struct {
		name string
		data []byte
		msg  string
	}{
		{"tiny", []byte("abc"), "too small for an index"},
		{"TOC damaged", flipped(len(fx.data) - 30), "checksum"},
		{"truncated", fx.data[:len(fx.data)-10], "checksum"},
		{"magic", flipped(1), "invalid magic"},
		{"symbol table damaged", flipped(12), "symbol table"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			bkt, id := put(tc.data)
			dst := filepath.Join(t.TempDir(), "h")
			err := indexheader.Build(ctx, bkt, id, dst)
			require.ErrorContains(t, err, tc.msg)
			require.ErrorContains(t, err, id.String())
			require.NoFileExists(t, dst, "no header left behind")
		})
	}

	t.Run("missing index", func(t *testing.T) {
		dst := filepath.Join(t.TempDir(), "h")
		err := indexheader.Build(ctx, objstore.NewInMemBucket(), fx.id, dst)
		require.Error(t, err)
		require.True(t, objstore.NewInMemBucket().IsObjNotFoundErr(err), "not-found must stay visible through the wrapping: %v", err)
		require.NoFileExists(t, dst)
	})
}

func TestClosedReader(t *testing.T) {
	fx := newIndexFixture(t, 5)
	dst := filepath.Join(t.TempDir(), "h")
	require.NoError(t, indexheader.Build(context.Background(), fx.bkt, fx.id, dst))
	r, err := indexheader.NewReader(dst)
	require.NoError(t, err)
	sym, err := r.LookupSymbol(1)
	require.NoError(t, err)
	require.NoError(t, r.Close())
	require.NoError(t, r.Close(), "Close is idempotent")
	require.NotEmpty(t, sym, "strings returned stay valid after Close")

	_, err = r.LookupSymbol(0)
	require.ErrorContains(t, err, "closed")
	_, err = r.PostingsOffset("pod", "pod-000000")
	require.ErrorContains(t, err, "closed")
	_, err = r.LabelNames()
	require.ErrorContains(t, err, "closed")
	_, err = r.LabelValues("pod")
	require.ErrorContains(t, err, "closed")
}
