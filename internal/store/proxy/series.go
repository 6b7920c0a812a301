package proxy

import (
	"bytes"
	"container/heap"
	"context"
	"errors"
	"io"
	"runtime/debug"
	"slices"
	"sync"
	"time"

	"github.com/cespare/xxhash/v2"
	"google.golang.org/grpc"
	"google.golang.org/grpc/codes"
	"google.golang.org/grpc/status"
	"google.golang.org/protobuf/proto"

	"github.com/strata-io/strata/internal/store"
	"github.com/strata-io/strata/pkg/storepb"
)

// A reader hands an endpoint's frames to the merge one by one while the
// merge keeps up, and in batches of up to maxBatch when it lags behind (fewer
// channel operations). At most endpointBuffer batches wait in the channel:
// that bounds the memory a fast endpoint can use while a slow one holds the
// merge back.
const (
	endpointBuffer = 4
	maxBatch       = 64
)

// item is one thing read from an endpoint's stream: a series, a warning or
// the error that ended the stream.
type item struct {
	series  *storepb.Series
	warning string
	err     error
	// requestDeadline: err is the request's deadline (see
	// Proxy.requestDeadline), which fails the whole request.
	requestDeadline bool
}

// Series streams the merged series of the selected endpoints. See Proxy for
// the output contract.
func (p *Proxy) Series(req *storepb.SeriesRequest, srv grpc.ServerStreamingServer[storepb.SeriesResponse]) error {
	if err := storepb.ValidateSeriesRequest(req); err != nil {
		return err
	}
	ms, err := storepb.MatchersFromProto(req.GetMatchers())
	if err != nil {
		return status.Error(codes.InvalidArgument, err.Error())
	}
	ctx := srv.Context()
	clients := p.selectClients(ctx, req.GetMinTime(), req.GetMaxTime(), ms)
	if len(clients) == 0 {
		return nil
	}
	abort := storepb.PartialResponseDisabled(req.GetPartialResponseDisabled(), req.GetPartialResponseStrategy())

	ctx, cancel := context.WithCancel(ctx)
	var wg sync.WaitGroup
	// Stop every reader before returning, whatever the reason.
	defer func() {
		cancel()
		wg.Wait()
	}()

	srcs := make([]*source, len(clients))
	for i, c := range clients {
		ch := make(chan []item, endpointBuffer)
		srcs[i] = &source{client: c, idx: i, ch: ch}
		wg.Go(func() { p.readEndpoint(ctx, c, req, ch) })
	}

	m := &merger{p: p, ctx: ctx, srv: srv, abort: abort, batchSize: storepb.ResponseBatchSize(req.GetResponseBatchSize())}
	if err := m.run(srcs, req.GetLimit()); err != nil {
		return err
	}
	return m.flush()
}

// endpointRequest returns the request to send to c, and the replica labels
// the proxy must strip itself (nil when c does it).
//
// Endpoints are asked for batch frames (endpointBatchSize series each, or
// the client's response_batch_size up to storepb.MaxResponseBatchSize): one
// gRPC message per series costs more than the series itself for small ones.
// Stores that do not batch answer one series per frame, which works as well.
func endpointRequest(c store.Client, req *storepb.SeriesRequest) (*storepb.SeriesRequest, []string) {
	strip := len(req.GetWithoutReplicaLabels()) > 0 && !c.SupportsWithoutReplicaLabels()
	batch := int64(storepb.ResponseBatchSize(req.GetResponseBatchSize()))
	if !strip && batch > 0 && batch == req.GetResponseBatchSize() {
		return req, nil
	}
	r := proto.Clone(req).(*storepb.SeriesRequest)
	r.ResponseBatchSize = batch
	if r.ResponseBatchSize <= 0 {
		r.ResponseBatchSize = endpointBatchSize
	}
	if !strip {
		return r, nil
	}
	r.WithoutReplicaLabels = nil
	// Stripping changes the order, so the endpoint's first `limit` series
	// are not necessarily the first ones after stripping.
	r.Limit = 0
	return r, req.GetWithoutReplicaLabels()
}

// endpointBatchSize is the number of series the proxy asks an endpoint to
// put in one frame.
const endpointBatchSize = 64

