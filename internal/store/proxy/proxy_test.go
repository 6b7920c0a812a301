package proxy

import (
	"context"
	"errors"
	"fmt"
	"io"
	"math"
	"sort"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/prometheus/client_golang/prometheus"
	"github.com/prometheus/client_golang/prometheus/testutil"
	"github.com/prometheus/prometheus/model/labels"
	"github.com/stretchr/testify/require"
	"go.uber.org/goleak"
	"google.golang.org/grpc"
	"google.golang.org/grpc/codes"
	"google.golang.org/grpc/status"

	"github.com/strata-io/strata/internal/store"
	"github.com/strata-io/strata/pkg/storepb"
)

func TestMain(m *testing.M) {
	goleak.VerifyTestMain(m)
}

// fakeStore is an in-memory StoreServer that serves fixed, sorted series.
type fakeStore struct {
	storepb.UnimplementedStoreServer

	series   []*storepb.Series
	warnings []string
	names    []string
	values   []string
	err      error // returned instead of answering
	failAt   int   // when > 0, the stream fails after this many series
	hang     bool  // block until the call is cancelled
	batch    int   // send batch frames of this size

	mu    sync.Mutex
	calls []*storepb.SeriesRequest
}

func (f *fakeStore) Series(req *storepb.SeriesRequest, srv grpc.ServerStreamingServer[storepb.SeriesResponse]) error {
	f.mu.Lock()
	f.calls = append(f.calls, req)
	f.mu.Unlock()
	if f.hang {
		<-srv.Context().Done()
		return status.FromContextError(srv.Context().Err()).Err()
	}
	if f.err != nil {
		return f.err
	}
	for _, w := range f.warnings {
		if err := srv.Send(&storepb.SeriesResponse{Result: &storepb.SeriesResponse_Warning{Warning: w}}); err != nil {
			return err
		}
	}
	for i := 0; i < len(f.series); {
		if f.failAt > 0 && i >= f.failAt {
			return status.Error(codes.Internal, "disk on fire")
		}
		var r *storepb.SeriesResponse
		if f.batch > 0 {
			end := min(i+f.batch, len(f.series))
			r = &storepb.SeriesResponse{Result: &storepb.SeriesResponse_Batch{Batch: &storepb.SeriesBatch{Series: f.series[i:end]}}}
			i = end
		} else {
			r = &storepb.SeriesResponse{Result: &storepb.SeriesResponse_Series{Series: f.series[i]}}
			i++
		}
		if err := srv.Send(r); err != nil {
			return err
		}
	}
	return nil
}

func (f *fakeStore) LabelNames(ctx context.Context, _ *storepb.LabelNamesRequest) (*storepb.LabelNamesResponse, error) {
	if f.hang {
		<-ctx.Done()
		return nil, status.FromContextError(ctx.Err()).Err()
	}
	if f.err != nil {
		return nil, f.err
	}
	return &storepb.LabelNamesResponse{Names: f.names, Warnings: f.warnings}, nil
}

func (f *fakeStore) LabelValues(ctx context.Context, _ *storepb.LabelValuesRequest) (*storepb.LabelValuesResponse, error) {
	if f.err != nil {
		return nil, f.err
	}
	return &storepb.LabelValuesResponse{Values: f.values, Warnings: f.warnings}, nil
}

func (f *fakeStore) numCalls() int {
	f.mu.Lock()
	defer f.mu.Unlock()
	return len(f.calls)
}

// testClient adapts a fakeStore to store.Client.
type testClient struct {
	storepb.StoreClient
	name       string
	sets       []labels.Labels
	mint, maxt int64
	withoutRL  bool
	store      *fakeStore
}

func newClient(name string, f *fakeStore, sets ...labels.Labels) *testClient {
	return &testClient{StoreClient: storepb.ServerAsClient(f), name: name, sets: sets, mint: math.MinInt64, maxt: math.MaxInt64, store: f}
}

func (c *testClient) LabelSets() []labels.Labels         { return c.sets }
func (c *testClient) TimeRange() (int64, int64)          { return c.mint, c.maxt }
func (c *testClient) SupportsWithoutReplicaLabels() bool { return c.withoutRL }
func (c *testClient) String() string                     { return c.name }

