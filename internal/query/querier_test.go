package query

import (
	"context"
	"errors"
	"testing"

	"github.com/prometheus/prometheus/model/histogram"
	"github.com/prometheus/prometheus/model/labels"
	"github.com/prometheus/prometheus/storage"
	"github.com/prometheus/prometheus/tsdb/chunkenc"
	"github.com/prometheus/prometheus/tsdb/tsdbutil"
	"github.com/stretchr/testify/require"
	"google.golang.org/grpc"

	"github.com/strata-io/strata/internal/store"
	"github.com/strata-io/strata/internal/testkit"
	"github.com/strata-io/strata/pkg/storepb"
)

// fakeStore answers every Series call with frames, then err; it records the
// last requests and the store matchers of their contexts.
type fakeStore struct {
	storepb.UnimplementedStoreServer

	frames []*storepb.SeriesResponse
	err    error

	seriesReq   *storepb.SeriesRequest
	namesReq    *storepb.LabelNamesRequest
	valuesReq   *storepb.LabelValuesRequest
	storeMatchs [][]*labels.Matcher
}

func (f *fakeStore) Series(req *storepb.SeriesRequest, srv grpc.ServerStreamingServer[storepb.SeriesResponse]) error {
	f.seriesReq = req
	f.storeMatchs = store.MatchersFromContext(srv.Context())
	for _, fr := range f.frames {
		if err := srv.Send(fr); err != nil {
			return err
		}
	}
	return f.err
}

func (f *fakeStore) LabelNames(_ context.Context, req *storepb.LabelNamesRequest) (*storepb.LabelNamesResponse, error) {
	f.namesReq = req
	return &storepb.LabelNamesResponse{Names: []string{"__name__", "job", "replica"}, Warnings: []string{"store b down"}}, f.err
}

func (f *fakeStore) LabelValues(_ context.Context, req *storepb.LabelValuesRequest) (*storepb.LabelValuesResponse, error) {
	f.valuesReq = req
	return &storepb.LabelValuesResponse{Values: []string{"api", "db"}}, f.err
}

type fsample struct {
	t int64
	f float64
	h *histogram.Histogram
}

func (s fsample) T() int64   { return s.t }
func (s fsample) F() float64 { return s.f }

// wireXOR encodes float samples as a wire chunk.
func wireXOR(t testing.TB, ss ...fsample) *storepb.AggrChunk {
	t.Helper()
	m := testkit.XORChunkMeta(t, ss...)
	return &storepb.AggrChunk{MinTime: m.MinTime, MaxTime: m.MaxTime, Raw: &storepb.Chunk{Type: storepb.Chunk_XOR, Data: m.Chunk.Bytes()}}
}

// floats returns samples every step ms in [from, to] with value t/1000.
func floats(from, to, step int64) []fsample {
	var out []fsample
	for t := from; t <= to; t += step {
		out = append(out, fsample{t: t, f: float64(t) / 1000})
	}
	return out
}

func histChunk(t testing.TB, ss ...fsample) *storepb.AggrChunk {
	c := chunkenc.NewHistogramChunk()
	app, err := c.Appender()
	require.NoError(t, err)
	for _, s := range ss {
		nc, _, napp, err := app.AppendHistogram(nil, 0, s.t, s.h, true)
		require.NoError(t, err)
		require.Nil(t, nc, "test data must fit one chunk")
		app = napp
	}
	return &storepb.AggrChunk{MinTime: ss[0].t, MaxTime: ss[len(ss)-1].t, Raw: &storepb.Chunk{Type: storepb.Chunk_HISTOGRAM, Data: c.Bytes()}}
}

func seriesFrame(lset labels.Labels, chunks ...*storepb.AggrChunk) *storepb.SeriesResponse {
	return &storepb.SeriesResponse{Result: &storepb.SeriesResponse_Series{Series: &storepb.Series{Labels: storepb.LabelsToProto(lset), Chunks: chunks}}}
}

func warningFrame(w string) *storepb.SeriesResponse {
	return &storepb.SeriesResponse{Result: &storepb.SeriesResponse_Warning{Warning: w}}
}

type result struct {
	lset    labels.Labels
	samples []fsample
}

