package block_test

import (
	"bytes"
	"context"
	"crypto/rand"
	"io"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/oklog/ulid/v2"
	"github.com/prometheus/prometheus/tsdb"
	"github.com/stretchr/testify/require"
	"github.com/thanos-io/objstore"
	"github.com/thanos-io/objstore/providers/filesystem"
	"go.uber.org/goleak"

	"github.com/strata-io/strata/internal/block"
	"github.com/strata-io/strata/pkg/metadata"
)

func TestMain(m *testing.M) {
	goleak.VerifyTestMain(m)
}

const hour = int64(time.Hour / time.Millisecond)

// ulidAt returns a new ULID whose time is t.
func ulidAt(t time.Time) ulid.ULID {
	return ulid.MustNew(ulid.Timestamp(t), rand.Reader)
}

// putBlock uploads a small fake block (index, one segment, meta.json last)
// of stream lbls (name, value, ...) over [minT, maxT) at resolution res.
func putBlock(t *testing.T, bkt objstore.Bucket, minT, maxT, res int64, lbls ...string) ulid.ULID {
	t.Helper()
	id := ulid.Make()
	ls := map[string]string{}
	for i := 0; i < len(lbls); i += 2 {
		ls[lbls[i]] = lbls[i+1]
	}
	m := metadata.Meta{
		BlockMeta: tsdb.BlockMeta{ULID: id, MinTime: minT, MaxTime: maxT, Version: metadata.TSDBVersion1,
			Compaction: tsdb.BlockMetaCompaction{Level: 1, Sources: []ulid.ULID{id}}},
		Thanos: metadata.ThanosMeta{Version: metadata.ThanosVersion1, Labels: ls,
			Downsample: metadata.ThanosDownsample{Resolution: res}, Source: metadata.SidecarSource},
	}
	b, err := m.Marshal()
	require.NoError(t, err)
	ctx := context.Background()
	require.NoError(t, bkt.Upload(ctx, id.String()+"/chunks/000001", strings.NewReader("chunks")))
	require.NoError(t, bkt.Upload(ctx, id.String()+"/index", strings.NewReader("index")))
	require.NoError(t, bkt.Upload(ctx, id.String()+"/meta.json", bytes.NewReader(b)))
	return id
}

// flatBucket is a bucket that cannot list recursively nor report
// last-modified times while listing, as some providers.
type flatBucket struct{ objstore.Bucket }

func (flatBucket) SupportedIterOptions() []objstore.IterOptionType { return nil }

// countingBucket counts Gets per object and the most Gets running at once.
type countingBucket struct {
	objstore.Bucket
	delay time.Duration

	mu               sync.Mutex
	gets             map[string]int
	running, maxRuns int
}

func newCountingBucket(bkt objstore.Bucket) *countingBucket {
	return &countingBucket{Bucket: bkt, gets: map[string]int{}}
}

func (b *countingBucket) Get(ctx context.Context, name string) (io.ReadCloser, error) {
	b.mu.Lock()
	b.gets[name]++
	b.running++
	b.maxRuns = max(b.maxRuns, b.running)
	b.mu.Unlock()
	time.Sleep(b.delay)
	defer func() {
		b.mu.Lock()
		b.running--
		b.mu.Unlock()
	}()
	return b.Bucket.Get(ctx, name)
}

func (b *countingBucket) count(name string) int {
	b.mu.Lock()
	defer b.mu.Unlock()
	return b.gets[name]
}

