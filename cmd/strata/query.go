package main

import (
	"context"
	"log/slog"

	"github.com/alecthomas/kingpin/v2"
	"github.com/prometheus/client_golang/prometheus"

	"github.com/strata-io/strata/internal/component/querier"
)

// registerQuery adds `strata query`.
func registerQuery(app *kingpin.Application, cmds commands) {
	var cfg querier.Config
	cfg.RegisterFlags(app.Command("query", "Query many StoreAPI endpoints as one Prometheus, with replica deduplication."))
	cmds["query"] = func(ctx context.Context, logger *slog.Logger, reg *prometheus.Registry) error {
		return querier.Run(ctx, cfg, logger, reg)
	}
}
