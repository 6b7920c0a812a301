package compact

import (
	"bytes"
	"context"
	"crypto/rand"
	"fmt"
	"io"
	"log/slog"
	"os"
	"path/filepath"
	"strconv"
	"sync"
	"testing"
	"time"

	"github.com/oklog/ulid/v2"
	"github.com/prometheus/prometheus/model/labels"
	"github.com/prometheus/prometheus/tsdb"
	"github.com/prometheus/prometheus/tsdb/chunkenc"
	"github.com/stretchr/testify/require"
	"github.com/thanos-io/objstore"

	"github.com/strata-io/strata/pkg/metadata"
)

var discard = slog.New(slog.DiscardHandler)

// testMerger is a Merger on Prometheus' leveled compactor (vertical
// merge, identical samples kept once). It records how often each block
// was an input, to prove that no block is compacted twice.
type testMerger struct {
	mu     sync.Mutex
	inputs map[ulid.ULID]int
}

func newTestMerger() *testMerger { return &testMerger{inputs: map[ulid.ULID]int{}} }

type corruptError struct{ err error }

func (e corruptError) Error() string                    { return "block corrupt: " + e.err.Error() }
func (e corruptError) NoCompactReason() metadata.Reason { return metadata.CorruptBlockReason }

func (m *testMerger) Check(_ context.Context, dir string) error {
	b, err := tsdb.OpenBlock(discard, dir, nil, nil)
	if err != nil {
		return corruptError{err}
	}
	return b.Close()
}

func (m *testMerger) Merge(ctx context.Context, srcDirs []string, dstParent string, ext labels.Labels, resolution int64) (*metadata.Meta, error) {
	for _, d := range srcDirs {
		sm, err := metadata.ReadFromDir(d)
		if err != nil {
			return nil, err
		}
		m.mu.Lock()
		m.inputs[sm.ULID]++
		m.mu.Unlock()
	}
	comp, err := tsdb.NewLeveledCompactorWithOptions(ctx, nil, discard, []int64{1}, nil, tsdb.LeveledCompactorOptions{EnableOverlappingCompaction: true})
	if err != nil {
		return nil, err
	}
	ids, err := comp.Compact(dstParent, srcDirs, nil)
	if err != nil {
		return nil, err
	}
	if len(ids) == 0 {
		return &metadata.Meta{}, nil
	}
	dir := filepath.Join(dstParent, ids[0].String())
	meta, err := metadata.ReadFromDir(dir)
	if err != nil {
		return nil, err
	}
	meta.Thanos.SetLabels(ext)
	meta.Thanos.Downsample.Resolution = resolution
	meta.Thanos.Source = metadata.CompactorSource
	if meta.Thanos.Files, err = metadata.BlockFiles(dir); err != nil {
		return nil, err
	}
	meta.Thanos.SegmentFiles = metadata.SegmentFiles(meta.Thanos.Files)
	return meta, meta.WriteToDir(dir)
}

func (m *testMerger) maxInputs() int {
	m.mu.Lock()
	defer m.mu.Unlock()
	n := 0
	for _, c := range m.inputs {
		n = max(n, c)
	}
	return n
}

// copyDownsampler "downsamples" by copying the block under a new ULID
// with the target resolution: enough to test the orchestration (H3
// delivers the real one).
type copyDownsampler struct{}

func (copyDownsampler) Downsample(_ context.Context, srcDir, dstParent string, resolution int64) (*metadata.Meta, error) {
	meta, err := metadata.ReadFromDir(srcDir)
	if err != nil {
		return nil, err
	}
	src := meta.ULID
	meta.ULID = ulid.Make()
	meta.Compaction.Parents = []tsdb.BlockDesc{{ULID: src, MinTime: meta.MinTime, MaxTime: meta.MaxTime}}
	meta.Thanos.Downsample.Resolution = resolution
	meta.Thanos.Source = metadata.CompactorSource
	dst := filepath.Join(dstParent, meta.ULID.String())
	if err := os.CopyFS(dst, os.DirFS(srcDir)); err != nil {
		return nil, err
	}
	if meta.Thanos.Files, err = metadata.BlockFiles(dst); err != nil {
		return nil, err
	}
	meta.Thanos.SegmentFiles = metadata.SegmentFiles(meta.Thanos.Files)
	return meta, meta.WriteToDir(dst)
}

