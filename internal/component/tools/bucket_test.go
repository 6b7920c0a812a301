package tools

import (
	"bytes"
	"cmp"
	"context"
	"encoding/json"
	"errors"
	"io"
	"log/slog"
	"os"
	"path"
	"path/filepath"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/alecthomas/kingpin/v2"
	"github.com/oklog/ulid/v2"
	"github.com/prometheus/client_golang/prometheus"
	"github.com/prometheus/prometheus/model/labels"
	"github.com/stretchr/testify/require"
	"github.com/thanos-io/objstore"

	"github.com/strata-io/strata/internal/block"
	"github.com/strata-io/strata/internal/datagen"
	"github.com/strata-io/strata/pkg/metadata"
)

// testEnd is the end of the generated data of every test.
var testEnd = time.Date(2026, 3, 1, 12, 0, 0, 0, time.UTC)

// newFSBucket returns a FILESYSTEM bucket in a temp dir and the
// --objstore.config flag that opens it.
func newFSBucket(t *testing.T) (objstore.Bucket, string) {
	t.Helper()
	dir := t.TempDir()
	bkt, err := objstoreFS(dir)
	require.NoError(t, err)
	return bkt, "--objstore.config=type: FILESYSTEM\nconfig:\n  directory: " + dir
}

// genBlocks uploads 3 generated 2h blocks ending at end with labels ext
// and returns their metas in time order.
func genBlocks(t *testing.T, bkt objstore.Bucket, end time.Time, seed uint64, ext ...string) []*metadata.Meta {
	t.Helper()
	before := map[ulid.ULID]bool{}
	for _, m := range blockMetas(t, bkt) {
		before[m.ULID] = true
	}
	dc := datagen.Config{Series: 27, End: end, Duration: 6 * time.Hour, Interval: 5 * time.Minute, Seed: seed}
	_, err := datagen.GenerateBucket(context.Background(), bkt, dc, labels.FromStrings(ext...), "", nil)
	require.NoError(t, err)
	var out []*metadata.Meta
	for _, m := range blockMetas(t, bkt) {
		if !before[m.ULID] {
			out = append(out, m)
		}
	}
	require.Len(t, out, 3)
	return out
}

// blockMetas returns the metas of the blocks of bkt that have one, in time
// order.
func blockMetas(t *testing.T, bkt objstore.BucketReader) []*metadata.Meta {
	t.Helper()
	blocks, err := block.NewInventory(bkt, block.Config{}).Scan(context.Background())
	require.NoError(t, err)
	var out []*metadata.Meta
	for _, b := range blocks {
		if b.Meta != nil {
			out = append(out, b.Meta)
		}
	}
	slices.SortFunc(out, func(a, b *metadata.Meta) int {
		return cmp.Or(cmp.Compare(a.MinTime, b.MinTime), a.ULID.Compare(b.ULID))
	})
	return out
}

// runBucket parses `tools bucket <args>` and runs it, returning stdout,
// stderr and the error.
func runBucket(t *testing.T, deps BucketDeps, args ...string) (string, string, error) {
	t.Helper()
	app := kingpin.New("strata", "")
	var cfg BucketConfig
	cfg.RegisterFlags(app.Command("tools", ""))
	cmd, err := app.Parse(append([]string{"tools", "bucket"}, args...))
	require.NoError(t, err)
	var stdout, stderr bytes.Buffer
	deps.Stdout, deps.Stderr = &stdout, &stderr
	err = RunBucket(context.Background(), cmd, cfg, deps, nil, nil)
	return stdout.String(), stderr.String(), err
}

// upload puts content at name in bkt.
func upload(t *testing.T, bkt objstore.Bucket, name string, content []byte) {
	t.Helper()
	require.NoError(t, bkt.Upload(context.Background(), name, bytes.NewReader(content)))
}

// get returns the content of name in bkt.
func get(t *testing.T, bkt objstore.Bucket, name string) []byte {
	t.Helper()
	rc, err := bkt.Get(context.Background(), name)
	require.NoError(t, err)
	defer rc.Close()
	b, err := io.ReadAll(rc)
	require.NoError(t, err)
	return b
}

