package main

import (
	"context"
	"log/slog"

	"github.com/alecthomas/kingpin/v2"
	"github.com/prometheus/client_golang/prometheus"

	"github.com/strata-io/strata/internal/component"
	"github.com/strata-io/strata/internal/component/receiver"
	"github.com/strata-io/strata/internal/objstore"
	"github.com/strata-io/strata/internal/server"
)

// registerReceive adds `strata receive`.
func registerReceive(app *kingpin.Application, cmds commands) {
	cmd := app.Command("receive", "Accept Prometheus remote writes, store them per tenant and serve them over the StoreAPI (single node).")
	var srv server.Config
	srv.RegisterFlags(cmd)
	var cfg receiver.Config
	cfg.RegisterFlags(cmd)
	var bucket objstore.Flags
	bucket.RegisterFlags(cmd)
	cmds["receive"] = func(ctx context.Context, logger *slog.Logger, reg *prometheus.Registry) error {
		if err := cfg.Validate(); err != nil {
			return err
		}
		deps := receiver.Deps{Logger: logger, Registerer: reg}
		bkt, closeBucket, err := openBucket(ctx, &bucket, logger, reg, "receive", "")
		if err != nil {
			return err
		}
		defer closeBucket()
		if bkt != nil {
			deps.Bucket = bkt
		}
		r, err := receiver.New(cfg, deps)
		if err != nil {
			return err
		}
		return component.Serve(ctx, component.ServeConfig{HTTP: srv.HTTP, GRPC: &srv.GRPC}, logger, reg, r)
	}
}
