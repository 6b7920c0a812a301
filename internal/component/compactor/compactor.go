// Package compactor assembles `strata compact`, the bucket's housekeeper:
// flags, the bucket, the compactor (internal/compact) with its merger and
// downsampler, and the HTTP server with metrics, probes and the block
// viewer.
package compactor

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"time"

	"github.com/alecthomas/kingpin/v2"
	"github.com/alecthomas/units"
	"github.com/oklog/run"
	"github.com/prometheus/client_golang/prometheus"
	"github.com/prometheus/common/model"

	"github.com/strata-io/strata/internal/block"
	"github.com/strata-io/strata/internal/bucketweb"
	"github.com/strata-io/strata/internal/compact"
	"github.com/strata-io/strata/internal/compact/merge"
	"github.com/strata-io/strata/internal/component/runutil"
	"github.com/strata-io/strata/internal/downsample"
	"github.com/strata-io/strata/internal/objstore"
	"github.com/strata-io/strata/internal/server"
)

// Config is the configuration of `strata compact`.
type Config struct {
	HTTP     server.HTTPConfig
	Objstore objstore.Flags
	Web      bucketweb.Config

	DataDir      string
	Wait         bool
	WaitInterval time.Duration

	ReplicaLabels []string
	DedupFunc     string
	Shard         compact.Shard
	Concurrency   int
	DeleteDelay   model.Duration
	IndexSizeMax  units.Base2Bytes

	DisableDownsampling  bool
	Retention            block.Retention
	MetaFetchConcurrency int
}

// RegisterFlags adds the compactor's flags to cmd, with Thanos' names where
// Thanos has them.
func (c *Config) RegisterFlags(cmd *kingpin.CmdClause) {
	c.HTTP.RegisterFlags(cmd)
	c.Objstore.RegisterFlags(cmd)
	c.Web.RegisterFlags(cmd)
	def := compact.DefaultConfig()
	cmd.Flag("data-dir", "Local scratch directory: blocks are downloaded, compacted and downsampled here (emptied at each run).").
		Default("./data").StringVar(&c.DataDir)
	cmd.Flag("wait", "Keep running: compact again every --wait-interval. Without it, one run and exit.").
		BoolVar(&c.Wait)
	cmd.Flag("wait-interval", "Time between runs with --wait.").
		Default("5m").DurationVar(&c.WaitInterval)
	cmd.Flag("deduplication.replica-label", "External label telling HA replicas apart (repeatable): blocks differing only by it are merged into one copy (offline deduplication).").
		StringsVar(&c.ReplicaLabels)
	cmd.Flag("deduplication.func", "How replica blocks are merged: '' (chain merge of overlapping samples, one copy of equal ones), 'penalty' (HA Prometheus pairs: the querier's penalty deduplication) or 'exact' (identical replicas).").
		Default("").EnumVar(&c.DedupFunc, "", "vertical", "penalty", "exact")
	cmd.Flag("compact.shard", "Own only the streams whose hash mod n is i (i/n, e.g. 0/3): run n compactors with 0/n ... n-1/n on one bucket.").
		Default("0/1").SetValue(&c.Shard)
	cmd.Flag("compact.concurrency", "Compactions run at once: several groups (stream and resolution), and independent time windows of one group.").
		Default(fmt.Sprint(def.Concurrency)).IntVar(&c.Concurrency)
	cmd.Flag("delete-delay", "How long a block marked for deletion stays before it is deleted (queriers and stores move to the new blocks meanwhile); also the age from which partial uploads are removed.").
		Default(model.Duration(def.DeleteDelay).String()).SetValue(&c.DeleteDelay)
	cmd.Flag("compact.max-index-size", "A compaction whose inputs' indexes sum to more than this is not done; the largest input gets a no-compact mark (index-size-exceeding). 0: no limit.").
		Default("64GiB").BytesVar(&c.IndexSizeMax)
	cmd.Flag("downsampling.disable", "Do not downsample. Raw retention then deletes raw blocks without waiting for their 5m copy.").
		BoolVar(&c.DisableDownsampling)
	c.Retention.RegisterFlags(cmd)
	cmd.Flag("block-meta-fetch-concurrency", "meta.json files and markers read at once when the bucket is synced.").
		Default(fmt.Sprint(def.MetaFetchConcurrency)).IntVar(&c.MetaFetchConcurrency)
}

