// Package proxy fans a StoreAPI request out to a set of endpoints and merges
// their answers: the querier's view of "all stores" is one Proxy.
package proxy

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"math"
	"runtime/debug"
	"sort"
	"sync"
	"time"

	"github.com/prometheus/client_golang/prometheus"
	"github.com/prometheus/client_golang/prometheus/promauto"
	"github.com/prometheus/prometheus/model/labels"
	"google.golang.org/grpc/codes"
	"google.golang.org/grpc/status"

	"github.com/strata-io/strata/internal/store"
	"github.com/strata-io/strata/pkg/storepb"
)

// Config tunes a Proxy.
type Config struct {
	// ResponseTimeout bounds each endpoint's part of a Series, LabelNames or
	// LabelValues call (0 = no bound beyond the caller's context). An
	// endpoint that exceeds it is treated like a failed endpoint.
	ResponseTimeout time.Duration
}

// Proxy is a storepb.StoreServer over the endpoints returned by a clients
// function, called once per request. It is safe for concurrent use.
//
// Series output is sorted by label set; series with equal label sets from
// different endpoints are sent consecutively as separate frames (the querier
// merges or deduplicates them), except that chunks identical to ones already
// sent for that label set are dropped. A failing endpoint becomes a warning
// frame under the WARN strategy and fails the call under ABORT.
type Proxy struct {
	storepb.UnimplementedStoreServer

	cfg     Config
	clients func() []store.Client
	logger  *slog.Logger

	failures *prometheus.CounterVec
}

// New returns a Proxy. clients is called at the start of every request and
// must be safe for concurrent use; reg may be nil.
func New(cfg Config, clients func() []store.Client, logger *slog.Logger, reg prometheus.Registerer) *Proxy {
	if logger == nil {
		logger = slog.New(slog.DiscardHandler)
	}
	return &Proxy{
		cfg:     cfg,
		clients: clients,
		logger:  logger,
		failures: promauto.With(reg).NewCounterVec(prometheus.CounterOpts{
			Name: "strata_proxy_endpoint_failures_total",
			Help: "Requests to a StoreAPI endpoint that failed (error, timeout or broken stream), by endpoint.",
		}, []string{"endpoint"}),
	}
}

// LabelSets returns the union of the endpoints' external label sets, sorted
// and without duplicates.
func (p *Proxy) LabelSets() []labels.Labels {
	var out []labels.Labels
	for _, c := range p.clients() {
		out = append(out, c.LabelSets()...)
	}
	sort.Slice(out, func(i, j int) bool { return labels.Compare(out[i], out[j]) < 0 })
	uniq := out[:0]
	for i, ls := range out {
		if i > 0 && labels.Equal(ls, out[i-1]) {
			continue
		}
		uniq = append(uniq, ls)
	}
	return uniq
}

// TimeRange returns the smallest min time and the largest max time (ms,
// inclusive) over the endpoints; with no endpoint it returns the unbounded
// range, since endpoints may appear later.
func (p *Proxy) TimeRange() (mint, maxt int64) {
	cs := p.clients()
	if len(cs) == 0 {
		return math.MinInt64, math.MaxInt64
	}
	mint, maxt = math.MaxInt64, math.MinInt64
	for _, c := range cs {
		lo, hi := c.TimeRange()
		mint, maxt = min(mint, lo), max(maxt, hi)
	}
	return mint, maxt
}

// endpointError is an endpoint's failure, named after the endpoint. It keeps
// the gRPC code of the cause so that callers over the network see it.
type endpointError struct {
	name    string
	err     error
	timeout time.Duration // the response timeout in force, for the message
	// requestDeadline: the request's own deadline ended the call, not the
	// response timeout. The request has then failed as a whole.
	requestDeadline bool
}

func (e *endpointError) Error() string {
	if e.requestDeadline {
		return fmt.Sprintf("endpoint %s: rpc error: the request's deadline passed (query timeout)", e.name)
	}
	if timedOut(e.err) {
		if e.timeout > 0 {
			return fmt.Sprintf("endpoint %s: rpc error: timed out after %s", e.name, e.timeout)
		}
		return fmt.Sprintf("endpoint %s: rpc error: timed out", e.name)
	}
	return fmt.Sprintf("endpoint %s: %s", e.name, e.err)
}

func (e *endpointError) Unwrap() error { return e.err }

// Is makes an error of the request's deadline a context.DeadlineExceeded,
// which callers report as a timeout.
func (e *endpointError) Is(target error) bool {
	return e.requestDeadline && target == context.DeadlineExceeded
}

// GRPCStatus lets gRPC send the cause's code with the readable message.
func (e *endpointError) GRPCStatus() *status.Status {
	code := status.Code(e.err)
	switch {
	case timedOut(e.err):
		code = codes.DeadlineExceeded
	case errors.Is(e.err, context.Canceled):
		code = codes.Canceled
	}
	return status.New(code, e.Error())
}

