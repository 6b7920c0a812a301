package tools

import (
	"cmp"
	"context"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"os"
	"path/filepath"
	"slices"
	"strconv"
	"strings"
	"sync"
	"text/tabwriter"
	"time"

	"github.com/alecthomas/kingpin/v2"
	"github.com/oklog/ulid/v2"
	"github.com/thanos-io/objstore"

	"github.com/strata-io/strata/internal/block"
	"github.com/strata-io/strata/internal/store/indexheader"
	"github.com/strata-io/strata/pkg/metadata"
)

// ErrIssuesFound is returned (wrapped) by `tools bucket verify` when it
// finds at least one issue, so that the command exits non-zero.
var ErrIssuesFound = errors.New("the bucket has issues")

// IssueKind names a kind of problem verify finds.
type IssueKind string

// The issues verify reports.
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
	// truncation) or, with --deep, its series are out of order or its
	// chunks out of order, out of the block's range or out of the
	// segment files.
	IssueBadIndex IssueKind = "bad-index"
	// IssueBadChunks (--deep): a chunk the index refers to cannot be read
	// from its segment file: the file ends before it (truncated segment
	// file) or its CRC32 does not match its bytes (checksum mismatch).
	IssueBadChunks IssueKind = "bad-chunks"
)

// Issue is one problem verify found.
type Issue struct {
	// Block is the block concerned (for an overlap, the later one).
	Block   ulid.ULID
	Kind    IssueKind
	Details string
}

// BucketVerifyConfig holds the flags of `tools bucket verify`.
type BucketVerifyConfig struct {
	// Deep downloads each index and walks every series.
	Deep bool
	// Concurrency is how many blocks are checked at once.
	Concurrency int
	// TempDir holds index-headers (and, with Deep, indexes) while a block
	// is checked; "" is the system's temporary directory.
	TempDir string
	// PartialMinAge: a block directory without meta.json whose ULID is
	// younger than this is an upload in progress, not an issue.
	PartialMinAge time.Duration
}

// RegisterFlags adds the flags of `verify` to cmd.
func (c *BucketVerifyConfig) RegisterFlags(cmd *kingpin.CmdClause) {
	cmd.Flag("deep", "Also download each block's index and walk every series (label order, chunk order, chunk time ranges and references), and read every chunk of the segment files checking its CRC32 (reads whole blocks).").
		BoolVar(&c.Deep)
	cmd.Flag("concurrency", "How many blocks are checked at once.").Default("4").IntVar(&c.Concurrency)
	cmd.Flag("partial-min-age", "Block directories without meta.json whose ULID is younger than this are uploads in progress, not issues.").
		Default("1h").DurationVar(&c.PartialMinAge)
	cmd.Flag("temp-dir", "Directory for the index-headers (and, with --deep, the indexes) of the blocks being checked; each is removed after its check. Default: the system's temp dir.").
		PlaceHolder("<dir>").StringVar(&c.TempDir)
}

// Validate checks the flags and says what to fix.
func (c *BucketVerifyConfig) Validate() error {
	if c.Concurrency < 1 {
		return fmt.Errorf("--concurrency must be at least 1, got %d", c.Concurrency)
	}
	return nil
}

func runVerify(ctx context.Context, bkt objstore.BucketReader, cfg BucketVerifyConfig, deps BucketDeps, logger *slog.Logger) error {
	blocks, err := listBlocks(ctx, bkt, nil, deps.stderr())
	if err != nil {
		return err
	}
	issues, err := Verify(ctx, bkt, blocks, cfg, deps.stderr(), logger)
	if err != nil {
		return err
	}
	out := deps.stdout()
	if len(issues) == 0 {
		_, _ = fmt.Fprintf(out, "no issues in %d block directories\n", len(blocks))
		return nil
	}
	tw := tabwriter.NewWriter(out, 0, 0, 2, ' ', 0)
	writeRow(tw, "BLOCK", "ISSUE", "DETAILS")
	affected := map[ulid.ULID]bool{}
	for _, is := range issues {
		writeRow(tw, is.Block.String(), string(is.Kind), is.Details)
		affected[is.Block] = true
	}
	if err := tw.Flush(); err != nil {
		return err
	}
	return fmt.Errorf("verify: %d issues in %d of %d block directories: %w", len(issues), len(affected), len(blocks), ErrIssuesFound)
}

// Verify checks blocks (as the block inventory read them) in bkt and returns
// the issues found, sorted by block and kind. Progress lines go to
// progressW. It returns an error only when the checks cannot run (ctx
// ended, temp dir unusable); problems of the bucket are issues.
func Verify(ctx context.Context, bkt objstore.BucketReader, blocks []*block.Block, cfg BucketVerifyConfig, progressW io.Writer, logger *slog.Logger) ([]Issue, error) {
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
		next   = make(chan *block.Block)
		p      = newProgress(progressW, "verifying blocks")
	)
	for range min(cfg.Concurrency, len(blocks)) {
		wg.Go(func() {
			for b := range next {
				found := verifyBlock(ctx, bkt, b, cfg, filepath.Join(tmp, b.ID.String()))
				mu.Lock()
				issues = append(issues, found...)
				done++
				p.update(done, len(blocks), strconv.Itoa(len(issues))+" issues so far")
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

// overlaps finds the pairs of blocks of one stream and resolution whose
// time ranges overlap, ignoring blocks marked for deletion (the inputs of
// a compaction overlap its output until they are deleted).
func overlaps(blocks []*block.Block) []Issue {
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
						fmtTime(m.MinTime), fmtTime(m.MaxTime), prev.ULID, fmtTime(prev.MinTime), fmtTime(prev.MaxTime),
						fmtDuration(min(prev.MaxTime, m.MaxTime)-m.MinTime), k.stream, metadata.ResolutionName(k.res))})
				}
			}
		}
	}
	return issues
}

// verifyBlock checks one block's files and index; tmp is a scratch
// directory it removes.
func verifyBlock(ctx context.Context, bkt objstore.BucketReader, b *block.Block, cfg BucketVerifyConfig, tmp string) []Issue {
	deep := cfg.Deep
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
		size, err := block.ObjectSize(ctx, bkt, b.ID, f.RelPath)
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
	if deep {
		problems, refs := deepCheckIndex(ctx, bkt, b.Meta, sizes, tmp)
		for _, problem := range problems {
			add(IssueBadIndex, "%s", problem)
		}
		for _, problem := range deepCheckChunks(ctx, bkt, b.Meta, refs, sizes) {
			add(IssueBadChunks, "%s", problem)
		}
	}
	return issues
}
