package main

import (
	"context"
	"log/slog"

	"github.com/alecthomas/kingpin/v2"
	"github.com/prometheus/client_golang/prometheus"

	"github.com/strata-io/strata/internal/component/sidecar"
)

// registerSidecar adds `strata sidecar`.
func registerSidecar(app *kingpin.Application, cmds commands) {
	var cfg sidecar.Config
	cfg.RegisterFlags(app.Command("sidecar", "Serve a Prometheus over the StoreAPI, next to it."))
	cmds["sidecar"] = func(ctx context.Context, logger *slog.Logger, reg *prometheus.Registry) error {
		return sidecar.Run(ctx, cfg, logger, reg)
	}
}
