// Package storegateway assembles the store gateway (`strata store`): a
// StoreAPI and Info server over the blocks of a bucket, with a list of the
// loaded blocks at /api/v1/blocks, an optional index cache and an optional
// caching bucket. It is assembly only: the store is package bucketstore,
// the caches packages cache and cachingbucket.
package storegateway

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"net/http"

	"github.com/alecthomas/kingpin/v2"
	"github.com/prometheus/client_golang/prometheus"
	"github.com/thanos-io/objstore"
	"google.golang.org/grpc"

	"github.com/strata-io/strata/internal/block"
	"github.com/strata-io/strata/internal/cache"
	"github.com/strata-io/strata/internal/cache/cachingbucket"
	"github.com/strata-io/strata/internal/component"
	"github.com/strata-io/strata/internal/store"
	"github.com/strata-io/strata/internal/store/bucketstore"
	"github.com/strata-io/strata/pkg/infopb"
	"github.com/strata-io/strata/pkg/storepb"
)

// Config is the configuration of the store gateway. The process' own flags
// (listen addresses, the bucket) are not part of it.
type Config struct {
	// Store is the store's configuration; the flags bind into it.
	Store bucketstore.Config

	// IndexCache selects the index cache (--index-cache-size,
	// --index-cache.config(-file)).
	IndexCache cache.IndexCacheFlags
	// CachingBucket, when set, caches chunks and metadata read from the
	// bucket (--store.caching-bucket.config(-file)).
	CachingBucket cachingbucket.Flags
}

// RegisterFlags adds the store gateway's flags to cmd, with Thanos' names
// and the defaults of bucketstore.DefaultConfig.
func (c *Config) RegisterFlags(cmd *kingpin.CmdClause) {
	def := bucketstore.DefaultConfig()
	s := &c.Store
	cmd.Flag("data-dir", "Local directory for the index-header of each served block (kept across restarts, a few percent of the index size).").
		Default("./data").StringVar(&s.DataDir)
	cmd.Flag("store.index-header-idle-timeout", "Drop a block's index-header from memory after it has not been used for this long (it is read again from the data dir when needed). 0: never.").
		Default(def.IndexHeaderIdleTimeout.String()).DurationVar(&s.IndexHeaderIdleTimeout)
	cmd.Flag("sync-block-duration", "How often the bucket is listed for new and deleted blocks.").
		Default(def.SyncInterval.String()).DurationVar(&s.SyncInterval)
	cmd.Flag("block-sync-concurrency", "How many blocks' meta.json are read at once during a sync.").
		Default(fmt.Sprint(def.BlockSyncConcurrency)).IntVar(&s.BlockSyncConcurrency)
	cmd.Flag("ignore-deletion-marks-delay", "Stop serving a block this long after it was marked for deletion (give queriers time to move to the compacted block).").
		Default(def.IgnoreDeletionMarksDelay.String()).DurationVar(&s.IgnoreDeletionMarksDelay)
	cmd.Flag("min-time", "Serve only blocks ending after this time: RFC 3339 or relative to now (-2w), taken at each sync.").
		Default(def.MinTime.String()).SetValue(&s.MinTime)
	cmd.Flag("max-time", "Serve only blocks starting before this time: RFC 3339 or relative to now (-2d), taken at each sync.").
		Default(def.MaxTime.String()).SetValue(&s.MaxTime)

	cmd.Flag("store.limits.request-series", "The most series one Series call may return; a call selecting more fails (ResourceExhausted). 0: no limit.").
		Default(fmt.Sprint(def.RequestSeriesLimit)).Uint64Var(&s.RequestSeriesLimit)
	cmd.Flag("store.limits.request-samples", "The most samples one Series call may return, counted from the chunks read; a call selecting more fails (ResourceExhausted). 0: no limit.").
		Default(fmt.Sprint(def.RequestSamplesLimit)).Uint64Var(&s.RequestSamplesLimit)
	cmd.Flag("store.grpc.series-max-concurrency", "How many Series calls run at once; further calls wait for a slot until their deadline.").
		Default(fmt.Sprint(def.SeriesMaxConcurrency)).IntVar(&s.SeriesMaxConcurrency)

	block.RegisterRelabelFlags(cmd, &s.RelabelConfigs, "are not served")

	c.IndexCache.RegisterFlags(cmd)
	c.CachingBucket.RegisterFlags(cmd)
}

