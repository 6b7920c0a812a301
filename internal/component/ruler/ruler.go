// Package ruler assembles `strata rule`: rule groups evaluated against
// query APIs (internal/rule), alerts sent to Alertmanagers, the rules and
// alerts served on /api/v1/rules and /api/v1/alerts. In the stateful mode
// (the default) results are written to a local TSDB served over the
// StoreAPI and, when the process gives a bucket, shipped in blocks; in
// the stateless mode (a remote-write configuration) they go through a WAL
// to remote write.
package ruler

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"net/http"
	"os"
	"sync/atomic"
	"time"

	"github.com/oklog/run"
	"github.com/prometheus/client_golang/prometheus"
	"github.com/prometheus/prometheus/model/labels"
	"github.com/prometheus/prometheus/storage"
	"github.com/prometheus/prometheus/tsdb"
	"github.com/prometheus/prometheus/util/compression"
	"github.com/thanos-io/objstore"
	"google.golang.org/grpc"

	"github.com/strata-io/strata/internal/component"
	"github.com/strata-io/strata/internal/rule"
	"github.com/strata-io/strata/internal/shipper"
	"github.com/strata-io/strata/internal/store/tsdbstore"
	"github.com/strata-io/strata/pkg/metadata"
	"github.com/strata-io/strata/pkg/storepb"
)

// componentType is what Info reports.
const componentType = "rule"

// QueryTimeout bounds one query of a rule to one query API, Prometheus'
// default query timeout.
const QueryTimeout = 2 * time.Minute

// Deps is what the process gives the ruler.
type Deps struct {
	// Logger and Registerer; nil discards logs and metrics.
	Logger     *slog.Logger
	Registerer prometheus.Registerer
	// Bucket receives the TSDB's blocks; nil: no shipping. The process
	// owns it.
	Bucket objstore.Bucket
	// HTTPClient reaches the query APIs (not the Alertmanagers, which the
	// notifier reaches with its own clients); nil: a client giving up
	// after QueryTimeout.
	HTTPClient *http.Client
}

// Ruler is `strata rule` as a component.
type Ruler struct {
	cfg     Config
	logger  *slog.Logger
	db      *tsdb.DB         // nil in the stateless mode
	store   *tsdbstore.Store // nil in the stateless mode
	rw      *stateless       // nil in the stateful mode
	rules   *rule.Ruler
	ams     *rule.Alertmanagers // nil: no --alertmanagers.url
	shipper *shipper.Shipper    // nil: no bucket
	noGRPC  atomic.Bool
}

// New opens the TSDB under --data-dir (the WAL in the stateless mode),
// replaying its WAL, reads the rule files (any problem fails it) and
// builds the senders. It contacts nothing: Run starts evaluating.
func New(cfg Config, deps Deps) (*Ruler, error) {
	if err := cfg.Validate(); err != nil {
		return nil, err
	}
	logger := deps.Logger
	if logger == nil {
		logger = slog.New(slog.DiscardHandler)
	}
	if err := os.MkdirAll(cfg.DataDir, 0o750); err != nil {
		return nil, fmt.Errorf("--data-dir: %w", err)
	}
	rws, err := cfg.loadRemoteWrite()
	if err != nil {
		return nil, err
	}
	r := &Ruler{cfg: cfg, logger: logger}
	var app storage.Appendable
	var queryable storage.Queryable
	if len(rws) > 0 {
		if deps.Bucket != nil {
			return nil, errors.New("a bucket is configured in the stateless mode (remote write), which keeps no blocks: drop the --objstore flags or the remote-write configuration")
		}
		r.rw, err = openStateless(cfg.DataDir, rws, cfg.Rule.ExternalLabels, cfg.WALCompression, cfg.NoLockfile, logger, deps.Registerer)
		if err != nil {
			return nil, err
		}
		app, queryable = r.rw.appendable, emptyQueryable()
		logger.Info("stateless: results are sent by remote write", "remote_writes", len(rws))
	} else {
		if r.db, err = openTSDB(cfg, logger, deps.Registerer); err != nil {
			return nil, err
		}
		r.store = tsdbstore.New(r.db, tsdbstore.Config{ExternalLabels: cfg.Rule.ExternalLabels, ComponentType: componentType}, logger)
		app, queryable = r.db, r.db
	}
	if err := r.build(deps, app, queryable); err != nil {
		return nil, errors.Join(err, r.Close())
	}
	return r, nil
}

// openTSDB opens the stateful mode's TSDB.
func openTSDB(cfg Config, logger *slog.Logger, reg prometheus.Registerer) (*tsdb.DB, error) {
	opts := tsdb.DefaultOptions()
	opts.MinBlockDuration = cfg.BlockDuration.Milliseconds()
	opts.MaxBlockDuration = cfg.BlockDuration.Milliseconds()
	opts.NoLockfile = cfg.NoLockfile
	opts.RetentionDuration = cfg.Retention.Milliseconds()
	// Blocks are shipped and compacted in the bucket: they stay at their
	// cut size here.
	opts.EnableOverlappingCompaction = false
	if cfg.WALCompression {
		opts.WALCompression = compression.Snappy
	}
	db, err := tsdb.Open(cfg.DataDir, logger.With("subsystem", "tsdb"), reg, opts, nil)
	if err != nil {
		return nil, fmt.Errorf("open TSDB in --data-dir=%s: %w", cfg.DataDir, err)
	}
	return db, nil
}

