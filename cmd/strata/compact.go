package main

import (
	"context"
	"log/slog"

	"github.com/alecthomas/kingpin/v2"
	"github.com/prometheus/client_golang/prometheus"

	"github.com/strata-io/strata/internal/component/compactor"
)

// registerCompact adds `strata compact`.
func registerCompact(app *kingpin.Application, cmds commands) {
	var cfg compactor.Config
	cfg.RegisterFlags(app.Command("compact", "Keep a bucket compacted, deduplicated, downsampled and within retention; serves the block viewer."))
	cmds["compact"] = func(ctx context.Context, logger *slog.Logger, reg *prometheus.Registry) error {
		return compactor.Run(ctx, cfg, logger, reg)
	}
}
