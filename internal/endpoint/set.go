package endpoint

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"math"
	"sort"
	"strings"
	"sync"
	"sync/atomic"
	"time"

	"github.com/prometheus/client_golang/prometheus"
	"github.com/prometheus/client_golang/prometheus/promauto"
	"github.com/prometheus/prometheus/model/labels"
	"google.golang.org/grpc"
	"google.golang.org/grpc/codes"
	"google.golang.org/grpc/credentials"
	healthpb "google.golang.org/grpc/health/grpc_health_v1"
	"google.golang.org/grpc/status"

	"github.com/strata-io/strata/internal/store"
	"github.com/strata-io/strata/pkg/infopb"
	"github.com/strata-io/strata/pkg/storepb"
)

// Set is the live set of StoreAPI endpoints: it discovers them (static,
// DNS, file SD), keeps one gRPC connection per address, and checks each with
// Info. Its methods are safe for concurrent use; Run must be called once.
type Set struct {
	cfg    Config
	logger *slog.Logger

	groups []*discoverer
	creds  []credentials.TransportCredentials // by group

	reloadc chan reload // Reload → Run
	ready   atomic.Bool // the first discovery and check are done

	mu        sync.RWMutex
	endpoints map[string]*client // by address
	closed    bool

	metrics metrics
}

type metrics struct {
	endpoints    *prometheus.GaugeVec
	dnsFailures  prometheus.Counter
	fileFailures prometheus.Counter
	infoFailures prometheus.Counter
}

// New validates cfg and returns a Set holding its static addresses (not yet
// checked). DNS and file SD endpoints appear once Run has started. reg may
// be nil.
func New(cfg Config, logger *slog.Logger, reg prometheus.Registerer) (*Set, error) {
	cfg.applyDefaults()
	if logger == nil {
		logger = slog.New(slog.DiscardHandler)
	}
	s := &Set{
		cfg:       cfg,
		logger:    logger,
		endpoints: map[string]*client{},
		reloadc:   make(chan reload, 1),
		metrics: metrics{
			endpoints: promauto.With(reg).NewGaugeVec(prometheus.GaugeOpts{
				Name: "strata_endpoints",
				Help: "Known StoreAPI endpoints, by health as of their last Info call.",
			}, []string{"state"}),
			dnsFailures: promauto.With(reg).NewCounter(prometheus.CounterOpts{
				Name: "strata_endpoint_dns_failures_total",
				Help: "DNS lookups of endpoint addresses that failed.",
			}),
			fileFailures: promauto.With(reg).NewCounter(prometheus.CounterOpts{
				Name: "strata_endpoint_file_sd_failures_total",
				Help: "Reads of endpoint file SD files that failed.",
			}),
			infoFailures: promauto.With(reg).NewCounter(prometheus.CounterOpts{
				Name: "strata_endpoint_info_failures_total",
				Help: "Info calls to endpoints that failed.",
			}),
		},
	}
	groups, creds, err := s.buildGroups(cfg.Groups)
	if err != nil {
		return nil, err
	}
	s.groups, s.creds = groups, creds
	// Static addresses are known now, so that a query before the first
	// check gets a warning for them rather than silence.
	want := map[string]int{}
	for i, g := range cfg.Groups {
		for _, a := range g.Addresses {
			if validateAddress(a) == nil && !isDNS(a) {
				if _, ok := want[a]; !ok {
					want[a] = i
				}
			}
		}
	}
	if _, err := s.reconcile(want); err != nil {
		return nil, errors.Join(err, s.Close())
	}
	return s, nil
}

// buildGroups validates groups and returns their discoverers and client
// credentials, by group index.
func (s *Set) buildGroups(gs []Group) ([]*discoverer, []credentials.TransportCredentials, error) {
	var (
		groups []*discoverer
		creds  []credentials.TransportCredentials
	)
	for i, g := range gs {
		for _, a := range g.Addresses {
			if err := validateAddress(a); err != nil {
				return nil, nil, fmt.Errorf("endpoint group %s: %w", groupName(g, i), err)
			}
		}
		c, err := g.TLS.credentials()
		if err != nil {
			return nil, nil, fmt.Errorf("endpoint group %s: tls: %w", groupName(g, i), err)
		}
		creds = append(creds, c)
		groups = append(groups, newDiscoverer(s, g))
	}
	return groups, creds, nil
}

type reload struct {
	groups []*discoverer
	creds  []credentials.TransportCredentials
}