// Validate checks the configuration and says what to fix.
func (c *Config) Validate() error {
	if err := c.Store.Validate(); err != nil {
		return fmt.Errorf("check --sync-block-duration, --block-sync-concurrency, --store.grpc.series-max-concurrency, --ignore-deletion-marks-delay, --store.index-header-idle-timeout, --min-time and --max-time: %w", err)
	}
	if _, err := c.IndexCache.Load(); err != nil {
		return err
	}
	if _, _, err := c.CachingBucket.Load(); err != nil {
		return err
	}
	return nil
}

// Deps is what the process gives the store gateway.
type Deps struct {
	Logger     *slog.Logger
	Registerer prometheus.Registerer
	// Bucket holds the blocks. It is not closed by the store gateway.
	Bucket objstore.Bucket
}

// StoreGateway is the store gateway component (component.Component).
type StoreGateway struct {
	store         *bucketstore.Store
	indexCache    cache.Backend         // nil: none
	cachingBucket *cachingbucket.Bucket // nil: none
}

var _ component.Component = (*StoreGateway)(nil)

// New builds the store gateway over deps.Bucket. It opens no listener and
// reads no block: Run syncs them.
func New(cfg Config, deps Deps) (*StoreGateway, error) {
	if err := cfg.Validate(); err != nil {
		return nil, err
	}
	if deps.Bucket == nil {
		return nil, errors.New("the store gateway needs a bucket")
	}
	logger := deps.Logger
	if logger == nil {
		logger = slog.New(slog.DiscardHandler)
	}
	sc := cfg.Store
	var err error
	icfg, err := cfg.IndexCache.Load()
	if err != nil {
		return nil, err
	}
	sg := &StoreGateway{}
	if sg.indexCache, err = cache.New(icfg, cache.IndexCacheName, logger, deps.Registerer); err != nil {
		return nil, fmt.Errorf("check --index-cache.config(-file): %w", err)
	}
	if sg.indexCache != nil {
		sc.IndexCache = sg.indexCache
	}
	bkt := deps.Bucket
	cbcfg, ok, err := cfg.CachingBucket.Load()
	if err != nil {
		_ = sg.closeCaches()
		return nil, err
	}
	if ok {
		if sg.cachingBucket, err = cachingbucket.New(cbcfg, bkt, logger, deps.Registerer); err != nil {
			_ = sg.closeCaches()
			return nil, fmt.Errorf("check --store.caching-bucket.config(-file): %w", err)
		}
		bkt = sg.cachingBucket
	}
	if sg.store, err = bucketstore.New(sc, bkt, logger, deps.Registerer); err != nil {
		_ = sg.closeCaches()
		return nil, err
	}
	return sg, nil
}

// Register serves the StoreAPI and Info on srv, the loaded blocks at
// GET /api/v1/blocks on mux.
func (sg *StoreGateway) Register(mux *http.ServeMux, srv grpc.ServiceRegistrar) {
	mux.Handle("GET /api/v1/blocks", sg.store.BlocksHandler())
	if srv == nil {
		return // in process only: see StoreServer
	}
	storepb.RegisterStoreServer(srv, sg.store)
	infopb.RegisterInfoServer(srv, sg.store)
}

// Ready reports nil once the first bucket sync has loaded the blocks:
// before, queriers would take an empty Info for no data.
func (sg *StoreGateway) Ready() error {
	if !sg.store.Ready() {
		return errors.New("first bucket sync not finished")
	}
	return nil
}

// StoreServer returns the store gateway's StoreAPI and Info server, for a
// querier in the same process (store.NewLocalClient).
func (sg *StoreGateway) StoreServer() store.LocalServer { return sg.store }

// Run syncs the blocks now and every --sync-block-duration until ctx is
// done.
func (sg *StoreGateway) Run(ctx context.Context) error { return sg.store.Run(ctx) }

// Close releases the blocks, then the caches. The bucket is not closed.
func (sg *StoreGateway) Close() error {
	return errors.Join(sg.store.Close(), sg.closeCaches())
}

func (sg *StoreGateway) closeCaches() error {
	var errs []error
	if sg.cachingBucket != nil {
		errs = append(errs, sg.cachingBucket.Close())
	}
	if sg.indexCache != nil {
		errs = append(errs, sg.indexCache.Close())
	}
	return errors.Join(errs...)
}
