// Package sidecar assembles `strata sidecar`: a StoreAPI server in front of
// one Prometheus (remote read), with probes and metrics, and, when a bucket
// is configured, the shipper that uploads Prometheus' finished blocks.
package sidecar

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"net/http"
	"net/url"
	"time"

	"github.com/alecthomas/kingpin/v2"
	"github.com/oklog/run"
	"github.com/prometheus/client_golang/prometheus"

	"github.com/strata-io/strata/internal/component/runutil"
	"github.com/strata-io/strata/internal/server"
	"github.com/strata-io/strata/internal/store/promstore"
	"github.com/strata-io/strata/pkg/infopb"
	"github.com/strata-io/strata/pkg/metadatapb"
	"github.com/strata-io/strata/pkg/storepb"
)

// Config is the configuration of `strata sidecar`.
type Config struct {
	Server          server.Config
	PrometheusURL   string
	ReadyTimeout    time.Duration
	RefreshInterval time.Duration
	Shipper         ShipperConfig
}

// RegisterFlags adds the sidecar's flags to cmd.
func (c *Config) RegisterFlags(cmd *kingpin.CmdClause) {
	c.Server.RegisterFlags(cmd)
	cmd.Flag("prometheus.url", "URL of the Prometheus server the sidecar serves.").
		Default("http://localhost:9090").StringVar(&c.PrometheusURL)
	cmd.Flag("prometheus.ready_timeout", "How long to wait at startup for Prometheus to answer; 0 waits forever.").
		Default("10m").DurationVar(&c.ReadyTimeout)
	cmd.Flag("prometheus.refresh-interval", "How often to check Prometheus and re-read its external labels and lowest timestamp; readiness follows it.").
		Default("5s").DurationVar(&c.RefreshInterval)
	c.Shipper.RegisterFlags(cmd)
}

// Validate checks the configuration and says what to fix.
func (c *Config) Validate() error {
	u, err := url.Parse(c.PrometheusURL)
	if err != nil || u.Scheme == "" || u.Host == "" {
		return fmt.Errorf("--prometheus.url=%q is not a URL like http://localhost:9090", c.PrometheusURL)
	}
	return c.Shipper.Validate()
}

// Run runs the sidecar until ctx is done or a server fails.
func Run(ctx context.Context, cfg Config, logger *slog.Logger, reg *prometheus.Registry) error {
	if err := cfg.Validate(); err != nil {
		return err
	}
	u, _ := url.Parse(cfg.PrometheusURL)
	pcfg := promstore.DefaultConfig()
	pcfg.URL = u
	if cfg.RefreshInterval > 0 {
		pcfg.RefreshInterval = cfg.RefreshInterval
	}
	ps, err := promstore.New(pcfg, &http.Client{}, logger, reg)
	if err != nil {
		return fmt.Errorf("create prometheus store: %w", err)
	}
	if err := waitForPrometheus(ctx, ps, cfg.ReadyTimeout, logger); err != nil {
		return err
	}
	logger.Info("prometheus reachable", "url", cfg.PrometheusURL, "external_labels", ps.ExternalLabels().String())
	sh, closeBucket, err := setupShipper(ctx, cfg.Shipper, u, ps.ExternalLabels, logger, reg)
	if err != nil {
		return err
	}
	defer closeBucket()

	grpcSrv, err := server.NewGRPC(cfg.Server.GRPC, reg, logger)
	if err != nil {
		return err
	}
	storepb.RegisterStoreServer(grpcSrv.Server(), ps)
	infopb.RegisterInfoServer(grpcSrv.Server(), ps)
	metadatapb.RegisterMetadataServer(grpcSrv.Server(), ps)

	httpSrv, err := server.NewHTTP(cfg.Server.HTTP, ps.Ready, reg, logger)
	if err != nil {
		return err
	}

	var g run.Group
	runutil.AddContext(&g, ctx)
	runutil.Add(&g, ctx, ps.Run)
	runutil.Add(&g, ctx, grpcSrv.Run)
	runutil.Add(&g, ctx, httpSrv.Run)
	if sh != nil {
		runutil.Add(&g, ctx, func(ctx context.Context) error { return sh.Run(ctx, cfg.Shipper.Interval) })
	}
	return g.Run()
}

// waitForPrometheus retries until Prometheus answers with external labels.
// It gives up at once when Prometheus has none: that needs a config change.
func waitForPrometheus(ctx context.Context, ps *promstore.Store, timeout time.Duration, logger *slog.Logger) error {
	if timeout > 0 {
		var cancel context.CancelFunc
		ctx, cancel = context.WithTimeout(ctx, timeout)
		defer cancel()
	}
	backoff := 500 * time.Millisecond
	for {
		err := ps.CheckPrometheus(ctx)
		if err == nil {
			return nil
		}
		if errors.Is(err, promstore.ErrNoExternalLabels) {
			return err
		}
		logger.Warn("waiting for prometheus", "err", err)
		select {
		case <-ctx.Done():
			return fmt.Errorf("prometheus did not answer within --prometheus.ready_timeout: %w", err)
		case <-time.After(backoff):
		}
		backoff = min(2*backoff, 5*time.Second)
	}
}
