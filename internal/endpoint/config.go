package endpoint

import (
	"bytes"
	"context"
	"crypto/tls"
	"crypto/x509"
	"errors"
	"fmt"
	"io"
	"net"
	"os"
	"path/filepath"
	"strings"
	"time"

	"go.yaml.in/yaml/v3"
	"google.golang.org/grpc"
	"google.golang.org/grpc/credentials"
	"google.golang.org/grpc/credentials/insecure"
)

// Defaults used when a Config field is zero.
const (
	DefaultRefreshInterval = 30 * time.Second
	DefaultFileSDInterval  = 5 * time.Second
	DefaultCheckInterval   = 5 * time.Second
	DefaultInfoTimeout     = 5 * time.Second
	// DefaultRecheckInterval is how often endpoints that cannot answer yet
	// are checked again.
	DefaultRecheckInterval = time.Second
)

// Address prefixes that ask for DNS discovery.
const (
	// dnsPrefix: "dns+host:port", one endpoint per A/AAAA record of host.
	dnsPrefix = "dns+"
	// dnsSRVPrefix: "dnssrv+_grpc._tcp.host", one endpoint per SRV record,
	// its target resolved to addresses, with the record's port.
	dnsSRVPrefix = "dnssrv+"
	// dnsSRVNoAPrefix: like dnssrv+, but the SRV target names are used as
	// they are (no A/AAAA lookup).
	dnsSRVNoAPrefix = "dnssrvnoa+"
)

// Config is the endpoint set's configuration: groups of endpoints and how
// often to rediscover and check them. Zero durations take the defaults.
type Config struct {
	// Groups are the endpoint groups; each has its own client TLS.
	Groups []Group
	// RefreshInterval is how often DNS names are resolved again.
	RefreshInterval time.Duration
	// FileSDInterval is how often file SD files are checked for changes
	// (a changed modification time or size makes them be read again).
	FileSDInterval time.Duration
	// CheckInterval is how often every endpoint's Info is called.
	CheckInterval time.Duration
	// InfoTimeout bounds each Info call.
	InfoTimeout time.Duration
	// RecheckInterval is how often the endpoints that are unhealthy, not
	// ready (gRPC health NOT_SERVING), never checked or announcing an empty
	// time range are checked again between two CheckIntervals, so that a
	// store that finished starting is queried within about this long.
	RecheckInterval time.Duration
	// Resolver resolves dns+ and dnssrv+ addresses; nil uses net.DefaultResolver.
	Resolver Resolver
	// DialOptions are added to every connection's options (e.g. connect
	// backoff, or an in-process dialer).
	DialOptions []grpc.DialOption
}

func (c *Config) applyDefaults() {
	if c.RefreshInterval <= 0 {
		c.RefreshInterval = DefaultRefreshInterval
	}
	if c.FileSDInterval <= 0 {
		c.FileSDInterval = DefaultFileSDInterval
	}
	if c.CheckInterval <= 0 {
		c.CheckInterval = DefaultCheckInterval
	}
	if c.InfoTimeout <= 0 {
		c.InfoTimeout = DefaultInfoTimeout
	}
	if c.RecheckInterval <= 0 {
		c.RecheckInterval = DefaultRecheckInterval
	}
	if c.Resolver == nil {
		c.Resolver = net.DefaultResolver
	}
}

// Group is a list of endpoints that share a client TLS configuration.
type Group struct {
	// Name is shown in logs; optional.
	Name string `yaml:"name"`
	// Addresses are "host:port", "dns+host:port", "dnssrv+_grpc._tcp.host"
	// or "dnssrvnoa+_grpc._tcp.host".
	Addresses []string `yaml:"addresses"`
	// Files are Prometheus file_sd files (YAML, or JSON when named *.json);
	// the last path element may be a glob. Their targets take the same
	// forms as Addresses; their labels are ignored.
	Files []string `yaml:"files"`
	// TLS is the client TLS used to reach the group's endpoints.
	TLS TLSConfig `yaml:"tls_config"`
}

