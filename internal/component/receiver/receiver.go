// Package receiver assembles `strata receive`: a remote-write endpoint
// storing each tenant's series in its own TSDB (internal/receive/multitsdb),
// served over the StoreAPI, and, when the process gives it a bucket, one
// shipper per tenant uploading the finished blocks.
//
// With hashrings (--receive.hashrings-file or --receive.hashrings) writes
// go through internal/receive/router: each series to the
// --receive.replication-factor nodes the hashrings name, this node's share
// stored here when it is one of them (--receive.local-endpoint), the rest
// forwarded over gRPC. The node serves thanos.WriteableStore for the
// writes other nodes forward to it.
package receiver

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"net"
	"net/http"
	"os"
	"path/filepath"
	"sync"
	"sync/atomic"
	"time"

	"github.com/prometheus/client_golang/prometheus"
	"github.com/prometheus/prometheus/model/labels"
	"github.com/thanos-io/objstore"
	"google.golang.org/grpc"

	"github.com/strata-io/strata/internal/receive/handler"
	"github.com/strata-io/strata/internal/receive/hashring"
	"github.com/strata-io/strata/internal/receive/limits"
	"github.com/strata-io/strata/internal/receive/multitsdb"
	"github.com/strata-io/strata/internal/receive/otlp"
	"github.com/strata-io/strata/internal/receive/remotewrite"
	"github.com/strata-io/strata/internal/receive/router"
	"github.com/strata-io/strata/internal/shipper"
	"github.com/strata-io/strata/internal/store"
	"github.com/strata-io/strata/pkg/infopb"
	"github.com/strata-io/strata/pkg/metadata"
	"github.com/strata-io/strata/pkg/storepb"
	"github.com/strata-io/strata/pkg/writepb"
)

// Timeouts of the remote-write listener. A sender's request is small
// (a few MiB at most) and senders time out after 30s by default.
const (
	readHeaderTimeout = 10 * time.Second
	readTimeout       = time.Minute
	writeTimeout      = 2 * time.Minute
	idleTimeout       = 2 * time.Minute
	shutdownTimeout   = 30 * time.Second
)

// Deps is what the process gives the receiver.
type Deps struct {
	// Logger and Registerer; nil discards logs and metrics.
	Logger     *slog.Logger
	Registerer prometheus.Registerer
	// Bucket receives the tenants' finished blocks; nil: no shipping. The
	// process owns it.
	Bucket objstore.Bucket
}

// Receiver is `strata receive` as a component.
type Receiver struct {
	cfg     Config
	logger  *slog.Logger
	reg     prometheus.Registerer
	tsdbCfg multitsdb.Config
	dec     *remotewrite.Decoder
	db      *multitsdb.MultiTSDB
	handler *handler.Handler
	otlp    *otlp.Handler
	bucket  objstore.Bucket
	router  *router.Router // nil without hashrings
	peers   *router.Peers
	limiter *limits.Limiter
	local   router.Appender // this node's storage, under the head series limit

	noGRPC atomic.Bool
	addr   atomic.Pointer[string] // bound remote-write address, once listening

	shipMu   sync.Mutex
	shippers map[string]*shipper.Shipper
}

// New builds the receiver and opens the TSDB of every tenant found under
// --tsdb.path, replaying its WAL. It opens no listener: Run does.
func New(cfg Config, deps Deps) (*Receiver, error) {
	if err := cfg.Validate(); err != nil {
		return nil, err
	}
	logger := deps.Logger
	if logger == nil {
		logger = slog.New(slog.DiscardHandler)
	}
	dec, err := remotewrite.NewDecoder(cfg.RemoteWrite)
	if err != nil {
		return nil, err
	}
	r := &Receiver{
		cfg:      cfg,
		tsdbCfg:  cfg.TSDB,
		dec:      dec,
		logger:   logger,
		reg:      deps.Registerer,
		bucket:   deps.Bucket,
		shippers: map[string]*shipper.Shipper{},
	}
	limCfg, err := cfg.loadLimits()
	if err != nil {
		return nil, err
	}
	r.limiter = limits.New(limCfg, deps.Registerer)
	if limCfg != nil {
		for _, f := range limCfg.Ignored() {
			logger.Warn("limits config field accepted but ignored", "field", f)
		}
	}
	var app handler.Appender = localAppender{r}
	if cfg.Hashring.Routing() {
		// The router comes first: opening the tenants found on disk asks
		// it for their hashring's external_labels.
		if err := r.newRouter(deps); err != nil {
			return nil, err
		}
		r.tsdbCfg.TenantLabels = r.router.TenantLabels
		app = r.router
	}
	r.db, err = multitsdb.New(r.tsdbCfg, logger, deps.Registerer)
	if err != nil {
		return nil, errors.Join(err, r.closePeers())
	}
	r.local = limitedStore{db: r.db, lim: r.limiter}
	r.otlp = otlp.New(dec, app, logger)
	r.handler, err = handler.New(dec, app, handler.Options{MaxConcurrent: cfg.MaxConcurrentWrites, Limiter: r.limiter}, logger, deps.Registerer)
	if err != nil {
		return nil, errors.Join(err, r.Close())
	}
	return r, nil
}

