// Package querier assembles `strata query`: the endpoint set, the fan-out
// proxy, the PromQL engine over the StoreAPI Queryable, the HTTP API v1, and
// the querier's own StoreAPI (so queriers stack).
package querier

import (
	"context"
	"fmt"
	"log/slog"
	"strconv"
	"time"

	"github.com/alecthomas/kingpin/v2"
	"github.com/oklog/run"
	"github.com/prometheus/client_golang/prometheus"
	"github.com/prometheus/common/version"
	"github.com/prometheus/prometheus/promql"

	"github.com/strata-io/strata/internal/component/runutil"
	"github.com/strata-io/strata/internal/endpoint"
	"github.com/strata-io/strata/internal/metadata"
	iquery "github.com/strata-io/strata/internal/query"
	"github.com/strata-io/strata/internal/query/api"
	"github.com/strata-io/strata/internal/query/api/ui"
	"github.com/strata-io/strata/internal/query/parallel"
	"github.com/strata-io/strata/internal/server"
	"github.com/strata-io/strata/internal/store/proxy"
	"github.com/strata-io/strata/pkg/infopb"
	"github.com/strata-io/strata/pkg/metadatapb"
	"github.com/strata-io/strata/pkg/storepb"
)

// Config is the configuration of `strata query`.
type Config struct {
	Server server.Config

	Endpoints            []string
	SDFiles              []string
	SDConfigFile         string
	ClientTLS            endpoint.TLSConfig
	DNSInterval          time.Duration
	SDFileInterval       time.Duration
	CheckInterval        time.Duration
	InfoTimeout          time.Duration
	StoreResponseTimeout time.Duration

	ReplicaLabels []string
	Timeout       time.Duration
	MaxConcurrent int
	Limits        api.QueryLimits
	LookbackDelta time.Duration
	// AutoDownsampling (--query.auto-downsampling) and
	// InstantMaxSourceResolution: see api.Config.
	AutoDownsampling           bool
	InstantMaxSourceResolution time.Duration
	MaxSamples                 int
	RangeParallelism           int
	PartialResponse            bool
	DefaultEvaluationInterval  time.Duration

	// flags is the flag set, for /api/v1/status/flags.
	flags map[string]string
}

