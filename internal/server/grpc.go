package server

import (
	"context"
	"crypto/tls"
	"crypto/x509"
	"fmt"
	"log/slog"
	"net"
	"os"
	"sync/atomic"
	"time"

	"github.com/alecthomas/units"
	"github.com/prometheus/client_golang/prometheus"
	"google.golang.org/grpc"
	"google.golang.org/grpc/credentials"
	"google.golang.org/grpc/health"
	healthpb "google.golang.org/grpc/health/grpc_health_v1"
	"google.golang.org/grpc/keepalive"

	"github.com/strata-io/strata/pkg/storepb"
)

// GRPCConfig configures the gRPC server of a component.
type GRPCConfig struct {
	Address          string
	GracePeriod      time.Duration
	TLSCert          string
	TLSKey           string
	TLSClientCA      string // set: clients must present a certificate signed by it (mTLS)
	MaxConnectionAge time.Duration
	RequestLog       RequestLogConfig
	// MaxRecvMsgSize and MaxSendMsgSize bound one message (bytes); 0 means
	// the default (DefaultMaxRecvMsgSize, DefaultMaxSendMsgSize).
	MaxRecvMsgSize units.Base2Bytes
	MaxSendMsgSize units.Base2Bytes
	// MaxConcurrentStreams bounds the concurrent calls of one client
	// connection; more wait for a slot. 0 means DefaultMaxConcurrentStreams.
	MaxConcurrentStreams uint32
}

// Defaults of GRPCConfig, also the flags' defaults.
const (
	// DefaultMaxRecvMsgSize is gRPC's own default: StoreAPI requests are
	// small (a Series request carries at most storepb.MaxMatchers matchers).
	DefaultMaxRecvMsgSize = 4 * units.MiB
	// DefaultMaxSendMsgSize leaves room for a series of a year of raw
	// chunks in one frame.
	DefaultMaxSendMsgSize = 256 * units.MiB
	// DefaultMaxConcurrentStreams is well above what one querier runs
	// against one store, and bounds what one connection can open.
	DefaultMaxConcurrentStreams = 1000
)

// keepaliveMinTime is the shortest interval at which a client may ping;
// one pinging more often is sent GOAWAY (too_many_pings) and disconnected.
// gRPC clients cannot ping more often than every 10s.
const keepaliveMinTime = 10 * time.Second

// GRPC is a component's gRPC server with the standard health service.
type GRPC struct {
	cfg    GRPCConfig
	srv    *grpc.Server
	health *health.Server
	ln     net.Listener
	logger *slog.Logger
	// ready, when set (ServeWhenReady), decides the health status.
	ready ReadyFunc
	// shutdown is set when the server stops: health says NOT_SERVING
	// whatever ready says.
	shutdown atomic.Bool
}

// healthPollInterval is how often ServeWhenReady's function is asked.
const healthPollInterval = 500 * time.Millisecond

// ServeWhenReady makes the health service follow ready (e.g. NOT_SERVING
// until a store gateway's first sync, or while a sidecar's Prometheus is
// down), asked every healthPollInterval, instead of SERVING as soon as the
// server serves. Call it before Run.
func (s *GRPC) ServeWhenReady(ready ReadyFunc) { s.ready = ready }

// NewGRPC listens on cfg.Address and returns a server; register services on
// Server() before Run. Its metrics go to reg (nil: not registered).
func NewGRPC(cfg GRPCConfig, reg prometheus.Registerer, logger *slog.Logger) (*GRPC, error) {
	cfg = cfg.withDefaults()
	unary, stream := interceptors(cfg.RequestLog, logger, newRecoverer(reg, logger))
	opts := []grpc.ServerOption{
		grpc.ForceServerCodecV2(storepb.Codec{}),
		grpc.MaxRecvMsgSize(int(cfg.MaxRecvMsgSize)),
		grpc.MaxSendMsgSize(int(cfg.MaxSendMsgSize)),
		grpc.MaxConcurrentStreams(cfg.MaxConcurrentStreams),
		grpc.KeepaliveEnforcementPolicy(keepalive.EnforcementPolicy{MinTime: keepaliveMinTime, PermitWithoutStream: true}),
		grpc.ChainUnaryInterceptor(unary...),
		grpc.ChainStreamInterceptor(stream...),
	}
	if cfg.MaxConnectionAge > 0 {
		opts = append(opts, grpc.KeepaliveParams(keepalive.ServerParameters{MaxConnectionAge: cfg.MaxConnectionAge}))
	}
	tlsCfg, err := TLSConfig(cfg.TLSCert, cfg.TLSKey, cfg.TLSClientCA)
	if err != nil {
		return nil, err
	}
	if tlsCfg != nil {
		opts = append(opts, grpc.Creds(credentials.NewTLS(tlsCfg)))
	}
	ln, err := net.Listen("tcp", cfg.Address)
	if err != nil {
		return nil, fmt.Errorf("listen on --grpc-address %s: %w", cfg.Address, err)
	}
	srv := grpc.NewServer(opts...)
	hs := health.NewServer()
	hs.SetServingStatus("", healthpb.HealthCheckResponse_NOT_SERVING)
	g := &GRPC{cfg: cfg, srv: srv, health: hs, ln: ln, logger: logger}
	healthpb.RegisterHealthServer(srv, readyHealth{Server: hs, g: g})
	return g, nil
}

