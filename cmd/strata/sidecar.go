package main

import (
	"context"
	"log/slog"

	"github.com/alecthomas/kingpin/v2"
	"github.com/prometheus/client_golang/prometheus"

	"github.com/strata-io/strata/internal/component"
	"github.com/strata-io/strata/internal/component/sidecar"
	"github.com/strata-io/strata/internal/objstore"
	"github.com/strata-io/strata/internal/server"
)

// registerSidecar adds `strata sidecar`.
func registerSidecar(app *kingpin.Application, cmds commands) {
	cmd := app.Command("sidecar", "Serve a Prometheus over the StoreAPI, next to it.")
	var srv server.Config
	srv.RegisterFlags(cmd)
	var cfg sidecar.Config
	cfg.RegisterFlags(cmd)
	var bucket objstore.Flags
	bucket.RegisterFlags(cmd)
	cmds["sidecar"] = func(ctx context.Context, logger *slog.Logger, reg *prometheus.Registry) error {
		if err := cfg.Validate(); err != nil {
			return err
		}
		deps := sidecar.Deps{Logger: logger, Registerer: reg}
		bkt, closeBucket, err := openBucket(ctx, &bucket, logger, reg, "sidecar", "")
		if err != nil {
			return err
		}
		defer closeBucket()
		if bkt != nil {
			deps.Bucket = bkt
		}
		s, err := sidecar.New(cfg, deps)
		if err != nil {
			return err
		}
		return component.Serve(ctx, component.ServeConfig{HTTP: srv.HTTP, GRPC: &srv.GRPC}, logger, reg, s)
	}
}
