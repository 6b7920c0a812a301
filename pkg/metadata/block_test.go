package metadata

import (
	"bytes"
	"context"
	"errors"
	"io"
	"log/slog"
	"os"
	"path"
	"path/filepath"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/oklog/ulid/v2"
	"github.com/prometheus/prometheus/model/labels"
	"github.com/prometheus/prometheus/storage"
	"github.com/prometheus/prometheus/tsdb"
	"github.com/prometheus/prometheus/tsdb/chunks"
	"github.com/stretchr/testify/require"
	"github.com/thanos-io/objstore"
	"github.com/thanos-io/objstore/providers/filesystem"
)

// recordingBucket records the order of uploads and deletes and fails the
// uploads that fail says to fail.
type recordingBucket struct {
	objstore.Bucket

	mu   sync.Mutex
	ops  []string
	fail func(name string) bool
}

func (b *recordingBucket) Upload(ctx context.Context, name string, r io.Reader, opts ...objstore.ObjectUploadOption) error {
	b.mu.Lock()
	b.ops = append(b.ops, "upload "+name)
	fail := b.fail != nil && b.fail(name)
	b.mu.Unlock()
	if fail {
		return errors.New("injected upload error")
	}
	return b.Bucket.Upload(ctx, name, r, opts...)
}

func (b *recordingBucket) Delete(ctx context.Context, name string) error {
	b.mu.Lock()
	b.ops = append(b.ops, "delete "+name)
	b.mu.Unlock()
	return b.Bucket.Delete(ctx, name)
}

func (b *recordingBucket) takeOps() []string {
	b.mu.Lock()
	defer b.mu.Unlock()
	ops := b.ops
	b.ops = nil
	return ops
}

// createBlock writes a real Prometheus block of n series with 200 samples
// each into dir and returns its directory.
func createBlock(t *testing.T, dir string, n int) string {
	t.Helper()
	var series []storage.Series
	for i := range n {
		ls := labels.FromStrings("__name__", "up", "instance", strings.Repeat("x", i+1))
		series = append(series, storage.NewListSeries(ls, chunks.GenerateSamples(0, 200)))
	}
	blockDir, err := tsdb.CreateBlock(series, dir, 0, slog.New(slog.DiscardHandler))
	require.NoError(t, err)
	return blockDir
}

func newBuckets(t *testing.T) map[string]objstore.Bucket {
	fs, err := filesystem.NewBucket(t.TempDir())
	require.NoError(t, err)
	return map[string]objstore.Bucket{"inmem": objstore.NewInMemBucket(), "filesystem": fs}
}

func uploadMeta(t *testing.T, blockDir string) *Meta {
	t.Helper()
	m, err := ReadFromDir(blockDir)
	require.NoError(t, err)
	m.Thanos.Labels = map[string]string{"cluster": "eu-1"}
	m.Thanos.Source = SidecarSource
	return m
}

func TestUploadOrderAndMeta(t *testing.T) {
	ctx := context.Background()
	logger := slog.New(slog.DiscardHandler)
	for name, inner := range newBuckets(t) {
		t.Run(name, func(t *testing.T) {
			blockDir := createBlock(t, t.TempDir(), 3)
			require.FileExists(t, filepath.Join(blockDir, TombstonesFilename))
			bkt := &recordingBucket{Bucket: inner}
			m := uploadMeta(t, blockDir)
			id := m.ULID

			require.NoError(t, Upload(ctx, logger, bkt, blockDir, m))
			require.Equal(t, []string{
				"upload " + id.String() + "/chunks/000001",
				"upload " + id.String() + "/index",
				"upload " + id.String() + "/meta.json",
			}, bkt.takeOps(), "chunks, then index, then meta.json; never tombstones")

			got, err := ReadFromBucket(ctx, bkt, id)
			require.NoError(t, err)
			chunkInfo, err := os.Stat(filepath.Join(blockDir, "chunks", "000001"))
			require.NoError(t, err)
			indexInfo, err := os.Stat(filepath.Join(blockDir, "index"))
			require.NoError(t, err)
			require.Equal(t, []File{
				{RelPath: "chunks/000001", SizeBytes: chunkInfo.Size()},
				{RelPath: "index", SizeBytes: indexInfo.Size()},
				{RelPath: "meta.json"},
			}, got.Thanos.Files)
			require.Equal(t, []string{"000001"}, got.Thanos.SegmentFiles)
			require.Equal(t, map[string]string{"cluster": "eu-1"}, got.Thanos.Labels)
			require.Equal(t, SidecarSource, got.Thanos.Source)
			require.Equal(t, ThanosVersion1, got.Thanos.Version)
			require.WithinDuration(t, time.Now(), got.Thanos.UploadTime, time.Minute)
			require.Equal(t, uint64(3), got.Stats.NumSeries)

			// The local block is untouched: Prometheus still owns it.
			local, err := ReadFromDir(blockDir)
			require.NoError(t, err)
			require.Empty(t, local.Thanos.Labels)
		})
	}
}

