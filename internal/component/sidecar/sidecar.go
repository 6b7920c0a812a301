// Package sidecar assembles `strata sidecar`: a StoreAPI server in front of
// one Prometheus (remote read), and, when the process gives it a bucket, the
// shipper that uploads Prometheus' finished blocks.
package sidecar

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"net/http"
	"os"
	"sync/atomic"
	"time"

	"github.com/alecthomas/kingpin/v2"
	"github.com/oklog/run"
	"github.com/prometheus/client_golang/prometheus"
	"github.com/prometheus/common/model"
	"github.com/thanos-io/objstore"
	"google.golang.org/grpc"

	"github.com/strata-io/strata/internal/component"
	"github.com/strata-io/strata/internal/shipper"
	"github.com/strata-io/strata/internal/store/promstore"
	"github.com/strata-io/strata/pkg/infopb"
	"github.com/strata-io/strata/pkg/metadatapb"
	"github.com/strata-io/strata/pkg/rulespb"
	"github.com/strata-io/strata/pkg/storepb"
)

// Config is the configuration of `strata sidecar`. The bucket flags are the
// process' (it opens the bucket and gives it in Deps).
type Config struct {
	// Prometheus configures the store over Prometheus (--prometheus.url,
	// --prometheus.refresh-interval).
	Prometheus promstore.Config
	// ReadyTimeout bounds the wait for Prometheus at startup (0: forever).
	ReadyTimeout time.Duration
	// Shipper configures the upload of Prometheus' blocks (--tsdb.path,
	// --shipper.upload-compacted); used when a bucket is given.
	Shipper shipper.Config
	// ShipInterval is the time between two looks at the TSDB directory.
	ShipInterval time.Duration
}

// DefaultConfig returns the sidecar's defaults.
func DefaultConfig() Config {
	p := promstore.DefaultConfig()
	p.RefreshInterval = 5 * time.Second
	return Config{
		Prometheus:   p,
		ReadyTimeout: 10 * time.Minute,
		Shipper:      shipper.DefaultConfig(),
		ShipInterval: 30 * time.Second,
	}
}

// RegisterFlags resets c to DefaultConfig and adds the sidecar's flags to
// cmd.
func (c *Config) RegisterFlags(cmd *kingpin.CmdClause) {
	*c = DefaultConfig()
	def := DefaultConfig()
	cmd.Flag("prometheus.url", "URL of the Prometheus server the sidecar serves.").
		Default("http://localhost:9090").URLVar(&c.Prometheus.URL)
	cmd.Flag("prometheus.ready_timeout", "How long to wait at startup for Prometheus to answer; 0 waits forever.").
		Default(model.Duration(def.ReadyTimeout).String()).DurationVar(&c.ReadyTimeout)
	cmd.Flag("prometheus.refresh-interval", "How often to check Prometheus and re-read its external labels and lowest timestamp; readiness follows it.").
		Default(model.Duration(def.Prometheus.RefreshInterval).String()).DurationVar(&c.Prometheus.RefreshInterval)
	cmd.Flag("tsdb.path", "Data directory of the Prometheus (its --storage.tsdb.path). With a bucket configured, every finished block found there is uploaded once.").
		PlaceHolder("<dir>").StringVar(&c.Shipper.Dir)
	cmd.Flag("shipper.upload-compacted", "Also upload blocks Prometheus compacted locally (level > 1). Needed when Prometheus' min and max block durations differ; blocks whose sources were all uploaded already are skipped.").
		BoolVar(&c.Shipper.UploadCompacted)
	cmd.Flag("shipper.interval", "How often to look for new blocks to upload; failed uploads are retried sooner, with backoff.").
		Default(model.Duration(def.ShipInterval).String()).DurationVar(&c.ShipInterval)
}

// Validate checks the configuration and says what to fix.
func (c *Config) Validate() error {
	if u := c.Prometheus.URL; u == nil || u.Scheme == "" || u.Host == "" {
		return fmt.Errorf("--prometheus.url=%q is not a URL like http://localhost:9090", c.Prometheus.URL)
	}
	if err := c.Prometheus.Validate(); err != nil {
		return fmt.Errorf("--prometheus.url, --prometheus.refresh-interval: %w", err)
	}
	if c.ShipInterval <= 0 {
		return fmt.Errorf("--shipper.interval=%s must be positive", c.ShipInterval)
	}
	return nil
}

// Deps is what the process gives the sidecar.
type Deps struct {
	// Logger and Registerer; nil discards logs and metrics.
	Logger     *slog.Logger
	Registerer prometheus.Registerer
	// Bucket receives Prometheus' blocks; nil: no shipping. The process
	// owns it (opens, checks and closes it).
	Bucket objstore.Bucket
	// HTTPClient reaches Prometheus; nil: a plain client.
	HTTPClient *http.Client
}

// Sidecar is `strata sidecar` as a component.
type Sidecar struct {
	cfg     Config
	logger  *slog.Logger
	prom    *promstore.Store
	shipper *shipper.Shipper // nil: no bucket
	noGRPC  atomic.Bool      // Register got no gRPC server
	started atomic.Bool      // Run found Prometheus ready to serve
}