// series builds a series from name/value pairs and chunk ids; a chunk id n
// makes a chunk over [n*10, n*10+9] with data "c<n>".
func series(lset []string, chunks ...int) *storepb.Series {
	s := &storepb.Series{Labels: storepb.LabelsToProto(labels.FromStrings(lset...))}
	for _, n := range chunks {
		s.Chunks = append(s.Chunks, &storepb.AggrChunk{
			MinTime: int64(n * 10), MaxTime: int64(n*10 + 9),
			Raw: &storepb.Chunk{Type: storepb.Chunk_XOR, Data: fmt.Appendf(nil, "c%d", n)},
		})
	}
	return s
}

// frame is a Series frame as the tests compare it.
type frame struct {
	labels string
	chunks []string
}

type result struct {
	frames   []frame
	warnings []string
	err      error
}

func newProxy(cfg Config, cs ...store.Client) *Proxy {
	return New(cfg, func() []store.Client { return cs }, nil, nil)
}

func runSeries(ctx context.Context, t testing.TB, p *Proxy, req *storepb.SeriesRequest) result {
	t.Helper()
	stream, err := storepb.ServerAsClient(p).Series(ctx, req)
	require.NoError(t, err)
	var res result
	add := func(s *storepb.Series) {
		f := frame{labels: storepb.LabelsFromProto(s.Labels).String()}
		for _, c := range s.Chunks {
			f.chunks = append(f.chunks, string(c.Raw.Data))
		}
		res.frames = append(res.frames, f)
	}
	for {
		r, err := stream.Recv()
		if errors.Is(err, io.EOF) {
			return res
		}
		if err != nil {
			res.err = err
			return res
		}
		switch x := r.Result.(type) {
		case *storepb.SeriesResponse_Series:
			add(x.Series)
		case *storepb.SeriesResponse_Batch:
			for _, s := range x.Batch.Series {
				add(s)
			}
		case *storepb.SeriesResponse_Warning:
			res.warnings = append(res.warnings, x.Warning)
		}
	}
}

func labelsOf(fs []frame) []string {
	out := make([]string, 0, len(fs))
	for _, f := range fs {
		out = append(out, f.labels)
	}
	return out
}

func allReq() *storepb.SeriesRequest {
	return &storepb.SeriesRequest{MinTime: math.MinInt64, MaxTime: math.MaxInt64,
		Matchers: []*storepb.LabelMatcher{{Type: storepb.LabelMatcher_RE, Name: "__name__", Value: ".+"}}}
}

func TestSeriesMergeOrder(t *testing.T) {
	a := newClient("a", &fakeStore{series: []*storepb.Series{
		series([]string{"__name__", "up", "i", "1"}, 1),
		series([]string{"__name__", "up", "i", "3"}, 2),
		series([]string{"__name__", "up", "i", "5"}, 3),
	}})
	b := newClient("b", &fakeStore{batch: 2, series: []*storepb.Series{
		series([]string{"__name__", "up", "i", "2"}, 4),
		series([]string{"__name__", "up", "i", "3"}, 5),
		series([]string{"__name__", "up", "i", "6"}, 6),
	}})
	c := newClient("c", &fakeStore{series: []*storepb.Series{
		series([]string{"__name__", "up", "i", "0"}, 7),
		series([]string{"__name__", "up", "i", "3"}, 8),
		series([]string{"__name__", "up", "i", "7"}, 9),
	}})
	res := runSeries(t.Context(), t, newProxy(Config{}, a, b, c), allReq())
	require.NoError(t, res.err)
	require.Empty(t, res.warnings)
	require.Equal(t, []frame{
		{`{__name__="up", i="0"}`, []string{"c7"}},
		{`{__name__="up", i="1"}`, []string{"c1"}},
		{`{__name__="up", i="2"}`, []string{"c4"}},
		// equal label sets: separate frames, one after the other
		{`{__name__="up", i="3"}`, []string{"c2"}},
		{`{__name__="up", i="3"}`, []string{"c5"}},
		{`{__name__="up", i="3"}`, []string{"c8"}},
		{`{__name__="up", i="5"}`, []string{"c3"}},
		{`{__name__="up", i="6"}`, []string{"c6"}},
		{`{__name__="up", i="7"}`, []string{"c9"}},
	}, res.frames)

	t.Run("limit counts distinct label sets", func(t *testing.T) {
		req := allReq()
		req.Limit = 4
		res := runSeries(t.Context(), t, newProxy(Config{}, a, b, c), req)
		require.NoError(t, res.err)
		require.Equal(t, []string{`{__name__="up", i="0"}`, `{__name__="up", i="1"}`, `{__name__="up", i="2"}`,
			`{__name__="up", i="3"}`, `{__name__="up", i="3"}`, `{__name__="up", i="3"}`}, labelsOf(res.frames))
	})
	t.Run("batched output", func(t *testing.T) {
		req := allReq()
		req.ResponseBatchSize = 4
		res := runSeries(t.Context(), t, newProxy(Config{}, a, b, c), req)
		require.NoError(t, res.err)
		require.Len(t, res.frames, 9)
	})
}

