// Package router spreads remote writes over a receive hashring: each series
// goes to the replication-factor nodes the hashring names for it, the
// local node's share is stored in place and the rest is forwarded over gRPC
// (thanos.WriteableStore/RemoteWrite, package writepb), and a write is
// acknowledged once every replica answered and a quorum of replicas of
// every series stored it.
//
// Waiting for every replica, not just a quorum, keeps each node's samples
// of a series in order: a sender sends a series' next samples only after
// the previous request was acknowledged, so no replica can see them before
// the previous ones (a replica answering after the acknowledgement would
// refuse the older samples as out of order and lose its copy). A node that
// is down costs no wait: a peer that failed is skipped for a backoff
// (Peers), so its replicas fail at once, and fewer healthy nodes than a
// quorum make a fast 503. As soon as a series can no longer reach its
// quorum the request fails; the replicas still in flight finish in the
// background, bounded by the forward timeout.
package router

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"net/http"
	"slices"
	"sync"
	"sync/atomic"
	"time"

	"github.com/prometheus/client_golang/prometheus"
	"github.com/prometheus/client_golang/prometheus/promauto"
	"github.com/prometheus/prometheus/model/labels"

	"github.com/strata-io/strata/internal/receive/hashring"
	"github.com/strata-io/strata/internal/receive/multitsdb"
	"github.com/strata-io/strata/internal/receive/remotewrite"
)

// DefaultForwardTimeout is upstream's --receive-forward-timeout.
const DefaultForwardTimeout = 5 * time.Second

// Appender stores series of one tenant on this node (*multitsdb.MultiTSDB).
type Appender interface {
	Append(ctx context.Context, tenant string, series []remotewrite.Series) (multitsdb.WriteStats, error)
}

// Forwarder sends series of one tenant to another node, which stores them
// and does not forward them again (*Peers).
type Forwarder interface {
	Forward(ctx context.Context, endpoint, tenant string, replica uint64, series []remotewrite.Series) error
}

// Config configures a Router.
type Config struct {
	// LocalEndpoint is this node's address as the hashrings file lists it
	// (--receive.local-endpoint); "" makes the node a pure router.
	LocalEndpoint string
	// ReplicationFactor is how many nodes store each series
	// (--receive.replication-factor).
	ReplicationFactor uint64
	// Algorithm is the hashring algorithm of entries that name none
	// (--receive.hashrings-algorithm).
	Algorithm hashring.Algorithm
	// ForwardTimeout bounds a write to another node
	// (--receive-forward-timeout).
	ForwardTimeout time.Duration
}

// Router is a handler.Appender over a hashring. Safe for concurrent use.
type Router struct {
	cfg    Config
	local  Appender
	fwd    Forwarder
	logger *slog.Logger
	ring   atomic.Pointer[hashring.Multi]
	quorum int

	replicas       *prometheus.CounterVec
	quorumFailures prometheus.Counter
	inflight       sync.WaitGroup
}

// New returns a Router storing the local share with local and forwarding
// the rest with fwd. It routes nothing until SetHashrings gave it a ring.
func New(cfg Config, local Appender, fwd Forwarder, logger *slog.Logger, reg prometheus.Registerer) (*Router, error) {
	if cfg.ReplicationFactor == 0 {
		cfg.ReplicationFactor = 1
	}
	if cfg.ForwardTimeout <= 0 {
		cfg.ForwardTimeout = DefaultForwardTimeout
	}
	if fwd == nil {
		return nil, errors.New("router: a forwarder is required")
	}
	if local == nil && cfg.LocalEndpoint != "" {
		return nil, errors.New("router: --receive.local-endpoint is set but the node has no storage")
	}
	if logger == nil {
		logger = slog.New(slog.DiscardHandler)
	}
	f := promauto.With(reg)
	return &Router{
		cfg:    cfg,
		local:  local,
		fwd:    fwd,
		logger: logger,
		quorum: int(hashring.WriteQuorum(cfg.ReplicationFactor)),
		replicas: f.NewCounterVec(prometheus.CounterOpts{
			Name: "strata_receive_replica_writes_total",
			Help: "Writes of a share of a request to one node, local or forwarded, by result.",
		}, []string{"target", "result"}),
		quorumFailures: f.NewCounter(prometheus.CounterOpts{
			Name: "strata_receive_write_quorum_failures_total",
			Help: "Remote-write requests refused because a series was stored by fewer replicas than the write quorum.",
		}),
	}, nil
}