// collect reads a SeriesSet fully.
func collect(t *testing.T, set storage.SeriesSet) []result {
	t.Helper()
	var out []result
	for set.Next() {
		s := set.At()
		r := result{lset: s.Labels()}
		it := s.Iterator(nil)
		for vt := it.Next(); vt != chunkenc.ValNone; vt = it.Next() {
			switch vt {
			case chunkenc.ValFloat:
				ts, f := it.At()
				r.samples = append(r.samples, fsample{t: ts, f: f})
			case chunkenc.ValHistogram:
				ts, h := it.AtHistogram(nil)
				r.samples = append(r.samples, fsample{t: ts, h: h})
			default:
				t.Fatalf("unexpected value type %v", vt)
			}
		}
		require.NoError(t, it.Err())
		out = append(out, r)
	}
	return out
}

func newQuerier(t *testing.T, f *fakeStore, opts Options) storage.Querier {
	q, err := NewQueryableCreator(storepb.ServerAsClient(f), nil, nil)(opts).Querier(1000, 2000)
	require.NoError(t, err)
	t.Cleanup(func() { require.NoError(t, q.Close()) })
	return q
}

func TestSelectRequest(t *testing.T) {
	replica := []string{"replica"}
	storeMatchers := [][]*labels.Matcher{{labels.MustNewMatcher(labels.MatchEqual, "region", "eu")}}
	for _, tc := range []struct {
		name  string
		opts  Options
		hints *storage.SelectHints
		want  *storepb.SeriesRequest
	}{
		{
			name: "no hints: querier range, abort, average aggregates",
			want: &storepb.SeriesRequest{
				MinTime: 1000, MaxTime: 2000,
				Aggregates:              []storepb.Aggr{storepb.Aggr_COUNT, storepb.Aggr_SUM},
				PartialResponseDisabled: true,
				PartialResponseStrategy: storepb.PartialResponseStrategy_ABORT,
			},
		},
		{
			name:  "rate with dedup, partial response and downsampling",
			opts:  Options{Deduplicate: true, ReplicaLabels: replica, PartialResponse: true, MaxResolutionMillis: 300_000, StoreMatchers: storeMatchers},
			hints: &storage.SelectHints{Start: 500, End: 1500, Step: 30, Func: "rate", Range: 300_000, Grouping: []string{"job"}, By: true},
			want: &storepb.SeriesRequest{
				MinTime: 500, MaxTime: 1500,
				MaxResolutionWindow:     300_000,
				Aggregates:              []storepb.Aggr{storepb.Aggr_COUNTER},
				PartialResponseStrategy: storepb.PartialResponseStrategy_WARN,
				// The querier strips the replica labels itself: a store
				// serving both replicas would merge them (TestDedupHAPair).
				QueryHints: &storepb.QueryHints{
					StepMillis: 30, Func: &storepb.Func{Name: "rate"}, Range: &storepb.Range{Millis: 300_000},
					Grouping: &storepb.Grouping{By: true, Labels: []string{"job"}},
				},
			},
		},
		{
			name:  "replica labels are kept without dedup; series skips chunks",
			opts:  Options{ReplicaLabels: replica, PartialResponse: true},
			hints: &storage.SelectHints{Start: 1, End: 2, Func: "series", Limit: 10},
			want: &storepb.SeriesRequest{
				MinTime: 1, MaxTime: 2, Limit: 10, SkipChunks: true,
				Aggregates:              []storepb.Aggr{storepb.Aggr_COUNT, storepb.Aggr_SUM},
				PartialResponseStrategy: storepb.PartialResponseStrategy_WARN,
				QueryHints:              &storepb.QueryHints{Func: &storepb.Func{Name: "series"}},
			},
		},
		{
			name:  "series with dedup: the stores strip the replica labels and apply the limit",
			opts:  Options{Deduplicate: true, ReplicaLabels: replica},
			hints: &storage.SelectHints{Start: 1, End: 2, Func: "series", Limit: 10},
			want: &storepb.SeriesRequest{
				MinTime: 1, MaxTime: 2, Limit: 10, SkipChunks: true,
				Aggregates:              []storepb.Aggr{storepb.Aggr_COUNT, storepb.Aggr_SUM},
				PartialResponseDisabled: true,
				PartialResponseStrategy: storepb.PartialResponseStrategy_ABORT,
				WithoutReplicaLabels:    replica,
				QueryHints:              &storepb.QueryHints{Func: &storepb.Func{Name: "series"}},
			},
		},
		{
			name:  "samples with dedup and a limit: the querier applies the limit",
			opts:  Options{Deduplicate: true, ReplicaLabels: replica},
			hints: &storage.SelectHints{Start: 1, End: 2, Limit: 10},
			want: &storepb.SeriesRequest{
				MinTime: 1, MaxTime: 2,
				Aggregates:              []storepb.Aggr{storepb.Aggr_COUNT, storepb.Aggr_SUM},
				PartialResponseDisabled: true,
				PartialResponseStrategy: storepb.PartialResponseStrategy_ABORT,
				QueryHints:              &storepb.QueryHints{},
			},
		},
		{
			name:  "min_over_time and max_over_time ask for their aggregate",
			hints: &storage.SelectHints{Start: 1, End: 2, Func: "max_over_time"},
			want: &storepb.SeriesRequest{
				MinTime: 1, MaxTime: 2,
				Aggregates:              []storepb.Aggr{storepb.Aggr_MAX},
				PartialResponseDisabled: true,
				PartialResponseStrategy: storepb.PartialResponseStrategy_ABORT,
				QueryHints:              &storepb.QueryHints{Func: &storepb.Func{Name: "max_over_time"}},
			},
		},
	} {
		t.Run(tc.name, func(t *testing.T) {
			f := &fakeStore{}
			q := newQuerier(t, f, tc.opts)
			set := q.Select(context.Background(), true, tc.hints, labels.MustNewMatcher(labels.MatchRegexp, "job", "a.*"))
			require.False(t, set.Next())
			require.NoError(t, set.Err())
			tc.want.Matchers = []*storepb.LabelMatcher{{Type: storepb.LabelMatcher_RE, Name: "job", Value: "a.*"}}
			require.Equal(t, tc.want.String(), f.seriesReq.String())
			require.Equal(t, tc.opts.StoreMatchers, f.storeMatchs)
		})
	}
}

