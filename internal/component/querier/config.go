package querier

import (
	"fmt"
	"strconv"
	"time"

	"github.com/alecthomas/kingpin/v2"
	"github.com/prometheus/common/model"

	"github.com/strata-io/strata/internal/endpoint"
	"github.com/strata-io/strata/internal/flagutil"
	"github.com/strata-io/strata/internal/query/api"
	"github.com/strata-io/strata/internal/query/parallel"
	"github.com/strata-io/strata/internal/server"
	"github.com/strata-io/strata/internal/store/proxy"
)

// Config is the configuration of `strata query`. Each flag is bound to the
// field of the library configuration that reads it.
type Config struct {
	// Endpoint holds the discovery and check intervals of the endpoint set.
	// Its Groups are built by New and Reload from FlagEndpoints and
	// SDConfigFile.
	Endpoint endpoint.Config
	// FlagEndpoints is the endpoint group given by --endpoint and
	// --store.sd-files, reached with the --grpc-client-* TLS flags.
	FlagEndpoints endpoint.Group
	// SDConfigFile is --endpoint.sd-config-file: more groups, each with its
	// own TLS; read again on reload.
	SDConfigFile string

	// Proxy configures the fan-out; a zero ResponseTimeout means the query
	// timeout.
	Proxy proxy.Config
	// API configures the HTTP API v1; its QueryTimeout, LookbackDelta and
	// DefaultPartialResponse are the engine's and the metadata fan-out's too.
	API api.Config
	// Engine configures the PromQL engine.
	Engine EngineConfig
}

// EngineConfig is the part of the PromQL engine's options that flags set.
type EngineConfig struct {
	// MaxSamples is the most samples one query may hold in memory.
	MaxSamples int
	// DefaultEvaluationInterval is the step of subqueries that give none.
	DefaultEvaluationInterval time.Duration
	// Parallel splits long range queries (MaxShards: --query.range-parallelism).
	Parallel parallel.Config
}

// DefaultConfig returns the querier's defaults: those of the libraries it
// wires, and Thanos' where the querier has its own.
func DefaultConfig() Config {
	a := api.DefaultConfig()
	a.LookbackDelta = 5 * time.Minute
	a.DefaultPartialResponse = true
	return Config{
		Endpoint: endpoint.Config{
			RefreshInterval: endpoint.DefaultRefreshInterval,
			FileSDInterval:  endpoint.DefaultFileSDInterval,
			CheckInterval:   endpoint.DefaultCheckInterval,
			InfoTimeout:     endpoint.DefaultInfoTimeout,
		},
		FlagEndpoints: endpoint.Group{Name: "flags"},
		API:           a,
		Engine: EngineConfig{
			MaxSamples:                50_000_000,
			DefaultEvaluationInterval: time.Minute,
		},
	}
}

// dur formats a default duration as a flag value ("2m", not "2m0s").
func dur(d time.Duration) string { return model.Duration(d).String() }

