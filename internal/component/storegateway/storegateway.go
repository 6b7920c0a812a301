// Package storegateway assembles `strata store`, the store gateway: a StoreAPI
// server over the blocks of a bucket, with probes, metrics and a list of the
// loaded blocks at /api/v1/blocks.
package storegateway

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"log/slog"
	"net/http"
	"os"
	"time"

	"github.com/alecthomas/kingpin/v2"
	"github.com/alecthomas/units"
	"github.com/oklog/run"
	"github.com/prometheus/client_golang/prometheus"
	"github.com/prometheus/prometheus/model/relabel"

	"github.com/strata-io/strata/internal/block"
	"github.com/strata-io/strata/internal/cache"
	"github.com/strata-io/strata/internal/component/runutil"
	"github.com/strata-io/strata/internal/flagutil"
	"github.com/strata-io/strata/internal/objstore"
	"github.com/strata-io/strata/internal/server"
	"github.com/strata-io/strata/internal/store/bucketstore"
	"github.com/strata-io/strata/pkg/infopb"
	"github.com/strata-io/strata/pkg/storepb"
)

// Config is the configuration of `strata store`.
type Config struct {
	Server   server.Config
	Objstore objstore.Flags

	// DataDir holds the index-headers (--data-dir).
	DataDir                  string
	IndexHeaderIdleTimeout   time.Duration
	SyncInterval             time.Duration
	BlockSyncConcurrency     int
	IgnoreDeletionMarksDelay time.Duration
	MinTime, MaxTime         *flagutil.TimeOrDuration

	RequestSeriesLimit   uint64
	RequestSamplesLimit  uint64
	SeriesMaxConcurrency int

	// RelabelConfig is the content of --selector.relabel-config,
	// RelabelConfigFile the path of --selector.relabel-config-file.
	RelabelConfig, RelabelConfigFile string

	IndexCacheSize units.Base2Bytes
	Memcached      MemcachedFlags
}

// MemcachedFlags select the memcached index cache instead of the
// in-memory one.
type MemcachedFlags struct {
	Addresses   []string
	Timeout     time.Duration
	MaxItemSize units.Base2Bytes
}

// RegisterFlags adds the store gateway's flags to cmd, with Thanos' names.
func (c *Config) RegisterFlags(cmd *kingpin.CmdClause) {
	c.Server.RegisterFlags(cmd)
	c.Objstore.RegisterFlags(cmd)
	def := bucketstore.DefaultConfig()
	cmd.Flag("data-dir", "Local directory for the index-header of each served block (kept across restarts, a few percent of the index size).").
		Default("./data").StringVar(&c.DataDir)
	cmd.Flag("store.index-header-idle-timeout", "Drop a block's index-header from memory after it has not been used for this long (it is read again from the data dir when needed). 0: never.").
		Default(def.IndexHeaderIdleTimeout.String()).DurationVar(&c.IndexHeaderIdleTimeout)
	cmd.Flag("sync-block-duration", "How often the bucket is listed for new and deleted blocks.").
		Default(def.SyncInterval.String()).DurationVar(&c.SyncInterval)
	cmd.Flag("block-sync-concurrency", "How many blocks' meta.json are read at once during a sync.").
		Default(fmt.Sprint(def.BlockSyncConcurrency)).IntVar(&c.BlockSyncConcurrency)
	cmd.Flag("ignore-deletion-marks-delay", "Stop serving a block this long after it was marked for deletion (give queriers time to move to the compacted block).").
		Default(def.IgnoreDeletionMarksDelay.String()).DurationVar(&c.IgnoreDeletionMarksDelay)
	c.MinTime = flagutil.NewTimeOrDuration(cmd, "min-time",
		"Serve only blocks ending after this time: RFC 3339 or relative to now (-2w).", "")
	c.MaxTime = flagutil.NewTimeOrDuration(cmd, "max-time",
		"Serve only blocks starting before this time: RFC 3339 or relative to now (-2d).", "")

	cmd.Flag("store.limits.request-series", "The most series one Series call may return; a call selecting more fails (ResourceExhausted). 0: no limit.").
		Default("0").Uint64Var(&c.RequestSeriesLimit)
	cmd.Flag("store.limits.request-samples", "The most samples one Series call may return, counted from the chunks read; a call selecting more fails (ResourceExhausted). 0: no limit.").
		Default("0").Uint64Var(&c.RequestSamplesLimit)
	cmd.Flag("store.grpc.series-max-concurrency", "How many Series calls run at once; further calls wait for a slot until their deadline.").
		Default(fmt.Sprint(def.SeriesMaxConcurrency)).IntVar(&c.SeriesMaxConcurrency)

	cmd.Flag("selector.relabel-config", "Relabel configs (YAML list) applied to each block's external labels plus __block_id; blocks they drop are not served (sharding: keep, drop, hashmod).").
		PlaceHolder("<yaml>").StringVar(&c.RelabelConfig)
	cmd.Flag("selector.relabel-config-file", "File holding the relabel configs of --selector.relabel-config.").
		PlaceHolder("<path>").StringVar(&c.RelabelConfigFile)

	cmd.Flag("store.index-cache-size", "Size of the in-memory index cache (postings and series entries), e.g. 250MB. 0 disables it. Not used with --store.index-cache.memcached-addresses.").
		Default("250MB").BytesVar(&c.IndexCacheSize)
	mdef := cache.DefaultMemcachedConfig()
	cmd.Flag("store.index-cache.memcached-addresses", "Memcached servers (host:port, repeatable) holding the index cache instead of memory. The store keeps serving, without cache, while they are down.").
		PlaceHolder("<host:port>").StringsVar(&c.Memcached.Addresses)
	cmd.Flag("store.index-cache.memcached-timeout", "Timeout of each memcached operation.").
		Default(mdef.Timeout.String()).DurationVar(&c.Memcached.Timeout)
	cmd.Flag("store.index-cache.memcached-max-item-size", "Largest item stored in memcached (memcached's own limit is 1MB unless raised with -I).").
		Default("1MB").BytesVar(&c.Memcached.MaxItemSize)
}