// rows returns the table lines of out that start with a ULID.
func rows(out string) map[string]string {
	res := map[string]string{}
	for _, line := range strings.Split(out, "\n") {
		if f := strings.Fields(line); len(f) > 0 {
			if _, err := ulid.ParseStrict(f[0]); err == nil {
				res[f[0]] = line
			}
		}
	}
	return res
}

func TestBucketLsListsBlocksPartialsAndMarkers(t *testing.T) {
	bkt, flag := newFSBucket(t)
	ms := genBlocks(t, bkt, testEnd, 1, "cluster", "eu1", "replica", "0")
	partial := ulid.MustNew(1, nil)
	upload(t, bkt, partial.String()+"/chunks/000001", []byte("x"))
	require.NoError(t, metadata.WriteMarker(context.Background(), bkt, metadata.NewNoCompactMark(ms[1].ULID, time.Now(), metadata.ManualReason, "")))

	for _, output := range []string{"table", "wide"} {
		t.Run(output, func(t *testing.T) {
			out, stderr, err := runBucket(t, BucketDeps{}, "ls", flag, "-o", output)
			require.NoError(t, err)
			require.Contains(t, stderr, "reading block directories: 4/4")
			rs := rows(out)
			require.Len(t, rs, 4)
			for _, m := range ms {
				line := rs[m.ULID.String()]
				require.Contains(t, line, block.FormatTime(m.MinTime))
				require.Contains(t, line, `{cluster="eu1", replica="0"}`)
				require.Contains(t, line, " raw ")
				require.Contains(t, line, " "+block.FormatDuration(m.MaxTime-m.MinTime)+" ")
				require.Contains(t, line, " 27 ") // series
				require.Contains(t, line, string(datagen.Source))
			}
			require.Contains(t, rs[ms[1].ULID.String()], "no-compact")
			require.Contains(t, rs[partial.String()], "partial")
			if output == "wide" {
				require.Contains(t, out, "SIZE")
				require.Contains(t, rs[ms[0].ULID.String()], "KiB")
			}
		})
	}

	t.Run("json", func(t *testing.T) {
		out, _, err := runBucket(t, BucketDeps{}, "ls", flag, "--output=json")
		require.NoError(t, err)
		var got []lsJSON
		require.NoError(t, json.Unmarshal([]byte(out), &got))
		require.Len(t, got, 4)
		require.Equal(t, ms[0].ULID.String(), got[0].ULID)
		require.Equal(t, ms[0].Stats, got[0].Meta.Stats)
		require.NotNil(t, got[1].Markers.NoCompact)
		require.Equal(t, metadata.ManualReason, got[1].Markers.NoCompact.Reason)
		require.True(t, got[3].Partial)
		require.Nil(t, got[3].Meta)
	})

	t.Run("selector", func(t *testing.T) {
		genBlocks(t, bkt, testEnd, 2, "cluster", "us1", "replica", "0")
		out, _, err := runBucket(t, BucketDeps{}, "ls", flag, "--selector=cluster=us1")
		require.NoError(t, err)
		require.Len(t, rows(out), 3)
		require.NotContains(t, out, "eu1")
		out, _, err = runBucket(t, BucketDeps{}, "ls", flag, `--selector=cluster=~"eu.*"`, "--selector=replica!=1")
		require.NoError(t, err)
		require.Len(t, rows(out), 3)
		require.NotContains(t, out, "us1")
	})
}

func TestBucketInspectSortsAndFilters(t *testing.T) {
	bkt, flag := newFSBucket(t)
	eu := genBlocks(t, bkt, testEnd, 1, "cluster", "eu1")
	us := genBlocks(t, bkt, testEnd.Add(-2*time.Hour), 1, "cluster", "us1")

	out, _, err := runBucket(t, BucketDeps{}, "inspect", flag, "--sort-by=-FROM", "--sort-by=labels")
	require.NoError(t, err)
	var order []string
	for _, line := range strings.Split(out, "\n") {
		if f := strings.Fields(line); len(f) > 0 {
			if _, err := ulid.ParseStrict(f[0]); err == nil {
				order = append(order, f[0])
			}
		}
	}
	// Newest first; equal FROM sorted by labels (eu1 before us1).
	want := []string{eu[2].ULID.String(), eu[1].ULID.String(), us[2].ULID.String(), eu[0].ULID.String(), us[1].ULID.String(), us[0].ULID.String()}
	require.Equal(t, want, order)
	require.Contains(t, out, "SAMPLES/SERIES")
	require.Contains(t, out, "6 blocks: 162 series")

	out, _, err = runBucket(t, BucketDeps{}, "inspect", flag, "--selector=cluster=us1")
	require.NoError(t, err)
	require.Len(t, rows(out), 3)
	require.NotContains(t, out, "eu1")

	for _, tc := range []struct{ arg, want string }{
		{"--sort-by=COLOR", "--sort-by=COLOR: unknown column; want one of ULID, FROM"},
		{"--selector=cluster", "want name=value"},
		{"--selector=1a=b", `"1a" is not a valid label name`},
		{"--selector=a=~(", "error parsing regexp"},
	} {
		_, _, err := runBucket(t, BucketDeps{}, "inspect", flag, tc.arg)
		require.ErrorContains(t, err, tc.want, tc.arg)
	}
}

