package receiver

import (
	"errors"
	"fmt"
	"net"
	"strconv"
	"time"

	"github.com/alecthomas/kingpin/v2"
	"github.com/prometheus/common/model"

	"github.com/strata-io/strata/internal/endpoint"
	"github.com/strata-io/strata/internal/flagutil"
	"github.com/strata-io/strata/internal/receive/handler"
	"github.com/strata-io/strata/internal/receive/hashring"
	"github.com/strata-io/strata/internal/receive/multitsdb"
	"github.com/strata-io/strata/internal/receive/remotewrite"
	"github.com/strata-io/strata/internal/receive/router"
)

// Defaults of the receiver's own flags.
const (
	// DefaultRemoteWriteAddress is upstream's --remote-write.address.
	DefaultRemoteWriteAddress = "0.0.0.0:19291"
	// ReceivePath is the remote-write endpoint, upstream's.
	ReceivePath = "/api/v1/receive"
	// DefaultTooFarInFuture is the default of
	// --tsdb.too-far-in-future.time-window. Upstream's default (0s) accepts
	// any future timestamp, and one such sample locks the tenant out of
	// current data.
	DefaultTooFarInFuture = 10 * time.Minute
	// DefaultShipInterval is how often each tenant's directory is looked
	// at for blocks to upload.
	DefaultShipInterval = 30 * time.Second
)

// Config is the configuration of `strata receive`. The HTTP and gRPC
// server flags and the bucket flags are the process'.
type Config struct {
	// RemoteWriteAddress is the listen address of the remote-write
	// endpoint (--remote-write.address), served apart from the HTTP API.
	RemoteWriteAddress string
	// RemoteWrite configures the decoding of requests
	// (--receive.tenant-header, --receive.default-tenant-id).
	RemoteWrite remotewrite.Config
	// TSDB configures the tenants' TSDBs (--tsdb.path, --label,
	// --receive.tenant-label-name, --tsdb.retention,
	// --tsdb.out-of-order.time-window).
	TSDB multitsdb.Config
	// MaxConcurrentWrites bounds the requests decoded and appended at once
	// (--receive.max-concurrent-writes); more wait for a slot.
	MaxConcurrentWrites int
	// ShipInterval is the time between two looks at the tenants'
	// directories for blocks to upload, when a bucket is given.
	ShipInterval time.Duration
	// LimitsFile is --receive.limits-config-file (upstream's write limits
	// YAML), re-read when it changes; LimitsContent is --receive.limits-config,
	// the same YAML inline.
	LimitsFile, LimitsContent string
	// Hashring configures routing and replication; without a hashrings
	// file or content the node stores every write itself (ingestor only).
	Hashring HashringConfig
}

// HashringConfig is the routing part of the receiver's flags.
type HashringConfig struct {
	// File is --receive.hashrings-file, watched for changes.
	File string
	// Content is --receive.hashrings, the file's JSON given inline.
	Content string
	// RefreshInterval is --receive.hashrings-file-refresh-interval.
	RefreshInterval time.Duration
	// Algorithm is --receive.hashrings-algorithm, for entries naming none.
	Algorithm string
	// LocalEndpoint is --receive.local-endpoint: this node's gRPC address
	// as the hashrings list it. Empty with hashrings: a router only.
	LocalEndpoint string
	// ReplicationFactor is --receive.replication-factor.
	ReplicationFactor uint64
	// ForwardTimeout is --receive-forward-timeout.
	ForwardTimeout time.Duration
	// Compression is --receive.grpc-compression (snappy or none).
	Compression string
	// ClientTLS is the TLS of forwarded writes
	// (--remote-write.client-tls-*).
	ClientTLS endpoint.TLSConfig
}

// Routing reports whether hashrings are configured.
func (h HashringConfig) Routing() bool { return h.File != "" || h.Content != "" }

// DefaultConfig returns the receiver's defaults.
func DefaultConfig() Config {
	return Config{
		RemoteWriteAddress: DefaultRemoteWriteAddress,
		RemoteWrite:        remotewrite.DefaultConfig(),
		TSDB: multitsdb.Config{
			TenantLabel:    multitsdb.DefaultTenantLabel,
			Retention:      multitsdb.DefaultRetention,
			TooFarInFuture: DefaultTooFarInFuture,
		},
		MaxConcurrentWrites: handler.DefaultMaxConcurrentWrites,
		ShipInterval:        DefaultShipInterval,
		Hashring: HashringConfig{
			RefreshInterval:   hashring.DefaultRefreshInterval,
			Algorithm:         string(hashring.DefaultAlgorithm),
			ReplicationFactor: 1,
			ForwardTimeout:    router.DefaultForwardTimeout,
			Compression:       "snappy",
		},
	}
}

