package server

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"net"
	"net/http"
	"net/http/pprof"
	"time"

	"github.com/prometheus/client_golang/prometheus"
	"github.com/prometheus/client_golang/prometheus/promhttp"
	"github.com/prometheus/exporter-toolkit/web"
)

// HTTPConfig configures the HTTP server of a component.
type HTTPConfig struct {
	Address       string
	GracePeriod   time.Duration
	WebConfigFile string // exporter-toolkit web config: TLS and basic auth
	// EnablePprof serves /debug/pprof (behind the web config's auth like
	// every other path).
	EnablePprof bool
	// Timeouts of the http.Server; 0 takes the default*Timeout below. A
	// request's body must arrive within ReadTimeout and its answer be
	// written within WriteTimeout of its headers.
	ReadHeaderTimeout time.Duration
	ReadTimeout       time.Duration
	WriteTimeout      time.Duration
	IdleTimeout       time.Duration
	RequestLog        RequestLogConfig
}

// Defaults of the HTTP server's timeouts: generous for metrics, probes, the
// bucket UI and pprof profiles (30s by default), short enough that a client
// trickling a request cannot hold a connection for ever.
const (
	defaultReadHeaderTimeout = 10 * time.Second
	defaultReadTimeout       = time.Minute
	defaultWriteTimeout      = 5 * time.Minute
	defaultIdleTimeout       = 2 * time.Minute
	// shutdownCancelAfter is how long Run's shutdown lets requests in
	// flight finish after the grace period before cancelling their contexts.
	shutdownCancelAfter = 5 * time.Second
)

func orDefault(d, def time.Duration) time.Duration {
	if d > 0 {
		return d
	}
	return def
}

// ReadyFunc reports whether a component can serve; nil means ready. It is
// called on every /-/ready request and must be cheap and goroutine-safe.
type ReadyFunc func() error

// HTTP is a component's HTTP server: /metrics, /-/healthy, /-/ready,
// /debug/pprof when enabled, and whatever the component adds with Handle.
type HTTP struct {
	cfg    HTTPConfig
	mux    *http.ServeMux
	logger *slog.Logger
	ln     net.Listener
}

// NewHTTP listens on cfg.Address right away (so a port conflict is reported
// at startup) and registers the probes and metrics.
func NewHTTP(cfg HTTPConfig, ready ReadyFunc, gatherer prometheus.Gatherer, logger *slog.Logger) (*HTTP, error) {
	ln, err := net.Listen("tcp", cfg.Address)
	if err != nil {
		return nil, fmt.Errorf("listen on --http-address %s: %w", cfg.Address, err)
	}
	mux := http.NewServeMux()
	mux.Handle("GET /metrics", promhttp.HandlerFor(gatherer, promhttp.HandlerOpts{}))
	mux.HandleFunc("/-/healthy", func(w http.ResponseWriter, _ *http.Request) {
		w.WriteHeader(http.StatusOK)
		_, _ = fmt.Fprintln(w, "OK")
	})
	mux.HandleFunc("/-/ready", func(w http.ResponseWriter, _ *http.Request) {
		if ready != nil {
			if err := ready(); err != nil {
				w.WriteHeader(http.StatusServiceUnavailable)
				_, _ = fmt.Fprintf(w, "not ready: %v\n", err)
				return
			}
		}
		w.WriteHeader(http.StatusOK)
		_, _ = fmt.Fprintln(w, "OK")
	})
	if cfg.EnablePprof {
		mux.HandleFunc("/debug/pprof/", pprof.Index)
		mux.HandleFunc("/debug/pprof/cmdline", pprof.Cmdline)
		mux.HandleFunc("/debug/pprof/profile", pprof.Profile)
		mux.HandleFunc("/debug/pprof/symbol", pprof.Symbol)
		mux.HandleFunc("/debug/pprof/trace", pprof.Trace)
	}
	return &HTTP{cfg: cfg, mux: mux, logger: logger, ln: ln}, nil
}

// Mux returns the server's mux for components to add handlers to.
func (s *HTTP) Mux() *http.ServeMux { return s.mux }

// Addr is the address the server listens on.
func (s *HTTP) Addr() net.Addr { return s.ln.Addr() }

// Close releases the listener of a server that will not Run.
func (s *HTTP) Close() error { return s.ln.Close() }

// Run serves until ctx is done, then shuts down, waiting at most the grace
// period for requests in flight.
func (s *HTTP) Run(ctx context.Context) error {
	// Requests' contexts derive from base: cancelling it after the grace
	// period stops the work of requests still in flight.
	base, cancelBase := context.WithCancel(context.Background())
	defer cancelBase()
	srv := &http.Server{
		Handler:           logRequests(s.cfg.RequestLog, s.logger, s.mux),
		ReadHeaderTimeout: orDefault(s.cfg.ReadHeaderTimeout, defaultReadHeaderTimeout),
		ReadTimeout:       orDefault(s.cfg.ReadTimeout, defaultReadTimeout),
		WriteTimeout:      orDefault(s.cfg.WriteTimeout, defaultWriteTimeout),
		IdleTimeout:       orDefault(s.cfg.IdleTimeout, defaultIdleTimeout),
		BaseContext:       func(net.Listener) context.Context { return base },
	}
	errc := make(chan error, 1)
	go func() {
		s.logger.Info("serving http", "addr", s.ln.Addr().String())
		flags := &web.FlagConfig{WebListenAddresses: &[]string{s.cfg.Address}, WebConfigFile: &s.cfg.WebConfigFile}
		errc <- web.Serve(s.ln, srv, flags, s.logger)
	}()
	select {
	case err := <-errc:
		if errors.Is(err, http.ErrServerClosed) {
			return nil
		}
		return fmt.Errorf("serve http: %w", err)
	case <-ctx.Done():
	}
	grace := s.cfg.GracePeriod
	if grace <= 0 {
		grace = defaultGracePeriod
	}
	sctx, cancel := context.WithTimeout(context.Background(), grace)
	defer cancel()
	s.logger.Info("stopping http server", "grace", grace)
	if err := srv.Shutdown(sctx); err != nil {
		// Cancel what is still running, give it a moment to answer, then
		// close the connections.
		cancelBase()
		cctx, ccancel := context.WithTimeout(context.Background(), shutdownCancelAfter)
		defer ccancel()
		if srv.Shutdown(cctx) == nil {
			return nil
		}
		_ = srv.Close()
		return fmt.Errorf("shut down http: %w", err)
	}
	return nil
}