// relabelConfigs loads the selector relabel configs, from the flag or the
// file (not both).
func (c *Config) relabelConfigs() ([]*relabel.Config, error) {
	content := []byte(c.RelabelConfig)
	switch {
	case c.RelabelConfig != "" && c.RelabelConfigFile != "":
		return nil, errors.New("set --selector.relabel-config or --selector.relabel-config-file, not both")
	case c.RelabelConfigFile != "":
		var err error
		if content, err = os.ReadFile(c.RelabelConfigFile); err != nil {
			return nil, fmt.Errorf("read --selector.relabel-config-file: %w", err)
		}
	}
	cfgs, err := block.ParseRelabelConfigs(content)
	if err != nil {
		return nil, fmt.Errorf("check --selector.relabel-config(-file): %w", err)
	}
	return cfgs, nil
}

// memcachedConfig returns the memcached cache configuration of the flags.
func (c *Config) memcachedConfig() cache.MemcachedConfig {
	mc := cache.DefaultMemcachedConfig()
	mc.Addresses = c.Memcached.Addresses
	mc.Timeout = c.Memcached.Timeout
	mc.MaxItemSize = int(c.Memcached.MaxItemSize)
	return mc
}

func (c *Config) storeConfig(now time.Time) bucketstore.Config {
	sc := bucketstore.DefaultConfig()
	sc.SyncInterval = c.SyncInterval
	sc.BlockSyncConcurrency = c.BlockSyncConcurrency
	sc.IgnoreDeletionMarksDelay = c.IgnoreDeletionMarksDelay
	sc.RequestSeriesLimit = c.RequestSeriesLimit
	sc.RequestSamplesLimit = c.RequestSamplesLimit
	sc.SeriesMaxConcurrency = c.SeriesMaxConcurrency
	sc.DataDir = c.DataDir
	sc.IndexHeaderIdleTimeout = c.IndexHeaderIdleTimeout
	if c.MinTime != nil {
		sc.MinTime = c.MinTime.Millis(now, flagutil.MinMillis)
	}
	if c.MaxTime != nil {
		sc.MaxTime = c.MaxTime.Millis(now, flagutil.MaxMillis)
	}
	return sc
}