// Check builds cfgs as SetHashrings would, without using them.
func (r *Router) Check(cfgs []hashring.Config) error {
	_, err := r.build(cfgs)
	return err
}

func (r *Router) build(cfgs []hashring.Config) (*hashring.Multi, error) {
	return hashring.NewMulti(cfgs, hashring.Options{Algorithm: r.cfg.Algorithm, ReplicationFactor: r.cfg.ReplicationFactor})
}

// TenantLabels returns the external_labels of the hashring that takes
// tenant's writes (none before the first hashrings or for a tenant no
// entry takes).
func (r *Router) TenantLabels(tenant string) labels.Labels {
	m := r.ring.Load()
	if m == nil {
		return labels.EmptyLabels()
	}
	c, err := m.Config(tenant)
	if err != nil {
		return labels.EmptyLabels()
	}
	return labels.FromMap(c.ExternalLabels)
}

// Endpoints returns the addresses of every node of the current hashrings.
func (r *Router) Endpoints() []string {
	m := r.ring.Load()
	if m == nil {
		return nil
	}
	var out []string
	for _, e := range m.Endpoints() {
		out = append(out, e.Address)
	}
	return out
}

// SetHashrings replaces the hashrings. On an error (an entry the
// replication factor cannot be met with, say) the previous rings stay.
func (r *Router) SetHashrings(cfgs []hashring.Config) error {
	m, err := r.build(cfgs)
	if err != nil {
		return err
	}
	if r.cfg.LocalEndpoint != "" && !slices.ContainsFunc(m.Endpoints(), func(e hashring.Endpoint) bool { return e.Address == r.cfg.LocalEndpoint }) {
		r.logger.Warn("the hashrings do not list this node: it only forwards", "local_endpoint", r.cfg.LocalEndpoint)
	}
	r.ring.Store(m)
	return nil
}

// Ready reports whether the router has hashrings to route by.
func (r *Router) Ready() error {
	if r.ring.Load() == nil {
		return errors.New("no hashrings loaded yet: check --receive.hashrings-file")
	}
	return nil
}

// Wait waits for the replica writes that outlived their request.
func (r *Router) Wait() { r.inflight.Wait() }

// batch is the share of a request one node gets.
type batch struct {
	endpoint string
	replica  uint64 // lowest replica index in the batch
	series   []remotewrite.Series
	index    []int // request index of each series
}

// result is the outcome of one batch.
type result struct {
	b   *batch
	err error
}

// Append routes series of tenant and returns once every replica answered
// and every series is stored by a quorum of its replicas, or once one
// series cannot be any more. The stats are the request's when it succeeds.
func (r *Router) Append(ctx context.Context, tenant string, series []remotewrite.Series) (multitsdb.WriteStats, error) {
	ring := r.ring.Load()
	if ring == nil {
		return multitsdb.WriteStats{}, &Error{Status: http.StatusServiceUnavailable, Err: errors.New("the receiver has no hashring yet: check --receive.hashrings-file")}
	}
	batches, err := r.split(ring, tenant, series)
	if err != nil {
		return multitsdb.WriteStats{}, err
	}
	// Replicas outlive the request when it fails early (or the sender
	// gives up), so they run on a context of their own bounded by the
	// forward timeout.
	wctx, cancel := context.WithTimeout(context.WithoutCancel(ctx), r.cfg.ForwardTimeout)
	results := make(chan result, len(batches))
	r.inflight.Add(len(batches))
	var pending sync.WaitGroup
	pending.Add(len(batches))
	go func() { pending.Wait(); cancel() }()
	for _, b := range batches {
		go func() {
			defer r.inflight.Done()
			defer pending.Done()
			results <- result{b: b, err: r.write(wctx, tenant, b)}
		}()
	}
	return r.await(ctx, tenant, series, results, len(batches))
}

// split groups each replica of each series by the node that stores it.
func (r *Router) split(ring *hashring.Multi, tenant string, series []remotewrite.Series) ([]*batch, error) {
	byEndpoint := map[string]*batch{}
	var order []*batch
	for i := range series {
		for n := range r.cfg.ReplicationFactor {
			ep, err := ring.GetN(tenant, series[i].Labels, n)
			if err != nil {
				return nil, &Error{Status: http.StatusInternalServerError, Err: fmt.Errorf("place replica %d of %s: %w", n, series[i].Labels, err)}
			}
			b := byEndpoint[ep.Address]
			if b == nil {
				b = &batch{endpoint: ep.Address, replica: n}
				byEndpoint[ep.Address] = b
				order = append(order, b)
			}
			b.replica = min(b.replica, n)
			b.series = append(b.series, series[i])
			b.index = append(b.index, i)
		}
	}
	return order, nil
}