func TestSeriesDropsDuplicateChunks(t *testing.T) {
	up := []string{"__name__", "up"}
	a := newClient("a", &fakeStore{series: []*storepb.Series{series(up, 1, 2)}})
	b := newClient("b", &fakeStore{series: []*storepb.Series{series(up, 1, 3)}}) // chunk 1 duplicates a's
	c := newClient("c", &fakeStore{series: []*storepb.Series{series(up, 2, 3)}}) // all duplicates
	d := newClient("d", &fakeStore{series: []*storepb.Series{series(up, 1)}})
	d.store.series[0].Chunks[0].Raw.Data = []byte("different data, same range")

	res := runSeries(t.Context(), t, newProxy(Config{}, a, b, c, d), allReq())
	require.NoError(t, res.err)
	require.Equal(t, []frame{
		{`{__name__="up"}`, []string{"c1", "c2"}},
		{`{__name__="up"}`, []string{"c3"}},
		{`{__name__="up"}`, []string{"different data, same range"}},
	}, res.frames)
}

func TestSeriesEndpointSelection(t *testing.T) {
	mk := func(name string, mint, maxt int64, sets ...labels.Labels) *testClient {
		c := newClient(name, &fakeStore{series: []*storepb.Series{series([]string{"__name__", "up", "from", name}, 1)}}, sets...)
		c.mint, c.maxt = mint, maxt
		return c
	}
	eu := labels.FromStrings("region", "eu")
	us := labels.FromStrings("region", "us")
	for _, tc := range []struct {
		name          string
		clients       []*testClient
		mint, maxt    int64
		matchers      []*storepb.LabelMatcher
		storeMatchers [][]*labels.Matcher
		want          []string // endpoints called
	}{
		{
			name:    "by time range, bounds inclusive",
			clients: []*testClient{mk("old", 0, 149), mk("low_edge", 100, 150), mk("high_edge", 250, 400), mk("new", 251, 400)},
			mint:    150, maxt: 250,
			want: []string{"low_edge", "high_edge"},
		},
		{
			name:     "by external labels",
			clients:  []*testClient{mk("eu", 0, 1000, eu), mk("us", 0, 1000, us), mk("none", 0, 1000)},
			matchers: []*storepb.LabelMatcher{{Type: storepb.LabelMatcher_EQ, Name: "region", Value: "eu"}},
			want:     []string{"eu", "none"},
		},
		{
			name:     "one of several label sets matching keeps the endpoint",
			clients:  []*testClient{mk("both", 0, 1000, us, eu), mk("us", 0, 1000, us)},
			matchers: []*storepb.LabelMatcher{{Type: storepb.LabelMatcher_RE, Name: "region", Value: "e.*"}},
			want:     []string{"both"},
		},
		{
			name:     "matcher on a label absent from the external labels does not exclude",
			clients:  []*testClient{mk("eu", 0, 1000, eu)},
			matchers: []*storepb.LabelMatcher{{Type: storepb.LabelMatcher_EQ, Name: "job", Value: "node"}},
			want:     []string{"eu"},
		},
		{
			name:          "by store matchers",
			clients:       []*testClient{mk("eu", 0, 1000, eu), mk("us", 0, 1000, us), mk("none", 0, 1000)},
			storeMatchers: [][]*labels.Matcher{{labels.MustNewMatcher(labels.MatchEqual, "region", "us")}},
			want:          []string{"us"},
		},
		{
			name:    "by store matchers on __address__",
			clients: []*testClient{mk("eu", 0, 1000, eu), mk("us", 0, 1000, us)},
			storeMatchers: [][]*labels.Matcher{
				{labels.MustNewMatcher(labels.MatchEqual, "__address__", "eu")},
				{labels.MustNewMatcher(labels.MatchEqual, "region", "nowhere")},
			},
			want: []string{"eu"},
		},
	} {
		t.Run(tc.name, func(t *testing.T) {
			var cs []store.Client
			for _, c := range tc.clients {
				cs = append(cs, c)
			}
			req := allReq()
			if tc.mint != 0 || tc.maxt != 0 {
				req.MinTime, req.MaxTime = tc.mint, tc.maxt
			}
			req.Matchers = append(req.Matchers, tc.matchers...)
			ctx := store.WithStoreMatchers(t.Context(), tc.storeMatchers)
			res := runSeries(ctx, t, newProxy(Config{}, cs...), req)
			require.NoError(t, res.err)

			var called, got []string
			for _, c := range tc.clients {
				if c.store.numCalls() > 0 {
					called = append(called, c.name)
				}
			}
			for _, f := range res.frames {
				got = append(got, f.labels)
			}
			var want []string
			for _, n := range tc.want {
				want = append(want, fmt.Sprintf(`{__name__="up", from=%q}`, n))
			}
			sort.Strings(want)
			require.Equal(t, tc.want, called)
			require.Equal(t, want, got)
		})
	}

	t.Run("no endpoint selected is an empty answer", func(t *testing.T) {
		res := runSeries(t.Context(), t, newProxy(Config{}), allReq())
		require.NoError(t, res.err)
		require.Empty(t, res.frames)
		require.Empty(t, res.warnings)
	})
}

