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
}

// ReadyFunc reports whether a component can serve; nil means ready. It is
// called on every /-/ready request and must be cheap and goroutine-safe.
type ReadyFunc func() error

// HTTP is a component's HTTP server: /metrics, /-/healthy, /-/ready,
// /debug/pprof and whatever the component adds with Handle.
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
	mux.HandleFunc("/debug/pprof/", pprof.Index)
	mux.HandleFunc("/debug/pprof/profile", pprof.Profile)
	mux.HandleFunc("/debug/pprof/symbol", pprof.Symbol)
	mux.HandleFunc("/debug/pprof/trace", pprof.Trace)
	return &HTTP{cfg: cfg, mux: mux, logger: logger, ln: ln}, nil
}

// Mux returns the server's mux for components to add handlers to.
func (s *HTTP) Mux() *http.ServeMux { return s.mux }

// Addr is the address the server listens on.
func (s *HTTP) Addr() net.Addr { return s.ln.Addr() }

// Run serves until ctx is done, then shuts down, waiting at most the grace
// period for requests in flight.
func (s *HTTP) Run(ctx context.Context) error {
	srv := &http.Server{Handler: s.mux, ReadHeaderTimeout: 30 * time.Second}
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
		_ = srv.Close()
		return fmt.Errorf("shut down http: %w", err)
	}
	return nil
}
