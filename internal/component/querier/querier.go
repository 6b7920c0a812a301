// Package querier assembles `strata query`: the endpoint set, the fan-out
// proxy, the PromQL engine over the StoreAPI Queryable, the HTTP API v1, and
// the querier's own StoreAPI (so queriers stack).
package querier

import (
	"context"
	"log/slog"
	"net/http"
	"slices"
	"strings"
	"time"

	"github.com/prometheus/client_golang/prometheus"
	"github.com/prometheus/common/version"
	"github.com/prometheus/prometheus/promql"
	"google.golang.org/grpc"

	"github.com/strata-io/strata/internal/endpoint"
	"github.com/strata-io/strata/internal/metadata"
	iquery "github.com/strata-io/strata/internal/query"
	"github.com/strata-io/strata/internal/query/api"
	"github.com/strata-io/strata/internal/query/api/ui"
	"github.com/strata-io/strata/internal/query/parallel"
	"github.com/strata-io/strata/internal/store"
	"github.com/strata-io/strata/internal/store/proxy"
	"github.com/strata-io/strata/pkg/infopb"
	"github.com/strata-io/strata/pkg/metadatapb"
	"github.com/strata-io/strata/pkg/rulespb"
	"github.com/strata-io/strata/pkg/storepb"
)

// Deps is what the process gives the querier.
type Deps struct {
	// Logger and Registerer; nil discards logs and metrics.
	Logger     *slog.Logger
	Registerer prometheus.Registerer
	// Stores are StoreAPI clients in the same process (a store gateway's or
	// a receiver's store wrapped by store.NewLocalClient): they are queried
	// with the endpoints the flags name, deduplicated with them, and
	// listed on /api/v1/stores.
	Stores []store.Client
}

// Querier is `strata query` as a component.
type Querier struct {
	cfg    Config
	logger *slog.Logger
	local  []store.Client
	set    *endpoint.Set
	proxy  *proxy.Proxy
	md     *metadata.Fanout
	rules  *iquery.RulesFanout
	api    *api.API
}

// New builds the querier: it reads the endpoint configuration files and
// connects to the static endpoints lazily; it opens no listener.
func New(cfg Config, deps Deps) (*Querier, error) {
	if err := cfg.Validate(); err != nil {
		return nil, err
	}
	logger := deps.Logger
	if logger == nil {
		logger = slog.New(slog.DiscardHandler)
	}
	reg := deps.Registerer

	groups, err := cfg.endpointGroups()
	if err != nil {
		return nil, err
	}
	if len(groups) == 0 && len(deps.Stores) == 0 {
		logger.Warn("no endpoints configured: queries will return no data; use --endpoint or --store.sd-files")
	}
	ecfg := cfg.Endpoint
	ecfg.Groups = groups
	set, err := endpoint.New(ecfg, logger, reg)
	if err != nil {
		return nil, err
	}
	q := &Querier{cfg: cfg, logger: logger, local: slices.Clone(deps.Stores), set: set}

	pcfg := cfg.Proxy
	if pcfg.ResponseTimeout <= 0 {
		pcfg.ResponseTimeout = cfg.API.QueryTimeout
	}
	q.proxy = proxy.New(pcfg, q.clients, logger, reg)
	qc := iquery.NewQueryableCreator(storepb.ServerAsClient(q.proxy), logger, reg)

	evalInterval := cfg.Engine.DefaultEvaluationInterval.Milliseconds()
	engine := parallel.NewEngine(promql.NewEngine(promql.EngineOpts{
		Logger:                   logger.With("subsystem", "engine"),
		Reg:                      reg,
		MaxSamples:               cfg.Engine.MaxSamples,
		Timeout:                  cfg.API.QueryTimeout,
		LookbackDelta:            cfg.API.LookbackDelta,
		EnableAtModifier:         true,
		EnableNegativeOffset:     true,
		EnablePerStepStats:       true,
		NoStepSubqueryIntervalFn: func(int64) int64 { return evalInterval },
	}), cfg.Engine.Parallel)

	q.md = metadata.NewFanout(set.MetadataClients, cfg.API.DefaultPartialResponse)
	acfg := cfg.API
	if acfg.BuildInfo == (api.BuildInfo{}) {
		acfg.BuildInfo = api.BuildInfo{
			Version: version.Version, Revision: version.Revision, Branch: version.Branch,
			BuildUser: version.BuildUser, BuildDate: version.BuildDate, GoVersion: version.GoVersion,
		}
	}
	q.api = api.New(acfg, engine, qc, storeLister{q}, q.md, logger, reg)
	q.rules = iquery.NewRulesFanout(set.RulesClients)
	q.api.SetRules(q.rules)
	return q, nil
}

// clients returns the in-process stores, then the endpoint set's.
func (q *Querier) clients() []store.Client {
	remote := q.set.Clients()
	out := make([]store.Client, 0, len(q.local)+len(remote))
	return append(append(out, q.local...), remote...)
}

// Register serves the HTTP API v1 and the UI on mux, and the querier's
// StoreAPI, Info, Metadata and Rules on srv (when there is one), so that queriers
// stack.
func (q *Querier) Register(mux *http.ServeMux, srv grpc.ServiceRegistrar) {
	q.api.Register(mux, "")
	ui.Register(mux, "")
	if srv != nil {
		storepb.RegisterStoreServer(srv, q.proxy)
		infopb.RegisterInfoServer(srv, &infoServer{proxy: q.proxy})
		metadatapb.RegisterMetadataServer(srv, metadata.NewServer(q.md))
		rulespb.RegisterRulesServer(srv, iquery.NewRulesServer(q.rules, q.cfg.API.ReplicaLabels))
	}
}

// Ready reports ready once the endpoints were discovered and checked once.
func (q *Querier) Ready() error { return q.set.Ready() }

// Run discovers and checks the endpoints until ctx is done.
func (q *Querier) Run(ctx context.Context) error { return q.set.Run(ctx) }

// Reload reads --store.sd-files' list of files and
// --endpoint.sd-config-file again; on error the old endpoints stay.
func (q *Querier) Reload() error {
	groups, err := q.cfg.endpointGroups()
	if err != nil {
		return err
	}
	return q.set.Reload(groups)
}

// Close closes the connections to the endpoints; call it after Run has
// returned.
func (q *Querier) Close() error { return q.set.Close() }

// storeLister lists the in-process stores with the endpoint set's endpoints
// for /api/v1/stores.
type storeLister struct{ q *Querier }

// infoer is what store.LocalClient tells of its last Info call.
type infoer interface {
	Info() (*infopb.InfoResponse, error)
}

func (s storeLister) Status() []endpoint.Status {
	out := s.q.set.Status()
	now := time.Now()
	for _, c := range s.q.local {
		mint, maxt := c.TimeRange()
		st := endpoint.Status{Name: c.String(), LabelSets: c.LabelSets(), MinTime: mint, MaxTime: maxt, LastCheck: now, Healthy: true}
		if ic, ok := c.(infoer); ok {
			info, err := ic.Info()
			st.ComponentType = info.GetComponentType()
			if err != nil {
				st.Healthy, st.LastError = false, err.Error()
			}
		}
		out = append(out, st)
	}
	slices.SortStableFunc(out, func(a, b endpoint.Status) int { return strings.Compare(a.Name, b.Name) })
	return out
}

// infoServer answers Info for the querier as a StoreAPI endpoint: the union
// of its stores' label sets and time ranges.
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
		Rules:          &infopb.RulesInfo{},
	}, nil
}
