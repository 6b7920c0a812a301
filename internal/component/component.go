// Package component defines the shape every Strata component has, and runs
// one or several of them in a process.
//
// Each component package (querier, storegateway, compactor, sidecar, ...)
// is assembly only and exposes the same four things:
//
//   - Config, with RegisterFlags(*kingpin.CmdClause) binding each flag
//     straight into the field the library reads, and Validate() error
//     saying what to fix;
//   - New(cfg Config, deps Deps) (*T, error), where Deps holds what the
//     process owns: the logger, a prometheus.Registerer, the bucket, and
//     in-process StoreAPI clients where they apply. New opens no listener;
//   - the methods of Component below.
//
// The process (cmd/strata, or a test) owns the listeners, the signals and
// the run group: Serve builds one HTTP server and, when asked, one gRPC
// server, lets every component register on them, and runs everything until
// the context is done or one of them fails.
package component

import (
	"context"
	"errors"
	"io"
	"log/slog"
	"net/http"
	"os"
	"os/signal"
	"syscall"

	"github.com/oklog/run"
	"github.com/prometheus/client_golang/prometheus"
	"google.golang.org/grpc"

	"github.com/strata-io/strata/internal/server"
)

// Component is one Strata component as a process runs it.
type Component interface {
	// Register adds the component's HTTP handlers to mux and its gRPC
	// services to srv. srv is nil in a process serving no gRPC (a
	// compactor on its own). In a process running several components,
	// the first one registering a gRPC service serves it: a later
	// registration of the same service is skipped (the querier, listed
	// first, serves the StoreAPI of everything the process holds). Called
	// once, before Run.
	Register(mux *http.ServeMux, srv grpc.ServiceRegistrar)
	// Ready reports whether the component can serve requests: nil when
	// it can, otherwise why not (shown on /-/ready). Cheap and safe for
	// concurrent use: it is called on every probe.
	Ready() error
	// Run does the component's background work (syncs, compactions,
	// health checks) until ctx is done, then returns nil; or returns the
	// error that stops it. A component whose work ends on its own (a
	// compactor without --wait) returns nil when done, which ends the
	// process.
	Run(ctx context.Context) error
}

// Reloader is a Component that re-reads its configuration files on SIGHUP.
type Reloader interface {
	// Reload re-reads the configuration; on error the old one stays.
	Reload() error
}

// ServeConfig is what Serve listens on. GRPC nil means no gRPC server.
type ServeConfig struct {
	HTTP server.HTTPConfig
	GRPC *server.GRPCConfig
}

// Serve runs comps in one process: it listens on cfg's addresses (a port
// conflict is reported at once), registers every component, and runs the
// servers and every component's Run until ctx is done or one of them
// returns. /-/ready and gRPC health say ready when every component is.
// Components implementing Reloader are reloaded on SIGHUP, those
// implementing io.Closer are closed on the way out.
func Serve(ctx context.Context, cfg ServeConfig, logger *slog.Logger, reg *prometheus.Registry, comps ...Component) error {
	defer func() {
		for _, c := range comps {
			if cl, ok := c.(io.Closer); ok {
				if err := cl.Close(); err != nil {
					logger.Warn("close component", "err", err)
				}
			}
		}
	}()
	ready := func() error {
		var errs []error
		for _, c := range comps {
			if err := c.Ready(); err != nil {
				errs = append(errs, err)
			}
		}
		return errors.Join(errs...)
	}
	httpSrv, err := server.NewHTTP(cfg.HTTP, ready, reg, logger)
	if err != nil {
		return err
	}
	var g run.Group
	var grpcSrv grpc.ServiceRegistrar
	if cfg.GRPC != nil {
		gs, err := server.NewGRPC(*cfg.GRPC, reg, logger)
		if err != nil {
			_ = httpSrv.Close()
			return err
		}
		gs.ServeWhenReady(ready)
		grpcSrv = firstRegistration{srv: gs.Server(), logger: logger}
		Add(ctx, &g, gs.Run)
	}
	for _, c := range comps {
		c.Register(httpSrv.Mux(), grpcSrv)
		Add(ctx, &g, c.Run)
	}
	Add(ctx, &g, httpSrv.Run)
	AddContext(ctx, &g)
	var reloaders []Reloader
	for _, c := range comps {
		if r, ok := c.(Reloader); ok {
			reloaders = append(reloaders, r)
		}
	}
	if len(reloaders) > 0 {
		AddReloader(ctx, &g, logger, func() error {
			var errs []error
			for _, r := range reloaders {
				errs = append(errs, r.Reload())
			}
			return errors.Join(errs...)
		})
	}
	return g.Run()
}

// firstRegistration registers a gRPC service unless an earlier component
// of the process did.
type firstRegistration struct {
	srv    *grpc.Server
	logger *slog.Logger
}

// RegisterService implements grpc.ServiceRegistrar.
func (r firstRegistration) RegisterService(desc *grpc.ServiceDesc, impl any) {
	if _, ok := r.srv.GetServiceInfo()[desc.ServiceName]; ok {
		r.logger.Debug("grpc service served by an earlier component", "service", desc.ServiceName)
		return
	}
	r.srv.RegisterService(desc, impl)
}

// Add adds an actor that runs fn with a context cancelled when the group
// stops.
func Add(parent context.Context, g *run.Group, fn func(ctx context.Context) error) {
	ctx, cancel := context.WithCancel(parent)
	g.Add(func() error { return fn(ctx) }, func(error) { cancel() })
}

// AddContext adds an actor that ends the group when parent is done (the
// signal handler of main), returning nil.
func AddContext(parent context.Context, g *run.Group) {
	ctx, cancel := context.WithCancel(parent)
	g.Add(func() error { <-ctx.Done(); return nil }, func(error) { cancel() })
}

// AddReloader adds an actor that calls reload on every SIGHUP until
// interrupted. A failed reload is logged and the old configuration stays.
func AddReloader(parent context.Context, g *run.Group, logger *slog.Logger, reload func() error) {
	ctx, cancel := context.WithCancel(parent)
	hup := make(chan os.Signal, 1)
	signal.Notify(hup, syscall.SIGHUP)
	g.Add(func() error {
		for {
			select {
			case <-ctx.Done():
				return nil
			case <-hup:
				if err := reload(); err != nil {
					logger.Error("reload configuration", "err", err)
					continue
				}
				logger.Info("configuration reloaded")
			}
		}
	}, func(error) {
		signal.Stop(hup)
		cancel()
	})
}
