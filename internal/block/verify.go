package block

import (
	"cmp"
	"context"
	"fmt"
	"log/slog"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"sync"
	"time"

	"github.com/oklog/ulid/v2"
	"github.com/prometheus/common/model"
	"github.com/thanos-io/objstore"

	"github.com/strata-io/strata/internal/store/indexheader"
	"github.com/strata-io/strata/pkg/metadata"
)

// IssueKind names a kind of problem Verify finds.
type IssueKind string

// The issues Verify reports.
const (
	// IssueOverlap: two blocks of one stream and resolution, neither
	// marked for deletion, overlap in time.
	IssueOverlap IssueKind = "overlap"
	// IssuePartial: a block directory without meta.json (an interrupted
	// upload or deletion; readers ignore it, the compactor removes it).
	IssuePartial IssueKind = "partial"
	// IssueBadMeta: meta.json exists but cannot be read or decoded.
	IssueBadMeta IssueKind = "bad-meta"
	// IssueBadMarker: a marker exists but cannot be read.
	IssueBadMarker IssueKind = "bad-marker"
	// IssueMissingFile: a file meta.json lists is not in the bucket.
	IssueMissingFile IssueKind = "missing-file"
	// IssueSizeMismatch: a file's size differs from meta.json's.
	IssueSizeMismatch IssueKind = "size-mismatch"
	// IssueBadIndex: the index is unreadable (TOC or a section checksum,
	// truncation) or, with Deep, its series are out of order or its
	// chunks out of order, out of the block's range or out of the
	// segment files.
	IssueBadIndex IssueKind = "bad-index"
	// IssueBadChunks (Deep): a chunk the index refers to cannot be read
	// from its segment file: the file ends before it (truncated segment
	// file) or its CRC32 does not match its bytes (checksum mismatch).
	IssueBadChunks IssueKind = "bad-chunks"
)

// Issue is one problem Verify found.
type Issue struct {
	// Block is the block concerned (for an overlap, the later one).
	Block   ulid.ULID
	Kind    IssueKind
	Details string
}

// VerifyConfig configures Verify.
type VerifyConfig struct {
	// Deep downloads each index and walks every series, and reads every
	// chunk of the segment files checking its CRC32.
	Deep bool
	// Concurrency is how many blocks are checked at once (at least 1).
	Concurrency int
	// TempDir holds index-headers (and, with Deep, indexes) while a block
	// is checked; "" is the system's temporary directory.
	TempDir string
	// PartialMinAge: a block directory without meta.json whose ULID is
	// younger than this is an upload in progress, not an issue.
	PartialMinAge time.Duration
	// Progress, when set, is called after each block is checked with the
	// blocks checked so far, their total and the issues found so far. The
	// calls do not overlap.
	Progress func(done, total, issues int)
}

// Verify checks blocks (as the inventory read them) in bkt and returns
// the issues found, sorted by block and kind: overlapping blocks, partial
// uploads, unreadable metas and markers, files missing or of another size
// than meta.json says, and indexes the index-header cannot be built from
// (ranged reads); with cfg.Deep also the series and chunks of every index
// and the chunks of every segment file. It returns an error only when the
// checks cannot run (ctx ended, temp dir unusable); problems of the bucket
// are issues.
func Verify(ctx context.Context, bkt objstore.BucketReader, blocks []*Block, cfg VerifyConfig, logger *slog.Logger) ([]Issue, error) {
	if logger == nil {
		logger = slog.New(slog.DiscardHandler)
	}
	if cfg.Concurrency < 1 {
		cfg.Concurrency = 1
	}
	tmp, err := os.MkdirTemp(cfg.TempDir, "strata-verify-")
	if err != nil {
		return nil, fmt.Errorf("create temp dir (set --temp-dir): %w", err)
	}
	defer func() { _ = os.RemoveAll(tmp) }()

	var (
		mu     sync.Mutex
		issues = overlaps(blocks)
		done   int
		wg     sync.WaitGroup
		next   = make(chan *Block)
	)
	for range min(cfg.Concurrency, len(blocks)) {
		wg.Go(func() {
			for b := range next {
				found := verifyBlock(ctx, bkt, b, cfg, filepath.Join(tmp, b.ID.String()))
				mu.Lock()
				issues = append(issues, found...)
				done++
				if cfg.Progress != nil {
					cfg.Progress(done, len(blocks), len(issues))
				}
				mu.Unlock()
				for _, is := range found {
					logger.Debug("issue found", "block", is.Block, "issue", is.Kind, "details", is.Details)
				}
			}
		})
	}
feed:
	for i := range blocks {
		select {
		case next <- blocks[i]:
		case <-ctx.Done():
			break feed
		}
	}
	close(next)
	wg.Wait()
	if err := ctx.Err(); err != nil {
		return nil, err
	}
	slices.SortStableFunc(issues, func(a, b Issue) int {
		if c := a.Block.Compare(b.Block); c != 0 {
			return c
		}
		return strings.Compare(string(a.Kind), string(b.Kind))
	})
	return issues, nil
}

// FormatTime formats a ms timestamp as RFC 3339 UTC to the second, as
// issues and the bucket tools' tables show times.
func FormatTime(ms int64) string { return time.UnixMilli(ms).UTC().Format(time.RFC3339) }

