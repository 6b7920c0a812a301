// Package receiver assembles `strata receive` on a single node: a
// remote-write endpoint storing each tenant's series in its own TSDB
// (internal/receive/multitsdb), served over the StoreAPI, and, when the
// process gives it a bucket, one shipper per tenant uploading the finished
// blocks. Hashring routing and forwarding to other receivers are not part
// of it yet.
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
	"github.com/strata-io/strata/internal/receive/multitsdb"
	"github.com/strata-io/strata/internal/receive/remotewrite"
	"github.com/strata-io/strata/internal/shipper"
	"github.com/strata-io/strata/internal/store"
	"github.com/strata-io/strata/pkg/infopb"
	"github.com/strata-io/strata/pkg/metadata"
	"github.com/strata-io/strata/pkg/storepb"
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
	db      *multitsdb.MultiTSDB
	handler *handler.Handler
	bucket  objstore.Bucket

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
	db, err := multitsdb.New(cfg.TSDB, logger, deps.Registerer)
	if err != nil {
		return nil, err
	}
	h, err := handler.New(dec, db, cfg.MaxConcurrentWrites, logger, deps.Registerer)
	if err != nil {
		return nil, errors.Join(err, db.Close())
	}
	return &Receiver{
		cfg:      cfg,
		logger:   logger,
		reg:      deps.Registerer,
		db:       db,
		handler:  h,
		bucket:   deps.Bucket,
		shippers: map[string]*shipper.Shipper{},
	}, nil
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

// Close closes the tenants' TSDBs; their heads stay in the WAL.
func (r *Receiver) Close() error { return r.db.Close() }

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
	ext := labels.NewBuilder(r.cfg.TSDB.ExternalLabels).Set(r.cfg.TSDB.TenantLabel, tenant).Labels()
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
