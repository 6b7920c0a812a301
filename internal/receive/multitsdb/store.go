package multitsdb

import (
	"context"
	"math"

	"github.com/prometheus/prometheus/model/labels"
	"google.golang.org/grpc"

	"github.com/strata-io/strata/internal/store"
	"github.com/strata-io/strata/internal/store/proxy"
	"github.com/strata-io/strata/pkg/infopb"
	"github.com/strata-io/strata/pkg/storepb"
)

// server is the StoreAPI and Info server over all open tenants: a proxy
// over one in-process client per tenant.
type server struct {
	storepb.StoreServer
	infopb.UnimplementedInfoServer

	m *MultiTSDB
}

var _ store.LocalServer = (*server)(nil)

func newServer(m *MultiTSDB) *server {
	s := &server{m: m}
	// The proxy registers no metrics: a querier in the same process has
	// its own proxy with the same metric names.
	s.StoreServer = proxy.New(proxy.Config{}, s.clients, m.logger, nil)
	return s
}

// StoreServer returns the StoreAPI (storepb.StoreServer) and Info
// (infopb.InfoServer) server over every open tenant's TSDB. Each tenant's
// series carry Config.ExternalLabels and the tenant label; Info lists one
// label set per tenant. Series of all tenants come sorted by label set.
func (m *MultiTSDB) StoreServer() store.LocalServer { return m.srv }

func (s *server) clients() []store.Client {
	ts := s.m.openTenantList()
	out := make([]store.Client, 0, len(ts))
	for _, t := range ts {
		out = append(out, &tenantClient{StoreClient: storepb.ServerAsClient(&tenantServer{t: t}), t: t})
	}
	return out
}

// Info implements infopb.InfoServer: one label set per open tenant, and
// the time range from the oldest sample of any tenant on.
func (s *server) Info(context.Context, *infopb.InfoRequest) (*infopb.InfoResponse, error) {
	resp := &infopb.InfoResponse{
		ComponentType: componentType,
		Store:         &infopb.StoreInfo{SupportsWithoutReplicaLabels: true},
	}
	mint := int64(math.MaxInt64)
	var sets []labels.Labels
	for _, t := range s.m.openTenantList() {
		lo, hi, ok := t.timeRange()
		if !ok {
			continue
		}
		sets = append(sets, t.extLabels)
		mint = min(mint, lo)
		resp.Store.TsdbInfos = append(resp.Store.TsdbInfos, &infopb.TSDBInfo{
			Labels:  &storepb.LabelSet{Labels: storepb.LabelsToProto(t.extLabels)},
			MinTime: lo,
			MaxTime: hi,
		})
	}
	if len(sets) == 0 {
		mint = math.MinInt64
	}
	resp.LabelSets = storepb.LabelSetsToProto(sets)
	resp.Store.MinTime, resp.Store.MaxTime = mint, math.MaxInt64
	return resp, nil
}

// timeRange returns the tenant's Store time range; ok is false once the
// tenant is closed.
func (t *tenant) timeRange() (mint, maxt int64, ok bool) {
	t.mu.RLock()
	defer t.mu.RUnlock()
	if t.db == nil {
		return 0, 0, false
	}
	mint, maxt = t.store.TimeRange()
	return mint, maxt, true
}

// tenantClient is a store.Client over one tenant, read without caching.
type tenantClient struct {
	storepb.StoreClient
	t *tenant
}

func (c *tenantClient) LabelSets() []labels.Labels { return []labels.Labels{c.t.extLabels} }

func (c *tenantClient) TimeRange() (mint, maxt int64) {
	mint, maxt, ok := c.t.timeRange()
	if !ok {
		// Closed: nothing to ask it.
		return math.MaxInt64, math.MinInt64
	}
	return mint, maxt
}

func (c *tenantClient) SupportsWithoutReplicaLabels() bool { return true }

func (c *tenantClient) String() string { return "tenant " + c.t.name }

// tenantServer serves one tenant's Store, holding the tenant open for the
// length of each call; a tenant closed in the meantime answers nothing.
type tenantServer struct {
	storepb.UnimplementedStoreServer
	t *tenant
}

func (s *tenantServer) Series(req *storepb.SeriesRequest, srv grpc.ServerStreamingServer[storepb.SeriesResponse]) error {
	s.t.mu.RLock()
	defer s.t.mu.RUnlock()
	if s.t.db == nil {
		return nil
	}
	return s.t.store.Series(req, srv)
}

func (s *tenantServer) LabelNames(ctx context.Context, req *storepb.LabelNamesRequest) (*storepb.LabelNamesResponse, error) {
	s.t.mu.RLock()
	defer s.t.mu.RUnlock()
	if s.t.db == nil {
		return &storepb.LabelNamesResponse{}, nil
	}
	return s.t.store.LabelNames(ctx, req)
}

func (s *tenantServer) LabelValues(ctx context.Context, req *storepb.LabelValuesRequest) (*storepb.LabelValuesResponse, error) {
	s.t.mu.RLock()
	defer s.t.mu.RUnlock()
	if s.t.db == nil {
		return &storepb.LabelValuesResponse{}, nil
	}
	return s.t.store.LabelValues(ctx, req)
}