// New builds the sidecar. It does not contact Prometheus: Run waits for it.
func New(cfg Config, deps Deps) (*Sidecar, error) {
	if err := cfg.Validate(); err != nil {
		return nil, err
	}
	logger := deps.Logger
	if logger == nil {
		logger = slog.New(slog.DiscardHandler)
	}
	client := deps.HTTPClient
	if client == nil {
		client = &http.Client{}
	}
	ps, err := promstore.New(cfg.Prometheus, client, logger, deps.Registerer)
	if err != nil {
		return nil, fmt.Errorf("create prometheus store: %w", err)
	}
	s := &Sidecar{cfg: cfg, logger: logger, prom: ps}
	if deps.Bucket == nil {
		if cfg.Shipper.Dir != "" {
			logger.Info("no bucket configured: blocks are not uploaded", "tsdb_path", cfg.Shipper.Dir)
		}
		return s, nil
	}
	if cfg.Shipper.Dir == "" {
		return nil, errors.New("a bucket is configured but --tsdb.path is not: set it to Prometheus' data directory (its --storage.tsdb.path) so the sidecar can upload blocks, or drop the --objstore flags")
	}
	if info, err := os.Stat(cfg.Shipper.Dir); err != nil || !info.IsDir() {
		return nil, fmt.Errorf("--tsdb.path=%s is not a readable directory: point it at Prometheus' --storage.tsdb.path", cfg.Shipper.Dir)
	}
	scfg := cfg.Shipper
	scfg.ExternalLabels = ps.ExternalLabels
	s.shipper, err = shipper.New(scfg, deps.Bucket, logger.With("subsystem", "shipper"), deps.Registerer)
	if err != nil {
		return nil, err
	}
	return s, nil
}

// Register serves the StoreAPI, Info, Metadata and Rules of Prometheus on srv.
// The sidecar has no HTTP API of its own.
func (s *Sidecar) Register(_ *http.ServeMux, srv grpc.ServiceRegistrar) {
	if srv == nil {
		s.noGRPC.Store(true)
		return
	}
	storepb.RegisterStoreServer(srv, s.prom)
	infopb.RegisterInfoServer(srv, s.prom)
	metadatapb.RegisterMetadataServer(srv, s.prom)
	rulespb.RegisterRulesServer(srv, s.prom)
}

// Ready reports ready once Prometheus answered at startup (and, when
// shipping, its block durations were checked), then as long as its last
// refresh succeeded.
func (s *Sidecar) Ready() error {
	if s.noGRPC.Load() {
		return errors.New("the sidecar serves the StoreAPI over gRPC, but the process serves no gRPC")
	}
	if err := s.prom.Ready(); err != nil {
		return err
	}
	if !s.started.Load() {
		return errors.New("starting: checking prometheus")
	}
	return nil
}

// Run waits for Prometheus (--prometheus.ready_timeout), checks its block
// durations when shipping, then refreshes its state and ships blocks until
// ctx is done. It fails at once when Prometheus has no external labels, or
// compacts blocks that would not be shipped.
func (s *Sidecar) Run(ctx context.Context) error {
	if err := s.waitForPrometheus(ctx); err != nil || ctx.Err() != nil {
		return err
	}
	if s.shipper != nil {
		if err := s.prom.CheckBlockDurations(ctx, s.cfg.Shipper.UploadCompacted); err != nil {
			if ctx.Err() != nil {
				return nil
			}
			return err
		}
	}
	s.logger.Info("prometheus reachable", "url", s.cfg.Prometheus.URL.String(), "external_labels", s.prom.ExternalLabels().String())
	s.started.Store(true)

	var g run.Group
	component.AddContext(ctx, &g)
	component.Add(ctx, &g, s.prom.Run)
	if s.shipper != nil {
		s.logger.Info("shipping blocks", "tsdb_path", s.cfg.Shipper.Dir, "upload_compacted", s.cfg.Shipper.UploadCompacted)
		component.Add(ctx, &g, func(ctx context.Context) error { return s.shipper.Run(ctx, s.cfg.ShipInterval) })
	}
	return g.Run()
}

// waitForPrometheus waits until Prometheus answers with external labels,
// at most --prometheus.ready_timeout. It returns nil when ctx ends first.
func (s *Sidecar) waitForPrometheus(ctx context.Context) error {
	wctx := ctx
	if s.cfg.ReadyTimeout > 0 {
		var cancel context.CancelFunc
		wctx, cancel = context.WithTimeout(ctx, s.cfg.ReadyTimeout)
		defer cancel()
	}
	err := s.prom.Wait(wctx)
	switch {
	case err == nil, ctx.Err() != nil:
		return nil
	case errors.Is(err, promstore.ErrNoExternalLabels):
		return err
	default:
		return fmt.Errorf("prometheus did not answer within --prometheus.ready_timeout=%s: %w", s.cfg.ReadyTimeout, err)
	}
}
