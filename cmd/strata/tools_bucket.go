package main

import (
	"context"
	"log/slog"

	"github.com/alecthomas/kingpin/v2"
	"github.com/prometheus/client_golang/prometheus"

	"github.com/strata-io/strata/internal/component/tools"
)

// registerToolsBucket adds `strata tools bucket ...` under the tools
// command and returns the configuration its flags fill.
func registerToolsBucket(toolsCmd *kingpin.CmdClause) *tools.BucketConfig {
	var cfg tools.BucketConfig
	cfg.RegisterFlags(toolsCmd)
	return &cfg
}

// runToolsBucket runs one `strata tools bucket` subcommand. Tables go to
// stdout, progress to stderr.
func runToolsBucket(ctx context.Context, cmd string, cfg tools.BucketConfig, logger *slog.Logger, reg *prometheus.Registry) error {
	return tools.RunBucket(ctx, cmd, cfg, tools.BucketDeps{}, logger, reg)
}
