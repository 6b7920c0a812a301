package compact

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"sync"
	"time"

	"github.com/prometheus/client_golang/prometheus"
	"github.com/thanos-io/objstore"

	"github.com/strata-io/strata/internal/block"
)

// ErrRunFailures is wrapped by the error of a run that went to its end but
// in which some group, compaction, downsampling or clean-up failed (each
// logged and counted in its metric); they are retried at the next run.
var ErrRunFailures = errors.New("some steps of the run failed (see the logs and strata_compact_*_failures_total)")

// Compactor keeps a bucket compacted, deduplicated, downsampled and within
// retention. Its methods are goroutine-safe; runs (RunOnce, RunRetention,
// RunDownsampling) are serialised.
type Compactor struct {
	cfg         Config
	ranges      []int64 // cfg.Ranges in ms
	bkt         objstore.Bucket
	merger      Merger
	downsampler Downsampler
	logger      *slog.Logger
	metrics     *metrics
	inv         *block.Inventory
	// slots bounds the compactions running at once (Concurrency), across
	// groups and within one.
	slots chan struct{}

	mu sync.Mutex // serialises runs
}

// New returns a Compactor over bkt. Zero Ranges, Concurrency and
// MetaFetchConcurrency take their defaults. m is needed by RunOnce and d
// by the downsampling pass (unless cfg.DisableDownsampling); either may be
// nil for a Compactor used only for RunRetention (and, without d, with
// downsampling disabled). Metrics are registered on reg when not nil; a
// nil logger discards.
func New(cfg Config, bkt objstore.Bucket, m Merger, d Downsampler, logger *slog.Logger, reg prometheus.Registerer) (*Compactor, error) {
	def := DefaultConfig()
	if cfg.Ranges == nil {
		cfg.Ranges = def.Ranges
	}
	if cfg.Concurrency == 0 {
		cfg.Concurrency = def.Concurrency
	}
	if cfg.MetaFetchConcurrency == 0 {
		cfg.MetaFetchConcurrency = def.MetaFetchConcurrency
	}
	if cfg.Now == nil {
		cfg.Now = time.Now
	}
	if err := cfg.Validate(); err != nil {
		return nil, fmt.Errorf("compactor configuration: %w", err)
	}
	if bkt == nil {
		return nil, errors.New("compactor: no bucket (--objstore.config-file)")
	}
	if m != nil && d == nil && !cfg.DisableDownsampling {
		return nil, errors.New("compactor: no downsampler while downsampling is on (--downsampling.disable turns it off)")
	}
	if logger == nil {
		logger = slog.New(slog.DiscardHandler)
	}
	return &Compactor{
		cfg:         cfg,
		ranges:      cfg.rangesMs(),
		bkt:         bkt,
		merger:      m,
		downsampler: d,
		logger:      logger,
		metrics:     newMetrics(reg),
		inv:         block.NewInventory(bkt, block.Config{Concurrency: cfg.MetaFetchConcurrency}),
		slots:       make(chan struct{}, cfg.Concurrency),
	}, nil
}

