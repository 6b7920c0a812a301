package tools

import (
	"context"
	"fmt"
	"log/slog"
	"os"

	"github.com/prometheus/client_golang/prometheus"
	"github.com/thanos-io/objstore"

	"github.com/strata-io/strata/internal/block"
	"github.com/strata-io/strata/internal/compact"
	"github.com/strata-io/strata/internal/downsample"
)

// compactorRetention is `strata tools bucket retention` (a RetentionFunc):
// one retention pass of the compactor over bkt, with its rules (raw data
// is kept until a 5m copy of it exists).
func compactorRetention(ctx context.Context, bkt objstore.Bucket, policy block.Retention, logger *slog.Logger, reg prometheus.Registerer) error {
	dir, err := os.MkdirTemp("", "strata-retention-")
	if err != nil {
		return fmt.Errorf("create a scratch directory: %w", err)
	}
	defer func() { _ = os.RemoveAll(dir) }()
	cfg := compact.DefaultConfig()
	cfg.WorkDir = dir
	cfg.Retention = policy
	c, err := compact.New(cfg, bkt, nil, downsample.NewBlockDownsampler(logger), logger, reg)
	if err != nil {
		return err
	}
	return c.RunRetention(ctx)
}

// compactorDownsample is `strata tools bucket downsample` (a DownsampleFunc):
// one downsampling pass of the compactor over bkt (raw -> 5m, 5m -> 1h for
// the blocks that are due).
func compactorDownsample(ctx context.Context, bkt objstore.Bucket, opts DownsampleOptions, logger *slog.Logger, reg prometheus.Registerer) error {
	cfg := compact.DefaultConfig()
	cfg.WorkDir = opts.DataDir
	if opts.Concurrency > 0 {
		cfg.Concurrency = opts.Concurrency
	}
	c, err := compact.New(cfg, bkt, nil, downsample.NewBlockDownsampler(logger), logger, reg)
	if err != nil {
		return err
	}
	return c.RunDownsampling(ctx)
}