func TestBucketVerifyFindsIssuesAndExitsNonZero(t *testing.T) {
	ctx := context.Background()
	bkt, flag := newFSBucket(t)
	ms := genBlocks(t, bkt, testEnd, 1, "cluster", "eu1")

	out, stderr, err := runBucket(t, BucketDeps{}, "verify", flag, "--deep")
	require.NoError(t, err, out)
	require.Contains(t, out, "no issues in 3 block directories")
	require.Contains(t, stderr, "verifying blocks: 3/3, 0 issues so far")

	// A deleted chunk file, a truncated index, a second copy of the
	// stream's data overlapping it, a partial upload.
	require.NoError(t, bkt.Delete(ctx, ms[0].ULID.String()+"/chunks/000001"))
	index := path.Join(ms[1].ULID.String(), metadata.IndexFilename)
	whole := get(t, bkt, index)
	upload(t, bkt, index, whole[:len(whole)/2])
	// Same seed: same first sample times, so the newer ULIDs come second.
	dup := genBlocks(t, bkt, testEnd.Add(-time.Hour), 1, "cluster", "eu1")
	partial := ulid.MustNew(1, nil)
	upload(t, bkt, partial.String()+"/index", []byte("x"))
	// An upload started a minute ago is in progress, not an issue.
	inProgress := ulid.MustNew(ulid.Timestamp(time.Now().Add(-time.Minute)), nil)
	upload(t, bkt, inProgress.String()+"/index", []byte("x"))

	out, stderr, err = runBucket(t, BucketDeps{}, "verify", flag)
	require.ErrorIs(t, err, ErrIssuesFound)
	require.ErrorContains(t, err, "of 8 block directories")
	require.Contains(t, stderr, "verifying blocks: 8/8")
	require.NotContains(t, out, inProgress.String())

	require.Regexp(t, ms[0].ULID.String()+`\s+missing-file\s+chunks/000001 is listed in meta.json but not in the bucket`, out)
	require.Regexp(t, ms[1].ULID.String()+`\s+bad-index\s+.*invalid checksum`, out)
	require.Regexp(t, ms[1].ULID.String()+`\s+size-mismatch\s+index has`, out)
	require.Regexp(t, partial.String()+`\s+partial`, out)
	// dup covers [4h, 10h), the stream [6h, 12h).
	require.NotContains(t, out, dup[0].ULID.String())
	for i, d := range dup[1:] {
		require.Regexp(t, d.ULID.String()+`\s+overlap\s+.*overlaps block `+ms[i].ULID.String(), out)
	}

	// Marking the copies for deletion ends the overlap.
	for _, d := range dup {
		require.NoError(t, metadata.WriteMarker(ctx, bkt, metadata.NewDeletionMark(d.ULID, time.Now(), "")))
	}
	out, _, err = runBucket(t, BucketDeps{}, "verify", flag)
	require.ErrorIs(t, err, ErrIssuesFound)
	require.NotContains(t, out, "overlap")
}

