package block_test

import (
	"bytes"
	"context"
	"io"
	"path"
	"regexp"
	"slices"
	"testing"
	"time"

	"github.com/oklog/ulid/v2"
	"github.com/prometheus/prometheus/model/labels"
	"github.com/stretchr/testify/require"
	"github.com/thanos-io/objstore"
	"github.com/thanos-io/objstore/providers/filesystem"

	"github.com/strata-io/strata/internal/block"
	"github.com/strata-io/strata/internal/datagen"
	"github.com/strata-io/strata/pkg/metadata"
)

// genEnd is the end of the data genBlocks generates.
var genEnd = time.Date(2026, 3, 1, 12, 0, 0, 0, time.UTC)

// newFS returns a FILESYSTEM bucket in a temp dir.
func newFS(t *testing.T) objstore.Bucket {
	t.Helper()
	bkt, err := filesystem.NewBucket(t.TempDir())
	require.NoError(t, err)
	return bkt
}

// genBlocks uploads 3 generated 2h blocks ending at end with labels ext
// and returns their metas in time order.
func genBlocks(t *testing.T, bkt objstore.Bucket, end time.Time, seed uint64, ext ...string) []*metadata.Meta {
	t.Helper()
	before := map[ulid.ULID]bool{}
	for _, b := range scan(t, bkt) {
		before[b.ID] = true
	}
	dc := datagen.Config{Series: 27, End: end, Duration: 6 * time.Hour, Interval: 5 * time.Minute, Seed: seed}
	_, err := datagen.GenerateBucket(context.Background(), bkt, dc, labels.FromStrings(ext...), "", nil)
	require.NoError(t, err)
	var out []*metadata.Meta
	for _, b := range scan(t, bkt) {
		if !before[b.ID] && b.Meta != nil {
			out = append(out, b.Meta)
		}
	}
	require.Len(t, out, 3)
	return out
}

// scan returns the blocks of bkt in block.SortBlocks order.
func scan(t *testing.T, bkt objstore.BucketReader) []*block.Block {
	t.Helper()
	blocks, err := block.NewInventory(bkt, block.Config{}).Scan(context.Background())
	require.NoError(t, err)
	block.SortBlocks(blocks)
	return blocks
}

// getObject returns the content of name in bkt.
func getObject(t *testing.T, bkt objstore.BucketReader, name string) []byte {
	t.Helper()
	rc, err := bkt.Get(context.Background(), name)
	require.NoError(t, err)
	defer rc.Close()
	b, err := io.ReadAll(rc)
	require.NoError(t, err)
	return b
}

// putObject puts content at name in bkt.
func putObject(t *testing.T, bkt objstore.Bucket, name string, content []byte) {
	t.Helper()
	require.NoError(t, bkt.Upload(context.Background(), name, bytes.NewReader(content)))
}

// verify runs block.Verify over the whole bucket.
func verify(t *testing.T, bkt objstore.BucketReader, cfg block.VerifyConfig) []block.Issue {
	t.Helper()
	issues, err := block.Verify(context.Background(), bkt, scan(t, bkt), cfg, nil)
	require.NoError(t, err)
	return issues
}

// findIssue returns the issue of block id and kind whose details match
// re, failing the test when there is none.
func findIssue(t *testing.T, issues []block.Issue, id ulid.ULID, kind block.IssueKind, re string) block.Issue {
	t.Helper()
	for _, is := range issues {
		if is.Block == id && is.Kind == kind && regexp.MustCompile(re).MatchString(is.Details) {
			return is
		}
	}
	require.Failf(t, "issue not found", "%s %s %q in %v", id, kind, re, issues)
	return block.Issue{}
}

func blocksOf(issues []block.Issue) []ulid.ULID {
	var out []ulid.ULID
	for _, is := range issues {
		out = append(out, is.Block)
	}
	return slices.Compact(out)
}

func TestVerifyFindsIssuesInFilesIndexesAndPartials(t *testing.T) {
	ctx := context.Background()
	bkt := newFS(t)
	ms := genBlocks(t, bkt, genEnd, 1, "cluster", "eu1")

	var calls, lastDone, lastTotal int
	issues := verify(t, bkt, block.VerifyConfig{Deep: true, Concurrency: 2, Progress: func(done, total, _ int) {
		calls++
		lastDone, lastTotal = done, total
	}})
	require.Empty(t, issues)
	require.Equal(t, 3, calls, "one progress call per block")
	require.Equal(t, 3, lastDone)
	require.Equal(t, 3, lastTotal)

	// A deleted chunk file, a truncated index, a second copy of the
	// stream's data overlapping it, a partial upload, an upload in
	// progress.
	require.NoError(t, bkt.Delete(ctx, ms[0].ULID.String()+"/chunks/000001"))
	index := path.Join(ms[1].ULID.String(), metadata.IndexFilename)
	whole := getObject(t, bkt, index)
	putObject(t, bkt, index, whole[:len(whole)/2])
	dup := genBlocks(t, bkt, genEnd.Add(-time.Hour), 1, "cluster", "eu1")
	partial := ulid.MustNew(1, nil)
	putObject(t, bkt, partial.String()+"/index", []byte("x"))
	inProgress := ulid.MustNew(ulid.Timestamp(time.Now().Add(-time.Minute)), nil)
	putObject(t, bkt, inProgress.String()+"/index", []byte("x"))

	issues = verify(t, bkt, block.VerifyConfig{Concurrency: 4, PartialMinAge: time.Hour})
	findIssue(t, issues, ms[0].ULID, block.IssueMissingFile, `^chunks/000001 is listed in meta.json but not in the bucket$`)
	findIssue(t, issues, ms[1].ULID, block.IssueBadIndex, `invalid checksum`)
	findIssue(t, issues, ms[1].ULID, block.IssueSizeMismatch, `^index has \d+ bytes in the bucket, meta.json says \d+`)
	findIssue(t, issues, partial, block.IssuePartial, `^no meta.json: an interrupted upload .*\(1 objects\)$`)
	// dup covers [4h, 10h), the stream [6h, 12h): its first block
	// overlaps nothing.
	for i, d := range dup[1:] {
		findIssue(t, issues, d.ULID, block.IssueOverlap, `overlaps block `+ms[i].ULID.String()+` \[.*\) by \S+ in stream \{cluster="eu1"\} at resolution raw`)
	}
	require.NotContains(t, blocksOf(issues), dup[0].ULID)
	require.NotContains(t, blocksOf(issues), inProgress, "an upload younger than PartialMinAge is no issue")
	require.True(t, slices.IsSortedFunc(issues, func(a, b block.Issue) int { return a.Block.Compare(b.Block) }), "sorted by block")

	// Marking the copies for deletion ends the overlap.
	for _, d := range dup {
		require.NoError(t, metadata.WriteMarker(ctx, bkt, metadata.NewDeletionMark(d.ULID, time.Now(), "")))
	}
	for _, is := range verify(t, bkt, block.VerifyConfig{}) {
		require.NotEqual(t, block.IssueOverlap, is.Kind, is.Details)
	}
}