func TestSelectWarningsAndErrors(t *testing.T) {
	a := labels.FromStrings("__name__", "up", "job", "a")
	frames := []*storepb.SeriesResponse{
		warningFrame("store b: connection refused"),
		{Result: &storepb.SeriesResponse_Batch{Batch: &storepb.SeriesBatch{Series: []*storepb.Series{
			{Labels: storepb.LabelsToProto(a), Chunks: []*storepb.AggrChunk{wireXOR(t, floats(0, 60_000, 15_000)...)}},
		}}}},
	}

	t.Run("warnings and batch frames", func(t *testing.T) {
		q := newQuerier(t, &fakeStore{frames: frames}, Options{PartialResponse: true})
		set := q.Select(context.Background(), true, nil)
		got := collect(t, set)
		require.NoError(t, set.Err())
		require.Len(t, got, 1)
		require.Equal(t, a, got[0].lset)
		require.Len(t, got[0].samples, 5)
		require.Len(t, set.Warnings(), 1)
		require.Contains(t, set.Warnings().AsErrors()[0].Error(), "store b: connection refused")
	})
	for _, partial := range []bool{false, true} {
		t.Run("stream error fails the select", func(t *testing.T) {
			q := newQuerier(t, &fakeStore{frames: frames, err: errors.New("store a: out of memory")}, Options{PartialResponse: partial})
			set := q.Select(context.Background(), true, nil)
			require.False(t, set.Next())
			require.ErrorContains(t, set.Err(), "store a: out of memory")
			require.Len(t, set.Warnings(), 1, "warnings before the error are kept")
		})
	}
}

