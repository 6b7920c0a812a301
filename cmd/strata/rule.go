package main

import (
	"context"
	"log/slog"

	"github.com/alecthomas/kingpin/v2"
	"github.com/prometheus/client_golang/prometheus"

	"github.com/strata-io/strata/internal/component"
	"github.com/strata-io/strata/internal/component/ruler"
	"github.com/strata-io/strata/internal/objstore"
	"github.com/strata-io/strata/internal/server"
)

// registerRule adds `strata rule`.
func registerRule(app *kingpin.Application, cmds commands) {
	cmd := app.Command("rule", "Evaluate Prometheus recording and alerting rules against a query API, keep the results in a local TSDB served over the StoreAPI (shipped to the bucket when one is configured), and send alerts to Alertmanager.")
	var srv server.Config
	srv.RegisterFlags(cmd)
	var cfg ruler.Config
	cfg.RegisterFlags(cmd)
	var bucket objstore.Flags
	bucket.RegisterFlags(cmd)
	cmds["rule"] = func(ctx context.Context, logger *slog.Logger, reg *prometheus.Registry) error {
		if err := cfg.Validate(); err != nil {
			return err
		}
		deps := ruler.Deps{Logger: logger, Registerer: reg}
		bkt, closeBucket, err := openBucket(ctx, &bucket, logger, reg, "rule", "")
		if err != nil {
			return err
		}
		defer closeBucket()
		if bkt != nil {
			deps.Bucket = bkt
		}
		r, err := ruler.New(cfg, deps)
		if err != nil {
			return err
		}
		return component.Serve(ctx, component.ServeConfig{HTTP: srv.HTTP, GRPC: &srv.GRPC}, logger, reg, r)
	}
}