func (c GRPCConfig) withDefaults() GRPCConfig {
	if c.MaxRecvMsgSize <= 0 {
		c.MaxRecvMsgSize = DefaultMaxRecvMsgSize
	}
	if c.MaxSendMsgSize <= 0 {
		c.MaxSendMsgSize = DefaultMaxSendMsgSize
	}
	if c.MaxConcurrentStreams == 0 {
		c.MaxConcurrentStreams = DefaultMaxConcurrentStreams
	}
	return c
}

// interceptors returns the interceptors every call goes through, outermost
// first. Add new ones (request logging, metrics) before the recoverer: it
// stays innermost, so that they see a handler's panic as the Internal error
// it becomes.
func interceptors(rl RequestLogConfig, logger *slog.Logger, r *recoverer) ([]grpc.UnaryServerInterceptor, []grpc.StreamServerInterceptor) {
	unary := []grpc.UnaryServerInterceptor{
		logUnary(rl, logger), // outermost: it sees the Internal a recovered panic becomes
		r.unary,
	}
	stream := []grpc.StreamServerInterceptor{
		logStream(rl, logger),
		r.stream,
	}
	return unary, stream
}

// Server returns the grpc.Server to register services on.
func (s *GRPC) Server() *grpc.Server { return s.srv }

// Addr is the address the server listens on.
func (s *GRPC) Addr() net.Addr { return s.ln.Addr() }

// Close releases the listener of a server that will not Run.
func (s *GRPC) Close() error { return s.ln.Close() }

// Run serves until ctx is done, then stops gracefully within the grace period.
func (s *GRPC) Run(ctx context.Context) error {
	errc := make(chan error, 1)
	go func() {
		s.logger.Info("serving grpc", "addr", s.ln.Addr().String(), "tls", s.cfg.TLSCert != "")
		if s.ready == nil {
			s.health.SetServingStatus("", healthpb.HealthCheckResponse_SERVING)
		}
		errc <- s.srv.Serve(s.ln)
	}()
	if s.ready != nil {
		go s.followReady(ctx)
	}
	select {
	case err := <-errc:
		if err != nil {
			return fmt.Errorf("serve grpc: %w", err)
		}
		return nil
	case <-ctx.Done():
	}
	s.shutdown.Store(true)
	s.health.Shutdown()
	grace := s.cfg.GracePeriod
	if grace <= 0 {
		grace = defaultGracePeriod
	}
	s.logger.Info("stopping grpc server", "grace", grace)
	stopped := make(chan struct{})
	go func() {
		s.srv.GracefulStop()
		close(stopped)
	}()
	select {
	case <-stopped:
	case <-time.After(grace):
		s.srv.Stop()
	}
	return nil
}

// readyHealth answers Check from the ready function at the time of the call
// (a store that has just become ready is SERVING at once, like /-/ready),
// and Watch from the status followReady keeps.
type readyHealth struct {
	*health.Server
	g *GRPC
}

// Check implements healthpb.HealthServer.
func (h readyHealth) Check(ctx context.Context, req *healthpb.HealthCheckRequest) (*healthpb.HealthCheckResponse, error) {
	resp, err := h.Server.Check(ctx, req)
	if err != nil || h.g.ready == nil || h.g.shutdown.Load() {
		return resp, err
	}
	st := healthpb.HealthCheckResponse_SERVING
	if h.g.ready() != nil {
		st = healthpb.HealthCheckResponse_NOT_SERVING
	}
	return &healthpb.HealthCheckResponse{Status: st}, nil
}

// followReady sets the health status from s.ready until ctx is done.
// After Shutdown (ctx done) a status change changes nothing.
func (s *GRPC) followReady(ctx context.Context) {
	t := time.NewTicker(healthPollInterval)
	defer t.Stop()
	for {
		st := healthpb.HealthCheckResponse_SERVING
		if s.ready() != nil {
			st = healthpb.HealthCheckResponse_NOT_SERVING
		}
		s.health.SetServingStatus("", st)
		select {
		case <-ctx.Done():
			return
		case <-t.C:
		}
	}
}

// TLSConfig builds a server TLS config from files; all empty means no
// TLS. A client CA turns on mutual TLS.
func TLSConfig(certFile, keyFile, clientCAFile string) (*tls.Config, error) {
	if certFile == "" && keyFile == "" {
		if clientCAFile != "" {
			return nil, fmt.Errorf("--grpc-server-tls-client-ca needs --grpc-server-tls-cert and --grpc-server-tls-key")
		}
		return nil, nil
	}
	if certFile == "" || keyFile == "" {
		return nil, fmt.Errorf("set both --grpc-server-tls-cert and --grpc-server-tls-key (got cert=%q key=%q)", certFile, keyFile)
	}
	cert, err := tls.LoadX509KeyPair(certFile, keyFile)
	if err != nil {
		return nil, fmt.Errorf("load grpc server certificate: %w", err)
	}
	cfg := &tls.Config{Certificates: []tls.Certificate{cert}, MinVersion: tls.VersionTLS12}
	if clientCAFile != "" {
		pem, err := os.ReadFile(clientCAFile)
		if err != nil {
			return nil, fmt.Errorf("read grpc client CA: %w", err)
		}
		pool := x509.NewCertPool()
		if !pool.AppendCertsFromPEM(pem) {
			return nil, fmt.Errorf("no PEM certificate found in grpc client CA file %s", clientCAFile)
		}
		cfg.ClientCAs = pool
		cfg.ClientAuth = tls.RequireAndVerifyClientCert
	}
	return cfg, nil
}