func TestSelectMergesCopies(t *testing.T) {
	a := labels.FromStrings("__name__", "up", "job", "a")
	b := labels.FromStrings("__name__", "up", "job", "b")
	hs := tsdbutil.GenerateTestHistograms(4)
	frames := []*storepb.SeriesResponse{
		// Two stores serve a: one old block plus an overlapping recent one.
		seriesFrame(a, wireXOR(t, floats(0, 60_000, 15_000)...), wireXOR(t, floats(120_000, 180_000, 15_000)...)),
		seriesFrame(a, wireXOR(t, floats(45_000, 135_000, 15_000)...)),
		seriesFrame(b, histChunk(t, fsample{t: 0, h: hs[0]}, fsample{t: 15_000, h: hs[1]}), wireXOR(t, floats(30_000, 45_000, 15_000)...)),
		seriesFrame(b, histChunk(t, fsample{t: 15_000, h: hs[1]}, fsample{t: 30_000, h: hs[2]})),
	}
	q := newQuerier(t, &fakeStore{frames: frames}, Options{})
	set := q.Select(context.Background(), true, nil)
	got := collect(t, set)
	require.NoError(t, set.Err())
	require.Len(t, got, 2)
	require.Equal(t, a, got[0].lset)
	require.Equal(t, floats(0, 180_000, 15_000), got[0].samples, "overlaps merged in time order, duplicates dropped")

	require.Equal(t, b, got[1].lset)
	require.Len(t, got[1].samples, 4)
	require.Equal(t, hs[0].Count, got[1].samples[0].h.Count)
	require.Equal(t, hs[1].Count, got[1].samples[1].h.Count)
	require.NotNil(t, got[1].samples[2].h, "at 30s both copies have a sample: the first source's wins")
	require.Equal(t, 45.0, got[1].samples[3].f, "a series may change type")
}

func TestSelectDeduplicates(t *testing.T) {
	r0 := labels.FromStrings("__name__", "up", "job", "a", "replica", "0")
	r1 := labels.FromStrings("__name__", "up", "job", "a", "replica", "1")
	want := labels.FromStrings("__name__", "up", "job", "a")
	other := labels.FromStrings("__name__", "up", "job", "a", "zone", "x")
	gappy := append(floats(0, 90_000, 15_000), floats(300_000, 600_000, 15_000)...)

	for _, tc := range []struct {
		name   string
		frames []*storepb.SeriesResponse
	}{
		{
			name: "stores stripped the replica label",
			frames: []*storepb.SeriesResponse{
				seriesFrame(want, wireXOR(t, gappy...)),
				seriesFrame(want, wireXOR(t, floats(5_000, 605_000, 15_000)...)),
				seriesFrame(other, wireXOR(t, floats(0, 15_000, 15_000)...)),
			},
		},
		{
			// Sorted with the replica label, the copies are not consecutive.
			name: "stores kept the replica label",
			frames: []*storepb.SeriesResponse{
				seriesFrame(r0, wireXOR(t, gappy...)),
				seriesFrame(labels.FromStrings("__name__", "up", "job", "a", "replica", "0", "zone", "x"), wireXOR(t, floats(0, 15_000, 15_000)...)),
				seriesFrame(r1, wireXOR(t, floats(5_000, 605_000, 15_000)...)),
			},
		},
	} {
		t.Run(tc.name, func(t *testing.T) {
			q := newQuerier(t, &fakeStore{frames: tc.frames}, Options{Deduplicate: true, ReplicaLabels: []string{"replica"}})
			set := q.Select(context.Background(), true, &storage.SelectHints{Start: 0, End: 600_000})
			got := collect(t, set)
			require.NoError(t, set.Err())
			require.Len(t, got, 2)
			require.Equal(t, want, got[0].lset)
			require.Equal(t, other, got[1].lset)
			// First replica until its gap, then the second one to the end.
			wantSamples := append(floats(0, 90_000, 15_000), floats(95_000, 605_000, 15_000)...)
			require.Equal(t, len(wantSamples), len(got[0].samples))
			for i := range wantSamples {
				require.Equal(t, wantSamples[i].t, got[0].samples[i].t)
			}
		})
	}
}

func TestSeekAcrossChunks(t *testing.T) {
	chunks := []chunkRef{
		{c: wireXOR(t, floats(0, 60_000, 15_000)...)},
		{c: wireXOR(t, floats(120_000, 180_000, 15_000)...)},
		{c: wireXOR(t, floats(150_000, 240_000, 30_000)...), src: 1},
	}
	it := newChunksIterator(chunks, nil)
	require.Equal(t, chunkenc.ValFloat, it.Seek(70_000))
	require.Equal(t, int64(120_000), it.AtT())
	require.Equal(t, chunkenc.ValFloat, it.Seek(100_000), "seek never goes back")
	require.Equal(t, int64(120_000), it.AtT())
	require.Equal(t, chunkenc.ValFloat, it.Seek(170_000))
	require.Equal(t, int64(180_000), it.AtT())
	require.Equal(t, chunkenc.ValFloat, it.Next())
	require.Equal(t, int64(210_000), it.AtT())
	require.Equal(t, chunkenc.ValNone, it.Seek(241_000))
	require.Equal(t, chunkenc.ValNone, it.Next())
	require.NoError(t, it.Err())
}