func timedOut(err error) bool {
	return errors.Is(err, context.DeadlineExceeded) || status.Code(err) == codes.DeadlineExceeded
}

// requestDeadline reports whether err, from a call to an endpoint started at
// start, is the request's own deadline (ctx's) rather than
// --store.response-timeout: the deadline has passed, or it came before the
// response timeout. ctx.Err() alone does not tell: gRPC fails a call whose
// deadline has passed before ctx's timer fires, and a remote endpoint can
// end the call on the propagated deadline before it fires here.
func (p *Proxy) requestDeadline(ctx context.Context, start time.Time, err error) bool {
	if !timedOut(err) {
		return false
	}
	dl, ok := ctx.Deadline()
	if !ok {
		return false
	}
	if !time.Now().Before(dl) {
		return true
	}
	return p.cfg.ResponseTimeout <= 0 || !dl.After(start.Add(p.cfg.ResponseTimeout))
}

// componentTyper is implemented by clients that know their component type
// (endpoint.Set's clients do); it makes failure messages easier to read.
type componentTyper interface {
	ComponentType() string
}

func endpointName(c store.Client) string {
	if ct, ok := c.(componentTyper); ok && ct.ComponentType() != "" {
		return c.String() + " (" + ct.ComponentType() + ")"
	}
	return c.String()
}

// fail records an endpoint failure and returns the error to report.
func (p *Proxy) fail(c store.Client, err error, requestDeadline bool) error {
	p.failures.WithLabelValues(c.String()).Inc()
	ee := &endpointError{name: endpointName(c), err: err, timeout: p.cfg.ResponseTimeout, requestDeadline: requestDeadline}
	p.logger.Debug("store endpoint request failed", "endpoint", c.String(), "err", ee)
	return ee
}

// selectClients returns the endpoints that may hold series for the time
// range and matchers, and that match the store matchers of ctx.
func (p *Proxy) selectClients(ctx context.Context, mint, maxt int64, ms []*labels.Matcher) []store.Client {
	storeMatchers := store.MatchersFromContext(ctx)
	var out []store.Client
	for _, c := range p.clients() {
		lo, hi := c.TimeRange()
		if hi < mint || lo > maxt {
			continue
		}
		if !extLabelsMatch(c.LabelSets(), ms) {
			continue
		}
		if len(storeMatchers) > 0 && !storeMatch(c, storeMatchers) {
			continue
		}
		out = append(out, c)
	}
	return out
}

// extLabelsMatch tells whether any of the label sets can hold series matching
// ms. A matcher on a name the set lacks does not exclude it; an endpoint
// without label sets is always kept.
func extLabelsMatch(sets []labels.Labels, ms []*labels.Matcher) bool {
	if len(sets) == 0 {
		return true
	}
Sets:
	for _, ls := range sets {
		for _, m := range ms {
			if v := ls.Get(m.Name); v != "" && !m.Matches(v) {
				continue Sets
			}
		}
		return true
	}
	return false
}

// storeMatch tells whether one of the matcher lists matches one of the
// endpoint's label sets, extended with __address__ (the endpoint's name).
// Unlike extLabelsMatch, an absent label matches as the empty value.
func storeMatch(c store.Client, lists [][]*labels.Matcher) bool {
	sets := c.LabelSets()
	if len(sets) == 0 {
		sets = []labels.Labels{labels.EmptyLabels()}
	}
	for _, ls := range sets {
		b := labels.NewBuilder(ls)
		b.Set("__address__", c.String())
		withAddr := b.Labels()
	Lists:
		for _, ms := range lists {
			for _, m := range ms {
				if !m.Matches(withAddr.Get(m.Name)) {
					continue Lists
				}
			}
			return true
		}
	}
	return false
}

// callCtx returns the context for one endpoint call.
func (p *Proxy) callCtx(ctx context.Context) (context.Context, context.CancelFunc) {
	if p.cfg.ResponseTimeout > 0 {
		return context.WithTimeout(ctx, p.cfg.ResponseTimeout)
	}
	return context.WithCancel(ctx)
}

// LabelNames returns the sorted union of the selected endpoints' label names.
func (p *Proxy) LabelNames(ctx context.Context, req *storepb.LabelNamesRequest) (*storepb.LabelNamesResponse, error) {
	if err := storepb.ValidateLabelNamesRequest(req); err != nil {
		return nil, err
	}
	ms, err := storepb.MatchersFromProto(req.GetMatchers())
	if err != nil {
		return nil, status.Error(codes.InvalidArgument, err.Error())
	}
	abort := storepb.PartialResponseDisabled(req.GetPartialResponseDisabled(), req.GetPartialResponseStrategy())
	names, warns, err := fanOutStrings(ctx, p, labelsRange(req.GetStart(), req.GetEnd()), ms, abort,
		func(ctx context.Context, c store.Client) ([]string, []string, error) {
			r := req
			if len(req.GetWithoutReplicaLabels()) > 0 && !c.SupportsWithoutReplicaLabels() {
				r = cloneLabelNamesRequest(req)
				r.WithoutReplicaLabels = nil
			}
			resp, err := c.LabelNames(ctx, r)
			if err != nil {
				return nil, nil, err
			}
			names := resp.GetNames()
			if len(req.GetWithoutReplicaLabels()) > 0 && !c.SupportsWithoutReplicaLabels() {
				names = removeStrings(names, req.GetWithoutReplicaLabels())
			}
			return names, resp.GetWarnings(), nil
		})
	if err != nil {
		return nil, err
	}
	return &storepb.LabelNamesResponse{Names: limitStrings(names, req.GetLimit()), Warnings: warns}, nil
}

