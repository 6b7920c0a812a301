package shipper

import (
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
	"github.com/prometheus/client_golang/prometheus"
	"github.com/prometheus/client_golang/prometheus/testutil"
	"github.com/prometheus/prometheus/model/labels"
	"github.com/prometheus/prometheus/storage"
	"github.com/prometheus/prometheus/tsdb"
	"github.com/prometheus/prometheus/tsdb/chunks"
	"github.com/stretchr/testify/require"
	"github.com/thanos-io/objstore"
	"go.uber.org/goleak"

	"github.com/strata-io/strata/internal/testkit"
	"github.com/strata-io/strata/pkg/metadata"
)

func TestMain(m *testing.M) {
	goleak.VerifyTestMain(m)
}

// Fixed block ids, oldest first, so that the state file can be compared
// with a golden file.
var (
	idA = ulid.MustParse("01JC0K3V2R6D8E9F0G1H2J3K4M")
	idB = ulid.MustParse("01JC0MBXA7P5Q6R7S8T9V0W1X2")
	idC = ulid.MustParse("01JC0N9Q5ZB9M6V3X1Y2Z3A4B5")
)

const hour = int64(time.Hour / time.Millisecond)

// writeBlock writes a real TSDB block with id into dir, holding 3 series
// with one sample a minute over [mint, mint+2h), at compaction level
// level with the given sources (id itself when none).
func writeBlock(t *testing.T, dir string, id ulid.ULID, mint int64, level int, sources ...ulid.ULID) string {
	t.Helper()
	var series []storage.Series
	for i := range 3 {
		var samples []chunks.Sample
		for ts := mint; ts < mint+2*hour; ts += 60_000 {
			samples = append(samples, testkit.Sample{Time: ts, Value: float64(ts)})
		}
		ls := labels.FromStrings("__name__", "up", "instance", string(rune('a'+i)))
		series = append(series, storage.NewListSeries(ls, samples))
	}
	created, m := testkit.CreateBlock(t, t.TempDir(), 2*hour, series...)
	m.ULID = id
	m.Compaction.Level = level
	if len(sources) == 0 {
		sources = []ulid.ULID{id}
	}
	m.Compaction.Sources = sources
	require.NoError(t, m.WriteToDir(created))
	blockDir := filepath.Join(dir, id.String())
	require.NoError(t, os.Rename(created, blockDir))
	return blockDir
}

// flakyBucket records uploads and fails the upload calls fail returns true
// for (n counts upload calls from 1).
type flakyBucket struct {
	objstore.Bucket

	mu      sync.Mutex
	n       int
	uploads []string
	fail    func(n int, name string) bool
}

func (b *flakyBucket) Upload(ctx context.Context, name string, r io.Reader, opts ...objstore.ObjectUploadOption) error {
	b.mu.Lock()
	b.n++
	b.uploads = append(b.uploads, name)
	fail := b.fail != nil && b.fail(b.n, name)
	b.mu.Unlock()
	if fail {
		return errors.New("injected upload error")
	}
	return b.Bucket.Upload(ctx, name, r, opts...)
}

func (b *flakyBucket) metaUploads() []string {
	b.mu.Lock()
	defer b.mu.Unlock()
	var out []string
	for _, u := range b.uploads {
		if strings.HasSuffix(u, "/meta.json") {
			out = append(out, strings.TrimSuffix(u, "/meta.json"))
		}
	}
	return out
}

func newShipper(t *testing.T, dir string, bkt objstore.Bucket, reg prometheus.Registerer, change ...func(*Config)) *Shipper {
	t.Helper()
	cfg := DefaultConfig()
	cfg.Dir = dir
	cfg.ExternalLabels = func() labels.Labels { return labels.FromStrings("cluster", "eu-1", "replica", "a") }
	for _, c := range change {
		c(&cfg)
	}
	s, err := New(cfg, bkt, slog.New(slog.DiscardHandler), reg)
	require.NoError(t, err)
	return s
}