func TestVerifyStopsWithTheContext(t *testing.T) {
	bkt := newFS(t)
	genBlocks(t, bkt, genEnd, 1, "cluster", "eu1")
	ctx, cancel := context.WithCancel(context.Background())
	cancel()
	_, err := block.Verify(ctx, bkt, scan(t, bkt), block.VerifyConfig{}, nil)
	require.ErrorIs(t, err, context.Canceled)
}

func TestVerifyDeepReadsTheWholeIndex(t *testing.T) {
	bkt := newFS(t)
	ms := genBlocks(t, bkt, genEnd, 1, "cluster", "eu1")
	// Claim a later time range than the index holds: chunks fall outside it.
	m := ms[2]
	m.MinTime += 3 * time.Hour.Milliseconds()
	m.MaxTime += 3 * time.Hour.Milliseconds()
	b, err := m.Marshal()
	require.NoError(t, err)
	putObject(t, bkt, path.Join(m.ULID.String(), metadata.MetaFilename), b)

	require.Empty(t, verify(t, bkt, block.VerifyConfig{}), "the index-header check does not look at series")

	issues := verify(t, bkt, block.VerifyConfig{Deep: true})
	require.Equal(t, []ulid.ULID{m.ULID}, blocksOf(issues))
	findIssue(t, issues, m.ULID, block.IssueBadIndex, `outside the block's range`)
	findIssue(t, issues, m.ULID, block.IssueBadIndex, `more index problems`)
}

func TestVerifyDeepChecksEveryChunk(t *testing.T) {
	bkt := newFS(t)
	ms := genBlocks(t, bkt, genEnd, 1, "cluster", "eu1")

	// Block 0: bytes in the middle of its segment file overwritten, same
	// size (a bit flip on disk): only the chunks' CRC32 tells.
	seg0 := path.Join(ms[0].ULID.String(), "chunks", "000001")
	b := getObject(t, bkt, seg0)
	mid := len(b) / 2
	for i := mid; i < mid+16; i++ {
		b[i] ^= 0xff
	}
	putObject(t, bkt, seg0, b)
	// Block 1: segment file cut in half, meta.json updated to agree.
	seg1 := path.Join(ms[1].ULID.String(), "chunks", "000001")
	whole := getObject(t, bkt, seg1)
	putObject(t, bkt, seg1, whole[:len(whole)/2])
	m := ms[1]
	for i, f := range m.Thanos.Files {
		if f.RelPath == "chunks/000001" {
			m.Thanos.Files[i].SizeBytes = int64(len(whole) / 2)
		}
	}
	mb, err := m.Marshal()
	require.NoError(t, err)
	putObject(t, bkt, path.Join(m.ULID.String(), metadata.MetaFilename), mb)

	issues := verify(t, bkt, block.VerifyConfig{Deep: true})
	findIssue(t, issues, ms[0].ULID, block.IssueBadChunks, `^chunks/000001: chunk at offset \d+ .*checksum mismatch`)
	findIssue(t, issues, ms[1].ULID, block.IssueBadChunks, `^chunks/000001: chunk at offset \d+ .*truncated segment file \(\d+ bytes\)`)
	for _, is := range issues {
		require.NotContains(t, is.Details, "beyond the 1 segment files", "a truncated file is not a missing one")
	}
	require.NotContains(t, blocksOf(issues), ms[2].ULID, "the intact block has no issue")
}

func TestFormatTimeAndDuration(t *testing.T) {
	at := time.Date(2026, 3, 1, 10, 0, 0, 0, time.UTC).UnixMilli()
	require.Equal(t, "2026-03-01T10:00:00Z", block.FormatTime(at+999))
	require.Equal(t, "2h", block.FormatDuration(2*time.Hour.Milliseconds()+1))
	require.Equal(t, "1d12h", block.FormatDuration(36*time.Hour.Milliseconds()))
	require.Equal(t, "1s500ms", block.FormatDuration(1500))
}
