// Package compactor assembles `strata compact`, the bucket's housekeeper:
// the compactor (internal/compact) with its merger and downsampler, and the
// block viewer. The process owns the bucket and the HTTP server (metrics,
// probes), see internal/component.
package compactor

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"net/http"
	"strconv"
	"time"

	"github.com/alecthomas/kingpin/v2"
	"github.com/prometheus/client_golang/prometheus"
	"github.com/prometheus/common/model"
	"github.com/thanos-io/objstore"
	"google.golang.org/grpc"

	"github.com/strata-io/strata/internal/block"
	"github.com/strata-io/strata/internal/bucketweb"
	"github.com/strata-io/strata/internal/compact"
	"github.com/strata-io/strata/internal/compact/merge"
	"github.com/strata-io/strata/internal/downsample"
	"github.com/strata-io/strata/internal/flagutil"
)

// DefaultWaitInterval is the default of --wait-interval.
const DefaultWaitInterval = 5 * time.Minute

// Config is the configuration of `strata compact`: each flag fills the
// field of the library that reads it.
type Config struct {
	// Compact is the compactor's: --data-dir, the deduplication, sharding,
	// concurrency, delete delay, downsampling and retention flags.
	Compact compact.Config
	// Merge is the merger's: --deduplication.func and
	// --compact.block-max-index-size.
	Merge merge.Config
	// Web is the block viewer's: the --web.* flags.
	Web bucketweb.Config
	// Wait (--wait) keeps the compactor running, a run every WaitInterval
	// (--wait-interval); without it Run makes one run and returns.
	Wait         bool
	WaitInterval time.Duration
}

// DefaultConfig returns the defaults of the flags; Compact.WorkDir is
// "./data" as the flag's.
func DefaultConfig() Config {
	cc := compact.DefaultConfig()
	cc.WorkDir = "./data"
	return Config{
		Compact:      cc,
		Merge:        merge.DefaultConfig(),
		Web:          bucketweb.DefaultConfig(),
		WaitInterval: DefaultWaitInterval,
	}
}

// RegisterFlags resets c to DefaultConfig and adds the compactor's flags
// to cmd, with Thanos' names where Thanos has them. The process adds the
// HTTP server and bucket flags.
func (c *Config) RegisterFlags(cmd *kingpin.CmdClause) {
	*c = DefaultConfig()
	def := DefaultConfig()
	c.Web.RegisterFlags(cmd)
	cmd.Flag("data-dir", "Local scratch directory: blocks are downloaded, compacted and downsampled here (emptied at each run).").
		Default(def.Compact.WorkDir).StringVar(&c.Compact.WorkDir)
	cmd.Flag("wait", "Keep running: compact again every --wait-interval. Without it, one run and exit.").Short('w').
		BoolVar(&c.Wait)
	cmd.Flag("wait-interval", "Time between runs with --wait.").
		Default(def.WaitInterval.String()).DurationVar(&c.WaitInterval)
	flagutil.LabelNamesVar(cmd.Flag("deduplication.replica-label", "External label telling HA replicas apart (repeatable, or comma-separated): blocks differing only by it are merged into one copy (offline deduplication)."),
		&c.Compact.ReplicaLabels)
	cmd.Flag("deduplication.func", "How replica blocks are merged: '' (chain merge of overlapping samples, one copy of equal ones), 'penalty' (HA Prometheus pairs: the querier's penalty deduplication) or 'exact' (identical replicas).").
		Default("").SetValue(&c.Merge.Mode)
	cmd.Flag("compact.shard", "Own only the streams whose hash mod n is i (i/n, e.g. 0/3): run n compactors with 0/n ... n-1/n on one bucket. The hash is over the stream's labels (external labels minus the replica labels), so the replicas of a stream share an owner. With --selector.relabel-config too, an instance owns the blocks both select.").
		Default(def.Compact.Shard.String()).SetValue(&c.Compact.Shard)
	block.RegisterRelabelFlags(cmd, &c.Compact.RelabelConfigs, "are left to other compactors: not compacted, downsampled, nor marked or deleted by retention")
	cmd.Flag("compact.concurrency", "Compactions run at once: several groups (stream and resolution), and independent time windows of one group.").
		Default(strconv.Itoa(def.Compact.Concurrency)).IntVar(&c.Compact.Concurrency)
	flagutil.DurationVar(cmd.Flag("delete-delay", "How long a block marked for deletion stays before it is deleted (queriers and stores move to the new blocks meanwhile); also the age from which partial uploads are removed.").
		Default(model.Duration(def.Compact.DeleteDelay).String()), &c.Compact.DeleteDelay)
	cmd.Flag("compact.block-max-index-size", "A compaction whose inputs' indexes sum to more than this is not done; the largest input gets a no-compact mark (index-size-exceeding). 0: no limit.").
		Default(def.Merge.IndexSizeLimit.String()).BytesVar(&c.Merge.IndexSizeLimit)
	cmd.Flag("downsampling.disable", "Do not downsample. Raw retention then deletes raw blocks without waiting for their 5m copy.").
		BoolVar(&c.Compact.DisableDownsampling)
	c.Compact.Retention.RegisterFlags(cmd)
	cmd.Flag("block-meta-fetch-concurrency", "meta.json files and markers read at once when the bucket is synced.").
		Default(strconv.Itoa(def.Compact.MetaFetchConcurrency)).IntVar(&c.Compact.MetaFetchConcurrency)
}