// RegisterFlags adds the querier's flags to cmd, with Thanos' names.
func (c *Config) RegisterFlags(cmd *kingpin.CmdClause) {
	c.Server.RegisterFlags(cmd)
	cmd.Flag("endpoint", "StoreAPI endpoint to query (host:port, dns+host:port, dnssrv+_grpc._tcp.host). Repeatable.").
		StringsVar(&c.Endpoints)
	cmd.Flag("store.sd-files", "Prometheus file-SD files (YAML or JSON) listing endpoints; re-read when they change. Repeatable.").
		StringsVar(&c.SDFiles)
	cmd.Flag("endpoint.sd-config-file", "YAML file of endpoint groups, each with its own tls_config.").
		Default("").StringVar(&c.SDConfigFile)
	cmd.Flag("grpc-client-tls-secure", "Use TLS to reach endpoints given by --endpoint and --store.sd-files.").
		Default("false").BoolVar(&c.ClientTLS.Enabled)
	cmd.Flag("grpc-client-tls-cert", "Client certificate for mutual TLS to endpoints.").Default("").StringVar(&c.ClientTLS.CertFile)
	cmd.Flag("grpc-client-tls-key", "Client key for mutual TLS to endpoints.").Default("").StringVar(&c.ClientTLS.KeyFile)
	cmd.Flag("grpc-client-tls-ca", "CA to verify endpoints' certificates; empty uses the system roots.").Default("").StringVar(&c.ClientTLS.CAFile)
	cmd.Flag("grpc-client-server-name", "Server name to verify in endpoints' certificates.").Default("").StringVar(&c.ClientTLS.ServerName)
	cmd.Flag("grpc-client-tls-skip-verify", "Do not verify endpoints' certificates.").Default("false").BoolVar(&c.ClientTLS.InsecureSkipVerify)
	cmd.Flag("store.sd-dns-interval", "How often dns+ and dnssrv+ endpoints are resolved again.").Default("30s").DurationVar(&c.DNSInterval)
	cmd.Flag("store.sd-interval", "How often --store.sd-files are checked for changes.").Default("5s").DurationVar(&c.SDFileInterval)
	cmd.Flag("endpoint.check-interval", "How often every endpoint's Info is called to check its health and labels.").Default("5s").DurationVar(&c.CheckInterval)
	cmd.Flag("endpoint.info-timeout", "Timeout of one Info call.").Default("5s").DurationVar(&c.InfoTimeout)
	cmd.Flag("store.response-timeout", "Give up on an endpoint that has not answered a request within this time (0 = the query timeout).").
		Default("0").DurationVar(&c.StoreResponseTimeout)

	cmd.Flag("query.replica-label", "Label that tells HA replicas apart; series differing only by it are deduplicated. Repeatable.").
		StringsVar(&c.ReplicaLabels)
	cmd.Flag("query.timeout", "Maximum time to execute a query.").Default("2m").DurationVar(&c.Timeout)
	cmd.Flag("query.max-concurrent", "Maximum number of queries parsed and executed at once; the others wait within their timeout.").Default("20").IntVar(&c.MaxConcurrent)
	cmd.Flag("query.max-length", "Reject a query or match[] selector longer than this many bytes before parsing it (0 = no limit).").
		Default(strconv.Itoa(api.DefaultMaxQueryLength)).IntVar(&c.Limits.MaxLength)
	cmd.Flag("query.max-nesting-depth", "Reject a query nesting parentheses, brackets or braces deeper than this before parsing it (0 = no limit).").
		Default(strconv.Itoa(api.DefaultMaxNestingDepth)).IntVar(&c.Limits.MaxNestingDepth)
	cmd.Flag("query.max-binary-operators", "Reject a query with more operators than this before parsing it: the parser's time grows with their square (0 = no limit).").
		Default(strconv.Itoa(api.DefaultMaxBinaryOperators)).IntVar(&c.Limits.MaxBinaryOperators)
	cmd.Flag("query.lookback-delta", "How far back to look for a sample of an instant vector (widened to twice the resolution for queries that may read downsampled data).").Default("5m").DurationVar(&c.LookbackDelta)
	cmd.Flag("query.auto-downsampling", "Queries without max_source_resolution read downsampled data when the step allows it (max_source_resolution=auto: step/5 for range queries).").
		BoolVar(&c.AutoDownsampling)
	cmd.Flag("query.instant.default.max_source_resolution", "What max_source_resolution=auto (and --query.auto-downsampling) means for instant queries; 0s: raw data.").
		Default("0s").DurationVar(&c.InstantMaxSourceResolution)
	cmd.Flag("query.max-samples", "Maximum number of samples a query may load into memory at once.").Default("50000000").IntVar(&c.MaxSamples)
	cmd.Flag("query.range-parallelism", "Evaluate a long range query as up to this many shorter ones in parallel (0 = one per core, 1 = off).").
		Default("0").IntVar(&c.RangeParallelism)
	cmd.Flag("query.partial-response", "Answer with a warning when some endpoints fail (the partial_response parameter overrides it).").
		Default("true").BoolVar(&c.PartialResponse)
	cmd.Flag("query.default-evaluation-interval", "Step of subqueries that do not give one.").Default("1m").DurationVar(&c.DefaultEvaluationInterval)

	cmd.PreAction(func(pc *kingpin.ParseContext) error {
		c.flags = map[string]string{}
		for _, el := range pc.Elements {
			if f, ok := el.Clause.(*kingpin.FlagClause); ok && el.Value != nil {
				c.flags[f.Model().Name] = *el.Value
			}
		}
		return nil
	})
}

// Validate checks the configuration and says what to fix.
func (c *Config) Validate() error {
	if c.MaxConcurrent < 0 {
		return fmt.Errorf("--query.max-concurrent must be >= 0, got %d", c.MaxConcurrent)
	}
	if c.Timeout <= 0 {
		return fmt.Errorf("--query.timeout must be > 0")
	}
	if c.Limits.MaxLength < 0 || c.Limits.MaxNestingDepth < 0 || c.Limits.MaxBinaryOperators < 0 {
		return fmt.Errorf("--query.max-length, --query.max-nesting-depth and --query.max-binary-operators must be >= 0 (0 = no limit)")
	}
	return nil
}

func (c *Config) endpointConfig() (endpoint.Config, error) {
	cfg := endpoint.Config{
		RefreshInterval: c.DNSInterval,
		FileSDInterval:  c.SDFileInterval,
		CheckInterval:   c.CheckInterval,
		InfoTimeout:     c.InfoTimeout,
	}
	if len(c.Endpoints) > 0 || len(c.SDFiles) > 0 {
		cfg.Groups = append(cfg.Groups, endpoint.Group{Name: "flags", Addresses: c.Endpoints, Files: c.SDFiles, TLS: c.ClientTLS})
	}
	if c.SDConfigFile != "" {
		fc, err := endpoint.ParseConfigFile(c.SDConfigFile)
		if err != nil {
			return cfg, err
		}
		cfg.Groups = append(cfg.Groups, fc.Groups...)
	}
	return cfg, nil
}