// newRouter builds the router and loads the hashrings once: a node does
// not start with hashrings it cannot use.
func (r *Receiver) newRouter(deps Deps) error {
	h := r.cfg.Hashring
	tlsCfg := h.ClientTLS
	if tlsCfg.CertFile != "" || tlsCfg.CAFile != "" || tlsCfg.ServerName != "" {
		// Any client TLS setting turns TLS on, as upstream's do.
		tlsCfg.Enabled = true
	}
	creds, err := tlsCfg.Credentials()
	if err != nil {
		return fmt.Errorf("--remote-write.client-tls-*: %w", err)
	}
	r.peers, err = router.NewPeers(router.PeersConfig{
		Compression: h.Compression,
		DialOptions: []grpc.DialOption{grpc.WithTransportCredentials(creds)},
	}, r.logger, deps.Registerer)
	if err != nil {
		return err
	}
	var local router.Appender
	if h.LocalEndpoint != "" {
		local = localAppender{r}
	}
	r.router, err = router.New(router.Config{
		LocalEndpoint:     h.LocalEndpoint,
		ReplicationFactor: h.ReplicationFactor,
		Algorithm:         hashring.Algorithm(h.Algorithm),
		ForwardTimeout:    h.ForwardTimeout,
	}, local, r.peers, r.logger, deps.Registerer)
	if err != nil {
		return err
	}
	var (
		cfgs []hashring.Config
		what = "--receive.hashrings"
	)
	if h.File != "" {
		what = "--receive.hashrings-file=" + h.File
		cfgs, err = hashring.LoadFile(h.File)
	} else {
		cfgs, err = hashring.Parse([]byte(h.Content))
	}
	if err == nil {
		err = r.router.SetHashrings(cfgs)
	}
	if err != nil {
		return fmt.Errorf("%s: %w", what, err)
	}
	r.logger.Info("routing writes by hashrings", "hashrings", len(cfgs), "endpoints", len(r.router.Endpoints()),
		"local_endpoint", h.LocalEndpoint, "replication_factor", h.ReplicationFactor)
	return nil
}

// stores reports whether writes are stored on this node: always without
// hashrings, and with them when the node is one of their endpoints.
func (r *Receiver) stores() bool {
	return !r.cfg.Hashring.Routing() || r.cfg.Hashring.LocalEndpoint != ""
}

// Handler returns the remote-write handler that Run serves on
// --remote-write.address at ReceivePath.
func (r *Receiver) Handler() http.Handler { return r.handler }

// StoreServer returns the StoreAPI and Info server over every tenant, for
// an in-process querier (store.NewLocalClient).
func (r *Receiver) StoreServer() store.LocalServer { return r.db.StoreServer() }

// RemoteWriteAddr returns the address the remote-write endpoint listens
// on, or "" before Run bound it.
func (r *Receiver) RemoteWriteAddr() string {
	if a := r.addr.Load(); a != nil {
		return *a
	}
	return ""
}

// Register serves the StoreAPI and Info over every tenant on srv. The
// remote-write endpoint has its own listener (Run).
func (r *Receiver) Register(_ *http.ServeMux, srv grpc.ServiceRegistrar) {
	if srv == nil {
		r.noGRPC.Store(true)
		return
	}
	s := r.db.StoreServer()
	storepb.RegisterStoreServer(srv, s)
	infopb.RegisterInfoServer(srv, s)
	if r.stores() {
		writepb.RegisterWriteableStoreServer(srv, router.NewServer(r.dec, r.local))
	}
}