// readEndpoint reads one endpoint's stream into out, closing out when done.
// It returns when the stream ends or ctx is cancelled.
func (p *Proxy) readEndpoint(ctx context.Context, c store.Client, req *storepb.SeriesRequest, out chan<- []item) {
	defer close(out)
	var pending []item
	// send queues it, and hands the queue over when the merge can take it
	// (or must, when the queue is full or the stream ended). It returns
	// false when ctx is done.
	send := func(it item) bool {
		pending = append(pending, it)
		if len(pending) < maxBatch && it.series != nil {
			select {
			case out <- pending:
				pending = make([]item, 0, 1)
			default:
			}
			return true
		}
		select {
		case out <- pending:
			pending = nil
			return true
		case <-ctx.Done():
			return false
		}
	}
	defer func() {
		if len(pending) > 0 {
			select {
			case out <- pending:
			case <-ctx.Done():
			}
		}
	}()
	// A panic here (a bug in an in-process store, or in decoding its
	// answer) is this endpoint's failure, handed on by the deferred send
	// above, not a dead process: gRPC's recovery only covers the
	// handler's own goroutine.
	defer func() {
		if r := recover(); r != nil {
			p.logger.Error("panic while reading an endpoint", "endpoint", c.String(), "panic", r, "stack", string(debug.Stack()))
			pending = append(pending, item{err: status.Errorf(codes.Internal, "panic while reading the answer: %v", r)})
		}
	}()
	r, strip := endpointRequest(c, req)
	start := time.Now()
	cctx, ccancel := p.callCtx(ctx)
	defer ccancel()
	failed := func(err error) item {
		return item{err: err, requestDeadline: p.requestDeadline(ctx, start, err)}
	}

	stream, err := c.Series(cctx, r)
	if err != nil {
		send(failed(err))
		return
	}
	var buffered []*storepb.Series // only when stripping
	add := func(s *storepb.Series) bool {
		if strip != nil {
			buffered = append(buffered, &storepb.Series{Labels: stripLabels(s.GetLabels(), strip), Chunks: s.GetChunks()})
			return true
		}
		return send(item{series: s})
	}
	flushBuffered := func() bool {
		slices.SortStableFunc(buffered, func(a, b *storepb.Series) int { return storepb.CompareLabels(a.Labels, b.Labels) })
		for _, s := range buffered {
			if !send(item{series: s}) {
				return false
			}
		}
		return true
	}
	for {
		resp, err := stream.Recv()
		if errors.Is(err, io.EOF) {
			flushBuffered()
			return
		}
		if err != nil {
			if flushBuffered() {
				send(failed(err))
			}
			return
		}
		switch res := resp.GetResult().(type) {
		case *storepb.SeriesResponse_Series:
			if !add(res.Series) {
				return
			}
		case *storepb.SeriesResponse_Batch:
			for _, s := range res.Batch.GetSeries() {
				if !add(s) {
					return
				}
			}
		case *storepb.SeriesResponse_Warning:
			if !send(item{warning: res.Warning}) {
				return
			}
		}
	}
}

// stripLabels returns ls without the named labels; ls stays sorted.
func stripLabels(ls []*storepb.Label, names []string) []*storepb.Label {
	out := make([]*storepb.Label, 0, len(ls))
	for _, l := range ls {
		if !slices.Contains(names, l.GetName()) {
			out = append(out, l)
		}
	}
	return out
}

// source is one endpoint's stream as the merge sees it.
type source struct {
	client store.Client
	idx    int // tie-break: equal label sets come out in endpoint order
	ch     <-chan []item
	buf    []item // received, not yet merged
	cur    *storepb.Series
}

// sourceHeap orders sources by their current series' labels.
type sourceHeap []*source

func (h sourceHeap) Len() int { return len(h) }
func (h sourceHeap) Less(i, j int) bool {
	if c := storepb.CompareLabels(h[i].cur.Labels, h[j].cur.Labels); c != 0 {
		return c < 0
	}
	return h[i].idx < h[j].idx
}
func (h sourceHeap) Swap(i, j int) { h[i], h[j] = h[j], h[i] }
func (h *sourceHeap) Push(x any)   { *h = append(*h, x.(*source)) }
func (h *sourceHeap) Pop() any {
	old := *h
	x := old[len(old)-1]
	*h = old[:len(old)-1]
	return x
}

// merger k-way merges sources into srv.
type merger struct {
	p         *Proxy
	ctx       context.Context
	srv       grpc.ServerStreamingServer[storepb.SeriesResponse]
	abort     bool
	batchSize int // bounded by storepb.ResponseBatchSize
	batch     []*storepb.Series
}

// advance moves src to its next series, forwarding warnings on the way. It
// returns false when src has no more series.
func (m *merger) advance(src *source) (bool, error) {
	for {
		if len(src.buf) == 0 {
			var ok bool
			select {
			case src.buf, ok = <-src.ch:
			case <-m.ctx.Done():
				return false, m.ctx.Err()
			}
			if !ok {
				return false, nil
			}
			continue
		}
		it := src.buf[0]
		src.buf[0] = item{}
		src.buf = src.buf[1:]
		switch {
		case it.err != nil:
			if err := m.ctx.Err(); err != nil {
				return false, err // the caller went away: not the endpoint's fault
			}
			err := m.p.fail(src.client, it.err, it.requestDeadline)
			if m.abort || it.requestDeadline {
				return false, err
			}
			if err := m.warn(err.Error()); err != nil {
				return false, err
			}
		case it.series != nil:
			src.cur = it.series
			return true, nil
		default:
			if err := m.warn(it.warning); err != nil {
				return false, err
			}
		}
	}
}