// LabelValues returns the sorted union of the selected endpoints' values of
// one label.
func (p *Proxy) LabelValues(ctx context.Context, req *storepb.LabelValuesRequest) (*storepb.LabelValuesResponse, error) {
	if err := storepb.ValidateLabelValuesRequest(req); err != nil {
		return nil, err
	}
	ms, err := storepb.MatchersFromProto(req.GetMatchers())
	if err != nil {
		return nil, status.Error(codes.InvalidArgument, err.Error())
	}
	abort := storepb.PartialResponseDisabled(req.GetPartialResponseDisabled(), req.GetPartialResponseStrategy())
	values, warns, err := fanOutStrings(ctx, p, labelsRange(req.GetStart(), req.GetEnd()), ms, abort,
		func(ctx context.Context, c store.Client) ([]string, []string, error) {
			resp, err := c.LabelValues(ctx, req)
			if err != nil {
				return nil, nil, err
			}
			return resp.GetValues(), resp.GetWarnings(), nil
		})
	if err != nil {
		return nil, err
	}
	return &storepb.LabelValuesResponse{Values: limitStrings(values, req.GetLimit()), Warnings: warns}, nil
}

// labelsRange turns a label request's start/end into a selection range; an
// unset range (0, 0) selects every endpoint.
func labelsRange(start, end int64) [2]int64 {
	if start == 0 && end == 0 {
		return [2]int64{math.MinInt64, math.MaxInt64}
	}
	return [2]int64{start, end}
}

// fanOutStrings calls fn on every selected endpoint concurrently and merges
// the sorted unique union of their answers.
func fanOutStrings(
	ctx context.Context, p *Proxy, tr [2]int64, ms []*labels.Matcher, abort bool,
	fn func(context.Context, store.Client) ([]string, []string, error),
) ([]string, []string, error) {
	clients := p.selectClients(ctx, tr[0], tr[1], ms)
	type result struct {
		vals, warns []string
		err         error
	}
	results := make([]result, len(clients))
	ctx, cancel := context.WithCancel(ctx)
	defer cancel()
	start := time.Now()
	var wg sync.WaitGroup
	for i, c := range clients {
		wg.Go(func() {
			defer func() {
				if r := recover(); r != nil { // the endpoint's failure, not a dead process
					p.logger.Error("panic while asking an endpoint", "endpoint", c.String(), "panic", r, "stack", string(debug.Stack()))
					results[i] = result{err: status.Errorf(codes.Internal, "panic while reading the answer: %v", r)}
				}
			}()
			cctx, ccancel := p.callCtx(ctx)
			defer ccancel()
			v, w, err := fn(cctx, c)
			results[i] = result{vals: v, warns: w, err: err}
		})
	}
	wg.Wait()

	var all, warns []string
	for i, r := range results {
		if r.err != nil {
			reqDeadline := p.requestDeadline(ctx, start, r.err)
			err := p.fail(clients[i], r.err, reqDeadline)
			if abort || reqDeadline {
				return nil, nil, err
			}
			warns = append(warns, err.Error())
			continue
		}
		all = append(all, r.vals...)
		warns = append(warns, r.warns...)
	}
	sort.Strings(all)
	uniq := all[:0]
	for i, s := range all {
		if i > 0 && s == all[i-1] {
			continue
		}
		uniq = append(uniq, s)
	}
	return uniq, warns, nil
}

func limitStrings(s []string, limit int64) []string {
	if limit > 0 && int64(len(s)) > limit {
		return s[:limit]
	}
	return s
}

func removeStrings(in, drop []string) []string {
	out := make([]string, 0, len(in))
Names:
	for _, s := range in {
		for _, d := range drop {
			if s == d {
				continue Names
			}
		}
		out = append(out, s)
	}
	return out
}

func cloneLabelNamesRequest(r *storepb.LabelNamesRequest) *storepb.LabelNamesRequest {
	return &storepb.LabelNamesRequest{
		PartialResponseDisabled: r.GetPartialResponseDisabled(),
		PartialResponseStrategy: r.GetPartialResponseStrategy(),
		Start:                   r.GetStart(),
		End:                     r.GetEnd(),
		Hints:                   r.GetHints(),
		Matchers:                r.GetMatchers(),
		WithoutReplicaLabels:    r.GetWithoutReplicaLabels(),
		Limit:                   r.GetLimit(),
	}
}