// Ready reports ready once the remote-write endpoint listens (the tenants'
// TSDBs are open from New on).
func (r *Receiver) Ready() error {
	if r.noGRPC.Load() {
		return errors.New("the receiver serves the StoreAPI over gRPC, but the process serves no gRPC")
	}
	if r.RemoteWriteAddr() == "" {
		return errors.New("starting: remote-write endpoint not listening yet")
	}
	if r.router != nil {
		return r.router.Ready()
	}
	return nil
}

// Run listens on --remote-write.address and serves remote writes, closes
// idle tenants and ships blocks when a bucket is given, until ctx is
// done; then it stops accepting writes, lets those in flight finish and,
// with a bucket, flushes every tenant's head into blocks and uploads them.
// A listen failure is returned at once.
func (r *Receiver) Run(ctx context.Context) error {
	l, err := net.Listen("tcp", r.cfg.RemoteWriteAddress)
	if err != nil {
		return fmt.Errorf("listen on --remote-write.address=%s: %w", r.cfg.RemoteWriteAddress, err)
	}
	mux := http.NewServeMux()
	mux.Handle(ReceivePath, r.handler)
	mux.Handle(otlp.Path, r.otlp)
	mux.Handle(otlp.MetricsPath, r.otlp)
	srv := &http.Server{
		Handler:           mux,
		ReadHeaderTimeout: readHeaderTimeout,
		ReadTimeout:       readTimeout,
		WriteTimeout:      writeTimeout,
		IdleTimeout:       idleTimeout,
		ErrorLog:          slog.NewLogLogger(r.logger.Handler(), slog.LevelWarn),
	}
	addr := l.Addr().String()
	r.addr.Store(&addr)
	r.logger.Info("listening for remote writes", "address", addr, "path", ReceivePath)

	ctx, cancel := context.WithCancel(ctx)
	defer cancel()
	var wg sync.WaitGroup
	wg.Go(func() {
		if err := r.db.Run(ctx); err != nil {
			r.logger.Warn("tenant idle check stopped", "err", err)
		}
	})
	if r.bucket != nil {
		wg.Go(func() { r.ship(ctx) })
	}
	if r.cfg.LimitsFile != "" {
		wg.Go(func() { limits.Watch(ctx, r.cfg.LimitsFile, limitsReloadInterval, r.limiter, r.logger) })
	}
	if r.router != nil && r.cfg.Hashring.File != "" {
		wg.Go(func() { r.watchHashrings(ctx) })
	}
	serveErr := make(chan error, 1)
	go func() { serveErr <- srv.Serve(l) }()

	select {
	case <-ctx.Done():
		sctx, scancel := context.WithTimeout(context.Background(), shutdownTimeout)
		err = srv.Shutdown(sctx)
		scancel()
		if serr := <-serveErr; !errors.Is(serr, http.ErrServerClosed) {
			r.logger.Warn("remote-write endpoint stopped", "err", serr)
		}
		if err != nil {
			err = fmt.Errorf("shut the remote-write endpoint down: %w", err)
		}
	case err = <-serveErr:
		err = fmt.Errorf("serve remote writes: %w", err)
	}
	cancel()
	wg.Wait()
	if r.router != nil {
		// Replica writes that outlived their request end within the
		// forward timeout.
		r.router.Wait()
	}
	if r.bucket != nil {
		err = errors.Join(err, r.flushAndShip())
	}
	return err
}

// flushAndShip cuts every open tenant's head into blocks and uploads them,
// as upstream's receiver does on shutdown, so that a receiver that is not
// coming back leaves nothing behind. Writes have stopped.
func (r *Receiver) flushAndShip() error {
	var errs []error
	for _, tenant := range r.db.Tenants() {
		if err := r.db.Flush(tenant); err != nil {
			errs = append(errs, err)
		}
	}
	ctx, cancel := context.WithTimeout(context.Background(), shutdownTimeout)
	defer cancel()
	if err := r.SyncBlocks(ctx); err != nil {
		errs = append(errs, fmt.Errorf("upload blocks on shutdown: %w", err))
	}
	r.logger.Info("flushed and shipped the tenants' heads on shutdown", "tenants", len(r.db.Tenants()))
	return errors.Join(errs...)
}