// Validate checks the configuration and says which flag to fix.
func (c *Config) Validate() error {
	var errs []error
	if c.Wait && c.WaitInterval <= 0 {
		errs = append(errs, fmt.Errorf("--wait-interval must be positive, got %s", c.WaitInterval))
	}
	errs = append(errs, c.Compact.Validate(), c.Merge.Validate(), c.Web.Validate())
	return errors.Join(errs...)
}

// Deps is what the process gives the compactor.
type Deps struct {
	// Logger may be nil (no logs).
	Logger *slog.Logger
	// Registerer receives the compactor's metrics; nil registers none.
	Registerer prometheus.Registerer
	// Bucket is the bucket to keep; required. The compactor uses it and
	// does not close it.
	Bucket objstore.Bucket
}

// Compactor is `strata compact` as a component: the compaction runs and
// the block viewer.
type Compactor struct {
	cfg    Config
	logger *slog.Logger
	comp   *compact.Compactor
	web    *bucketweb.Handler
}

// New builds the compactor over deps.Bucket. It opens no listener and
// starts nothing: Run does the work.
func New(cfg Config, deps Deps) (*Compactor, error) {
	if err := cfg.Validate(); err != nil {
		return nil, err
	}
	if deps.Bucket == nil {
		return nil, errors.New("the compactor works on a bucket: set --objstore.config-file or --objstore.config")
	}
	logger := deps.Logger
	if logger == nil {
		logger = slog.New(slog.DiscardHandler)
	}
	m, err := merge.New(cfg.Merge, logger, deps.Registerer)
	if err != nil {
		return nil, err
	}
	comp, err := compact.New(cfg.Compact, deps.Bucket, m, downsample.NewBlockDownsampler(logger), logger, deps.Registerer)
	if err != nil {
		return nil, err
	}
	web, err := bucketweb.New(cfg.Web, deps.Bucket, logger, deps.Registerer)
	if err != nil {
		return nil, err
	}
	return &Compactor{cfg: cfg, logger: logger, comp: comp, web: web}, nil
}

// Register serves the block viewer at / on mux. The compactor serves no
// gRPC: srv is ignored and may be nil.
func (c *Compactor) Register(mux *http.ServeMux, _ grpc.ServiceRegistrar) {
	mux.Handle("/", c.web)
}

// Ready returns nil: the compactor serves its viewer from the start.
func (c *Compactor) Ready() error { return nil }

// Run keeps the block viewer's listing fresh and compacts: with --wait,
// a run every --wait-interval until ctx is done (the failures of a run are
// logged and retried at the next), then it returns nil; without, one run,
// after which it returns nil, or the run's error (wrapping
// compact.ErrRunFailures when only some steps failed), which ends the
// process either way. A cancelled ctx returns nil.
func (c *Compactor) Run(ctx context.Context) error {
	ctx, cancel := context.WithCancel(ctx)
	webDone := make(chan struct{})
	go func() {
		defer close(webDone)
		_ = c.web.Run(ctx) // returns nil when ctx ends
	}()
	defer func() {
		cancel()
		<-webDone
	}()
	if c.cfg.Wait {
		return c.comp.Run(ctx, c.cfg.WaitInterval)
	}
	if err := c.comp.RunOnce(ctx); err != nil && ctx.Err() == nil {
		return fmt.Errorf("compaction run: %w", err)
	}
	return nil
}

// Close releases nothing: the bucket is the process'. It is there for the
// component's shape.
func (c *Compactor) Close() error { return nil }