func inBucket(t *testing.T, bkt objstore.Bucket, id ulid.ULID) bool {
	t.Helper()
	ok, err := bkt.Exists(context.Background(), path.Join(id.String(), metadata.MetaFilename))
	require.NoError(t, err)
	return ok
}

func TestSyncExactlyOnceAcrossRestarts(t *testing.T) {
	ctx := context.Background()
	dir := t.TempDir()
	writeBlock(t, dir, idA, 0, 1)
	writeBlock(t, dir, idB, 2*hour, 1)
	bkt := &flakyBucket{Bucket: objstore.NewInMemBucket()}

	s := newShipper(t, dir, bkt, nil)
	n, err := s.Sync(ctx)
	require.NoError(t, err)
	require.Equal(t, 2, n)
	require.Equal(t, []string{idA.String(), idB.String()}, bkt.metaUploads(), "oldest first")

	m, err := metadata.ReadFromBucket(ctx, bkt, idA)
	require.NoError(t, err)
	require.Equal(t, map[string]string{"cluster": "eu-1", "replica": "a"}, m.Thanos.Labels)
	require.Equal(t, metadata.SidecarSource, m.Thanos.Source)
	require.Equal(t, []string{"000001"}, m.Thanos.SegmentFiles)
	require.Len(t, m.Thanos.Files, 3)
	require.Equal(t, int64(0), m.MinTime)

	n, err = s.Sync(ctx)
	require.NoError(t, err)
	require.Zero(t, n)

	// A restart: a new shipper over the same directory.
	n, err = newShipper(t, dir, bkt, nil).Sync(ctx)
	require.NoError(t, err)
	require.Zero(t, n)

	// A new block after the restart is shipped, the old ones are not.
	writeBlock(t, dir, idC, 4*hour, 1)
	n, err = newShipper(t, dir, bkt, nil).Sync(ctx)
	require.NoError(t, err)
	require.Equal(t, 1, n)

	// State lost (or a fresh data directory on the same bucket): the bucket
	// check still prevents a second upload, and the state is rebuilt.
	require.NoError(t, os.Remove(filepath.Join(dir, DefaultMetaFileName)))
	n, err = newShipper(t, dir, bkt, nil).Sync(ctx)
	require.NoError(t, err)
	require.Zero(t, n)
	require.Equal(t, []string{idA.String(), idB.String(), idC.String()}, bkt.metaUploads(), "each block uploaded exactly once")
	st, err := ReadState(filepath.Join(dir, DefaultMetaFileName))
	require.NoError(t, err)
	require.Equal(t, []ulid.ULID{idA, idB, idC}, st.Uploaded)
}

func TestSyncFailureThenRetry(t *testing.T) {
	ctx := context.Background()
	dir := t.TempDir()
	writeBlock(t, dir, idA, 0, 1)
	writeBlock(t, dir, idB, 2*hour, 1)
	// Upload calls: A chunks(1) A index(2) A meta(3) B chunks(4) ... fail B's chunks.
	failing := true
	bkt := &flakyBucket{Bucket: objstore.NewInMemBucket(), fail: func(n int, _ string) bool { return failing && n == 4 }}
	reg := prometheus.NewRegistry()
	s := newShipper(t, dir, bkt, reg)

	n, err := s.Sync(ctx)
	require.ErrorContains(t, err, "injected upload error")
	require.Equal(t, 1, n)
	require.True(t, inBucket(t, bkt, idA))
	require.False(t, inBucket(t, bkt, idB), "a partial upload has no meta.json")
	st, err := ReadState(s.StatePath())
	require.NoError(t, err)
	require.Equal(t, []ulid.ULID{idA}, st.Uploaded)
	require.Equal(t, 1.0, testutil.ToFloat64(s.uploads))
	require.Equal(t, 1.0, testutil.ToFloat64(s.failures))
	require.Zero(t, testutil.ToFloat64(s.lastSuccess), "no successful sync yet")

	failing = false
	n, err = s.Sync(ctx)
	require.NoError(t, err)
	require.Equal(t, 1, n)
	require.True(t, inBucket(t, bkt, idB))
	require.Equal(t, []string{idA.String(), idB.String()}, bkt.metaUploads())

	require.NoError(t, testutil.GatherAndCompare(reg, strings.NewReader(`
# HELP strata_shipper_upload_failures_total Block uploads that failed; they are retried on the next sync.
# TYPE strata_shipper_upload_failures_total counter
strata_shipper_upload_failures_total 1
# HELP strata_shipper_uploads_total Blocks uploaded to the bucket.
# TYPE strata_shipper_uploads_total counter
strata_shipper_uploads_total 2
`), "strata_shipper_uploads_total", "strata_shipper_upload_failures_total"))
	require.InDelta(t, float64(time.Now().Unix()), testutil.ToFloat64(s.lastSuccess), 60)
}

