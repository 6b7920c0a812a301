package main

import (
	"context"
	"log/slog"

	"github.com/alecthomas/kingpin/v2"
	"github.com/prometheus/client_golang/prometheus"

	"github.com/strata-io/strata/internal/component/storegateway"
)

// registerStore adds `strata store`, the store gateway.
func registerStore(app *kingpin.Application, cmds commands) {
	var cfg storegateway.Config
	cfg.RegisterFlags(app.Command("store", "Serve the blocks of a bucket over the StoreAPI (store gateway)."))
	cmds["store"] = func(ctx context.Context, logger *slog.Logger, reg *prometheus.Registry) error {
		return storegateway.Run(ctx, cfg, logger, reg)
	}
}
