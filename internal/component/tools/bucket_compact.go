package tools

import (
	"context"
	"errors"
	"fmt"
	"log/slog"

	"github.com/alecthomas/kingpin/v2"
	"github.com/prometheus/client_golang/prometheus"
	"github.com/thanos-io/objstore"

	"github.com/strata-io/strata/internal/block"
)

// RetentionFunc applies policy to bkt once: it marks for deletion the
// blocks older than the retention of their resolution (never raw data
// whose 5m version does not exist yet) and returns. Implemented by the
// compactor (internal/compact) and wired by cmd/strata.
type RetentionFunc func(ctx context.Context, bkt objstore.Bucket, policy block.Retention, logger *slog.Logger, reg prometheus.Registerer) error

// DownsampleOptions configure one `tools bucket downsample` run.
type DownsampleOptions struct {
	// DataDir is the local scratch directory for downloaded and written
	// blocks.
	DataDir string
	// Concurrency is how many blocks are downsampled at once.
	Concurrency int
}

// DownsampleFunc downsamples the blocks of bkt that are due (raw to 5m,
// 5m to 1h), uploads the results and returns. Implemented by the
// compactor (internal/compact) and wired by cmd/strata.
type DownsampleFunc func(ctx context.Context, bkt objstore.Bucket, opts DownsampleOptions, logger *slog.Logger, reg prometheus.Registerer) error

// BucketDownsampleConfig holds the flags of `tools bucket downsample`.
type BucketDownsampleConfig struct {
	DataDir     string
	Concurrency int
}

// RegisterFlags adds the flags of `downsample` to cmd.
func (c *BucketDownsampleConfig) RegisterFlags(cmd *kingpin.CmdClause) {
	cmd.Flag("data-dir", "Local scratch directory for the blocks being downsampled.").
		Default("./data").StringVar(&c.DataDir)
	cmd.Flag("downsample.concurrency", "How many blocks are downsampled at once.").
		Default("1").IntVar(&c.Concurrency)
}

// Validate checks the flags and says what to fix.
func (c *BucketDownsampleConfig) Validate() error {
	if c.DataDir == "" {
		return errors.New("--data-dir must not be empty")
	}
	if c.Concurrency < 1 {
		return fmt.Errorf("--downsample.concurrency must be at least 1, got %d", c.Concurrency)
	}
	return nil
}

// Options returns the options the flags ask for.
func (c *BucketDownsampleConfig) Options() DownsampleOptions {
	return DownsampleOptions{DataDir: c.DataDir, Concurrency: c.Concurrency}
}