func TestUploadPartialThenRetry(t *testing.T) {
	ctx := context.Background()
	logger := slog.New(slog.DiscardHandler)
	for name, inner := range newBuckets(t) {
		t.Run(name, func(t *testing.T) {
			blockDir := createBlock(t, t.TempDir(), 2)
			failing := true
			bkt := &recordingBucket{Bucket: inner, fail: func(name string) bool {
				return failing && strings.Contains(name, "/chunks/")
			}}
			m := uploadMeta(t, blockDir)

			err := Upload(ctx, logger, bkt, blockDir, m)
			require.ErrorContains(t, err, "injected upload error")
			require.Equal(t, []string{"upload " + m.ULID.String() + "/chunks/000001"}, bkt.takeOps(), "stops at the first failure")
			ok, err := bkt.Exists(ctx, path.Join(m.ULID.String(), MetaFilename))
			require.NoError(t, err)
			require.False(t, ok, "a failed upload leaves no meta.json")
			_, err = ReadFromBucket(ctx, bkt, m.ULID)
			require.ErrorIs(t, err, ErrMetaNotFound)

			failing = false
			require.NoError(t, Upload(ctx, logger, bkt, blockDir, uploadMeta(t, blockDir)))
			_, err = ReadFromBucket(ctx, bkt, m.ULID)
			require.NoError(t, err)
		})
	}
}

func TestUploadIndexFailureLeavesNoMeta(t *testing.T) {
	ctx := context.Background()
	blockDir := createBlock(t, t.TempDir(), 2)
	bkt := &recordingBucket{Bucket: objstore.NewInMemBucket(), fail: func(name string) bool { return strings.HasSuffix(name, "/index") }}
	m := uploadMeta(t, blockDir)
	require.Error(t, Upload(ctx, slog.New(slog.DiscardHandler), bkt, blockDir, m))
	ok, err := bkt.Exists(ctx, path.Join(m.ULID.String(), MetaFilename))
	require.NoError(t, err)
	require.False(t, ok)
	ok, err = bkt.Exists(ctx, path.Join(m.ULID.String(), "chunks", "000001"))
	require.NoError(t, err)
	require.True(t, ok, "nothing is cleaned up; a retry overwrites")
}

func TestUploadRejects(t *testing.T) {
	ctx := context.Background()
	logger := slog.New(slog.DiscardHandler)
	blockDir := createBlock(t, t.TempDir(), 1)
	for _, tc := range []struct {
		name    string
		dir     func() string
		change  func(m *Meta)
		wantErr string
	}{
		{"no labels", func() string { return blockDir }, func(m *Meta) { m.Thanos.Labels = nil }, "has no external labels"},
		{"other dir", func() string { return t.TempDir() }, func(*Meta) {}, "does not match the ulid"},
		{"bad range", func() string { return blockDir }, func(m *Meta) { m.MaxTime = m.MinTime }, "is not before maxTime"},
		{"no index", func() string {
			dir := filepath.Join(t.TempDir(), filepath.Base(blockDir))
			require.NoError(t, os.MkdirAll(filepath.Join(dir, "chunks"), 0o755))
			return dir
		}, func(*Meta) {}, "index of block"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			bkt := &recordingBucket{Bucket: objstore.NewInMemBucket()}
			m := uploadMeta(t, blockDir)
			tc.change(m)
			require.ErrorContains(t, Upload(ctx, logger, bkt, tc.dir(), m), tc.wantErr)
			require.Empty(t, bkt.takeOps(), "nothing uploaded")
		})
	}
}