// TLSConfig is a group's client TLS. Files are read when a connection is
// made, so rotated certificates are picked up on reconnect.
type TLSConfig struct {
	// Enabled turns TLS on; without it connections are plaintext.
	Enabled bool `yaml:"enabled"`
	// CertFile and KeyFile are the client certificate for mutual TLS (both or neither).
	CertFile string `yaml:"cert_file"`
	KeyFile  string `yaml:"key_file"`
	// CAFile verifies the servers; empty uses the system roots.
	CAFile string `yaml:"ca_file"`
	// ServerName overrides the name checked in the server's certificate.
	ServerName string `yaml:"server_name"`
	// InsecureSkipVerify skips server certificate verification.
	InsecureSkipVerify bool `yaml:"insecure_skip_verify"`
}

// Resolver is the part of *net.Resolver the set uses; tests inject fakes.
// Both methods must be safe for concurrent use.
type Resolver interface {
	LookupHost(ctx context.Context, host string) ([]string, error)
	LookupSRV(ctx context.Context, service, proto, name string) (string, []*net.SRV, error)
}

// credentials returns the transport credentials of c.
func (c TLSConfig) credentials() (credentials.TransportCredentials, error) {
	if !c.Enabled {
		if c.CertFile != "" || c.KeyFile != "" || c.CAFile != "" || c.ServerName != "" {
			return nil, errors.New("tls options are set but tls is not enabled: set enabled: true (or --endpoint.grpc-client-tls)")
		}
		return insecure.NewCredentials(), nil
	}
	cfg := &tls.Config{
		MinVersion:         tls.VersionTLS12,
		ServerName:         c.ServerName,
		InsecureSkipVerify: c.InsecureSkipVerify, //nolint:gosec // the user asked for it
	}
	if c.CAFile != "" {
		pem, err := os.ReadFile(c.CAFile)
		if err != nil {
			return nil, fmt.Errorf("read CA file: %w", err)
		}
		pool := x509.NewCertPool()
		if !pool.AppendCertsFromPEM(pem) {
			return nil, fmt.Errorf("CA file %s holds no PEM certificate", c.CAFile)
		}
		cfg.RootCAs = pool
	}
	if (c.CertFile == "") != (c.KeyFile == "") {
		return nil, errors.New("client certificate needs both cert_file and key_file")
	}
	if c.CertFile != "" {
		if _, err := tls.LoadX509KeyPair(c.CertFile, c.KeyFile); err != nil {
			return nil, fmt.Errorf("load client certificate: %w", err)
		}
		certFile, keyFile := c.CertFile, c.KeyFile
		cfg.GetClientCertificate = func(*tls.CertificateRequestInfo) (*tls.Certificate, error) {
			cert, err := tls.LoadX509KeyPair(certFile, keyFile)
			if err != nil {
				return nil, fmt.Errorf("load client certificate: %w", err)
			}
			return &cert, nil
		}
	}
	return credentials.NewTLS(cfg), nil
}

// validateAddress checks one configured address or file SD target.
func validateAddress(addr string) error {
	switch {
	case strings.HasPrefix(addr, dnsSRVPrefix), strings.HasPrefix(addr, dnsSRVNoAPrefix):
		if strings.TrimPrefix(strings.TrimPrefix(addr, dnsSRVPrefix), dnsSRVNoAPrefix) == "" {
			return fmt.Errorf("endpoint address %q: no SRV name; want e.g. dnssrv+_grpc._tcp.store.example", addr)
		}
		return nil
	case strings.HasPrefix(addr, dnsPrefix):
		addr = strings.TrimPrefix(addr, dnsPrefix)
	}
	host, port, err := net.SplitHostPort(addr)
	if err != nil || host == "" || port == "" {
		return fmt.Errorf("endpoint address %q: want host:port, dns+host:port or dnssrv+name", addr)
	}
	return nil
}