// write stores a batch locally or forwards it.
func (r *Router) write(ctx context.Context, tenant string, b *batch) error {
	target := "forward"
	var err error
	if b.endpoint == r.cfg.LocalEndpoint {
		target = "local"
		_, err = r.local.Append(ctx, tenant, b.series)
		if err != nil {
			err = &Error{Status: multitsdb.ErrorStatus(err), Err: err}
		}
	} else {
		err = r.fwd.Forward(ctx, b.endpoint, tenant, b.replica, b.series)
	}
	res := "success"
	if err != nil {
		res = "error"
		if StatusOf(err) < http.StatusInternalServerError {
			res = "refused"
		}
	}
	r.replicas.WithLabelValues(target, res).Inc()
	return err
}

// await counts stored replicas per series until every batch answered or
// one series cannot reach its quorum any more.
func (r *Router) await(ctx context.Context, tenant string, series []remotewrite.Series, results <-chan result, n int) (multitsdb.WriteStats, error) {
	rf := int(r.cfg.ReplicationFactor)
	stored := make([]int, len(series))
	failed := make([]int, len(series))
	refused := make([]int, len(series)) // failures a retry cannot fix (4xx)
	var errs []error
	for range n {
		var res result
		select {
		case res = <-results:
		case <-ctx.Done():
			return multitsdb.WriteStats{}, &Error{Status: http.StatusServiceUnavailable, Err: fmt.Errorf("request ended before a quorum stored it: %w", ctx.Err())}
		}
		if res.err != nil {
			errs = append(errs, fmt.Errorf("%s: %w", res.b.endpoint, res.err))
		}
		for _, i := range res.b.index {
			if res.err == nil {
				stored[i]++
				continue
			}
			failed[i]++
			if StatusOf(res.err) < http.StatusInternalServerError {
				refused[i]++
			}
			if rf-failed[i] < r.quorum {
				r.quorumFailures.Inc()
				return multitsdb.WriteStats{}, r.quorumError(tenant, series[i], stored[i], refused[i], errs)
			}
		}
	}
	// Every batch answered; a series without quorum was returned above.
	return stats(series), nil
}

// quorumError explains a series that cannot reach quorum. When refusals
// alone make the quorum impossible the sender must not retry (4xx: the
// first refusal's status); otherwise a retry can succeed (503).
func (r *Router) quorumError(tenant string, s remotewrite.Series, stored, refused int, errs []error) error {
	rf := int(r.cfg.ReplicationFactor)
	status := http.StatusServiceUnavailable
	if rf-refused < r.quorum {
		for _, e := range errs {
			if st := StatusOf(e); st < http.StatusInternalServerError {
				status = st
				break
			}
		}
	}
	msg := fmt.Sprintf("tenant %q: series %s stored by %d of %d replicas, the write quorum is %d", tenant, s.Labels, stored, rf, r.quorum)
	if status == http.StatusServiceUnavailable {
		msg += "; retry when more receivers are up"
	}
	return &Error{Status: status, Err: fmt.Errorf("%s: %w", msg, errors.Join(errs...))}
}

func stats(series []remotewrite.Series) multitsdb.WriteStats {
	var s multitsdb.WriteStats
	for i := range series {
		s.Samples += len(series[i].Samples)
		s.Histograms += len(series[i].Histograms)
		s.Exemplars += len(series[i].Exemplars)
	}
	return s
}

// Error is a write failure with the HTTP status a sender acts on.
type Error struct {
	Status int
	Err    error
}

func (e *Error) Error() string { return e.Err.Error() }
func (e *Error) Unwrap() error { return e.Err }

// HTTPStatus returns Status.
func (e *Error) HTTPStatus() int { return e.Status }

// statusError is an error that knows the HTTP status a sender gets.
type statusError interface {
	error
	HTTPStatus() int
}

// StatusOf returns the HTTP status of a write error: the status of the
// first error in its chain with an HTTPStatus method (*Error,
// *limits.LimitError), else multitsdb.ErrorStatus.
func StatusOf(err error) int {
	if e, ok := errors.AsType[statusError](err); ok {
		return e.HTTPStatus()
	}
	return multitsdb.ErrorStatus(err)
}