// RegisterFlags resets c to DefaultConfig and adds the receiver's flags to
// cmd, with upstream's names and defaults.
func (c *Config) RegisterFlags(cmd *kingpin.CmdClause) {
	*c = DefaultConfig()
	def := DefaultConfig()
	cmd.Flag("remote-write.address", "Address to listen on for remote-write requests (POST "+ReceivePath+").").
		Default(def.RemoteWriteAddress).StringVar(&c.RemoteWriteAddress)
	c.RemoteWrite.RegisterFlags(cmd)
	cmd.Flag("receive.tenant-label-name", "External label naming the tenant on every series and block of its TSDB.").
		Default(def.TSDB.TenantLabel).StringVar(&c.TSDB.TenantLabel)
	cmd.Flag("tsdb.path", "Directory holding one TSDB per tenant.").
		Default("./data").StringVar(&c.TSDB.Dir)
	flagutil.ExternalLabelsVar(cmd.Flag("label", `External label added to every tenant's series and blocks, as name="value" (repeatable).`), &c.TSDB.ExternalLabels, `replica="r1"`)
	flagutil.DurationVar(cmd.Flag("tsdb.retention", "How long blocks are kept on local disk; 0d keeps them forever.").
		Default(model.Duration(def.TSDB.Retention).String()), &c.TSDB.Retention)
	flagutil.DurationVar(cmd.Flag("tsdb.out-of-order.time-window", "How far behind a series' newest sample a sample is still accepted; 0s refuses out-of-order samples.").
		Default("0s"), &c.TSDB.OutOfOrderWindow)
	flagutil.DurationVar(cmd.Flag("tsdb.too-far-in-future.time-window", "Samples further than this after the receiver's clock are refused (409); 0s accepts any. One far-future sample would otherwise lock its tenant out of current samples.").
		Default(model.Duration(def.TSDB.TooFarInFuture).String()), &c.TSDB.TooFarInFuture)
	flagutil.DurationVar(cmd.Flag("tsdb.min-block-duration", "Duration of the blocks the tenants' heads are cut into.").
		Default("2h"), &c.TSDB.MinBlockDuration)
	flagutil.DurationVar(cmd.Flag("tsdb.max-block-duration", "Longest block kept locally (blocks are compacted further in the bucket).").
		Default("2h"), &c.TSDB.MaxBlockDuration)
	cmd.Flag("tsdb.max-exemplars", "Exemplars each tenant keeps in memory; 0 discards exemplars.").
		Default("0").Int64Var(&c.TSDB.MaxExemplars)
	cmd.Flag("tsdb.wal-compression", "Compress the tenants' WAL.").
		Default("true").BoolVar(&c.TSDB.WALCompression)
	cmd.Flag("tsdb.no-lockfile", "Do not lock the tenants' TSDB directories.").
		Default("false").BoolVar(&c.TSDB.NoLockfile)
	cmd.Flag("receive.limits-config-file", "YAML file of write limits (upstream's format: request size, series and samples per request, head series per tenant, concurrency); re-read when it changes. Over a limit: 413 or 429 naming the limit.").
		Default("").StringVar(&c.LimitsFile)
	cmd.Flag("receive.limits-config", "The write limits YAML, inline (instead of --receive.limits-config-file).").
		Default("").StringVar(&c.LimitsContent)
	h := &c.Hashring
	cmd.Flag("receive.hashrings-file", "Hashrings file (JSON, upstream's format): the nodes each tenant's series are spread over. Re-read on change; an invalid file keeps the last good one. Without it (and --receive.hashrings) the node stores every write itself.").
		Default("").StringVar(&h.File)
	cmd.Flag("receive.hashrings", "The hashrings file's content, inline (instead of --receive.hashrings-file).").
		Default("").StringVar(&h.Content)
	flagutil.DurationVar(cmd.Flag("receive.hashrings-file-refresh-interval", "How often the hashrings file is re-read.").
		Default(model.Duration(def.Hashring.RefreshInterval).String()), &h.RefreshInterval)
	cmd.Flag("receive.hashrings-algorithm", "Placement of hashring entries naming no algorithm: hashmod or ketama (consistent: adding a node moves about 1/(N+1) of the series).").
		Default(def.Hashring.Algorithm).EnumVar(&h.Algorithm, string(hashring.AlgorithmHashmod), string(hashring.AlgorithmKetama))
	cmd.Flag("receive.local-endpoint", "This node's gRPC address as the hashrings file lists it; writes for it are stored here. Empty with hashrings: the node only routes.").
		Default("").StringVar(&h.LocalEndpoint)
	cmd.Flag("receive.replication-factor", "Nodes that store each series. A write is acknowledged once a quorum stored it: RF/2+1, and 1 for RF=2.").
		Default("1").Uint64Var(&h.ReplicationFactor)
	flagutil.DurationVar(cmd.Flag("receive-forward-timeout", "Timeout of a write forwarded to another node.").
		Default(model.Duration(def.Hashring.ForwardTimeout).String()), &h.ForwardTimeout)
	cmd.Flag("receive.grpc-compression", "Compression of forwarded writes: snappy or none.").
		Default(def.Hashring.Compression).EnumVar(&h.Compression, "snappy", "none")
	cmd.Flag("remote-write.client-tls-secure", "Use TLS when forwarding writes to other nodes.").
		Default("false").BoolVar(&h.ClientTLS.Enabled)
	cmd.Flag("remote-write.client-tls-cert", "Client certificate for mutual TLS to other nodes.").Default("").StringVar(&h.ClientTLS.CertFile)
	cmd.Flag("remote-write.client-tls-key", "Client key for mutual TLS to other nodes.").Default("").StringVar(&h.ClientTLS.KeyFile)
	cmd.Flag("remote-write.client-tls-ca", "CA to verify other nodes' certificates; empty uses the system roots.").Default("").StringVar(&h.ClientTLS.CAFile)
	cmd.Flag("remote-write.client-server-name", "Server name to verify in other nodes' certificates.").Default("").StringVar(&h.ClientTLS.ServerName)
	cmd.Flag("receive.max-concurrent-writes", "Remote-write requests decoded and appended at once; more wait for a slot.").
		Default(strconv.Itoa(def.MaxConcurrentWrites)).IntVar(&c.MaxConcurrentWrites)
}