// Reload replaces the endpoint groups (e.g. after SIGHUP re-read the
// --endpoint.sd-config-file). It validates them first and returns an error
// without changing anything when they are invalid. Addresses that stay keep
// their connection; new ones use their new group's TLS. Run applies it.
func (s *Set) Reload(gs []Group) error {
	groups, creds, err := s.buildGroups(gs)
	if err != nil {
		return err
	}
	select {
	case <-s.reloadc: // drop a reload not yet applied: the newest wins
	default:
	}
	s.reloadc <- reload{groups: groups, creds: creds}
	return nil
}

// Ready returns nil once Run has discovered and checked every endpoint once,
// so that the first queries see the endpoints' labels and time ranges.
func (s *Set) Ready() error {
	if !s.ready.Load() {
		return errors.New("endpoints not checked yet")
	}
	return nil
}

func groupName(g Group, i int) string {
	if g.Name != "" {
		return g.Name
	}
	return fmt.Sprintf("#%d", i)
}

func isDNS(a string) bool {
	return strings.HasPrefix(a, dnsPrefix) || strings.HasPrefix(a, dnsSRVPrefix) || strings.HasPrefix(a, dnsSRVNoAPrefix)
}

// Run discovers and checks endpoints until ctx is done: DNS every
// RefreshInterval, file SD files every FileSDInterval, Info on every
// endpoint every CheckInterval (and at once for a new endpoint), and on
// the endpoints that cannot answer yet every RecheckInterval. It returns
// nil when ctx is cancelled.
func (s *Set) Run(ctx context.Context) error {
	s.refresh(ctx, true)
	s.checkAll(ctx)
	s.ready.Store(true)

	dnsT := time.NewTicker(s.cfg.RefreshInterval)
	defer dnsT.Stop()
	fileT := time.NewTicker(s.cfg.FileSDInterval)
	defer fileT.Stop()
	checkT := time.NewTicker(s.cfg.CheckInterval)
	defer checkT.Stop()
	recheckT := time.NewTicker(s.cfg.RecheckInterval)
	defer recheckT.Stop()
	for {
		select {
		case <-ctx.Done():
			return nil
		case <-dnsT.C:
			s.refresh(ctx, true)
		case <-fileT.C:
			s.refresh(ctx, false)
		case <-checkT.C:
			s.checkAll(ctx)
		case <-recheckT.C:
			s.recheck(ctx)
		case r := <-s.reloadc:
			s.mu.Lock()
			s.groups, s.creds = r.groups, r.creds
			s.mu.Unlock()
			s.logger.Info("endpoint groups reloaded", "groups", len(r.groups))
			s.refresh(ctx, true)
		}
	}
}

// refresh rediscovers every group's addresses, adds and removes endpoints,
// and checks the new ones.
func (s *Set) refresh(ctx context.Context, resolve bool) {
	want := map[string]int{}
	for i, d := range s.groups {
		for _, a := range d.addresses(ctx, resolve) {
			if _, ok := want[a]; !ok {
				want[a] = i // the first group that names an address gives its TLS
			}
		}
	}
	added, err := s.reconcile(want)
	if err != nil {
		s.logger.Error("update endpoints", "err", err)
	}
	s.check(ctx, added)
}

// reconcile makes the endpoints those of want (address → group index). It
// returns the endpoints it added.
func (s *Set) reconcile(want map[string]int) ([]*client, error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	if s.closed {
		return nil, nil
	}
	var errs []error
	for addr, c := range s.endpoints {
		if _, ok := want[addr]; ok {
			continue
		}
		delete(s.endpoints, addr)
		s.logger.Info("endpoint removed", "endpoint", addr)
		if err := c.conn.Close(); err != nil {
			errs = append(errs, fmt.Errorf("close connection to %s: %w", addr, err))
		}
	}
	var added []*client
	for addr, g := range want {
		if _, ok := s.endpoints[addr]; ok {
			continue
		}
		opts := append([]grpc.DialOption{
			grpc.WithTransportCredentials(s.creds[g]),
			// A series with many chunks can exceed gRPC's default 4 MiB.
			grpc.WithDefaultCallOptions(grpc.MaxCallRecvMsgSize(math.MaxInt32), grpc.ForceCodecV2(storepb.Codec{})),
		}, s.cfg.DialOptions...)
		conn, err := grpc.NewClient(addr, opts...)
		if err != nil {
			errs = append(errs, fmt.Errorf("endpoint %s: %w", addr, err))
			continue
		}
		c := newClient(addr, conn)
		s.endpoints[addr] = c
		added = append(added, c)
		s.logger.Info("endpoint added", "endpoint", addr)
	}
	return added, errors.Join(errs...)
}