// RegisterFlags resets c to DefaultConfig (fields without a flag keep
// those defaults) and adds the querier's flags to cmd, with Thanos' names.
// The HTTP and gRPC server flags are the process' (server.Config).
func (c *Config) RegisterFlags(cmd *kingpin.CmdClause) {
	*c = DefaultConfig()
	def := DefaultConfig()

	cmd.Flag("endpoint", "StoreAPI endpoint to query (host:port, dns+host:port, dnssrv+_grpc._tcp.host). Repeatable.").
		StringsVar(&c.FlagEndpoints.Addresses)
	cmd.Flag("store.sd-files", "Prometheus file-SD files (YAML or JSON) listing endpoints; re-read when they change. Repeatable.").
		StringsVar(&c.FlagEndpoints.Files)
	cmd.Flag("endpoint.sd-config-file", "YAML file of endpoint groups, each with its own tls_config.").
		Default("").StringVar(&c.SDConfigFile)
	tls := &c.FlagEndpoints.TLS
	cmd.Flag("grpc-client-tls-secure", "Use TLS to reach endpoints given by --endpoint and --store.sd-files.").
		Default("false").BoolVar(&tls.Enabled)
	cmd.Flag("grpc-client-tls-cert", "Client certificate for mutual TLS to endpoints.").Default("").StringVar(&tls.CertFile)
	cmd.Flag("grpc-client-tls-key", "Client key for mutual TLS to endpoints.").Default("").StringVar(&tls.KeyFile)
	cmd.Flag("grpc-client-tls-ca", "CA to verify endpoints' certificates; empty uses the system roots.").Default("").StringVar(&tls.CAFile)
	cmd.Flag("grpc-client-server-name", "Server name to verify in endpoints' certificates.").Default("").StringVar(&tls.ServerName)
	cmd.Flag("grpc-client-tls-skip-verify", "Do not verify endpoints' certificates.").Default("false").BoolVar(&tls.InsecureSkipVerify)
	cmd.Flag("store.sd-dns-interval", "How often dns+ and dnssrv+ endpoints are resolved again.").
		Default(dur(def.Endpoint.RefreshInterval)).DurationVar(&c.Endpoint.RefreshInterval)
	cmd.Flag("store.sd-interval", "How often --store.sd-files are checked for changes.").
		Default(dur(def.Endpoint.FileSDInterval)).DurationVar(&c.Endpoint.FileSDInterval)
	cmd.Flag("endpoint.check-interval", "How often every endpoint's Info is called to check its health and labels.").
		Default(dur(def.Endpoint.CheckInterval)).DurationVar(&c.Endpoint.CheckInterval)
	cmd.Flag("endpoint.info-timeout", "Timeout of one Info call.").
		Default(dur(def.Endpoint.InfoTimeout)).DurationVar(&c.Endpoint.InfoTimeout)
	cmd.Flag("store.response-timeout", "Give up on an endpoint that has not answered a request within this time (0 = the query timeout).").
		Default("0").DurationVar(&c.Proxy.ResponseTimeout)

	flagutil.LabelNamesVar(cmd.Flag("query.replica-label", "Label that tells HA replicas apart; series differing only by it are deduplicated. Repeatable, or comma-separated."),
		&c.API.ReplicaLabels)
	cmd.Flag("query.timeout", "Maximum time to execute a query.").
		Default(dur(def.API.QueryTimeout)).DurationVar(&c.API.QueryTimeout)
	cmd.Flag("query.max-concurrent", "Maximum number of queries parsed and executed at once; the others wait within their timeout.").
		Default(strconv.Itoa(def.API.MaxConcurrent)).IntVar(&c.API.MaxConcurrent)
	cmd.Flag("query.max-length", "Reject a query or match[] selector longer than this many bytes before parsing it (0 = no limit).").
		Default(strconv.Itoa(def.API.Limits.MaxLength)).IntVar(&c.API.Limits.MaxLength)
	cmd.Flag("query.max-nesting-depth", "Reject a query nesting parentheses, brackets or braces deeper than this before parsing it (0 = no limit).").
		Default(strconv.Itoa(def.API.Limits.MaxNestingDepth)).IntVar(&c.API.Limits.MaxNestingDepth)
	cmd.Flag("query.max-binary-operators", "Reject a query with more operators than this before parsing it: the parser's time grows with their square (0 = no limit).").
		Default(strconv.Itoa(def.API.Limits.MaxBinaryOperators)).IntVar(&c.API.Limits.MaxBinaryOperators)
	cmd.Flag("query.lookback-delta", "How far back to look for a sample of an instant vector (widened to twice the resolution for queries that may read downsampled data).").
		Default(dur(def.API.LookbackDelta)).DurationVar(&c.API.LookbackDelta)
	cmd.Flag("query.auto-downsampling", "Queries without max_source_resolution read downsampled data when the step allows it (max_source_resolution=auto: step/5 for range queries).").
		BoolVar(&c.API.AutoDownsampling)
	cmd.Flag("query.instant.default.max_source_resolution", "What max_source_resolution=auto (and --query.auto-downsampling) means for instant queries; 0s: raw data.").
		Default("0s").DurationVar(&c.API.InstantMaxSourceResolution)
	cmd.Flag("query.max-samples", "Maximum number of samples a query may load into memory at once.").
		Default(strconv.Itoa(def.Engine.MaxSamples)).IntVar(&c.Engine.MaxSamples)
	cmd.Flag("query.range-parallelism", "Evaluate a long range query as up to this many shorter ones in parallel (0 = one per core, 1 = off).").
		Default("0").IntVar(&c.Engine.Parallel.MaxShards)
	cmd.Flag("query.partial-response", "Answer with a warning when some endpoints fail (the partial_response parameter overrides it).").
		Default(strconv.FormatBool(def.API.DefaultPartialResponse)).BoolVar(&c.API.DefaultPartialResponse)
	cmd.Flag("query.default-evaluation-interval", "Step of subqueries that do not give one.").
		Default(dur(def.Engine.DefaultEvaluationInterval)).DurationVar(&c.Engine.DefaultEvaluationInterval)

	ten := &c.API.Tenancy
	cmd.Flag("query.tenant-header", "HTTP header naming the tenant of a request.").
		Default(def.API.Tenancy.Header).StringVar(&ten.Header)
	cmd.Flag("query.default-tenant-id", "Tenant of requests without the tenant header.").
		Default(def.API.Tenancy.DefaultTenant).StringVar(&ten.DefaultTenant)
	cmd.Flag("query.tenant-label-name", "Label holding a series' tenant; with --query.enforce-tenancy every selector gets <label>=\"<tenant>\".").
		Default(def.API.Tenancy.LabelName).StringVar(&ten.LabelName)
	cmd.Flag("query.enforce-tenancy", "Answer each request with its tenant's series only (queries, series, labels, label values and metadata).").
		Default(strconv.FormatBool(def.API.Tenancy.Enforce)).BoolVar(&ten.Enforce)

	// /api/v1/status/flags shows the flags as given.
	cmd.PreAction(func(pc *kingpin.ParseContext) error {
		c.API.Flags = map[string]string{}
		for _, el := range pc.Elements {
			if f, ok := el.Clause.(*kingpin.FlagClause); ok && el.Value != nil {
				c.API.Flags[f.Model().Name] = *el.Value
			}
		}
		return nil
	})
}

