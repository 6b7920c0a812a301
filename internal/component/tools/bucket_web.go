package tools

import (
	"context"
	"errors"
	"log/slog"

	"github.com/alecthomas/kingpin/v2"
	"github.com/oklog/run"
	"github.com/prometheus/client_golang/prometheus"
	"github.com/thanos-io/objstore"

	"github.com/strata-io/strata/internal/bucketweb"
	"github.com/strata-io/strata/internal/component"
	"github.com/strata-io/strata/internal/server"
)

// BucketWebConfig holds the flags of `tools bucket web`.
type BucketWebConfig struct {
	HTTP   server.HTTPConfig
	Viewer bucketweb.Config
}

// RegisterFlags adds the flags of `web` to cmd: the HTTP server's and the
// viewer's (bucketweb.Config.RegisterFlags).
func (c *BucketWebConfig) RegisterFlags(cmd *kingpin.CmdClause) {
	cmd.Flag("http-address", "Listen host:port of the block viewer (and /metrics, /-/healthy, /-/ready).").
		Default("0.0.0.0:10902").StringVar(&c.HTTP.Address)
	cmd.Flag("http-grace-period", "Time to wait after an interrupt for HTTP requests to finish.").
		Default("2m").DurationVar(&c.HTTP.GracePeriod)
	cmd.Flag("http.config", "Path to an exporter-toolkit web config file (TLS, basic auth) for the HTTP server.").
		Default("").StringVar(&c.HTTP.WebConfigFile)
	c.Viewer.RegisterFlags(cmd)
}

// Validate checks the flags and says what to fix.
func (c *BucketWebConfig) Validate() error { return c.Viewer.Validate() }

// runWeb serves the block viewer until ctx ends. Ready once the bucket was
// listed.
func runWeb(ctx context.Context, bkt objstore.Bucket, cfg BucketWebConfig, logger *slog.Logger, reg *prometheus.Registry) error {
	var r prometheus.Registerer
	var g prometheus.Gatherer = prometheus.NewRegistry()
	if reg != nil {
		r, g = reg, reg
	}
	h, err := bucketweb.New(cfg.Viewer, bkt, logger, r)
	if err != nil {
		return err
	}
	srv, err := server.NewHTTP(cfg.HTTP, func() error {
		if !h.Listed() {
			return errors.New("bucket not listed yet")
		}
		return nil
	}, g, logger)
	if err != nil {
		return err
	}
	srv.Mux().Handle("/", h)
	logger.Info("serving the block viewer", "url", "http://"+srv.Addr().String()+"/", "admin", cfg.Viewer.Admin,
		"refresh", cfg.Viewer.RefreshInterval.String())

	var grp run.Group
	component.AddContext(ctx, &grp)
	component.Add(ctx, &grp, h.Run)
	component.Add(ctx, &grp, srv.Run)
	return grp.Run()
}