func TestDownsampledAverage(t *testing.T) {
	sum := wireXOR(t, fsample{t: 0, f: 10}, fsample{t: 300_000, f: 30})
	count := wireXOR(t, fsample{t: 0, f: 5}, fsample{t: 300_000, f: 10})
	c := &storepb.AggrChunk{MinTime: 0, MaxTime: 300_000, Sum: sum.Raw, Count: count.Raw}
	it := newSeriesIterator([]chunkRef{{c: c}}, aggrsFor("avg_over_time"))
	var vals []float64
	for it.Next() == chunkenc.ValFloat {
		_, v := it.At()
		vals = append(vals, v)
	}
	require.NoError(t, it.Err())
	require.Equal(t, []float64{2, 3}, vals)

	it = newSeriesIterator([]chunkRef{{c: c}}, aggrsFor("rate"))
	require.Equal(t, chunkenc.ValNone, it.Next())
	require.ErrorContains(t, it.Err(), "max_source_resolution", "a missing aggregate tells the user what to do")
}

func TestLabelNamesAndValues(t *testing.T) {
	f := &fakeStore{}
	opts := Options{Deduplicate: true, ReplicaLabels: []string{"replica"}, PartialResponse: true}
	q := newQuerier(t, f, opts)
	m := labels.MustNewMatcher(labels.MatchEqual, "job", "a")
	wantMatchers := []*storepb.LabelMatcher{{Type: storepb.LabelMatcher_EQ, Name: "job", Value: "a"}}

	names, warns, err := q.LabelNames(context.Background(), &storage.LabelHints{Limit: 5}, m)
	require.NoError(t, err)
	require.Equal(t, []string{"__name__", "job"}, names, "replica labels are not names of deduplicated series")
	require.Len(t, warns, 1)
	require.Equal(t, (&storepb.LabelNamesRequest{
		PartialResponseStrategy: storepb.PartialResponseStrategy_WARN,
		Start:                   1000, End: 2000, Matchers: wantMatchers,
		WithoutReplicaLabels: []string{"replica"}, Limit: 5,
	}).String(), f.namesReq.String())

	values, warns, err := q.LabelValues(context.Background(), "job", nil, m)
	require.NoError(t, err)
	require.Equal(t, []string{"api", "db"}, values)
	require.Empty(t, warns)
	require.Equal(t, (&storepb.LabelValuesRequest{
		Label:                   "job",
		PartialResponseStrategy: storepb.PartialResponseStrategy_WARN,
		Start:                   1000, End: 2000, Matchers: wantMatchers,
		WithoutReplicaLabels: []string{"replica"},
	}).String(), f.valuesReq.String())

	f.err = errors.New("all stores down")
	_, _, err = q.LabelNames(context.Background(), nil)
	require.ErrorContains(t, err, "all stores down")
}

func TestSelectDeduplicatedLimit(t *testing.T) {
	r := func(replica, job string) labels.Labels {
		return labels.FromStrings("__name__", "up", "job", job, "replica", replica)
	}
	frames := []*storepb.SeriesResponse{
		seriesFrame(r("0", "a"), wireXOR(t, floats(0, 60_000, 15_000)...)),
		seriesFrame(r("1", "a"), wireXOR(t, floats(7_000, 67_000, 15_000)...)),
		seriesFrame(r("0", "b"), wireXOR(t, floats(0, 60_000, 15_000)...)),
	}
	q := newQuerier(t, &fakeStore{frames: frames}, Options{Deduplicate: true, ReplicaLabels: []string{"replica"}})
	set := q.Select(context.Background(), true, &storage.SelectHints{Start: 0, End: 600_000, Limit: 1})
	got := collect(t, set)
	require.NoError(t, set.Err())
	require.Len(t, got, 1, "the limit counts deduplicated series, not replicas")
	require.Equal(t, labels.FromStrings("__name__", "up", "job", "a"), got[0].lset)
	require.Len(t, got[0].samples, 6, "replica 0, then the last sample of replica 1")
}