func (s *Set) checkAll(ctx context.Context) {
	s.mu.RLock()
	cs := make([]*client, 0, len(s.endpoints))
	for _, c := range s.endpoints {
		cs = append(cs, c)
	}
	s.mu.RUnlock()
	s.check(ctx, cs)

	healthy := 0
	for _, c := range cs {
		if c.healthy() {
			healthy++
		}
	}
	s.metrics.endpoints.WithLabelValues("healthy").Set(float64(healthy))
	s.metrics.endpoints.WithLabelValues("unhealthy").Set(float64(len(cs) - healthy))
}

// recheck checks the endpoints that cannot answer yet (see
// client.needsRecheck).
func (s *Set) recheck(ctx context.Context) {
	s.mu.RLock()
	var cs []*client
	for _, c := range s.endpoints {
		if c.needsRecheck() {
			cs = append(cs, c)
		}
	}
	s.mu.RUnlock()
	if len(cs) > 0 {
		s.check(ctx, cs)
	}
}

// check calls Info on the endpoints concurrently and waits for all.
func (s *Set) check(ctx context.Context, cs []*client) {
	var wg sync.WaitGroup
	for _, c := range cs {
		wg.Go(func() {
			if err := c.check(ctx, s.cfg.InfoTimeout); err != nil && ctx.Err() == nil {
				s.metrics.infoFailures.Inc()
				s.logger.Debug("endpoint info", "endpoint", c.addr, "err", err)
			}
		})
	}
	wg.Wait()
}

// Clients returns every known endpoint that serves (or may serve) the Store
// API, healthy or not, sorted by address. An endpoint never reached has an
// unbounded time range and no label sets, so that queries warn about it.
func (s *Set) Clients() []store.Client {
	s.mu.RLock()
	defer s.mu.RUnlock()
	out := make([]store.Client, 0, len(s.endpoints))
	for _, c := range s.sorted() {
		if c.servesStore() {
			out = append(out, c)
		}
	}
	return out
}

// Status returns the state of every known endpoint, sorted by name.
func (s *Set) Status() []Status {
	s.mu.RLock()
	defer s.mu.RUnlock()
	out := make([]Status, 0, len(s.endpoints))
	for _, c := range s.sorted() {
		out = append(out, c.status())
	}
	return out
}

// sorted returns the endpoints by address; s.mu must be held.
func (s *Set) sorted() []*client {
	cs := make([]*client, 0, len(s.endpoints))
	for _, c := range s.endpoints {
		cs = append(cs, c)
	}
	sort.Slice(cs, func(i, j int) bool { return cs[i].addr < cs[j].addr })
	return cs
}

// Close closes every connection; the set is empty afterwards. Call it after
// Run has returned.
func (s *Set) Close() error {
	s.mu.Lock()
	defer s.mu.Unlock()
	s.closed = true
	var errs []error
	for addr, c := range s.endpoints {
		if err := c.conn.Close(); err != nil {
			errs = append(errs, fmt.Errorf("close connection to %s: %w", addr, err))
		}
	}
	s.endpoints = map[string]*client{}
	return errors.Join(errs...)
}

// client is one endpoint: a connection and what its last Info said. It
// implements store.Client.
type client struct {
	storepb.StoreClient
	addr string
	conn *grpc.ClientConn
	info infopb.InfoClient
	hc   healthpb.HealthClient

	mu      sync.RWMutex
	st      Status
	checked bool // Info was called at least once
	// notReady: at the last check, the gRPC health service said
	// NOT_SERVING (e.g. a store gateway in its first sync).
	notReady  bool
	noStore   bool // the last good Info said the Store API is not served
	withoutRL bool
	metadata  bool // the last good Info said the Metadata API is served
	rules     bool // the last good Info said the Rules API is served
}

func newClient(addr string, conn *grpc.ClientConn) *client {
	return &client{
		StoreClient: storepb.NewStoreClient(conn),
		addr:        addr,
		conn:        conn,
		info:        infopb.NewInfoClient(conn),
		hc:          healthpb.NewHealthClient(conn),
		st:          Status{Name: addr, MinTime: math.MinInt64, MaxTime: math.MaxInt64},
	}
}

