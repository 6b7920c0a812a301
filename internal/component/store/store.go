// Package store assembles `strata store`, the store gateway: a StoreAPI
// server over the blocks of a bucket, with probes, metrics and a list of the
// loaded blocks at /api/v1/blocks.
package store

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"log/slog"
	"net/http"
	"time"

	"github.com/alecthomas/kingpin/v2"
	"github.com/oklog/run"
	"github.com/prometheus/client_golang/prometheus"

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

	SyncInterval             time.Duration
	BlockSyncConcurrency     int
	IgnoreDeletionMarksDelay time.Duration
	MinTime, MaxTime         *flagutil.TimeOrDuration
}

// RegisterFlags adds the store gateway's flags to cmd, with Thanos' names.
func (c *Config) RegisterFlags(cmd *kingpin.CmdClause) {
	c.Server.RegisterFlags(cmd)
	c.Objstore.RegisterFlags(cmd)
	def := bucketstore.DefaultConfig()
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
}

func (c *Config) storeConfig(now time.Time) bucketstore.Config {
	sc := bucketstore.DefaultConfig()
	sc.SyncInterval = c.SyncInterval
	sc.BlockSyncConcurrency = c.BlockSyncConcurrency
	sc.IgnoreDeletionMarksDelay = c.IgnoreDeletionMarksDelay
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
		return fmt.Errorf("check --sync-block-duration, --block-sync-concurrency, --ignore-deletion-marks-delay, --min-time and --max-time: %w", err)
	}
	return nil
}

// Run runs the store gateway until ctx is done or a server fails.
func Run(ctx context.Context, cfg Config, logger *slog.Logger, reg *prometheus.Registry) error {
	if err := cfg.Validate(); err != nil {
		return err
	}
	ocfg, err := cfg.Objstore.Load()
	if err != nil {
		return err
	}
	bkt, err := objstore.NewBucket(ctx, ocfg, logger, reg, "store")
	if err != nil {
		return err
	}
	defer func() { _ = bkt.Close() }()
	checkCtx, cancel := context.WithTimeout(ctx, time.Minute)
	err = objstore.Check(checkCtx, bkt)
	cancel()
	if err != nil {
		return err
	}

	st, err := bucketstore.New(cfg.storeConfig(time.Now()), bkt, logger, reg)
	if err != nil {
		return err
	}
	defer func() { _ = st.Close() }()

	grpcSrv, err := server.NewGRPC(cfg.Server.GRPC, logger)
	if err != nil {
		return err
	}
	storepb.RegisterStoreServer(grpcSrv.Server(), st)
	infopb.RegisterInfoServer(grpcSrv.Server(), st)

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
