package bucketstore_test

import (
	"bytes"
	"context"
	"io"
	"os"
	"path"
	"path/filepath"
	"strings"
	"sync"
	"testing"

	"github.com/oklog/ulid/v2"
	"github.com/prometheus/prometheus/model/labels"
	"github.com/prometheus/prometheus/storage"
	"github.com/prometheus/prometheus/tsdb"
	"github.com/stretchr/testify/require"
	"github.com/thanos-io/objstore"

	"github.com/strata-io/strata/internal/store/storetest"
	"github.com/strata-io/strata/pkg/metadata"
)

// writeBlocks appends series to a fresh TSDB in a test directory and cuts
// one block per range ([mint, maxt] in ms, inclusive, ascending) out of its
// head. It returns the block directories, valid until the test ends. tune
// adjusts the TSDB options (e.g. chunk encodings).
func writeBlocks(t testing.TB, series []storage.Series, ranges [][2]int64, tune func(*tsdb.Options)) []string {
	t.Helper()
	opts := tsdb.DefaultOptions()
	opts.RetentionDuration = 0
	opts.MinBlockDuration = 100 * 24 * 3600_000 // no compaction of its own
	opts.MaxBlockDuration = opts.MinBlockDuration
	if tune != nil {
		tune(opts)
	}
	db, err := tsdb.Open(t.TempDir(), nil, nil, opts, nil)
	require.NoError(t, err)
	t.Cleanup(func() { require.NoError(t, db.Close()) })
	require.NoError(t, storetest.AppendSeries(context.Background(), db, series))
	for _, r := range ranges {
		require.NoError(t, db.CompactHead(tsdb.NewRangeHead(db.Head(), r[0], r[1])))
	}
	var dirs []string
	for _, b := range db.Blocks() {
		dirs = append(dirs, b.Dir())
	}
	require.Len(t, dirs, len(ranges), "one block per range")
	return dirs
}

// uploadBlock uploads the block in dir to bkt with the layout of the spec:
// chunks, index, then meta.json last with a thanos section holding ext. It
// accepts empty external labels (metadata.Upload does not). It returns the
// meta.json written.
func uploadBlock(t testing.TB, bkt objstore.Bucket, dir string, ext labels.Labels, resolution int64) *metadata.Meta {
	t.Helper()
	return uploadBlockAs(t, bkt, dir, ulid.ULID{}, ext, resolution)
}

// uploadBlockAs is uploadBlock under the block ID id (zero: the block's
// own), so that one block can be uploaded as many.
func uploadBlockAs(t testing.TB, bkt objstore.Bucket, dir string, id ulid.ULID, ext labels.Labels, resolution int64) *metadata.Meta {
	t.Helper()
	ctx := context.Background()
	meta, err := metadata.ReadFromDir(dir)
	require.NoError(t, err)
	if id != (ulid.ULID{}) {
		meta.ULID = id
	}
	files, err := metadata.BlockFiles(dir)
	require.NoError(t, err)
	meta.Thanos.SetLabels(ext)
	meta.Thanos.Source = metadata.BucketUploadSource
	meta.Thanos.Files = files
	meta.Thanos.SegmentFiles = metadata.SegmentFiles(files)
	meta.Thanos.Downsample.Resolution = resolution
	name := meta.ULID.String()
	for _, f := range files[:len(files)-1] {
		b, err := os.ReadFile(filepath.Join(dir, filepath.FromSlash(f.RelPath)))
		require.NoError(t, err)
		require.NoError(t, bkt.Upload(ctx, path.Join(name, f.RelPath), bytes.NewReader(b)))
	}
	b, err := meta.Marshal()
	require.NoError(t, err)
	require.NoError(t, bkt.Upload(ctx, path.Join(name, metadata.MetaFilename), bytes.NewReader(b)))
	return meta
}

// countingBucket counts the reads of an in-memory bucket by kind and can be
// told to fail them.
type countingBucket struct {
	*objstore.InMemBucket

	mu sync.Mutex
	// gets and ranges are per object name; rangeBytes sums the lengths
	// asked for.
	gets, ranges map[string]int
	rangeLens    map[string][]int64
	failIter     bool
	failRange    func(name string) bool
}

func newCountingBucket() *countingBucket {
	return &countingBucket{
		InMemBucket: objstore.NewInMemBucket(),
		gets:        map[string]int{},
		ranges:      map[string]int{},
		rangeLens:   map[string][]int64{},
	}
}

func (b *countingBucket) Get(ctx context.Context, name string) (io.ReadCloser, error) {
	b.mu.Lock()
	b.gets[name]++
	b.mu.Unlock()
	return b.InMemBucket.Get(ctx, name)
}

func (b *countingBucket) GetRange(ctx context.Context, name string, off, length int64) (io.ReadCloser, error) {
	b.mu.Lock()
	b.ranges[name]++
	b.rangeLens[name] = append(b.rangeLens[name], length)
	fail := b.failRange != nil && b.failRange(name)
	b.mu.Unlock()
	if fail {
		return nil, errTest
	}
	return b.InMemBucket.GetRange(ctx, name, off, length)
}

func (b *countingBucket) Iter(ctx context.Context, dir string, f func(string) error, opts ...objstore.IterOption) error {
	b.mu.Lock()
	fail := b.failIter
	b.mu.Unlock()
	if fail {
		return errTest
	}
	return b.InMemBucket.Iter(ctx, dir, f, opts...)
}

func (b *countingBucket) IterWithAttributes(ctx context.Context, dir string, f func(objstore.IterObjectAttributes) error, opts ...objstore.IterOption) error {
	b.mu.Lock()
	fail := b.failIter
	b.mu.Unlock()
	if fail {
		return errTest
	}
	return b.InMemBucket.IterWithAttributes(ctx, dir, f, opts...)
}

// reset forgets the counts.
func (b *countingBucket) reset() {
	b.mu.Lock()
	defer b.mu.Unlock()
	b.gets, b.ranges, b.rangeLens = map[string]int{}, map[string]int{}, map[string][]int64{}
}

// count returns the Get and GetRange calls on objects whose name ends with
// suffix.
func (b *countingBucket) count(suffix string) (gets, ranges int) {
	b.mu.Lock()
	defer b.mu.Unlock()
	for n, c := range b.gets {
		if strings.HasSuffix(n, suffix) {
			gets += c
		}
	}
	for n, c := range b.ranges {
		if strings.HasSuffix(n, suffix) {
			ranges += c
		}
	}
	return gets, ranges
}

type testError struct{}

func (testError) Error() string { return "bucket down (test)" }

var errTest error = testError{}
