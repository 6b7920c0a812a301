package main

import (
	"context"
	"log/slog"

	"github.com/alecthomas/kingpin/v2"
	"github.com/prometheus/client_golang/prometheus"

	"github.com/strata-io/strata/internal/component"
	"github.com/strata-io/strata/internal/component/storegateway"
	"github.com/strata-io/strata/internal/objstore"
	"github.com/strata-io/strata/internal/server"
)

// registerStore adds `strata store`, the store gateway.
func registerStore(app *kingpin.Application, cmds commands) {
	cmd := app.Command("store", "Serve the blocks of a bucket over the StoreAPI (store gateway).")
	var (
		srv server.Config
		obj objstore.Flags
		cfg storegateway.Config
	)
	srv.RegisterFlags(cmd)
	obj.RegisterFlags(cmd)
	cfg.RegisterFlags(cmd)
	cmds["store"] = func(ctx context.Context, logger *slog.Logger, reg *prometheus.Registry) error {
		if err := cfg.Validate(); err != nil {
			return err
		}
		bkt, closeBucket, err := openBucket(ctx, &obj, logger, reg, "store", "the store gateway serves a bucket")
		if err != nil {
			return err
		}
		defer closeBucket()
		sg, err := storegateway.New(cfg, storegateway.Deps{Logger: logger, Registerer: reg, Bucket: bkt})
		if err != nil {
			return err
		}
		return component.Serve(ctx, component.ServeConfig{HTTP: srv.HTTP, GRPC: &srv.GRPC}, logger, reg, sg)
	}
}