func TestDeleteOrder(t *testing.T) {
	ctx := context.Background()
	logger := slog.New(slog.DiscardHandler)
	for name, inner := range newBuckets(t) {
		t.Run(name, func(t *testing.T) {
			blockDir := createBlock(t, t.TempDir(), 2)
			bkt := &recordingBucket{Bucket: inner}
			m := uploadMeta(t, blockDir)
			id := m.ULID
			require.NoError(t, Upload(ctx, logger, bkt, blockDir, m))
			require.NoError(t, WriteMarker(ctx, bkt, NewNoCompactMark(id, time.Now(), ManualReason, "")))
			require.NoError(t, WriteMarker(ctx, bkt, NewDeletionMark(id, time.Now(), "")))
			// Another block in the bucket must survive.
			other := ulid.MustParse("01JC0N9Q5ZB9M6V3X1Y2Z3A4B5")
			require.NoError(t, bkt.Upload(ctx, other.String()+"/meta.json", strings.NewReader("{}")))
			bkt.takeOps()

			require.NoError(t, Delete(ctx, logger, bkt, id))
			ops := bkt.takeOps()
			require.Len(t, ops, 5)
			require.Equal(t, "delete "+id.String()+"/meta.json", ops[0])
			require.Equal(t, "delete "+id.String()+"/deletion-mark.json", ops[len(ops)-1])
			require.ElementsMatch(t, []string{
				"delete " + id.String() + "/chunks/000001",
				"delete " + id.String() + "/index",
				"delete " + id.String() + "/no-compact-mark.json",
			}, ops[1:4])

			var left []string
			require.NoError(t, bkt.Iter(ctx, "", func(name string) error { left = append(left, name); return nil }, objstore.WithRecursiveIter()))
			require.Equal(t, []string{other.String() + "/meta.json"}, left)

			// Deleting again (an interrupted delete retried) is fine.
			require.NoError(t, Delete(ctx, logger, bkt, id))
		})
	}
}

func TestDownloadRoundTrip(t *testing.T) {
	ctx := context.Background()
	logger := slog.New(slog.DiscardHandler)
	for name, bkt := range newBuckets(t) {
		t.Run(name, func(t *testing.T) {
			blockDir := createBlock(t, t.TempDir(), 4)
			m := uploadMeta(t, blockDir)
			require.NoError(t, Upload(ctx, logger, bkt, blockDir, m))
			require.NoError(t, WriteMarker(ctx, bkt, NewDeletionMark(m.ULID, time.Now(), "")))

			dst := filepath.Join(t.TempDir(), m.ULID.String())
			require.NoError(t, Download(ctx, logger, bkt, m.ULID, dst))
			for _, f := range []string{"index", "chunks/000001"} {
				want, err := os.ReadFile(filepath.Join(blockDir, f))
				require.NoError(t, err)
				got, err := os.ReadFile(filepath.Join(dst, f))
				require.NoError(t, err)
				require.True(t, bytes.Equal(want, got), f)
			}
			require.NoFileExists(t, filepath.Join(dst, DeletionMarkFilename), "markers stay in the bucket")
			got, err := ReadFromDir(dst)
			require.NoError(t, err)
			require.Equal(t, m.Thanos.Labels, got.Thanos.Labels)

			// Prometheus can open the downloaded block.
			b, err := tsdb.OpenBlock(logger, dst, nil, nil)
			require.NoError(t, err)
			require.Equal(t, uint64(4), b.Meta().Stats.NumSeries)
			require.NoError(t, b.Close())
		})
	}
}

func TestDownloadErrors(t *testing.T) {
	ctx := context.Background()
	logger := slog.New(slog.DiscardHandler)
	bkt := objstore.NewInMemBucket()
	blockDir := createBlock(t, t.TempDir(), 1)
	m := uploadMeta(t, blockDir)
	require.NoError(t, Upload(ctx, logger, bkt, blockDir, m))

	t.Run("partial upload", func(t *testing.T) {
		require.NoError(t, bkt.Delete(ctx, path.Join(m.ULID.String(), MetaFilename)))
		defer func() { require.NoError(t, Upload(ctx, logger, bkt, blockDir, uploadMeta(t, blockDir))) }()
		err := Download(ctx, logger, bkt, m.ULID, t.TempDir())
		require.ErrorIs(t, err, ErrMetaNotFound)
	})
	t.Run("truncated index", func(t *testing.T) {
		require.NoError(t, bkt.Upload(ctx, path.Join(m.ULID.String(), IndexFilename), strings.NewReader("short")))
		dst := t.TempDir()
		err := Download(ctx, logger, bkt, m.ULID, dst)
		require.ErrorContains(t, err, "has 5 bytes, meta.json says")
		require.NoFileExists(t, filepath.Join(dst, MetaFilename), "an interrupted download has no meta.json")
	})
}