func TestSyncSkipsUnfinishedAndCompacted(t *testing.T) {
	ctx := context.Background()
	dir := t.TempDir()
	writeBlock(t, dir, idA, 0, 1)
	// A compacted block (Prometheus merged two level-1 blocks never seen).
	writeBlock(t, dir, idB, 2*hour, 2, ulid.MustParse("01JC0M00000000000000000001"), ulid.MustParse("01JC0M00000000000000000002"))
	// A block being written by Prometheus: a tmp directory.
	tmpBlock := writeBlock(t, t.TempDir(), idC, 4*hour, 1)
	require.NoError(t, os.Rename(tmpBlock, filepath.Join(dir, idC.String()+".tmp-for-creation")))
	// A block directory without meta.json yet.
	noMeta := writeBlock(t, dir, ulid.MustParse("01JC0P00000000000000000000"), 6*hour, 1)
	require.NoError(t, os.Remove(filepath.Join(noMeta, metadata.MetaFilename)))
	// Prometheus' own files.
	require.NoError(t, os.MkdirAll(filepath.Join(dir, "wal"), 0o755))
	require.NoError(t, os.MkdirAll(filepath.Join(dir, "chunks_head"), 0o755))
	require.NoError(t, os.WriteFile(filepath.Join(dir, "lock"), nil, 0o644))

	bkt := &flakyBucket{Bucket: objstore.NewInMemBucket()}
	n, err := newShipper(t, dir, bkt, nil).Sync(ctx)
	require.NoError(t, err)
	require.Equal(t, 1, n)
	require.Equal(t, []string{idA.String()}, bkt.metaUploads())

	// The block finishes: it is shipped on the next sync.
	require.NoError(t, os.Rename(filepath.Join(dir, idC.String()+".tmp-for-creation"), filepath.Join(dir, idC.String())))
	n, err = newShipper(t, dir, bkt, nil).Sync(ctx)
	require.NoError(t, err)
	require.Equal(t, 1, n)
	require.Equal(t, []string{idA.String(), idC.String()}, bkt.metaUploads())
}

func TestSyncUploadCompacted(t *testing.T) {
	ctx := context.Background()
	dir := t.TempDir()
	writeBlock(t, dir, idA, 0, 1)
	bkt := &flakyBucket{Bucket: objstore.NewInMemBucket()}
	compacted := func(c *Config) { c.UploadCompacted = true }
	n, err := newShipper(t, dir, bkt, nil, compacted).Sync(ctx)
	require.NoError(t, err)
	require.Equal(t, 1, n)

	// Prometheus compacts A with a block the sidecar never saw into B, and
	// C from A alone (its data is in the bucket already).
	other := ulid.MustParse("01JC0M00000000000000000001")
	writeBlock(t, dir, idB, 0, 2, idA, other)
	writeBlock(t, dir, idC, 4*hour, 2, idA)

	n, err = newShipper(t, dir, bkt, nil, compacted).Sync(ctx)
	require.NoError(t, err)
	require.Equal(t, 1, n)
	require.Equal(t, []string{idA.String(), idB.String()}, bkt.metaUploads())
	m, err := metadata.ReadFromBucket(ctx, bkt, idB)
	require.NoError(t, err)
	require.Equal(t, 2, m.Compaction.Level)

	st, err := ReadState(filepath.Join(dir, DefaultMetaFileName))
	require.NoError(t, err)
	require.Equal(t, []ulid.ULID{idA, idB, idC}, st.Uploaded, "C is recorded without an upload")
}