// watchHashrings applies changes of --receive.hashrings-file until ctx is
// done. A file that cannot be used is logged and the last good one stays.
func (r *Receiver) watchHashrings(ctx context.Context) {
	h := r.cfg.Hashring
	err := hashring.Watch(ctx, hashring.WatchConfig{
		Path:       h.File,
		Interval:   h.RefreshInterval,
		Check:      r.router.Check,
		Logger:     r.logger,
		Registerer: r.reg,
	}, func(cfgs []hashring.Config) {
		if err := r.router.SetHashrings(cfgs); err != nil {
			r.logger.Error("hashrings rejected, keeping the last valid ones", "err", err)
			return
		}
		r.peers.Retain(r.router.Endpoints())
	})
	if err != nil {
		r.logger.Error("hashrings file not watched", "err", err)
	}
}

// Close closes the connections to other nodes and the tenants' TSDBs;
// their heads stay in the WAL.
func (r *Receiver) Close() error {
	return errors.Join(r.closePeers(), r.db.Close())
}

func (r *Receiver) closePeers() error {
	if r.peers == nil {
		return nil
	}
	return r.peers.Close()
}

// localAppender stores on this node (r.local, set once the TSDBs are
// open, before any write can arrive).
type localAppender struct{ r *Receiver }

func (a localAppender) Append(ctx context.Context, tenant string, series []remotewrite.Series) (multitsdb.WriteStats, error) {
	return a.r.local.Append(ctx, tenant, series)
}

// ship syncs every tenant's shipper every ShipInterval until ctx is done.
func (r *Receiver) ship(ctx context.Context) {
	tick := time.NewTicker(r.cfg.ShipInterval)
	defer tick.Stop()
	for {
		if err := r.SyncBlocks(ctx); err != nil && ctx.Err() == nil {
			r.logger.Warn("ship blocks", "err", err)
		}
		select {
		case <-ctx.Done():
			return
		case <-tick.C:
		}
	}
}

// SyncBlocks uploads the finished blocks of every tenant directory under
// --tsdb.path not uploaded yet. It does nothing without a bucket.
func (r *Receiver) SyncBlocks(ctx context.Context) error {
	if r.bucket == nil {
		return nil
	}
	entries, err := os.ReadDir(r.cfg.TSDB.Dir)
	if err != nil {
		return fmt.Errorf("read --tsdb.path: %w", err)
	}
	var errs []error
	for _, e := range entries {
		if !e.IsDir() || multitsdb.ValidateTenant(e.Name()) != nil {
			continue
		}
		s, err := r.shipper(e.Name())
		if err != nil {
			errs = append(errs, err)
			continue
		}
		if _, err := s.Sync(ctx); err != nil {
			errs = append(errs, fmt.Errorf("tenant %q: %w", e.Name(), err))
		}
	}
	return errors.Join(errs...)
}

// shipper returns the tenant's shipper, creating it on first use.
func (r *Receiver) shipper(tenant string) (*shipper.Shipper, error) {
	r.shipMu.Lock()
	defer r.shipMu.Unlock()
	if s, ok := r.shippers[tenant]; ok {
		return s, nil
	}
	ext := r.tsdbCfg.TenantExternalLabels(tenant)
	cfg := shipper.DefaultConfig()
	cfg.Dir = filepath.Join(r.cfg.TSDB.Dir, tenant)
	cfg.Source = metadata.ReceiveSource
	cfg.ExternalLabels = func() labels.Labels { return ext }
	var reg prometheus.Registerer
	if r.reg != nil {
		reg = prometheus.WrapRegistererWith(prometheus.Labels{"tenant": tenant}, r.reg)
	}
	s, err := shipper.New(cfg, r.bucket, r.logger.With("subsystem", "shipper", "tenant", tenant), reg)
	if err != nil {
		return nil, fmt.Errorf("shipper of tenant %q: %w", tenant, err)
	}
	r.shippers[tenant] = s
	return s, nil
}