// check calls Info and records the answer. A failure keeps the metadata of
// the last good answer.
func (c *client) check(ctx context.Context, timeout time.Duration) error {
	c.mu.RLock()
	retry := c.checked && !c.st.Healthy
	c.mu.RUnlock()
	if retry {
		// Reconnect now rather than after gRPC's backoff, so that an
		// endpoint that came back is seen healthy at this check.
		c.conn.ResetConnectBackoff()
	}
	ctx, cancel := context.WithTimeout(ctx, timeout)
	defer cancel()
	// The health service first: a component that is not ready may answer
	// Info with nothing (no labels, an empty range), which must not read
	// as "no data". Endpoints without a health service are only asked Info.
	var (
		resp     *infopb.InfoResponse
		notReady bool
	)
	hr, err := c.hc.Check(ctx, &healthpb.HealthCheckRequest{})
	switch {
	case err == nil && hr.GetStatus() == healthpb.HealthCheckResponse_NOT_SERVING:
		notReady = true
		err = errNotReady
	case err == nil || status.Code(err) == codes.Unimplemented:
		resp, err = c.info.Info(ctx, &infopb.InfoRequest{})
	}

	c.mu.Lock()
	defer c.mu.Unlock()
	c.checked = true
	c.notReady = notReady
	c.st.LastCheck = time.Now()
	if err != nil {
		c.st.Healthy = false
		c.st.LastError = err.Error()
		return err
	}
	c.st.Healthy = true
	c.st.LastError = ""
	c.st.ComponentType = resp.GetComponentType()
	c.st.LabelSets = storepb.LabelSetsFromProto(resp.GetLabelSets())
	if si := resp.GetStore(); si != nil {
		c.noStore = false
		c.st.MinTime, c.st.MaxTime = si.GetMinTime(), si.GetMaxTime()
		c.withoutRL = si.GetSupportsWithoutReplicaLabels()
	} else {
		c.noStore = true
	}
	c.metadata = resp.GetMetricMetadata() != nil
	c.rules = resp.GetRules() != nil
	return nil
}

// errNotReady is the error of a check, and of the calls, of an endpoint
// whose health service says NOT_SERVING.
var errNotReady = status.Error(codes.Unavailable, "not ready (gRPC health NOT_SERVING: still starting, e.g. a store gateway's first sync of its blocks): its data is missing from the answer")

// needsRecheck tells whether the endpoint cannot answer yet: never checked,
// unhealthy, not ready, or announcing an empty time range.
func (c *client) needsRecheck() bool {
	c.mu.RLock()
	defer c.mu.RUnlock()
	return !c.checked || !c.st.Healthy || c.notReady || (!c.noStore && c.st.MinTime > c.st.MaxTime)
}

// ready returns errNotReady when the last check found the endpoint not
// ready.
func (c *client) ready() error {
	c.mu.RLock()
	defer c.mu.RUnlock()
	if c.notReady {
		return errNotReady
	}
	return nil
}

// Series fails at once with errNotReady for an endpoint not ready (the
// caller warns about it); otherwise it calls the endpoint.
func (c *client) Series(ctx context.Context, req *storepb.SeriesRequest, opts ...grpc.CallOption) (grpc.ServerStreamingClient[storepb.SeriesResponse], error) {
	if err := c.ready(); err != nil {
		return nil, err
	}
	return c.StoreClient.Series(ctx, req, opts...)
}

// LabelNames: see Series.
func (c *client) LabelNames(ctx context.Context, req *storepb.LabelNamesRequest, opts ...grpc.CallOption) (*storepb.LabelNamesResponse, error) {
	if err := c.ready(); err != nil {
		return nil, err
	}
	return c.StoreClient.LabelNames(ctx, req, opts...)
}

// LabelValues: see Series.
func (c *client) LabelValues(ctx context.Context, req *storepb.LabelValuesRequest, opts ...grpc.CallOption) (*storepb.LabelValuesResponse, error) {
	if err := c.ready(); err != nil {
		return nil, err
	}
	return c.StoreClient.LabelValues(ctx, req, opts...)
}

func (c *client) healthy() bool {
	c.mu.RLock()
	defer c.mu.RUnlock()
	return c.st.Healthy
}

func (c *client) servesStore() bool {
	c.mu.RLock()
	defer c.mu.RUnlock()
	return !c.noStore
}

func (c *client) status() Status {
	c.mu.RLock()
	defer c.mu.RUnlock()
	st := c.st
	st.LabelSets = append([]labels.Labels{}, c.st.LabelSets...)
	return st
}

// LabelSets returns the external label sets of the last good Info.
func (c *client) LabelSets() []labels.Labels {
	c.mu.RLock()
	defer c.mu.RUnlock()
	return c.st.LabelSets
}

// TimeRange returns the ms range of the last good Info (unbounded before one).
func (c *client) TimeRange() (mint, maxt int64) {
	c.mu.RLock()
	defer c.mu.RUnlock()
	return c.st.MinTime, c.st.MaxTime
}

// SupportsWithoutReplicaLabels tells what the last good Info said.
func (c *client) SupportsWithoutReplicaLabels() bool {
	c.mu.RLock()
	defer c.mu.RUnlock()
	return c.withoutRL
}

// ComponentType is the component type of the last good Info ("" before one).
func (c *client) ComponentType() string {
	c.mu.RLock()
	defer c.mu.RUnlock()
	return c.st.ComponentType
}

// String returns the endpoint's address.
func (c *client) String() string { return c.addr }
