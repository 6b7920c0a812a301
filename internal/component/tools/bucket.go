package tools

import (
	"context"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"os"
	"sync"
	"time"

	"github.com/alecthomas/kingpin/v2"
	"github.com/prometheus/client_golang/prometheus"

	"github.com/strata-io/strata/internal/block"
	strataobjstore "github.com/strata-io/strata/internal/objstore"
)

// The full command names kingpin returns for `strata tools bucket ...`.
const (
	BucketLsCommand         = "tools bucket ls"
	BucketInspectCommand    = "tools bucket inspect"
	BucketVerifyCommand     = "tools bucket verify"
	BucketMarkCommand       = "tools bucket mark"
	BucketUploadCommand     = "tools bucket upload-blocks"
	BucketWebCommand        = "tools bucket web"
	BucketRetentionCommand  = "tools bucket retention"
	BucketDownsampleCommand = "tools bucket downsample"
)

// BucketCommands lists the full names of the `strata tools bucket`
// subcommands, as kingpin returns them.
func BucketCommands() []string {
	return []string{
		BucketLsCommand, BucketInspectCommand, BucketVerifyCommand, BucketMarkCommand,
		BucketUploadCommand, BucketWebCommand, BucketRetentionCommand, BucketDownsampleCommand,
	}
}

// BucketConfig holds the flags of every `strata tools bucket` subcommand.
// The object-storage flags belong to `bucket` and are accepted after any
// subcommand.
type BucketConfig struct {
	Objstore   strataobjstore.Flags
	Ls         BucketLsConfig
	Inspect    BucketInspectConfig
	Verify     BucketVerifyConfig
	Mark       BucketMarkConfig
	Upload     BucketUploadConfig
	Web        BucketWebConfig
	Retention  block.Retention
	Downsample BucketDownsampleConfig
}

// RegisterFlags adds `bucket` and its subcommands to cmd, the `tools`
// command.
func (c *BucketConfig) RegisterFlags(tools *kingpin.CmdClause) {
	cmd := tools.Command("bucket", "Inspect, verify and repair a bucket of blocks; serve the block viewer.")
	c.Objstore.RegisterFlags(cmd)
	c.Ls.RegisterFlags(cmd.Command("ls", "List the blocks of the bucket, one per line."))
	c.Inspect.RegisterFlags(cmd.Command("inspect", "Show per-block statistics (series, samples, chunks, size), filtered and sorted."))
	c.Verify.RegisterFlags(cmd.Command("verify", "Check the bucket: overlapping blocks, missing or resized files, partial uploads, bad indexes. Exits non-zero when it finds issues."))
	c.Mark.RegisterFlags(cmd.Command("mark", "Write (or --remove) a deletion, no-compact or no-downsample marker on blocks."))
	c.Upload.RegisterFlags(cmd.Command("upload-blocks", "Upload local TSDB blocks to the bucket with the given external labels; blocks already there are skipped."))
	c.Web.RegisterFlags(cmd.Command("web", "Serve the block viewer: a timeline of the bucket's blocks per stream and resolution."))
	c.Retention.RegisterFlags(cmd.Command("retention", "Mark for deletion the blocks older than the retention of their resolution, once."))
	c.Downsample.RegisterFlags(cmd.Command("downsample", "Downsample the bucket's blocks (raw to 5m, 5m to 1h) once."))
}

// BucketDeps are what RunBucket needs besides its flags: where to write,
// and, for tests, replacements of the compactor's operations.
type BucketDeps struct {
	// Stdout receives tables and results; nil means os.Stdout.
	Stdout io.Writer
	// Stderr receives progress lines; nil means os.Stderr.
	Stderr io.Writer
	// Retention runs `tools bucket retention`; nil: the compactor's
	// retention pass (compactorRetention).
	Retention RetentionFunc
	// Downsample runs `tools bucket downsample`; nil: the compactor's
	// downsampling pass (compactorDownsample).
	Downsample DownsampleFunc
}

func (d BucketDeps) stdout() io.Writer {
	if d.Stdout == nil {
		return os.Stdout
	}
	return d.Stdout
}