// FormatDuration formats ms as Prometheus durations do (2h, 1d12h), to
// the second from a minute up.
func FormatDuration(ms int64) string {
	d := time.Duration(ms) * time.Millisecond
	if d >= time.Minute {
		d = d.Round(time.Second)
	}
	return model.Duration(d).String()
}

// overlaps finds the pairs of blocks of one stream and resolution whose
// time ranges overlap, ignoring blocks marked for deletion (the inputs of
// a compaction overlap its output until they are deleted).
func overlaps(blocks []*Block) []Issue {
	type key struct {
		stream string
		res    int64
	}
	groups := map[key][]*metadata.Meta{}
	for _, b := range blocks {
		if b.Meta == nil || b.Deletion != nil {
			continue
		}
		k := key{b.Stream(), b.Meta.Thanos.Downsample.Resolution}
		groups[k] = append(groups[k], b.Meta)
	}
	var issues []Issue
	for k, ms := range groups {
		slices.SortFunc(ms, func(a, b *metadata.Meta) int {
			return cmp.Or(cmp.Compare(a.MinTime, b.MinTime), a.ULID.Compare(b.ULID))
		})
		for i, m := range ms {
			for _, prev := range ms[:i] {
				if prev.MaxTime > m.MinTime {
					issues = append(issues, Issue{Block: m.ULID, Kind: IssueOverlap, Details: fmt.Sprintf(
						"[%s, %s) overlaps block %s [%s, %s) by %s in stream %s at resolution %s (the compactor merges them vertically)",
						FormatTime(m.MinTime), FormatTime(m.MaxTime), prev.ULID, FormatTime(prev.MinTime), FormatTime(prev.MaxTime),
						FormatDuration(min(prev.MaxTime, m.MaxTime)-m.MinTime), k.stream, metadata.ResolutionName(k.res))})
				}
			}
		}
	}
	return issues
}

// verifyBlock checks one block's files and index; tmp is a scratch
// directory it removes.
func verifyBlock(ctx context.Context, bkt objstore.BucketReader, b *Block, cfg VerifyConfig, tmp string) []Issue {
	var issues []Issue
	add := func(kind IssueKind, format string, args ...any) {
		issues = append(issues, Issue{Block: b.ID, Kind: kind, Details: fmt.Sprintf(format, args...)})
	}
	for _, err := range b.MarkerErrs {
		add(IssueBadMarker, "%v", err)
	}
	switch {
	case b.MetaErr != nil:
		add(IssueBadMeta, "%v", b.MetaErr)
		return issues
	case b.Meta == nil && b.Deletion == nil && time.Since(ulid.Time(b.ID.Time())) < cfg.PartialMinAge:
		return nil // an upload in progress
	case b.Meta == nil:
		state := "no meta.json: an interrupted upload (or one in progress), ignored by readers; the compactor removes it after --delete-delay"
		if b.Deletion != nil {
			state = "no meta.json and a deletion mark: an interrupted deletion; the compactor finishes it"
		}
		add(IssuePartial, "%s (%d objects)", state, len(b.Objects))
		return issues
	}
	defer func() { _ = os.RemoveAll(tmp) }()

	// Files: those meta.json lists, or, for a meta without a file list,
	// the index and the segment files.
	files := b.Meta.Thanos.Files
	if len(files) == 0 {
		files = append(files, metadata.File{RelPath: metadata.IndexFilename})
		for _, s := range b.Meta.Thanos.SegmentFiles {
			files = append(files, metadata.File{RelPath: metadata.ChunksDirname + "/" + s})
		}
	}
	sizes := map[string]int64{}
	indexOK := true
	for _, f := range files {
		if f.RelPath == metadata.MetaFilename {
			continue
		}
		if !b.HasObject(f.RelPath) {
			add(IssueMissingFile, "%s is listed in meta.json but not in the bucket", f.RelPath)
			indexOK = indexOK && f.RelPath != metadata.IndexFilename
			continue
		}
		size, err := ObjectSize(ctx, bkt, b.ID, f.RelPath)
		if err != nil {
			add(IssueMissingFile, "%s: %v", f.RelPath, err)
			continue
		}
		sizes[f.RelPath] = size
		if f.SizeBytes > 0 && size != f.SizeBytes {
			add(IssueSizeMismatch, "%s has %d bytes in the bucket, meta.json says %d (truncated or rewritten upload)", f.RelPath, size, f.SizeBytes)
		}
	}
	if !indexOK {
		return issues
	}
	if err := indexheader.Build(ctx, bkt, b.ID, filepath.Join(tmp, "index-header")); err != nil {
		if ctx.Err() == nil {
			add(IssueBadIndex, "%v", err)
		}
		return issues
	}
	if cfg.Deep {
		problems, refs := deepCheckIndex(ctx, bkt, b.Meta, tmp)
		for _, problem := range problems {
			add(IssueBadIndex, "%s", problem)
		}
		for _, problem := range deepCheckChunks(ctx, bkt, b.Meta, refs, sizes) {
			add(IssueBadChunks, "%s", problem)
		}
	}
	return issues
}