func TestSyncNoExternalLabels(t *testing.T) {
	dir := t.TempDir()
	writeBlock(t, dir, idA, 0, 1)
	bkt := &flakyBucket{Bucket: objstore.NewInMemBucket()}
	s := newShipper(t, dir, bkt, nil, func(c *Config) { c.ExternalLabels = func() labels.Labels { return labels.EmptyLabels() } })
	_, err := s.Sync(context.Background())
	require.ErrorIs(t, err, ErrNoExternalLabels)
	require.Empty(t, bkt.metaUploads())
}

func TestSyncReportsCorruptLocalBlock(t *testing.T) {
	dir := t.TempDir()
	writeBlock(t, dir, idA, 0, 1)
	bad := writeBlock(t, dir, idB, 2*hour, 1)
	require.NoError(t, os.WriteFile(filepath.Join(bad, metadata.MetaFilename), []byte("{"), 0o644))
	bkt := &flakyBucket{Bucket: objstore.NewInMemBucket()}
	n, err := newShipper(t, dir, bkt, nil).Sync(context.Background())
	require.ErrorContains(t, err, "local block "+idB.String()+" cannot be shipped")
	require.Equal(t, 1, n, "the other blocks are shipped")
}

func TestStateFileGolden(t *testing.T) {
	dir := t.TempDir()
	writeBlock(t, dir, idA, 0, 1)
	writeBlock(t, dir, idB, 2*hour, 1)
	s := newShipper(t, dir, objstore.NewInMemBucket(), nil)
	_, err := s.Sync(context.Background())
	require.NoError(t, err)
	got, err := os.ReadFile(filepath.Join(dir, "thanos.shipper.json"))
	require.NoError(t, err)
	want, err := os.ReadFile("testdata/thanos.shipper.json")
	require.NoError(t, err)
	require.Equal(t, string(want), string(got))
	entries, err := os.ReadDir(dir)
	require.NoError(t, err)
	require.Len(t, entries, 3, "two blocks and the state file, no temporary file")

	// Blocks Prometheus deleted leave the state file.
	require.NoError(t, os.RemoveAll(filepath.Join(dir, idA.String())))
	writeBlock(t, dir, idC, 4*hour, 1)
	_, err = s.Sync(context.Background())
	require.NoError(t, err)
	st, err := ReadState(s.StatePath())
	require.NoError(t, err)
	require.Equal(t, []ulid.ULID{idB, idC}, st.Uploaded)
}

func TestReadState(t *testing.T) {
	dir := t.TempDir()
	for _, tc := range []struct {
		name, content string
		want          []ulid.ULID
		wantErr       string
	}{
		{"missing", "", nil, ""},
		{"thanos written", `{"version":1,"uploaded":["01JC0K3V2R6D8E9F0G1H2J3K4M","01JC0MBXA7P5Q6R7S8T9V0W1X2"]}`, []ulid.ULID{idA, idB}, ""},
		{"empty list", `{"version":1,"uploaded":null}`, nil, ""},
		{"corrupt", `{"version":1,"uploaded":["x"`, nil, "decode"},
		{"version 2", `{"version":2,"uploaded":[]}`, nil, "has version 2, want 1"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			p := filepath.Join(dir, tc.name+".json")
			if tc.content != "" {
				require.NoError(t, os.WriteFile(p, []byte(tc.content), 0o644))
			}
			st, err := ReadState(p)
			if tc.wantErr != "" {
				require.ErrorContains(t, err, tc.wantErr)
				return
			}
			require.NoError(t, err)
			require.Equal(t, StateVersion1, st.Version)
			require.Equal(t, tc.want, st.Uploaded)
		})
	}
}