// Validate checks the configuration and says what to fix.
func (c *Config) Validate() error {
	if c.API.MaxConcurrent < 0 {
		return fmt.Errorf("--query.max-concurrent must be >= 0, got %d", c.API.MaxConcurrent)
	}
	if c.API.QueryTimeout <= 0 {
		return fmt.Errorf("--query.timeout must be > 0")
	}
	if l := c.API.Limits; l.MaxLength < 0 || l.MaxNestingDepth < 0 || l.MaxBinaryOperators < 0 {
		return fmt.Errorf("--query.max-length, --query.max-nesting-depth and --query.max-binary-operators must be >= 0 (0 = no limit)")
	}
	if err := c.API.Tenancy.Validate(); err != nil {
		return err
	}
	return nil
}

// endpointGroups returns the endpoint groups: the flags' group, then those
// of --endpoint.sd-config-file (read now).
func (c *Config) endpointGroups() ([]endpoint.Group, error) {
	var groups []endpoint.Group
	if g := c.FlagEndpoints; len(g.Addresses) > 0 || len(g.Files) > 0 {
		if g.Name == "" {
			g.Name = "flags"
		}
		groups = append(groups, g)
	}
	if c.SDConfigFile != "" {
		fc, err := endpoint.ParseConfigFile(c.SDConfigFile)
		if err != nil {
			return nil, err
		}
		groups = append(groups, fc.Groups...)
	}
	return groups, nil
}

// HTTPConfig returns h with the timeouts the querier needs, derived from
// the query timeout where h leaves them at zero: a request's body must
// arrive within the query timeout (at most a minute), and the response may
// be written until the body's time, the query's and a margin have passed,
// so that a query using all of its time can still answer. The process
// serving the querier listens with it.
func (c *Config) HTTPConfig(h server.HTTPConfig) server.HTTPConfig {
	qt := c.API.QueryTimeout
	if h.ReadTimeout <= 0 {
		h.ReadTimeout = min(qt, time.Minute)
	}
	if h.WriteTimeout <= 0 {
		h.WriteTimeout = h.ReadTimeout + qt + 30*time.Second
	}
	return h
}