func TestSeriesPartialResponse(t *testing.T) {
	good := func() *testClient {
		return newClient("good", &fakeStore{warnings: []string{"good: block skipped"}, series: []*storepb.Series{
			series([]string{"__name__", "up", "i", "1"}, 1),
			series([]string{"__name__", "up", "i", "2"}, 2),
		}})
	}
	failing := newClient("127.0.0.1:10901", &fakeStore{err: status.Error(codes.Unavailable, "connection refused")})
	hanging := newClient("hanging", &fakeStore{hang: true})
	midStream := newClient("midstream", &fakeStore{failAt: 1, series: []*storepb.Series{
		series([]string{"__name__", "up", "i", "0"}, 3),
		series([]string{"__name__", "up", "i", "9"}, 4),
	}})

	for _, tc := range []struct {
		name       string
		bad        *testClient
		wantErr    string
		wantFrames int
	}{
		{name: "failing endpoint", bad: failing, wantErr: "endpoint 127.0.0.1:10901: rpc error: code = Unavailable desc = connection refused", wantFrames: 2},
		{name: "hanging endpoint times out", bad: hanging, wantErr: "endpoint hanging: rpc error: timed out", wantFrames: 2},
		{name: "stream breaks mid-way", bad: midStream, wantErr: "endpoint midstream: rpc error: code = Internal desc = disk on fire", wantFrames: 3},
	} {
		t.Run(tc.name, func(t *testing.T) {
			reg := prometheus.NewRegistry()
			p := New(Config{ResponseTimeout: 200 * time.Millisecond}, func() []store.Client { return []store.Client{good(), tc.bad} }, nil, reg)

			start := time.Now()
			res := runSeries(t.Context(), t, p, allReq())
			require.Less(t, time.Since(start), 5*time.Second)
			require.NoError(t, res.err)
			require.Len(t, res.frames, tc.wantFrames)
			require.Len(t, res.warnings, 2)
			require.Contains(t, res.warnings, "good: block skipped")
			require.Contains(t, strings.Join(res.warnings, "\n"), tc.wantErr)
			require.Equal(t, 1.0, testutil.ToFloat64(p.failures.WithLabelValues(tc.bad.name)))

			for _, req := range []*storepb.SeriesRequest{
				{PartialResponseStrategy: storepb.PartialResponseStrategy_ABORT},
				{PartialResponseDisabled: true}, // deprecated form
			} {
				req.MinTime, req.MaxTime = math.MinInt64, math.MaxInt64
				res := runSeries(t.Context(), t, p, req)
				require.Error(t, res.err)
				require.Contains(t, res.err.Error(), tc.wantErr)
			}
		})
	}

	t.Run("component type in the message", func(t *testing.T) {
		c := &typedClient{newClient("10.0.0.1:10901", &fakeStore{err: errors.New("boom")})}
		res := runSeries(t.Context(), t, newProxy(Config{}, c), allReq())
		require.NoError(t, res.err)
		require.Equal(t, []string{"endpoint 10.0.0.1:10901 (sidecar): boom"}, res.warnings)
	})
}