// compactConfig returns the compactor's configuration from the flags.
func (c *Config) compactConfig() compact.Config {
	cc := compact.DefaultConfig()
	cc.WorkDir = c.DataDir
	cc.ReplicaLabels = c.ReplicaLabels
	cc.Shard = c.Shard
	cc.Concurrency = c.Concurrency
	cc.DeleteDelay = time.Duration(c.DeleteDelay)
	cc.DisableDownsampling = c.DisableDownsampling
	cc.Retention = c.Retention
	cc.MetaFetchConcurrency = c.MetaFetchConcurrency
	return cc
}

// mergeConfig returns the merger's configuration from the flags.
func (c *Config) mergeConfig() (merge.Config, error) {
	mode, err := merge.ParseMode(c.DedupFunc)
	if err != nil {
		return merge.Config{}, fmt.Errorf("--deduplication.func: %w", err)
	}
	return merge.Config{Mode: mode, IndexSizeLimit: int64(c.IndexSizeMax)}, nil
}

// Validate checks the configuration and says what to fix.
func (c *Config) Validate() error {
	if !c.Objstore.IsSet() {
		return errors.New("the compactor works on a bucket: set --objstore.config-file or --objstore.config")
	}
	if c.Wait && c.WaitInterval <= 0 {
		return fmt.Errorf("--wait-interval must be positive, got %s", c.WaitInterval)
	}
	if c.IndexSizeMax < 0 {
		return fmt.Errorf("--compact.max-index-size must not be negative, got %s", c.IndexSizeMax)
	}
	if err := c.compactConfig().Validate(); err != nil {
		return err
	}
	mc, err := c.mergeConfig()
	if err != nil {
		return err
	}
	if err := mc.Validate(); err != nil {
		return err
	}
	return c.Web.Validate()
}

// Run runs the compactor: one run then exit, or runs every --wait-interval
// with --wait, serving metrics, probes and the block viewer on HTTP
// meanwhile.
func Run(ctx context.Context, cfg Config, logger *slog.Logger, reg *prometheus.Registry) error {
	if err := cfg.Validate(); err != nil {
		return err
	}
	bkt, err := cfg.Objstore.Open(ctx, logger, reg, "compact")
	if err != nil {
		return err
	}
	defer func() { _ = bkt.Close() }()

	mc, _ := cfg.mergeConfig() // validated
	m, err := merge.New(mc, logger, reg)
	if err != nil {
		return err
	}
	c, err := compact.New(cfg.compactConfig(), bkt, m, downsample.NewBlockDownsampler(logger), logger, reg)
	if err != nil {
		return err
	}
	web, err := bucketweb.New(cfg.Web, bkt, logger, reg)
	if err != nil {
		return err
	}
	httpSrv, err := server.NewHTTP(cfg.HTTP, func() error { return nil }, reg, logger)
	if err != nil {
		return err
	}
	httpSrv.Mux().Handle("/", web)

	var g run.Group
	runutil.AddContext(&g, ctx)
	runutil.Add(&g, ctx, httpSrv.Run)
	runutil.Add(&g, ctx, web.Run)
	if cfg.Wait {
		runutil.Add(&g, ctx, func(ctx context.Context) error { return c.Run(ctx, cfg.WaitInterval) })
	} else {
		// One run; its end stops the servers.
		runutil.Add(&g, ctx, func(ctx context.Context) error {
			if err := c.RunOnce(ctx); err != nil {
				return fmt.Errorf("compaction run: %w", err)
			}
			return errDone
		})
	}
	if err := g.Run(); err != nil && !errors.Is(err, errDone) {
		return err
	}
	return nil
}

// errDone ends the run group after a single run without --wait.
var errDone = errors.New("compaction run done")
