// Package server holds the HTTP and gRPC servers every long-running Strata
// component runs: probes, metrics, TLS, graceful shutdown.
package server

import (
	"strconv"
	"time"

	"github.com/alecthomas/kingpin/v2"
)

// Config is the common network configuration of a component.
type Config struct {
	HTTP HTTPConfig
	GRPC GRPCConfig
}

// RegisterFlags adds the common server flags to cmd, with Thanos' names and defaults.
func (c *Config) RegisterFlags(cmd *kingpin.CmdClause) {
	c.HTTP.RegisterFlags(cmd)
	cmd.Flag("grpc-address", "Listen host:port for the gRPC StoreAPI.").
		Default("0.0.0.0:10901").StringVar(&c.GRPC.Address)
	cmd.Flag("grpc-grace-period", "Time to wait after an interrupt for gRPC calls to finish.").
		Default("2m").DurationVar(&c.GRPC.GracePeriod)
	cmd.Flag("grpc-server-tls-cert", "TLS certificate for the gRPC server; empty disables TLS.").
		Default("").StringVar(&c.GRPC.TLSCert)
	cmd.Flag("grpc-server-tls-key", "TLS key for the gRPC server.").
		Default("").StringVar(&c.GRPC.TLSKey)
	cmd.Flag("grpc-server-tls-client-ca", "CA to verify client certificates with; set it to require mutual TLS.").
		Default("").StringVar(&c.GRPC.TLSClientCA)
	cmd.Flag("grpc-server-max-connection-age", "Close gRPC connections after this long, so that clients rebalance.").
		Default("60m").DurationVar(&c.GRPC.MaxConnectionAge)
	// The request logging flags are registered once, with HTTP's.
	cmd.PreAction(func(*kingpin.ParseContext) error {
		c.GRPC.RequestLog = c.HTTP.RequestLog
		return nil
	})
	cmd.Flag("grpc-server-max-recv-msg-size", "Largest gRPC message the server accepts; a larger request fails with ResourceExhausted.").
		Default(DefaultMaxRecvMsgSize.String()).BytesVar(&c.GRPC.MaxRecvMsgSize)
	cmd.Flag("grpc-server-max-send-msg-size", "Largest gRPC message the server sends; a larger response frame fails the call.").
		Default(DefaultMaxSendMsgSize.String()).BytesVar(&c.GRPC.MaxSendMsgSize)
	cmd.Flag("grpc-server-max-concurrent-streams", "Most concurrent gRPC calls on one client connection; more wait for a slot.").
		Default(strconv.Itoa(DefaultMaxConcurrentStreams)).Uint32Var(&c.GRPC.MaxConcurrentStreams)
}

// RegisterFlags adds the HTTP server flags to cmd, for components that
// serve no gRPC (the compactor).
func (c *HTTPConfig) RegisterFlags(cmd *kingpin.CmdClause) {
	cmd.Flag("http-address", "Listen host:port for HTTP endpoints (metrics, probes, API).").
		Default("0.0.0.0:10902").StringVar(&c.Address)
	cmd.Flag("http-grace-period", "Time to wait after an interrupt for HTTP requests to finish.").
		Default("2m").DurationVar(&c.GracePeriod)
	cmd.Flag("http.config", "Path to an exporter-toolkit web config file (TLS, basic auth) for the HTTP server.").
		Default("").StringVar(&c.WebConfigFile)
	cmd.Flag("http.enable-pprof", "Serve Go profiles on /debug/pprof (behind --http.config's auth).").
		Default("false").BoolVar(&c.EnablePprof)
	c.RequestLog.RegisterFlags(cmd)
}

// defaultGracePeriod is used when a config leaves the grace period at zero.
const defaultGracePeriod = 2 * time.Minute