// Validate checks the configuration and says what to fix.
func (c *Config) Validate() error {
	var errs []error
	if _, _, err := net.SplitHostPort(c.RemoteWriteAddress); err != nil {
		errs = append(errs, fmt.Errorf("--remote-write.address=%q is not host:port: %w", c.RemoteWriteAddress, err))
	}
	if c.TSDB.TenantLabel == "" || !model.UTF8Validation.IsValidLabelName(c.TSDB.TenantLabel) {
		errs = append(errs, fmt.Errorf("--receive.tenant-label-name=%q is not a label name", c.TSDB.TenantLabel))
	}
	if err := c.RemoteWrite.Validate(); err != nil {
		errs = append(errs, err)
	}
	if err := c.TSDB.Validate(); err != nil {
		errs = append(errs, err)
	}
	if c.MaxConcurrentWrites <= 0 {
		errs = append(errs, fmt.Errorf("--receive.max-concurrent-writes=%d must be positive", c.MaxConcurrentWrites))
	}
	if c.LimitsFile != "" && c.LimitsContent != "" {
		errs = append(errs, errors.New("give --receive.limits-config-file or --receive.limits-config, not both"))
	}
	if h := c.Hashring; h.Routing() {
		if h.File != "" && h.Content != "" {
			errs = append(errs, errors.New("give --receive.hashrings-file or --receive.hashrings, not both"))
		}
		if h.ReplicationFactor == 0 {
			errs = append(errs, errors.New("--receive.replication-factor must be at least 1"))
		}
		if h.ForwardTimeout <= 0 {
			errs = append(errs, errors.New("--receive-forward-timeout must be positive"))
		}
		if h.LocalEndpoint != "" {
			if _, _, err := net.SplitHostPort(h.LocalEndpoint); err != nil {
				errs = append(errs, fmt.Errorf("--receive.local-endpoint=%q is not host:port as the hashrings file lists it: %w", h.LocalEndpoint, err))
			}
		}
	} else if c.Hashring.LocalEndpoint != "" || c.Hashring.ReplicationFactor > 1 {
		errs = append(errs, errors.New("--receive.local-endpoint and --receive.replication-factor need hashrings: set --receive.hashrings-file"))
	}
	if c.ShipInterval <= 0 {
		errs = append(errs, fmt.Errorf("ship interval %s must be positive", c.ShipInterval))
	}
	return errors.Join(errs...)
}