// uploadBlock writes a real TSDB block of series m{s="0".."n-1"} with one
// sample every step ms in [mint, maxt), value f(series, t) (so replicas
// given equal arguments hold identical samples), and uploads it with
// external labels ext.
func uploadBlock(t testing.TB, bkt objstore.Bucket, ext map[string]string, mint, maxt, step int64, nSeries int) *metadata.Meta {
	t.Helper()
	ctx := context.Background()
	dir := t.TempDir()
	w, err := tsdb.NewBlockWriter(discard, dir, 2*(maxt-mint))
	require.NoError(t, err)
	app := w.Appender(ctx)
	for s := range nSeries {
		lbls := labels.FromStrings("__name__", "m", "s", strconv.Itoa(s))
		for ts := mint; ts < maxt; ts += step {
			_, err := app.Append(0, lbls, ts, float64(ts)/1000+float64(s))
			require.NoError(t, err)
		}
	}
	require.NoError(t, app.Commit())
	id, err := w.Flush(ctx)
	require.NoError(t, err)
	require.NoError(t, w.Close())
	bdir := filepath.Join(dir, id.String())
	meta, err := metadata.ReadFromDir(bdir)
	require.NoError(t, err)
	meta.Thanos.Labels = ext
	meta.Thanos.Source = metadata.SidecarSource
	require.NoError(t, metadata.Upload(ctx, discard, bkt, bdir, meta))
	return meta
}

// digest is every sample of a set of blocks: stream/series/timestamp ->
// value, and how many samples were read in total (a duplicate sample
// counts twice in n but once in the map).
type digest struct {
	samples map[string]float64
	n       int
}

// bucketDigest reads every complete raw block of bkt not marked for
// deletion.
func bucketDigest(t testing.TB, bkt objstore.Bucket, replicaLabels []string) digest {
	t.Helper()
	ctx := context.Background()
	d := digest{samples: map[string]float64{}}
	for _, b := range liveBlocks(t, bkt) {
		if b.Meta.Thanos.Downsample.Resolution != metadata.ResolutionRaw {
			continue
		}
		stream := StreamLabels(b.Meta.Thanos.Labels, replicaLabels).String()
		dir := filepath.Join(t.TempDir(), b.Meta.ULID.String())
		require.NoError(t, metadata.Download(ctx, discard, bkt, b.Meta.ULID, dir))
		blk, err := tsdb.OpenBlock(discard, dir, nil, nil)
		require.NoError(t, err)
		q, err := tsdb.NewBlockQuerier(blk, b.Meta.MinTime, b.Meta.MaxTime)
		require.NoError(t, err)
		ss := q.Select(ctx, true, nil, labels.MustNewMatcher(labels.MatchRegexp, "__name__", ".+"))
		var it chunkenc.Iterator
		for ss.Next() {
			s := ss.At()
			it = s.Iterator(it)
			for it.Next() == chunkenc.ValFloat {
				ts, v := it.At()
				d.samples[fmt.Sprintf("%s%s@%d", stream, s.Labels(), ts)] = v
				d.n++
			}
			require.NoError(t, it.Err())
		}
		require.NoError(t, ss.Err())
		require.NoError(t, q.Close())
		require.NoError(t, blk.Close())
	}
	return d
}

// liveBlocks returns the complete blocks of bkt not marked for deletion.
func liveBlocks(t testing.TB, bkt objstore.Bucket) []*Block {
	t.Helper()
	c, err := New(Config{WorkDir: t.TempDir()}, bkt, nil, nil, discard, nil)
	require.NoError(t, err)
	st, err := c.sync(context.Background())
	require.NoError(t, err)
	var out []*Block
	for _, b := range st.blocks {
		if b.Deletion == nil {
			out = append(out, b)
		}
	}
	return out
}

// objectNames lists every object of bkt.
func objectNames(t testing.TB, bkt objstore.Bucket) []string {
	t.Helper()
	var names []string
	require.NoError(t, bkt.Iter(context.Background(), "", func(n string) error {
		names = append(names, n)
		return nil
	}, objstore.WithRecursiveIter()))
	return names
}

// truncateIndex damages a block's index in the bucket; with fixMeta, its
// meta.json is rewritten with the new size.
func truncateIndex(t testing.TB, bkt objstore.Bucket, id ulid.ULID, fixMeta bool) {
	t.Helper()
	ctx := context.Background()
	name := id.String() + "/index"
	rc, err := bkt.Get(ctx, name)
	require.NoError(t, err)
	b, err := io.ReadAll(rc)
	require.NoError(t, err)
	require.NoError(t, rc.Close())
	require.NoError(t, bkt.Upload(ctx, name, bytes.NewReader(b[:len(b)/2])))
	if !fixMeta {
		return
	}
	meta, err := metadata.ReadFromBucket(ctx, bkt, id)
	require.NoError(t, err)
	for i, f := range meta.Thanos.Files {
		if f.RelPath == metadata.IndexFilename {
			meta.Thanos.Files[i].SizeBytes = int64(len(b) / 2)
		}
	}
	mb, err := meta.Marshal()
	require.NoError(t, err)
	require.NoError(t, bkt.Upload(ctx, id.String()+"/meta.json", bytes.NewReader(mb)))
}

type ulidT = ulid.ULID

// ulidAt returns a new ULID with time t.
func ulidAt(t time.Time) ulid.ULID {
	return ulid.MustNew(ulid.Timestamp(t), rand.Reader)
}