type typedClient struct{ *testClient }

func (typedClient) ComponentType() string { return "sidecar" }

func TestSeriesReplicaLabels(t *testing.T) {
	// Sorted with the replica label, unsorted without it.
	unsupported := newClient("old", &fakeStore{series: []*storepb.Series{
		series([]string{"__name__", "up", "replica", "a", "z", "2"}, 1),
		series([]string{"__name__", "up", "replica", "b", "z", "1"}, 2),
		series([]string{"__name__", "up", "replica", "b", "z", "2"}, 3),
	}})
	supported := newClient("new", &fakeStore{series: []*storepb.Series{
		series([]string{"__name__", "up", "z", "1"}, 4),
	}})
	supported.withoutRL = true

	req := allReq()
	req.WithoutReplicaLabels = []string{"replica"}
	req.Limit = 1
	res := runSeries(t.Context(), t, newProxy(Config{}, unsupported, supported), req)
	require.NoError(t, res.err)
	require.Equal(t, []frame{
		{`{__name__="up", z="1"}`, []string{"c2"}},
		{`{__name__="up", z="1"}`, []string{"c4"}},
	}, res.frames)

	require.Empty(t, unsupported.store.calls[0].WithoutReplicaLabels, "endpoint without support must not be asked to strip")
	require.Zero(t, unsupported.store.calls[0].Limit)
	require.Equal(t, []string{"replica"}, supported.store.calls[0].WithoutReplicaLabels)
	require.Equal(t, int64(1), supported.store.calls[0].Limit)

	req.Limit = 0
	res = runSeries(t.Context(), t, newProxy(Config{}, unsupported), req)
	require.NoError(t, res.err)
	require.Equal(t, []frame{
		{`{__name__="up", z="1"}`, []string{"c2"}},
		{`{__name__="up", z="2"}`, []string{"c1"}},
		{`{__name__="up", z="2"}`, []string{"c3"}}, // replicas a and b: consecutive frames
	}, res.frames)
}

func TestSeriesCancelMidStream(t *testing.T) {
	endpoints := func() []store.Client {
		var cs []store.Client
		for e := range 3 {
			f := &fakeStore{}
			for i := range 5000 {
				f.series = append(f.series, series([]string{"__name__", "up", "i", fmt.Sprintf("%05d", i), "e", fmt.Sprint(e)}, i))
			}
			cs = append(cs, newClient(fmt.Sprint(e), f))
		}
		return cs
	}

	t.Run("while streaming", func(t *testing.T) {
		ignore := goleak.IgnoreCurrent()
		ctx, cancel := context.WithCancel(t.Context())
		stream, err := storepb.ServerAsClient(newProxy(Config{}, endpoints()...)).Series(ctx, allReq())
		require.NoError(t, err)
		for range 10 {
			r, err := stream.Recv()
			require.NoError(t, err)
			require.NotNil(t, r.GetSeries())
		}
		cancel()
		for err == nil {
			_, err = stream.Recv()
		}
		require.ErrorIs(t, err, context.Canceled)
		goleak.VerifyNone(t, ignore)
	})

	t.Run("while waiting for a slow endpoint", func(t *testing.T) {
		ignore := goleak.IgnoreCurrent()
		cs := append(endpoints(), newClient("hang", &fakeStore{hang: true}))
		ctx, cancel := context.WithCancel(t.Context())
		stream, err := storepb.ServerAsClient(newProxy(Config{}, cs...)).Series(ctx, allReq())
		require.NoError(t, err)
		// The hanging endpoint holds the merge back: nothing may come yet.
		recvd := make(chan error, 1)
		go func() {
			_, err := stream.Recv()
			recvd <- err
		}()
		select {
		case err := <-recvd:
			t.Fatalf("got a frame before the hanging endpoint answered: %v", err)
		case <-time.After(100 * time.Millisecond):
		}
		cancel()
		require.ErrorIs(t, <-recvd, context.Canceled)
		goleak.VerifyNone(t, ignore)
	})
}