// Validate checks the configuration and says what to fix.
func (c *Config) Validate() error {
	if !c.Objstore.IsSet() {
		return errors.New("the store gateway serves a bucket: set --objstore.config-file or --objstore.config")
	}
	if err := c.storeConfig(time.Now()).Validate(); err != nil {
		return fmt.Errorf("check --sync-block-duration, --block-sync-concurrency, --store.grpc.series-max-concurrency, --ignore-deletion-marks-delay, --min-time and --max-time: %w", err)
	}
	if _, err := c.relabelConfigs(); err != nil {
		return err
	}
	if c.IndexCacheSize < 0 {
		return fmt.Errorf("--store.index-cache-size must not be negative, got %s", c.IndexCacheSize)
	}
	if len(c.Memcached.Addresses) > 0 {
		if err := c.memcachedConfig().Validate(); err != nil {
			return fmt.Errorf("check --store.index-cache.memcached-*: %w", err)
		}
	}
	return nil
}

// Run runs the store gateway until ctx is done or a server fails.
func Run(ctx context.Context, cfg Config, logger *slog.Logger, reg *prometheus.Registry) error {
	if err := cfg.Validate(); err != nil {
		return err
	}
	bkt, err := cfg.Objstore.Open(ctx, logger, reg, "store")
	if err != nil {
		return err
	}
	defer func() { _ = bkt.Close() }()

	sc := cfg.storeConfig(time.Now())
	if sc.RelabelConfigs, err = cfg.relabelConfigs(); err != nil {
		return err
	}
	switch {
	case len(cfg.Memcached.Addresses) > 0:
		mc, err := cache.NewMemcached(cfg.memcachedConfig(), logger, reg)
		if err != nil {
			return err
		}
		defer func() { _ = mc.Close() }()
		sc.IndexCache = mc
	case cfg.IndexCacheSize > 0:
		sc.IndexCache = cache.NewLRU(int64(cfg.IndexCacheSize), reg)
	}
	st, err := bucketstore.New(sc, bkt, logger, reg)
	if err != nil {
		return err
	}
	defer func() { _ = st.Close() }()

	grpcSrv, err := server.NewGRPC(cfg.Server.GRPC, reg, logger)
	if err != nil {
		return err
	}
	storepb.RegisterStoreServer(grpcSrv.Server(), st)
	infopb.RegisterInfoServer(grpcSrv.Server(), st)
	// gRPC health, like /-/ready, says SERVING once the first sync has
	// loaded the blocks: queriers do not take an empty Info for no data.
	grpcSrv.ServeWhenReady(func() error {
		if !st.Ready() {
			return errors.New("first bucket sync not finished")
		}
		return nil
	})

	httpSrv, err := server.NewHTTP(cfg.Server.HTTP, func() error {
		if !st.Ready() {
			return errors.New("first bucket sync not finished")
		}
		return nil
	}, reg, logger)
	if err != nil {
		return err
	}
	httpSrv.Mux().HandleFunc("GET /api/v1/blocks", blocksHandler(st))

	var g run.Group
	runutil.AddContext(&g, ctx)
	runutil.Add(&g, ctx, st.Run)
	runutil.Add(&g, ctx, grpcSrv.Run)
	runutil.Add(&g, ctx, httpSrv.Run)
	return g.Run()
}

// blockJSON is one loaded block as /api/v1/blocks shows it.
type blockJSON struct {
	ULID       string            `json:"ulid"`
	MinTime    int64             `json:"minTime"`
	MaxTime    int64             `json:"maxTime"`
	Labels     map[string]string `json:"labels"`
	Resolution int64             `json:"resolution"`
	NumSeries  uint64            `json:"numSeries"`
	NumSamples uint64            `json:"numSamples"`
}

func blocksHandler(st *bucketstore.Store) http.HandlerFunc {
	return func(w http.ResponseWriter, _ *http.Request) {
		blocks := st.Blocks()
		out := make([]blockJSON, 0, len(blocks))
		for _, b := range blocks {
			out = append(out, blockJSON{
				ULID: b.ID.String(), MinTime: b.MinTime, MaxTime: b.MaxTime, Labels: b.Labels.Map(),
				Resolution: b.Resolution, NumSeries: b.NumSeries, NumSamples: b.NumSamples,
			})
		}
		w.Header().Set("Content-Type", "application/json")
		_ = json.NewEncoder(w).Encode(map[string]any{"status": "success", "data": map[string]any{"blocks": out}})
	}
}