func TestScanReadsEveryBlockDirectory(t *testing.T) {
	for _, tc := range []struct {
		name string
		wrap func(objstore.Bucket) objstore.Bucket
	}{
		{"recursive listing", func(b objstore.Bucket) objstore.Bucket { return b }},
		{"one listing per directory", func(b objstore.Bucket) objstore.Bucket { return flatBucket{b} }},
	} {
		t.Run(tc.name, func(t *testing.T) {
			ctx := context.Background()
			mem := objstore.NewInMemBucket()
			a := putBlock(t, mem, 0, 2*hour, 0, "cluster", "a")
			b5m := putBlock(t, mem, 0, 48*hour, metadata.Resolution5m, "cluster", "b")
			require.NoError(t, metadata.WriteMarker(ctx, mem, metadata.NewDeletionMark(a, time.Unix(100, 0), "replaced")))
			require.NoError(t, metadata.WriteMarker(ctx, mem, metadata.NewNoCompactMark(b5m, time.Unix(200, 0), metadata.ManualReason, "")))
			require.NoError(t, mem.Upload(ctx, metadata.MarkerPath(b5m, metadata.NoDownsampleMarkFilename), strings.NewReader("{not json")))
			partial := ulid.Make()
			require.NoError(t, mem.Upload(ctx, partial.String()+"/chunks/000001", strings.NewReader("x")))
			corrupt := ulid.Make()
			require.NoError(t, mem.Upload(ctx, corrupt.String()+"/meta.json", strings.NewReader("{")))
			require.NoError(t, mem.Upload(ctx, "debug/metas/x.json", strings.NewReader("{}")), "not a block directory")
			require.NoError(t, mem.Upload(ctx, "README", strings.NewReader("")), "not a block directory")

			blocks, err := block.NewInventory(tc.wrap(mem), block.Config{}).Scan(ctx)
			require.NoError(t, err)
			byID := map[ulid.ULID]*block.Block{}
			var ids []ulid.ULID
			for _, b := range blocks {
				byID[b.ID] = b
				ids = append(ids, b.ID)
			}
			require.Len(t, blocks, 4)
			require.IsIncreasing(t, ulidStrings(ids), "sorted by ULID")

			ba := byID[a]
			require.Equal(t, a, ba.Meta.ULID)
			require.NoError(t, ba.MetaErr)
			require.False(t, ba.Partial())
			require.Equal(t, []string{"chunks/000001", "deletion-mark.json", "index", "meta.json"}, ba.Objects)
			require.Equal(t, `{cluster="a"}`, ba.Stream())
			require.NotNil(t, ba.Deletion)
			require.Equal(t, "replaced", ba.Deletion.Details)
			require.Nil(t, ba.NoCompact)
			require.Equal(t, []string{metadata.DeletionMarkFilename}, ba.MarkerNames())

			bb := byID[b5m]
			require.Equal(t, metadata.Resolution5m, bb.Meta.Thanos.Downsample.Resolution)
			require.NotNil(t, bb.NoCompact)
			require.Nil(t, bb.NoDownsample, "an unreadable marker is not set")
			require.Len(t, bb.MarkerErrs, 1)
			require.Equal(t, metadata.NoDownsampleMarkFilename, bb.MarkerErrs[0].Filename)
			require.ErrorIs(t, bb.MarkerErrs[0], metadata.ErrMarkerInvalid)

			bp := byID[partial]
			require.True(t, bp.Partial())
			require.Nil(t, bp.Meta)
			require.Equal(t, []string{"chunks/000001"}, bp.Objects)

			bc := byID[corrupt]
			require.False(t, bc.Partial(), "a bad meta.json is not a partial upload")
			require.Nil(t, bc.Meta)
			require.ErrorIs(t, bc.MetaErr, metadata.ErrMetaCorrupt)

			block.SortBlocks(blocks)
			require.Equal(t, []ulid.ULID{a, b5m}, []ulid.ULID{blocks[0].ID, blocks[1].ID}, "by stream, blocks without meta last")
			require.Nil(t, blocks[2].Meta)
			require.Nil(t, blocks[3].Meta)
		})
	}
}

func ulidStrings(ids []ulid.ULID) []string {
	out := make([]string, len(ids))
	for i, id := range ids {
		out[i] = id.String()
	}
	return out
}

