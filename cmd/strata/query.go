package main

import (
	"context"
	"log/slog"

	"github.com/alecthomas/kingpin/v2"
	"github.com/prometheus/client_golang/prometheus"

	"github.com/strata-io/strata/internal/component"
	"github.com/strata-io/strata/internal/component/querier"
	"github.com/strata-io/strata/internal/server"
)

// registerQuery adds `strata query`.
func registerQuery(app *kingpin.Application, cmds commands) {
	cmd := app.Command("query", "Query many StoreAPI endpoints as one Prometheus, with replica deduplication.")
	var srv server.Config
	srv.RegisterFlags(cmd)
	var cfg querier.Config
	cfg.RegisterFlags(cmd)
	cmds["query"] = func(ctx context.Context, logger *slog.Logger, reg *prometheus.Registry) error {
		q, err := querier.New(cfg, querier.Deps{Logger: logger, Registerer: reg})
		if err != nil {
			return err
		}
		return component.Serve(ctx, component.ServeConfig{HTTP: cfg.HTTPConfig(srv.HTTP), GRPC: &srv.GRPC}, logger, reg, q)
	}
}