// fileConfig is the YAML form of a config file.
type fileConfig struct {
	Groups []fileGroup `yaml:"groups"`
}

type fileGroup struct {
	Name      string         `yaml:"name"`
	Addresses []string       `yaml:"addresses"`
	Files     []string       `yaml:"files"`
	TLS       *fileTLSConfig `yaml:"tls_config"`
}

type fileTLSConfig struct {
	Enabled            *bool  `yaml:"enabled"`
	CertFile           string `yaml:"cert_file"`
	KeyFile            string `yaml:"key_file"`
	CAFile             string `yaml:"ca_file"`
	ServerName         string `yaml:"server_name"`
	InsecureSkipVerify bool   `yaml:"insecure_skip_verify"`
}

// ParseConfigFile reads an endpoint config file (--endpoint.sd-config-file).
// Only Groups is set in the result; the caller fills the intervals.
// Relative paths in it are relative to the file's directory. Format:
//
//	groups:
//	  - name: eu                       # optional, for logs
//	    addresses:                     # any of these forms
//	      - 10.0.0.1:10901
//	      - dns+sidecar.eu.svc:10901
//	      - dnssrv+_grpc._tcp.store.eu.svc
//	    files:                         # Prometheus file_sd files, YAML or JSON, globs allowed
//	      - targets/eu-*.yaml          # e.g. [{targets: ["10.0.0.2:10901"]}]
//	    tls_config:                    # present: TLS is on, unless enabled: false
//	      ca_file: ca.pem
//	      cert_file: client.pem        # with key_file: mutual TLS
//	      key_file: client-key.pem
//	      server_name: store.eu.example
//	      insecure_skip_verify: false
//
// Unknown keys are errors, so that typos do not pass unnoticed.
func ParseConfigFile(path string) (Config, error) {
	b, err := os.ReadFile(path)
	if err != nil {
		return Config{}, fmt.Errorf("read endpoint config: %w", err)
	}
	var fc fileConfig
	dec := yaml.NewDecoder(bytes.NewReader(b))
	dec.KnownFields(true)
	if err := dec.Decode(&fc); err != nil && !errors.Is(err, io.EOF) {
		return Config{}, fmt.Errorf("parse endpoint config %s: %w", path, err)
	}
	dir := filepath.Dir(path)
	rel := func(p string) string {
		if p == "" || filepath.IsAbs(p) {
			return p
		}
		return filepath.Join(dir, p)
	}
	var cfg Config
	for i, g := range fc.Groups {
		out := Group{Name: g.Name, Addresses: g.Addresses}
		for _, f := range g.Files {
			out.Files = append(out.Files, rel(f))
		}
		if g.TLS != nil {
			out.TLS = TLSConfig{
				Enabled:            g.TLS.Enabled == nil || *g.TLS.Enabled,
				CertFile:           rel(g.TLS.CertFile),
				KeyFile:            rel(g.TLS.KeyFile),
				CAFile:             rel(g.TLS.CAFile),
				ServerName:         g.TLS.ServerName,
				InsecureSkipVerify: g.TLS.InsecureSkipVerify,
			}
		}
		for _, a := range out.Addresses {
			if err := validateAddress(a); err != nil {
				return Config{}, fmt.Errorf("endpoint config %s, group %d: %w", path, i, err)
			}
		}
		if len(out.Addresses) == 0 && len(out.Files) == 0 {
			return Config{}, fmt.Errorf("endpoint config %s, group %d: no addresses and no files", path, i)
		}
		cfg.Groups = append(cfg.Groups, out)
	}
	return cfg, nil
}

// Credentials returns the gRPC transport credentials of c: plaintext when
// TLS is not enabled.
func (c TLSConfig) Credentials() (credentials.TransportCredentials, error) { return c.credentials() }