// RunOnce does one full pass over the bucket: sync, remove partial uploads
// and blocks whose deletion mark is older than the delete delay, compact
// every owned group, downsample, apply retention, and clean again.
//
// Failures of one group, one compaction or one block are logged and
// counted and never stop the others; the run then goes to its end and
// returns an error wrapping ErrRunFailures naming the steps that had
// failures. Other errors are failures to reach the bucket itself
// (listing) or a cancelled ctx, which stop the run. Blocks whose data
// cannot be read are marked (no-compact, no-downsample), which is not a
// failure.
func (c *Compactor) RunOnce(ctx context.Context) error {
	if c.merger == nil {
		return errors.New("compactor has no merger: it can only apply retention")
	}
	c.mu.Lock()
	defer c.mu.Unlock()
	start := time.Now()
	c.metrics.runs.Inc()
	if err := c.resetWorkDir(); err != nil {
		c.metrics.runFailures.Inc()
		return err
	}
	var failedSteps []string
	steps := []struct {
		name string
		fn   func(ctx context.Context, st *bucketState) (bool, error)
	}{
		{"clean", c.clean},
		{"compact", c.compactAll},
		{"downsample", c.downsampleAll},
		{"retention", c.applyRetention},
		{"clean", c.clean},
	}
	for _, s := range steps {
		if s.name == "downsample" && c.cfg.DisableDownsampling {
			continue
		}
		st, err := c.sync(ctx)
		if err == nil {
			var stepFailed bool
			stepFailed, err = s.fn(ctx, st)
			if stepFailed && !slices.Contains(failedSteps, s.name) {
				failedSteps = append(failedSteps, s.name)
			}
		}
		if err != nil {
			c.metrics.runFailures.Inc()
			return fmt.Errorf("%s: %w", s.name, err)
		}
	}
	c.logger.Info("compactor run done", "duration", time.Since(start), "failed_steps", failedSteps)
	if len(failedSteps) > 0 {
		return fmt.Errorf("%w: %s", ErrRunFailures, strings.Join(failedSteps, ", "))
	}
	c.metrics.lastSuccess.SetToCurrentTime()
	return nil
}

// Run calls RunOnce every interval until ctx is done, logging the errors
// of each run (the failures are counted in the metrics); it returns nil
// once ctx is cancelled.
func (c *Compactor) Run(ctx context.Context, interval time.Duration) error {
	for {
		switch err := c.RunOnce(ctx); {
		case err == nil || ctx.Err() != nil:
		case errors.Is(err, ErrRunFailures):
			c.logger.Warn("compactor run done with failures, retrying them at the next interval", "err", err, "interval", interval)
		default:
			c.logger.Error("compactor run failed, retrying at the next interval", "err", err, "interval", interval)
		}
		select {
		case <-ctx.Done():
			return nil
		case <-time.After(interval):
		}
	}
}

// RunRetention syncs the bucket and marks for deletion the owned blocks
// past their retention (see Config.Retention), without deleting anything.
// It is what `strata tools bucket retention` runs.
func (c *Compactor) RunRetention(ctx context.Context) error {
	c.mu.Lock()
	defer c.mu.Unlock()
	st, err := c.sync(ctx)
	if err != nil {
		return err
	}
	_, err = c.applyRetention(ctx, st)
	return err
}

// RunDownsampling syncs the bucket and downsamples the owned blocks that
// are due (raw -> 5m, then 5m -> 1h). It is what `strata tools bucket
// downsample` runs. Failures of single blocks are logged, counted and
// returned joined after the others were tried.
func (c *Compactor) RunDownsampling(ctx context.Context) error {
	if c.downsampler == nil {
		return errors.New("compactor has no downsampler")
	}
	c.mu.Lock()
	defer c.mu.Unlock()
	if err := c.resetWorkDir(); err != nil {
		return err
	}
	st, err := c.sync(ctx)
	if err != nil {
		return err
	}
	failed, err := c.downsampleAll(ctx, st)
	if err == nil && failed {
		err = errors.New("some blocks could not be downsampled: see the logs")
	}
	return err
}

// Sub-directories of the work directory, one per kind of job.
const (
	compactDirName    = "compact"
	downsampleDirName = "downsample"
)

// resetWorkDir empties the compactor's sub-directories of the work
// directory, removing what an interrupted run left. Other files of the
// work directory are left alone.
func (c *Compactor) resetWorkDir() error {
	for _, name := range []string{compactDirName, downsampleDirName} {
		dir := filepath.Join(c.cfg.WorkDir, name)
		if err := os.RemoveAll(dir); err != nil {
			return fmt.Errorf("empty %s in the work directory (--data-dir): %w", dir, err)
		}
		if err := os.MkdirAll(dir, 0o755); err != nil {
			return fmt.Errorf("create %s in the work directory (--data-dir): %w", dir, err)
		}
	}
	return nil
}

// nowMs is the current time in ms.
func (c *Compactor) nowMs() int64 { return c.cfg.Now().UnixMilli() }