func TestListIDs(t *testing.T) {
	ctx := context.Background()
	bkt := objstore.NewInMemBucket()
	a := putBlock(t, bkt, 0, hour, 0)
	b := putBlock(t, bkt, 0, hour, 0)
	require.NoError(t, bkt.Upload(ctx, "not-a-ulid/meta.json", strings.NewReader("{}")))
	ids, err := block.ListIDs(ctx, bkt)
	require.NoError(t, err)
	want := []ulid.ULID{a, b}
	if b.Compare(a) < 0 {
		want = []ulid.ULID{b, a}
	}
	require.Equal(t, want, ids)
}

// TestPartialUploadAge: a directory without meta.json is partial, and its
// last modification is its newest object's, whether the provider reports
// it while listing or not.
func TestPartialUploadAge(t *testing.T) {
	ctx := context.Background()
	dir := t.TempDir()
	fs, err := filesystem.NewBucket(dir)
	require.NoError(t, err)
	now := time.Now().Truncate(time.Second)
	old := ulidAt(now.Add(-100 * time.Hour))
	// An old block being uploaded now: its ULID is old, its newest object
	// 10 minutes old; an abandoned one: everything 50 hours old.
	uploading, abandoned := old, ulidAt(now.Add(-100*time.Hour))
	for _, o := range []struct {
		name string
		age  time.Duration
	}{
		{uploading.String() + "/chunks/000001", 3 * time.Hour},
		{uploading.String() + "/chunks/000002", 10 * time.Minute},
		{abandoned.String() + "/chunks/000001", 50 * time.Hour},
		{abandoned.String() + "/index", 51 * time.Hour},
	} {
		require.NoError(t, fs.Upload(ctx, o.name, strings.NewReader("x")))
		mt := now.Add(-o.age)
		require.NoError(t, os.Chtimes(filepath.Join(dir, filepath.FromSlash(o.name)), mt, mt))
	}
	for _, tc := range []struct {
		name       string
		bkt        objstore.Bucket
		fromListig bool
	}{
		{"reported by the listing", fs, true},
		{"from the objects' attributes", flatBucket{fs}, false},
	} {
		t.Run(tc.name, func(t *testing.T) {
			inv := block.NewInventory(tc.bkt, block.Config{})
			blocks, err := inv.Scan(ctx)
			require.NoError(t, err)
			require.Len(t, blocks, 2)
			got := map[ulid.ULID]time.Duration{}
			for _, b := range blocks {
				require.True(t, b.Partial())
				require.Equal(t, tc.fromListig, !b.Newest.IsZero())
				last, err := inv.LastModified(ctx, b)
				require.NoError(t, err)
				got[b.ID] = now.Sub(last)
			}
			require.Equal(t, map[ulid.ULID]time.Duration{uploading: 10 * time.Minute, abandoned: 50 * time.Hour}, got)
		})
	}
}