func TestBucketMarkWritesAndRemovesMarkers(t *testing.T) {
	ctx := context.Background()
	bkt, flag := newFSBucket(t)
	ms := genBlocks(t, bkt, testEnd, 1, "cluster", "eu1")
	a, b := ms[0].ULID.String(), ms[1].ULID.String()

	out, _, err := runBucket(t, BucketDeps{}, "mark", flag, "--id="+a, "--id="+b, "--marker=no-compact-mark.json", "--details=broken chunk")
	require.NoError(t, err)
	require.Contains(t, out, a+": no-compact-mark.json written")
	var nc metadata.NoCompactMark
	require.NoError(t, metadata.ReadMarker(ctx, bkt, ms[1].ULID, &nc))
	require.Equal(t, metadata.ManualReason, nc.Reason)
	require.Equal(t, "broken chunk", nc.Details)
	require.InDelta(t, time.Now().Unix(), nc.NoCompactTime, 60)

	// Marking again keeps the first marker.
	out, _, err = runBucket(t, BucketDeps{}, "mark", flag, "--id="+b, "--marker=no-compact-mark.json", "--details=other")
	require.NoError(t, err)
	require.Contains(t, out, "already has no-compact-mark.json")
	require.NoError(t, metadata.ReadMarker(ctx, bkt, ms[1].ULID, &nc))
	require.Equal(t, "broken chunk", nc.Details)

	_, _, err = runBucket(t, BucketDeps{}, "mark", flag, "--id="+a, "--marker=deletion-mark.json")
	require.NoError(t, err)
	var dm metadata.DeletionMark
	require.NoError(t, metadata.ReadMarker(ctx, bkt, ms[0].ULID, &dm))

	out, _, err = runBucket(t, BucketDeps{}, "mark", flag, "--id="+b, "--marker=no-compact-mark.json", "--remove")
	require.NoError(t, err)
	require.Contains(t, out, b+": no-compact-mark.json removed")
	require.ErrorIs(t, metadata.ReadMarker(ctx, bkt, ms[1].ULID, &nc), metadata.ErrMarkerNotFound)

	// An unknown block fails without stopping the others.
	unknown := ulid.MustNew(1, nil).String()
	_, _, err = runBucket(t, BucketDeps{}, "mark", flag, "--id="+unknown, "--id="+ms[2].ULID.String(), "--marker=no-downsample-mark.json")
	require.ErrorContains(t, err, "mark 1 of 2 blocks failed")
	require.ErrorContains(t, err, "block not found in the bucket")
	var nd metadata.NoDownsampleMark
	require.NoError(t, metadata.ReadMarker(ctx, bkt, ms[2].ULID, &nd))
	ok, err := bkt.Exists(ctx, unknown+"/"+metadata.NoDownsampleMarkFilename)
	require.NoError(t, err)
	require.False(t, ok, "no marker for a block that is not there")

	_, _, err = runBucket(t, BucketDeps{}, "mark", flag, "--id=nope", "--marker=deletion-mark.json")
	require.ErrorContains(t, err, "--id=nope is not a block ULID")
}

func TestBucketUploadBlocksRoundTripAndIdempotence(t *testing.T) {
	ctx := context.Background()
	local := t.TempDir()
	dc := datagen.Config{Series: 27, End: testEnd, Duration: 6 * time.Hour, Interval: 5 * time.Minute, Seed: 3}
	_, err := datagen.Generate(ctx, local, dc, nil)
	require.NoError(t, err)
	require.NoError(t, os.MkdirAll(filepath.Join(local, "wal"), 0o755)) // not a block: ignored
	bkt, flag := newFSBucket(t)

	_, _, err = runBucket(t, BucketDeps{}, "upload-blocks", flag, "--path="+local)
	require.ErrorContains(t, err, "has no external labels: give them with --label=name=value")
	require.Empty(t, blockMetas(t, bkt))

	out, _, err := runBucket(t, BucketDeps{}, "upload-blocks", flag, "--path="+local, "--label=cluster=eu1", "--label=replica=a")
	require.NoError(t, err)
	require.Contains(t, out, "3 blocks uploaded, 0 already in the bucket")
	ms := blockMetas(t, bkt)
	require.Len(t, ms, 3)
	for _, m := range ms {
		require.Equal(t, map[string]string{"cluster": "eu1", "replica": "a"}, m.Thanos.Labels)
		require.Equal(t, metadata.BucketUploadSource, m.Thanos.Source)
		require.False(t, m.Thanos.UploadTime.IsZero())
		localMeta, err := metadata.ReadFromDir(filepath.Join(local, m.ULID.String()))
		require.NoError(t, err)
		require.Equal(t, localMeta.Stats, m.Stats)
		// Every file is in the bucket with the same bytes.
		for _, f := range m.Thanos.Files[:len(m.Thanos.Files)-1] {
			want, err := os.ReadFile(filepath.Join(local, m.ULID.String(), filepath.FromSlash(f.RelPath)))
			require.NoError(t, err)
			require.Equal(t, want, get(t, bkt, m.ULID.String()+"/"+f.RelPath), f.RelPath)
		}
	}

	// Again: nothing to do, and the bucket checks out.
	out, _, err = runBucket(t, BucketDeps{}, "upload-blocks", flag, "--path="+local, "--label=cluster=eu1", "--label=replica=a")
	require.NoError(t, err)
	require.Contains(t, out, "0 blocks uploaded, 3 already in the bucket")
	out, _, err = runBucket(t, BucketDeps{}, "verify", flag, "--deep")
	require.NoError(t, err, out)

	// One block directory as --path.
	bkt2, flag2 := newFSBucket(t)
	_, _, err = runBucket(t, BucketDeps{}, "upload-blocks", flag2, "--path="+filepath.Join(local, ms[1].ULID.String()), "--label=cluster=eu1")
	require.NoError(t, err)
	require.Len(t, blockMetas(t, bkt2), 1)
}