func TestLabelNamesAndValues(t *testing.T) {
	a := newClient("a", &fakeStore{names: []string{"__name__", "job", "replica"}, values: []string{"api", "node"}})
	b := newClient("b", &fakeStore{names: []string{"__name__", "instance"}, values: []string{"db", "node"}, warnings: []string{"b: partial"}})
	bad := newClient("bad", &fakeStore{err: status.Error(codes.Unavailable, "down")})
	b.mint, b.maxt = 1000, 2000

	t.Run("names", func(t *testing.T) {
		p := newProxy(Config{}, a, b, bad)
		resp, err := p.LabelNames(t.Context(), &storepb.LabelNamesRequest{WithoutReplicaLabels: []string{"replica"}})
		require.NoError(t, err)
		require.Equal(t, []string{"__name__", "instance", "job"}, resp.Names)
		require.ElementsMatch(t, []string{"b: partial", "endpoint bad: rpc error: code = Unavailable desc = down"}, resp.Warnings)

		resp, err = p.LabelNames(t.Context(), &storepb.LabelNamesRequest{Start: 0, End: 500, Limit: 1})
		require.NoError(t, err)
		require.Equal(t, []string{"__name__"}, resp.Names, "b is outside the time range")

		_, err = p.LabelNames(t.Context(), &storepb.LabelNamesRequest{PartialResponseStrategy: storepb.PartialResponseStrategy_ABORT})
		require.ErrorContains(t, err, "endpoint bad: ")
		require.Equal(t, codes.Unavailable, status.Code(err))
	})
	t.Run("values", func(t *testing.T) {
		p := newProxy(Config{}, a, b, bad)
		resp, err := p.LabelValues(t.Context(), &storepb.LabelValuesRequest{Label: "job"})
		require.NoError(t, err)
		require.Equal(t, []string{"api", "db", "node"}, resp.Values)
		require.Len(t, resp.Warnings, 2)

		resp, err = p.LabelValues(t.Context(), &storepb.LabelValuesRequest{Label: "job", Limit: 2})
		require.NoError(t, err)
		require.Equal(t, []string{"api", "db"}, resp.Values)

		_, err = p.LabelValues(t.Context(), &storepb.LabelValuesRequest{Label: "job", PartialResponseDisabled: true})
		require.ErrorContains(t, err, "endpoint bad: ")
	})
	t.Run("hanging endpoint times out", func(t *testing.T) {
		p := newProxy(Config{ResponseTimeout: 100 * time.Millisecond}, a, newClient("slow", &fakeStore{hang: true}))
		resp, err := p.LabelNames(t.Context(), &storepb.LabelNamesRequest{})
		require.NoError(t, err)
		require.Equal(t, []string{"__name__", "job", "replica"}, resp.Names)
		require.Len(t, resp.Warnings, 1)
		require.Contains(t, resp.Warnings[0], "endpoint slow: rpc error: timed out")
	})
}

func TestInfo(t *testing.T) {
	a := newClient("a", &fakeStore{}, labels.FromStrings("region", "eu"), labels.FromStrings("region", "us"))
	b := newClient("b", &fakeStore{}, labels.FromStrings("region", "eu"))
	a.mint, a.maxt = 100, 200
	b.mint, b.maxt = 50, 150
	p := newProxy(Config{}, a, b)
	require.Equal(t, []labels.Labels{labels.FromStrings("region", "eu"), labels.FromStrings("region", "us")}, p.LabelSets())
	mint, maxt := p.TimeRange()
	require.Equal(t, []int64{50, 200}, []int64{mint, maxt})
}

// discardStream is a server stream that counts and drops what is sent.
type discardStream struct {
	grpc.ServerStream
	ctx context.Context
	n   int
}

func (s *discardStream) Send(*storepb.SeriesResponse) error { s.n++; return nil }
func (s *discardStream) Context() context.Context           { return s.ctx }

func BenchmarkProxySeries(b *testing.B) {
	var cs []store.Client
	for e := range 3 {
		f := &fakeStore{}
		for i := range 5000 {
			// Overlapping label sets: every third series exists in all endpoints.
			lset := []string{"__name__", "http_requests_total", "i", fmt.Sprintf("%05d", i)}
			if i%3 != 0 {
				lset = append(lset, "e", fmt.Sprint(e))
			}
			f.series = append(f.series, series(lset, e*10+1, e*10+2))
		}
		cs = append(cs, newClient(fmt.Sprint(e), f))
	}
	p := newProxy(Config{}, cs...)
	req := allReq()
	b.ReportAllocs()
	for b.Loop() {
		s := &discardStream{ctx: b.Context()}
		if err := p.Series(req, s); err != nil {
			b.Fatal(err)
		}
		if s.n != 15000 {
			b.Fatalf("sent %d frames, want 15000", s.n)
		}
	}
}