func TestMetaIsReadOnceAndMarkersWhenRewritten(t *testing.T) {
	ctx := context.Background()
	bkt := newCountingBucket(objstore.NewInMemBucket())
	id := putBlock(t, bkt, 0, 2*hour, 0, "cluster", "a")
	inv := block.NewInventory(bkt, block.Config{})
	metaName := id.String() + "/meta.json"
	markName := metadata.MarkerPath(id, metadata.NoCompactMarkFilename)

	require.NoError(t, metadata.WriteMarker(ctx, bkt, metadata.NewNoCompactMark(id, time.Unix(100, 0), metadata.ManualReason, "first")))
	for range 3 {
		blocks, err := inv.Scan(ctx)
		require.NoError(t, err)
		require.Equal(t, "first", blocks[0].NoCompact.Details)
	}
	require.Equal(t, 1, bkt.count(metaName), "meta.json never changes: read once")
	require.Equal(t, 1, bkt.count(markName), "an unchanged marker is read once")

	time.Sleep(10 * time.Millisecond) // a later last-modified time
	require.NoError(t, metadata.WriteMarker(ctx, bkt, metadata.NewNoCompactMark(id, time.Unix(200, 0), metadata.ManualReason, "second")))
	blocks, err := inv.Scan(ctx)
	require.NoError(t, err)
	require.Equal(t, "second", blocks[0].NoCompact.Details, "a rewritten marker is read again")

	b, err := inv.Read(ctx, id)
	require.NoError(t, err)
	require.Equal(t, "second", b.NoCompact.Details)
	require.Equal(t, 1, bkt.count(metaName))

	// Remembered metas and markers are not read.
	other := ulid.Make()
	m := &metadata.Meta{BlockMeta: tsdb.BlockMeta{ULID: other, MinTime: 0, MaxTime: hour, Version: metadata.TSDBVersion1},
		Thanos: metadata.ThanosMeta{Version: metadata.ThanosVersion1}}
	mb, err := m.Marshal()
	require.NoError(t, err)
	require.NoError(t, bkt.Upload(ctx, other.String()+"/meta.json", bytes.NewReader(mb)))
	mark := metadata.NewDeletionMark(other, time.Unix(300, 0), "")
	require.NoError(t, metadata.WriteMarker(ctx, bkt, mark))
	inv.RememberMeta(m)
	inv.RememberMarker(mark)
	blocks, err = inv.Scan(ctx)
	require.NoError(t, err)
	require.Len(t, blocks, 2)
	require.Zero(t, bkt.count(other.String()+"/meta.json"))
	require.Zero(t, bkt.count(metadata.MarkerPath(other, metadata.DeletionMarkFilename)))

	// A block deleted and its ULID reused (never in practice) is read again:
	// the cache forgets what the listing no longer shows.
	require.NoError(t, bkt.Delete(ctx, metaName))
	blocks, err = inv.Scan(ctx)
	require.NoError(t, err)
	require.True(t, blocks[0].Partial() || blocks[1].Partial())
	putMeta := func() {
		m := &metadata.Meta{BlockMeta: tsdb.BlockMeta{ULID: id, MinTime: 0, MaxTime: 2 * hour, Version: metadata.TSDBVersion1},
			Thanos: metadata.ThanosMeta{Version: metadata.ThanosVersion1}}
		mb, err := m.Marshal()
		require.NoError(t, err)
		require.NoError(t, bkt.Upload(ctx, metaName, bytes.NewReader(mb)))
	}
	putMeta()
	_, err = inv.Scan(ctx)
	require.NoError(t, err)
	require.Equal(t, 2, bkt.count(metaName))
}

func TestScanConcurrencyAndProgress(t *testing.T) {
	bkt := newCountingBucket(objstore.NewInMemBucket())
	bkt.delay = 5 * time.Millisecond
	const n = 30
	for i := range n {
		putBlock(t, bkt, int64(i)*hour, int64(i+1)*hour, 0)
	}
	var (
		calls    int
		lastDone int
	)
	inv := block.NewInventory(bkt, block.Config{Concurrency: 3, Progress: func(done, total int) {
		calls++ // never called concurrently: the race detector would see it
		require.Equal(t, n, total)
		require.Equal(t, lastDone+1, done)
		lastDone = done
	}})
	blocks, err := inv.Scan(context.Background())
	require.NoError(t, err)
	require.Len(t, blocks, n)
	require.Equal(t, n, calls)
	require.LessOrEqual(t, bkt.maxRuns, 3, "at most Concurrency reads at once")
	require.Greater(t, bkt.maxRuns, 1, "reads do run concurrently")
}

func TestScanFailsOnlyWhenTheBucketCannotBeListed(t *testing.T) {
	bkt := objstore.NewInMemBucket()
	putBlock(t, bkt, 0, hour, 0)
	ctx, cancel := context.WithCancel(context.Background())
	cancel()
	_, err := block.NewInventory(bkt, block.Config{}).Scan(ctx)
	require.ErrorIs(t, err, context.Canceled)
	_, err = block.NewInventory(flatBucket{bkt}, block.Config{}).Scan(ctx)
	require.ErrorIs(t, err, context.Canceled)
}