func TestBucketRetentionAndDownsampleCallTheCompactor(t *testing.T) {
	_, flag := newFSBucket(t)
	_, _, err := runBucket(t, BucketDeps{}, "retention", flag)
	require.NoError(t, err, "without a replacement, the compactor's own retention pass runs (nothing to do on an empty bucket)")

	var gotPolicy block.Retention
	var gotOpts DownsampleOptions
	deps := BucketDeps{
		Retention: func(_ context.Context, bkt objstore.Bucket, p block.Retention, _ *slog.Logger, _ prometheus.Registerer) error {
			require.NotNil(t, bkt)
			gotPolicy = p
			return nil
		},
		Downsample: func(_ context.Context, _ objstore.Bucket, o DownsampleOptions, _ *slog.Logger, _ prometheus.Registerer) error {
			gotOpts = o
			return errors.New("boom")
		},
	}
	_, _, err = runBucket(t, deps, "retention", flag, "--retention.resolution-raw=30d", "--retention.resolution-5m=90d")
	require.NoError(t, err)
	require.Equal(t, block.Retention{Raw: 30 * 24 * time.Hour, FiveMinutes: 90 * 24 * time.Hour}, gotPolicy)

	_, _, err = runBucket(t, deps, "downsample", flag, "--data-dir=/tmp/x", "--downsample.concurrency=2")
	require.ErrorContains(t, err, "boom")
	require.Equal(t, DownsampleOptions{DataDir: "/tmp/x", Concurrency: 2}, gotOpts)
	_, _, err = runBucket(t, deps, "downsample", flag, "--downsample.concurrency=0")
	require.ErrorContains(t, err, "--downsample.concurrency must be at least 1")
}

func TestBucketCommandsNeedABucket(t *testing.T) {
	_, _, err := runBucket(t, BucketDeps{}, "ls")
	require.ErrorContains(t, err, "set --objstore.config-file or --objstore.config")
	missing := filepath.Join(t.TempDir(), "nope")
	_, _, err = runBucket(t, BucketDeps{}, "verify", "--objstore.config=type: FILESYSTEM\nconfig:\n  directory: "+missing)
	require.ErrorContains(t, err, "does not exist")
}

func TestBucketWebServesUntilCancelled(t *testing.T) {
	_, flag := newFSBucket(t)
	app := kingpin.New("strata", "")
	var cfg BucketConfig
	cfg.RegisterFlags(app.Command("tools", ""))
	cmd, err := app.Parse([]string{"tools", "bucket", "web", flag, "--http-address=127.0.0.1:0", "--http-grace-period=1s"})
	require.NoError(t, err)
	ctx, cancel := context.WithTimeout(context.Background(), 300*time.Millisecond)
	defer cancel()
	require.NoError(t, RunBucket(ctx, cmd, cfg, BucketDeps{}, nil, prometheus.NewRegistry()))

	cfg.Web.Viewer.RefreshInterval = 0
	require.ErrorContains(t, RunBucket(context.Background(), cmd, cfg, BucketDeps{}, nil, nil), "--web.refresh-interval must be positive")
}