// build creates the query source, the senders, the shipper and the rules,
// then loads the rule files.
func (r *Ruler) build(deps Deps, app storage.Appendable, queryable storage.Queryable) error {
	cfg := r.cfg
	client := deps.HTTPClient
	if client == nil {
		// A query API that hangs must not stall its groups forever: the
		// next one is tried after this.
		client = &http.Client{Timeout: QueryTimeout}
	}
	q, err := rule.NewQuerier(cfg.Queries, client, r.logger, deps.Registerer)
	if err != nil {
		return err
	}
	rdeps := rule.Deps{
		Querier:    q,
		Appendable: app,
		Queryable:  queryable,
		Logger:     r.logger,
		Registerer: deps.Registerer,
	}
	acfg := cfg.Alertmanagers
	switch {
	case cfg.AlertmanagersFile != "":
		if acfg.File, err = rule.LoadAlertmanagersFile(cfg.AlertmanagersFile); err != nil {
			return err
		}
	case cfg.AlertmanagersContent != "":
		if acfg.File, err = rule.ParseAlertmanagersFile([]byte(cfg.AlertmanagersContent)); err != nil {
			return fmt.Errorf("--alertmanagers.config: %w", err)
		}
	}
	if acfg.Relabel, err = cfg.alertRelabel(); err != nil {
		return err
	}
	if len(acfg.URLs) > 0 || acfg.File != nil {
		acfg.ExternalLabels = cfg.Rule.ExternalLabels
		acfg.QueryURL = cfg.Rule.QueryURL
		r.ams, err = rule.NewAlertmanagers(acfg, r.logger.With("subsystem", "notifier"), deps.Registerer)
		if err != nil {
			return err
		}
		rdeps.Notify = r.ams.NotifyFunc()
	} else {
		r.logger.Info("no --alertmanagers.url or --alertmanagers.config-file: alerts are evaluated but sent nowhere")
	}
	if deps.Bucket != nil && r.db != nil {
		if cfg.Rule.ExternalLabels.IsEmpty() {
			return errors.New("a bucket is configured but no --label: blocks without external labels belong to no stream; give --label, e.g. --label='ruler_replica=\"a\"'")
		}
		scfg := shipper.DefaultConfig()
		scfg.Dir = cfg.DataDir
		scfg.Source = metadata.RulerSource
		scfg.MetaFileName = cfg.ShipperMetaFile
		ext := cfg.Rule.ExternalLabels
		scfg.ExternalLabels = func() labels.Labels { return ext }
		r.shipper, err = shipper.New(scfg, deps.Bucket, r.logger.With("subsystem", "shipper"), deps.Registerer)
		if err != nil {
			return err
		}
	}
	r.rules, err = rule.New(cfg.Rule, rdeps)
	if err != nil {
		return err
	}
	return r.rules.Reload()
}

// Rules returns the evaluator, for the rules APIs (Groups, Alerts).
func (r *Ruler) Rules() *rule.Ruler { return r.rules }

// DB returns the ruler's TSDB, for tests; nil in the stateless mode.
func (r *Ruler) DB() *tsdb.DB { return r.db }

// Reload re-reads the rule files; on error the previous rules stay.
func (r *Ruler) Reload() error { return r.rules.Reload() }

// Register serves the rules and alerts APIs and POST /-/reload on mux,
// and on srv the Rules service, and the StoreAPI of the results when
// stateful, with an Info advertising both.
func (r *Ruler) Register(mux *http.ServeMux, srv grpc.ServiceRegistrar) {
	mux.Handle("GET /api/v1/rules", r.rules.RulesHandler())
	mux.Handle("GET /api/v1/alerts", r.rules.AlertsHandler())
	mux.HandleFunc("POST /-/reload", func(w http.ResponseWriter, _ *http.Request) {
		if err := r.Reload(); err != nil {
			r.logger.Error("reload rule files", "err", err)
			http.Error(w, err.Error(), http.StatusInternalServerError)
			return
		}
		_, _ = w.Write([]byte("rule files reloaded\n"))
	})
	if srv == nil {
		if r.store != nil {
			r.noGRPC.Store(true)
		}
		return
	}
	if r.store != nil {
		storepb.RegisterStoreServer(srv, r.store)
	}
	r.registerRules(srv)
}

// Ready reports ready unless the results are to be served over gRPC and
// the process serves no gRPC.
func (r *Ruler) Ready() error {
	if r.noGRPC.Load() {
		return errors.New("the ruler serves its results over gRPC, but the process serves no gRPC")
	}
	return nil
}

// Run evaluates the rules, sends alerts and ships blocks until ctx is
// done.
func (r *Ruler) Run(ctx context.Context) error {
	var g run.Group
	component.AddContext(ctx, &g)
	component.Add(ctx, &g, r.rules.Run)
	if r.ams != nil {
		component.Add(ctx, &g, r.ams.Run)
	}
	if r.shipper != nil {
		r.logger.Info("shipping blocks", "data_dir", r.cfg.DataDir)
		component.Add(ctx, &g, func(ctx context.Context) error { return r.shipper.Run(ctx, r.cfg.ShipInterval) })
	}
	return g.Run()
}

// Close closes the TSDB, or flushes and closes the WAL in the stateless
// mode. Call it after Run returned.
func (r *Ruler) Close() error {
	if r.rw != nil {
		return r.rw.Close()
	}
	return r.db.Close()
}

// StoreServer returns the StoreAPI and Info server over the results; nil
// in the stateless mode.
func (r *Ruler) StoreServer() *tsdbstore.Store { return r.store }