// A corrupt state file does not stop shipping and does not cause double
// uploads: the bucket is checked.
func TestSyncCorruptState(t *testing.T) {
	ctx := context.Background()
	dir := t.TempDir()
	writeBlock(t, dir, idA, 0, 1)
	bkt := &flakyBucket{Bucket: objstore.NewInMemBucket()}
	_, err := newShipper(t, dir, bkt, nil).Sync(ctx)
	require.NoError(t, err)
	require.NoError(t, os.WriteFile(filepath.Join(dir, DefaultMetaFileName), []byte("garbage"), 0o644))
	writeBlock(t, dir, idB, 2*hour, 1)
	n, err := newShipper(t, dir, bkt, nil).Sync(ctx)
	require.NoError(t, err)
	require.Equal(t, 1, n)
	require.Equal(t, []string{idA.String(), idB.String()}, bkt.metaUploads())
	st, err := ReadState(filepath.Join(dir, DefaultMetaFileName))
	require.NoError(t, err)
	require.Equal(t, []ulid.ULID{idA, idB}, st.Uploaded)
}

func TestRunRetriesWithBackoff(t *testing.T) {
	dir := t.TempDir()
	writeBlock(t, dir, idA, 0, 1)
	// The first three upload attempts fail; the interval is far too long
	// for the retry to come from it.
	bkt := &flakyBucket{Bucket: objstore.NewInMemBucket(), fail: func(n int, _ string) bool { return n <= 3 }}
	s := newShipper(t, dir, bkt, nil, func(c *Config) { c.RetryMinBackoff = 5 * time.Millisecond })
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan error)
	go func() { done <- s.Run(ctx, time.Hour) }()
	require.Eventually(t, func() bool { return inBucket(t, bkt, idA) }, 10*time.Second, 5*time.Millisecond)
	cancel()
	require.NoError(t, <-done)
	require.Equal(t, 3.0, testutil.ToFloat64(s.failures))
	require.Equal(t, 1.0, testutil.ToFloat64(s.uploads))
}

// Blocks cut by a real Prometheus TSDB are shipped; the head, WAL and lock
// are not.
func TestSyncRealTSDB(t *testing.T) {
	dir := t.TempDir()
	opts := tsdb.DefaultOptions()
	opts.MinBlockDuration = 2 * hour
	opts.MaxBlockDuration = 2 * hour
	db, err := tsdb.Open(dir, slog.New(slog.DiscardHandler), nil, opts, nil)
	require.NoError(t, err)
	defer func() { require.NoError(t, db.Close()) }()
	app := db.Appender(context.Background())
	for ts := int64(0); ts <= 7*hour; ts += 60_000 {
		_, err := app.Append(0, labels.FromStrings("__name__", "up", "job", "node"), ts, 1)
		require.NoError(t, err)
	}
	require.NoError(t, app.Commit())
	require.NoError(t, db.Compact(context.Background()))
	blocks := db.Blocks()
	require.NotEmpty(t, blocks)

	bkt := &flakyBucket{Bucket: objstore.NewInMemBucket()}
	n, err := newShipper(t, dir, bkt, nil).Sync(context.Background())
	require.NoError(t, err)
	require.Equal(t, len(blocks), n)
	for _, b := range blocks {
		require.True(t, inBucket(t, bkt, b.Meta().ULID))
	}
	var names []string
	require.NoError(t, bkt.Iter(context.Background(), "", func(name string) error { names = append(names, name); return nil }))
	require.Len(t, names, len(blocks), "only block directories in the bucket")
}