func (d BucketDeps) stderr() io.Writer {
	if d.Stderr == nil {
		return os.Stderr
	}
	return d.Stderr
}

// RunBucket runs the `tools bucket` subcommand named cmd until it is done
// or ctx ends. reg receives the bucket metrics and, for web, is served on
// /metrics (it may be nil for the other subcommands). Verify returns an
// error wrapping ErrIssuesFound when it finds issues.
func RunBucket(ctx context.Context, cmd string, cfg BucketConfig, deps BucketDeps, logger *slog.Logger, reg *prometheus.Registry) error {
	if logger == nil {
		logger = slog.New(slog.DiscardHandler)
	}
	// Check every flag before touching the bucket.
	var err error
	switch cmd {
	case BucketLsCommand:
		err = cfg.Ls.Validate()
	case BucketInspectCommand:
		err = cfg.Inspect.Validate()
	case BucketVerifyCommand:
		err = cfg.Verify.Validate()
	case BucketMarkCommand:
		err = cfg.Mark.Validate()
	case BucketUploadCommand:
		err = cfg.Upload.Validate()
	case BucketWebCommand:
		err = cfg.Web.Validate()
	case BucketRetentionCommand:
		if deps.Retention == nil {
			deps.Retention = compactorRetention
		}
		err = cfg.Retention.Validate()
	case BucketDownsampleCommand:
		if deps.Downsample == nil {
			deps.Downsample = compactorDownsample
		}
		err = cfg.Downsample.Validate()
	default:
		return fmt.Errorf("unknown tools command %q (see strata tools bucket --help)", cmd)
	}
	if err != nil {
		return err
	}
	var r prometheus.Registerer
	if reg != nil {
		r = reg
	}
	bkt, err := openBucket(ctx, cfg.Objstore, logger, r)
	if err != nil {
		return err
	}
	defer func() { _ = bkt.Close() }()

	switch cmd {
	case BucketLsCommand:
		return runLs(ctx, bkt, cfg.Ls, deps)
	case BucketInspectCommand:
		return runInspect(ctx, bkt, cfg.Inspect, deps)
	case BucketVerifyCommand:
		return runVerify(ctx, bkt, cfg.Verify, deps, logger)
	case BucketMarkCommand:
		return runMark(ctx, bkt, cfg.Mark, deps, logger)
	case BucketUploadCommand:
		return runUpload(ctx, bkt, cfg.Upload, deps, logger)
	case BucketWebCommand:
		return runWeb(ctx, bkt, cfg.Web, logger, reg)
	case BucketRetentionCommand:
		return deps.Retention(ctx, bkt, cfg.Retention, logger, r)
	default:
		return deps.Downsample(ctx, bkt, cfg.Downsample.Options(), logger, r)
	}
}

// openBucket builds and checks the bucket the flags describe.
func openBucket(ctx context.Context, flags strataobjstore.Flags, logger *slog.Logger, reg prometheus.Registerer) (*strataobjstore.Bucket, error) {
	if !flags.IsSet() {
		return nil, errors.New("tools bucket works on a bucket: set --objstore.config-file or --objstore.config")
	}
	return flags.Open(ctx, logger, reg, "tools")
}

// progress prints "<what>: done/total <extra>" lines to w, at most one per
// interval plus the last one. It is safe for concurrent use.
type progress struct {
	mu       sync.Mutex
	w        io.Writer
	what     string
	interval time.Duration
	last     time.Time
}

func newProgress(w io.Writer, what string) *progress {
	return &progress{w: w, what: what, interval: time.Second}
}

// update reports done of total; extra (may be "") follows the counts.
func (p *progress) update(done, total int, extra string) {
	p.mu.Lock()
	defer p.mu.Unlock()
	now := time.Now()
	if done < total && now.Sub(p.last) < p.interval {
		return
	}
	p.last = now
	if extra != "" {
		extra = ", " + extra
	}
	_, _ = fmt.Fprintf(p.w, "%s: %d/%d%s\n", p.what, done, total, extra)
}