func (m *merger) run(srcs []*source, limit int64) error {
	h := make(sourceHeap, 0, len(srcs))
	for _, s := range srcs {
		ok, err := m.advance(s)
		if err != nil {
			return err
		}
		if ok {
			h = append(h, s)
		}
	}
	heap.Init(&h)

	var (
		last    *storepb.Series
		seen    *chunkSet // chunks sent for last's label set; built lazily
		emitted int64     // distinct label sets sent
	)
	for len(h) > 0 {
		src := h[0]
		s := src.cur
		if last != nil && storepb.CompareLabels(last.Labels, s.Labels) == 0 {
			if seen == nil {
				seen = newChunkSet(last.Chunks)
			}
			s = seen.dropSeen(s)
		} else {
			if limit > 0 && emitted >= limit {
				return nil
			}
			emitted++
			seen = nil
		}
		if s != nil {
			if err := m.send(s); err != nil {
				return err
			}
			last = s
		}

		ok, err := m.advance(src)
		if err != nil {
			return err
		}
		if ok {
			heap.Fix(&h, 0)
		} else {
			heap.Pop(&h)
		}
	}
	return nil
}

func (m *merger) warn(w string) error {
	return m.srv.Send(&storepb.SeriesResponse{Result: &storepb.SeriesResponse_Warning{Warning: w}})
}

func (m *merger) send(s *storepb.Series) error {
	if m.batchSize <= 0 {
		return m.srv.Send(&storepb.SeriesResponse{Result: &storepb.SeriesResponse_Series{Series: s}})
	}
	m.batch = append(m.batch, s)
	if len(m.batch) >= m.batchSize {
		return m.flush()
	}
	return nil
}

// flush sends the pending batch, if any.
func (m *merger) flush() error {
	if len(m.batch) == 0 {
		return nil
	}
	b := m.batch
	m.batch = nil
	return m.srv.Send(&storepb.SeriesResponse{Result: &storepb.SeriesResponse_Batch{Batch: &storepb.SeriesBatch{Series: b}}})
}

// chunkKey indexes chunks by time range and a hash of their contents.
type chunkKey struct {
	mint, maxt int64
	hash       uint64
}

// chunkSet holds the chunks already sent for one label set.
type chunkSet struct {
	m map[chunkKey][]*storepb.AggrChunk
}

func newChunkSet(cs []*storepb.AggrChunk) *chunkSet {
	s := &chunkSet{m: make(map[chunkKey][]*storepb.AggrChunk, len(cs))}
	for _, c := range cs {
		k := keyOf(c)
		s.m[k] = append(s.m[k], c)
	}
	return s
}

// dropSeen returns s without the chunks already in the set, adding the rest
// to it; nil when nothing is left to send (a series without chunks, as under
// skip_chunks, is then a pure duplicate too).
func (cs *chunkSet) dropSeen(s *storepb.Series) *storepb.Series {
	var kept []*storepb.AggrChunk
	for _, c := range s.Chunks {
		k := keyOf(c)
		if slices.ContainsFunc(cs.m[k], func(o *storepb.AggrChunk) bool { return sameChunk(o, c) }) {
			continue
		}
		cs.m[k] = append(cs.m[k], c)
		kept = append(kept, c)
	}
	switch {
	case len(kept) == 0:
		return nil
	case len(kept) == len(s.Chunks):
		return s
	}
	return &storepb.Series{Labels: s.Labels, Chunks: kept}
}

func aggrParts(c *storepb.AggrChunk) [6]*storepb.Chunk {
	return [6]*storepb.Chunk{c.GetRaw(), c.GetCount(), c.GetSum(), c.GetMin(), c.GetMax(), c.GetCounter()}
}

func keyOf(c *storepb.AggrChunk) chunkKey {
	d := xxhash.New()
	for i, p := range aggrParts(c) {
		if p == nil {
			continue
		}
		_, _ = d.Write([]byte{byte(i), byte(p.GetType())})
		_, _ = d.Write(p.GetData())
	}
	return chunkKey{mint: c.GetMinTime(), maxt: c.GetMaxTime(), hash: d.Sum64()}
}

func sameChunk(a, b *storepb.AggrChunk) bool {
	if a.GetMinTime() != b.GetMinTime() || a.GetMaxTime() != b.GetMaxTime() {
		return false
	}
	pa, pb := aggrParts(a), aggrParts(b)
	for i := range pa {
		if (pa[i] == nil) != (pb[i] == nil) {
			return false
		}
		if pa[i] != nil && (pa[i].GetType() != pb[i].GetType() || !bytes.Equal(pa[i].GetData(), pb[i].GetData())) {
			return false
		}
	}
	return true
}
