package main

import (
	"context"
	"log/slog"

	"github.com/alecthomas/kingpin/v2"
	"github.com/prometheus/client_golang/prometheus"

	"github.com/strata-io/strata/internal/component"
	"github.com/strata-io/strata/internal/component/compactor"
	"github.com/strata-io/strata/internal/objstore"
	"github.com/strata-io/strata/internal/server"
)

// registerCompact adds `strata compact`: the compactor on the bucket of
// --objstore.config(-file), with metrics, probes and the block viewer on
// the HTTP server.
func registerCompact(app *kingpin.Application, cmds commands) {
	cmd := app.Command("compact", "Keep a bucket compacted, deduplicated, downsampled and within retention; serves the block viewer.")
	var (
		cfg     compactor.Config
		httpCfg server.HTTPConfig
		bktCfg  objstore.Flags
	)
	httpCfg.RegisterFlags(cmd)
	bktCfg.RegisterFlags(cmd)
	cfg.RegisterFlags(cmd)
	cmds["compact"] = func(ctx context.Context, logger *slog.Logger, reg *prometheus.Registry) error {
		if err := cfg.Validate(); err != nil {
			return err
		}
		bkt, closeBucket, err := openBucket(ctx, &bktCfg, logger, reg, "compact", "the compactor works on a bucket")
		if err != nil {
			return err
		}
		defer closeBucket()
		c, err := compactor.New(cfg, compactor.Deps{Logger: logger, Registerer: reg, Bucket: bkt})
		if err != nil {
			return err
		}
		return component.Serve(ctx, component.ServeConfig{HTTP: httpCfg}, logger, reg, c)
	}
}
