package tools

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"strconv"
	"text/tabwriter"
	"time"

	"github.com/alecthomas/kingpin/v2"
	"github.com/oklog/ulid/v2"
	"github.com/thanos-io/objstore"

	"github.com/strata-io/strata/internal/block"
)

// ErrIssuesFound is returned (wrapped) by `tools bucket verify` when it
// finds at least one issue, so that the command exits non-zero.
var ErrIssuesFound = errors.New("the bucket has issues")

// BucketVerifyConfig holds the flags of `tools bucket verify` (the checks
// are block.Verify's).
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

// runVerify checks the bucket with block.Verify, progress on stderr, and
// prints the issues as a table on stdout.
func runVerify(ctx context.Context, bkt objstore.BucketReader, cfg BucketVerifyConfig, deps BucketDeps, logger *slog.Logger) error {
	blocks, err := listBlocks(ctx, bkt, nil, deps.stderr())
	if err != nil {
		return err
	}
	p := newProgress(deps.stderr(), "verifying blocks")
	issues, err := block.Verify(ctx, bkt, blocks, block.VerifyConfig{
		Deep:          cfg.Deep,
		Concurrency:   cfg.Concurrency,
		TempDir:       cfg.TempDir,
		PartialMinAge: cfg.PartialMinAge,
		Progress: func(done, total, issues int) {
			p.update(done, total, strconv.Itoa(issues)+" issues so far")
		},
	}, logger)
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