// Run runs the querier until ctx is done or a server fails.
func Run(ctx context.Context, cfg Config, logger *slog.Logger, reg *prometheus.Registry) error {
	if err := cfg.Validate(); err != nil {
		return err
	}
	ecfg, err := cfg.endpointConfig()
	if err != nil {
		return err
	}
	if len(ecfg.Groups) == 0 {
		logger.Warn("no endpoints configured: queries will return no data; use --endpoint or --store.sd-files")
	}
	set, err := endpoint.New(ecfg, logger, reg)
	if err != nil {
		return err
	}
	defer func() { _ = set.Close() }()

	responseTimeout := cfg.StoreResponseTimeout
	if responseTimeout <= 0 {
		responseTimeout = cfg.Timeout
	}
	px := proxy.New(proxy.Config{ResponseTimeout: responseTimeout}, set.Clients, logger, reg)
	qc := iquery.NewQueryableCreator(storepb.ServerAsClient(px), logger, reg)

	engine := parallel.NewEngine(promql.NewEngine(promql.EngineOpts{
		Logger:                   logger.With("subsystem", "engine"),
		Reg:                      reg,
		MaxSamples:               cfg.MaxSamples,
		Timeout:                  cfg.Timeout,
		LookbackDelta:            cfg.LookbackDelta,
		EnableAtModifier:         true,
		EnableNegativeOffset:     true,
		EnablePerStepStats:       true,
		NoStepSubqueryIntervalFn: func(int64) int64 { return cfg.DefaultEvaluationInterval.Milliseconds() },
	}), parallel.Config{MaxShards: cfg.RangeParallelism})

	md := metadata.NewFanout(set.MetadataClients, cfg.PartialResponse)
	acfg := api.DefaultConfig()
	acfg.QueryTimeout = cfg.Timeout
	acfg.MaxConcurrent = cfg.MaxConcurrent
	acfg.Limits = cfg.Limits
	acfg.LookbackDelta = cfg.LookbackDelta
	acfg.AutoDownsampling = cfg.AutoDownsampling
	acfg.InstantMaxSourceResolution = cfg.InstantMaxSourceResolution
	acfg.ReplicaLabels = cfg.ReplicaLabels
	acfg.DefaultPartialResponse = cfg.PartialResponse
	acfg.Flags = cfg.flags
	acfg.BuildInfo = api.BuildInfo{
		Version: version.Version, Revision: version.Revision, Branch: version.Branch,
		BuildUser: version.BuildUser, BuildDate: version.BuildDate, GoVersion: version.GoVersion,
	}
	a := api.New(acfg, engine, qc, set, md, logger, reg)

	grpcSrv, err := server.NewGRPC(cfg.Server.GRPC, reg, logger)
	if err != nil {
		return err
	}
	storepb.RegisterStoreServer(grpcSrv.Server(), px)
	infopb.RegisterInfoServer(grpcSrv.Server(), &infoServer{proxy: px})
	metadatapb.RegisterMetadataServer(grpcSrv.Server(), metadata.NewServer(md))

	httpSrv, err := server.NewHTTP(httpConfig(cfg.Server.HTTP, cfg.Timeout), set.Ready, reg, logger)
	if err != nil {
		return err
	}
	a.Register(httpSrv.Mux(), "")
	ui.Register(httpSrv.Mux(), "")

	var g run.Group
	runutil.AddContext(&g, ctx)
	runutil.Add(&g, ctx, set.Run)
	runutil.Add(&g, ctx, grpcSrv.Run)
	runutil.Add(&g, ctx, httpSrv.Run)
	runutil.AddReloader(&g, ctx, logger, func() error {
		ecfg, err := cfg.endpointConfig()
		if err != nil {
			return err
		}
		return set.Reload(ecfg.Groups)
	})
	return g.Run()
}

// httpConfig derives the HTTP server's timeouts from the query timeout: a
// request's body must arrive within it (at most a minute), and the response
// may be written until the body's time, the query's and a margin have
// passed, so that a query using all of its time can still answer.
func httpConfig(c server.HTTPConfig, queryTimeout time.Duration) server.HTTPConfig {
	if c.ReadTimeout <= 0 {
		c.ReadTimeout = min(queryTimeout, time.Minute)
	}
	if c.WriteTimeout <= 0 {
		c.WriteTimeout = c.ReadTimeout + queryTimeout + 30*time.Second
	}
	return c
}

// infoServer answers Info for the querier as a StoreAPI endpoint: the union
// of its endpoints' label sets and time ranges.
type infoServer struct {
	infopb.UnimplementedInfoServer
	proxy *proxy.Proxy
}

func (s *infoServer) Info(context.Context, *infopb.InfoRequest) (*infopb.InfoResponse, error) {
	mint, maxt := s.proxy.TimeRange()
	return &infopb.InfoResponse{
		LabelSets:     storepb.LabelSetsToProto(s.proxy.LabelSets()),
		ComponentType: "query",
		Store: &infopb.StoreInfo{
			MinTime:                      mint,
			MaxTime:                      maxt,
			SupportsWithoutReplicaLabels: true,
		},
		Query:          &infopb.QueryAPIInfo{},
		MetricMetadata: &infopb.MetricMetadataInfo{},
	}, nil
}
