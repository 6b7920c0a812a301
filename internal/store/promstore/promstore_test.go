package promstore

import (
	"context"
	"errors"
	"fmt"
	"io"
	"math"
	"net/url"
	"strings"
	"testing"
	"time"

	"github.com/prometheus/client_golang/prometheus"
	"github.com/prometheus/client_golang/prometheus/testutil"
	"github.com/prometheus/prometheus/model/histogram"
	"github.com/prometheus/prometheus/model/labels"
	"github.com/prometheus/prometheus/storage"
	"github.com/prometheus/prometheus/tsdb/chunkenc"
	"github.com/prometheus/prometheus/tsdb/chunks"
	"github.com/prometheus/prometheus/tsdb/tsdbutil"
	"github.com/prometheus/prometheus/util/teststorage"
	"github.com/stretchr/testify/require"
	"go.uber.org/goleak"
	"google.golang.org/grpc/codes"
	"google.golang.org/grpc/status"

	"github.com/strata-io/strata/pkg/infopb"
	"github.com/strata-io/strata/pkg/metadatapb"
	"github.com/strata-io/strata/pkg/storepb"
)

func TestMain(m *testing.M) {
	goleak.VerifyTestMain(m,
		// The TSDB's and the HTTP transport's background goroutines.
		goleak.IgnoreTopFunction("github.com/prometheus/prometheus/tsdb.(*DB).run"),
		goleak.IgnoreTopFunction("internal/poll.runtime_pollWait"),
		goleak.IgnoreTopFunction("net/http.(*persistConn).writeLoop"),
		goleak.IgnoreTopFunction("net/http.(*persistConn).readLoop"),
	)
}

// tsample is a test sample of any value type.
type tsample struct {
	t  int64
	f  float64
	h  *histogram.Histogram
	fh *histogram.FloatHistogram
}

func (s tsample) T() int64                      { return s.t }
func (s tsample) ST() int64                     { return 0 }
func (s tsample) F() float64                    { return s.f }
func (s tsample) H() *histogram.Histogram       { return s.h }
func (s tsample) FH() *histogram.FloatHistogram { return s.fh }
func (s tsample) Copy() chunks.Sample           { return s }
func (s tsample) Type() chunkenc.ValueType {
	switch {
	case s.h != nil:
		return chunkenc.ValHistogram
	case s.fh != nil:
		return chunkenc.ValFloatHistogram
	}
	return chunkenc.ValFloat
}

// String renders a sample in a form to compare (counter reset hints are
// chunk metadata and not compared).
func (s tsample) String() string {
	switch {
	case s.h != nil:
		return fmt.Sprintf("%d h%s", s.t, s.h.String())
	case s.fh != nil:
		return fmt.Sprintf("%d fh%s", s.t, s.fh.String())
	}
	return fmt.Sprintf("%d %v", s.t, s.f)
}

const step = 15_000 // ms between samples

// floatSeries returns a series of n float samples from t0, every step.
func floatSeries(lset labels.Labels, t0 int64, n int) storage.Series {
	ss := make([]chunks.Sample, 0, n)
	for i := range n {
		ss = append(ss, tsample{t: t0 + int64(i)*step, f: float64(i) * 1.5})
	}
	return storage.NewListSeries(lset, ss)
}

// histSeries returns a series of n native histograms (float histograms when
// float is true) from t0, every step.
func histSeries(lset labels.Labels, t0 int64, n int, float bool) storage.Series {
	ss := make([]chunks.Sample, 0, n)
	for i := range n {
		if float {
			ss = append(ss, tsample{t: t0 + int64(i)*step, fh: tsdbutil.GenerateTestFloatHistogram(int64(i))})
		} else {
			ss = append(ss, tsample{t: t0 + int64(i)*step, h: tsdbutil.GenerateTestHistogram(int64(i))})
		}
	}
	return storage.NewListSeries(lset, ss)
}

// testData is what most tests store: floats over three series and a metric
// of native histograms.
func testData() []storage.Series {
	return []storage.Series{
		floatSeries(labels.FromStrings("__name__", "http_requests_total", "job", "api", "instance", "a:80"), 0, 300),
		floatSeries(labels.FromStrings("__name__", "http_requests_total", "job", "api", "instance", "b:80"), 0, 300),
		floatSeries(labels.FromStrings("__name__", "up", "job", "api", "instance", "a:80"), 0, 300),
		histSeries(labels.FromStrings("__name__", "request_duration", "job", "api"), 0, 200, false),
		histSeries(labels.FromStrings("__name__", "request_size", "job", "api"), 0, 200, true),
		floatSeries(labels.FromStrings("__name__", "otel_metric", "service.name", "checkout"), 0, 10),
	}
}

// samplesOf returns the samples of a storage series as strings.
func samplesOf(t *testing.T, s storage.Series, mint, maxt int64) []string {
	t.Helper()
	var out []string
	it := s.Iterator(nil)
	for vt := it.Next(); vt != chunkenc.ValNone; vt = it.Next() {
		var ts tsample
		switch vt {
		case chunkenc.ValFloat:
			ts.t, ts.f = it.At()
		case chunkenc.ValHistogram:
			ts.t, ts.h = it.AtHistogram(nil)
		case chunkenc.ValFloatHistogram:
			ts.t, ts.fh = it.AtFloatHistogram(nil)
		}
		if ts.t >= mint && ts.t <= maxt {
			out = append(out, ts.String())
		}
	}
	require.NoError(t, it.Err())
	return out
}

// chunkSamples decodes StoreAPI chunks, keeping samples in [mint, maxt].
func chunkSamples(t *testing.T, chks []*storepb.AggrChunk, mint, maxt int64) []string {
	t.Helper()
	var out []string
	for _, c := range chks {
		var enc chunkenc.Encoding
		switch c.GetRaw().GetType() {
		case storepb.Chunk_XOR:
			enc = chunkenc.EncXOR
		case storepb.Chunk_HISTOGRAM:
			enc = chunkenc.EncHistogram
		case storepb.Chunk_FLOAT_HISTOGRAM:
			enc = chunkenc.EncFloatHistogram
		}
		chk, err := chunkenc.FromData(enc, c.GetRaw().GetData())
		require.NoError(t, err)
		it := chk.Iterator(nil)
		for vt := it.Next(); vt != chunkenc.ValNone; vt = it.Next() {
			var ts tsample
			switch vt {
			case chunkenc.ValFloat:
				ts.t, ts.f = it.At()
			case chunkenc.ValHistogram:
				ts.t, ts.h = it.AtHistogram(nil)
			case chunkenc.ValFloatHistogram:
				ts.t, ts.fh = it.AtFloatHistogram(nil)
			}
			require.GreaterOrEqual(t, ts.t, c.MinTime, "sample before chunk min time")
			require.LessOrEqual(t, ts.t, c.MaxTime, "sample after chunk max time")
			if ts.t >= mint && ts.t <= maxt {
				out = append(out, ts.String())
			}
		}
		require.NoError(t, it.Err())
	}
	return out
}

// newStore returns a store over fp, checked once.
func newStore(t testing.TB, fp *fakeProm, reg prometheus.Registerer) *Store {
	t.Helper()
	cfg := DefaultConfig()
	cfg.URL = fp.url()
	cfg.RefreshInterval = 20 * time.Millisecond
	s, err := New(cfg, nil, nil, reg)
	require.NoError(t, err)
	require.NoError(t, s.CheckPrometheus(context.Background()))
	return s
}

// series runs a Series request to the end and returns its series.
func series(t *testing.T, c storepb.StoreClient, req *storepb.SeriesRequest) ([]*storepb.Series, error) {
	t.Helper()
	stream, err := c.Series(context.Background(), req)
	require.NoError(t, err)
	var out []*storepb.Series
	for {
		r, err := stream.Recv()
		if errors.Is(err, io.EOF) {
			return out, nil
		}
		if err != nil {
			return out, err
		}
		switch {
		case r.GetSeries() != nil:
			out = append(out, r.GetSeries())
		case r.GetBatch() != nil:
			out = append(out, r.GetBatch().GetSeries()...)
		default:
			t.Fatalf("unexpected frame %v", r)
		}
	}
}

func eqMatcher(name, value string) *storepb.LabelMatcher {
	return &storepb.LabelMatcher{Type: storepb.LabelMatcher_EQ, Name: name, Value: value}
}

func reMatcher(name, value string) *storepb.LabelMatcher {
	return &storepb.LabelMatcher{Type: storepb.LabelMatcher_RE, Name: name, Value: value}
}

func lsetsOf(ss []*storepb.Series) []string {
	out := make([]string, 0, len(ss))
	for _, s := range ss {
		out = append(out, storepb.LabelsFromProto(s.GetLabels()).String())
	}
	return out
}

// requireSorted checks the StoreAPI order: label sets ascending, chunks by min time.
func requireSorted(t *testing.T, ss []*storepb.Series) {
	t.Helper()
	for i, s := range ss {
		if i > 0 {
			require.LessOrEqual(t, storepb.CompareLabels(ss[i-1].GetLabels(), s.GetLabels()), 0,
				"series %d (%v) sorts before series %d", i, lsetsOf(ss[i:i+1]), i-1)
		}
		for j := 1; j < len(s.GetChunks()); j++ {
			require.LessOrEqual(t, s.Chunks[j-1].MinTime, s.Chunks[j].MinTime, "chunks of %v unsorted", lsetsOf(ss[i:i+1]))
		}
	}
}

func TestSeriesRoundTrip(t *testing.T) {
	for _, tc := range []struct {
		name       string
		opts       fakePromOptions
		storedEncs []chunkenc.Encoding // what the TSDB holds
	}{
		{name: "xor and histogram chunks passed through",
			storedEncs: []chunkenc.Encoding{chunkenc.EncXOR, chunkenc.EncHistogram, chunkenc.EncFloatHistogram}},
		{name: "series split over many frames", opts: fakePromOptions{maxBytesInFrame: 1},
			storedEncs: []chunkenc.Encoding{chunkenc.EncXOR, chunkenc.EncHistogram, chunkenc.EncFloatHistogram}},
		{name: "xor2 and st histogram chunks re-encoded", opts: fakePromOptions{tsdbOpts: []teststorage.Option{withXOR2()}},
			storedEncs: []chunkenc.Encoding{chunkenc.EncXOR2, chunkenc.EncHistogramST, chunkenc.EncFloatHistogramST}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			fp := newFakeProm(t, extLabels, tc.opts)
			data := testData()
			fp.appendSeries(t, data)
			require.ElementsMatch(t, tc.storedEncs, fp.storedEncodings(t))
			c := storepb.ServerAsClient(newStore(t, fp, nil))

			got, err := series(t, c, &storepb.SeriesRequest{
				MinTime: math.MinInt64, MaxTime: math.MaxInt64,
				Matchers: []*storepb.LabelMatcher{reMatcher("__name__", ".+")},
			})
			require.NoError(t, err)
			require.Len(t, got, len(data))
			requireSorted(t, got)

			want := map[string][]string{}
			for _, s := range data {
				b := labels.NewBuilder(s.Labels())
				extLabels.Range(func(l labels.Label) { b.Set(l.Name, l.Value) })
				want[b.Labels().String()] = samplesOf(t, s, math.MinInt64, math.MaxInt64)
			}
			for _, s := range got {
				lset := storepb.LabelsFromProto(s.GetLabels())
				require.Contains(t, want, lset.String(), "every series carries the external labels once")
				require.Equal(t, want[lset.String()], chunkSamples(t, s.GetChunks(), math.MinInt64, math.MaxInt64), "samples of %s", lset)
				for _, c := range s.GetChunks() {
					require.Contains(t, []storepb.Chunk_Encoding{storepb.Chunk_XOR, storepb.Chunk_HISTOGRAM, storepb.Chunk_FLOAT_HISTOGRAM}, c.GetRaw().GetType())
				}
			}
		})
	}
}

func TestSeriesRequests(t *testing.T) {
	fp := newFakeProm(t, extLabels, fakePromOptions{})
	data := testData()
	fp.appendSeries(t, data)
	c := storepb.ServerAsClient(newStore(t, fp, nil))
	all := []*storepb.LabelMatcher{reMatcher("__name__", ".+")}

	t.Run("matchers on external labels that hold are dropped", func(t *testing.T) {
		got, err := series(t, c, &storepb.SeriesRequest{MinTime: 0, MaxTime: math.MaxInt64,
			Matchers: []*storepb.LabelMatcher{eqMatcher("__name__", "up"), eqMatcher("cluster", "eu1"), reMatcher("replica", "a|b")}})
		require.NoError(t, err)
		require.Equal(t, []string{`{__name__="up", cluster="eu1", instance="a:80", job="api", replica="a"}`}, lsetsOf(got))
	})

	t.Run("only external label matchers select everything", func(t *testing.T) {
		got, err := series(t, c, &storepb.SeriesRequest{MinTime: 0, MaxTime: math.MaxInt64,
			Matchers: []*storepb.LabelMatcher{eqMatcher("cluster", "eu1")}})
		require.NoError(t, err)
		require.Len(t, got, len(data))
	})

	t.Run("contradicting external labels answer nothing without asking prometheus", func(t *testing.T) {
		before := fp.reads.Load()
		for _, m := range []*storepb.LabelMatcher{
			eqMatcher("cluster", "us1"),
			reMatcher("replica", "b|c"),
			{Type: storepb.LabelMatcher_NEQ, Name: "cluster", Value: "eu1"},
		} {
			got, err := series(t, c, &storepb.SeriesRequest{MinTime: 0, MaxTime: math.MaxInt64,
				Matchers: []*storepb.LabelMatcher{eqMatcher("__name__", "up"), m}})
			require.NoError(t, err)
			require.Empty(t, got, "matcher %v", m)
		}
		require.Equal(t, before, fp.reads.Load(), "prometheus was asked")
	})

	t.Run("time bounds", func(t *testing.T) {
		const mint, maxt = 100 * step, 150*step - 1
		got, err := series(t, c, &storepb.SeriesRequest{MinTime: mint, MaxTime: maxt,
			Matchers: []*storepb.LabelMatcher{eqMatcher("__name__", "up")}})
		require.NoError(t, err)
		require.Len(t, got, 1)
		for _, chk := range got[0].GetChunks() {
			require.True(t, chk.MaxTime >= mint && chk.MinTime <= maxt, "chunk [%d,%d] outside the range", chk.MinTime, chk.MaxTime)
		}
		require.Equal(t, samplesOf(t, data[2], mint, maxt), chunkSamples(t, got[0].GetChunks(), mint, maxt))

		got, err = series(t, c, &storepb.SeriesRequest{MinTime: 1000 * step, MaxTime: 2000 * step, Matchers: all})
		require.NoError(t, err)
		require.Empty(t, got, "no data after the last sample")
	})

	t.Run("skip chunks", func(t *testing.T) {
		before := fp.reads.Load()
		got, err := series(t, c, &storepb.SeriesRequest{MinTime: 0, MaxTime: math.MaxInt64, Matchers: all, SkipChunks: true})
		require.NoError(t, err)
		require.Len(t, got, len(data))
		requireSorted(t, got)
		for _, s := range got {
			require.Empty(t, s.GetChunks())
			require.Equal(t, "eu1", storepb.LabelsFromProto(s.GetLabels()).Get("cluster"))
		}
		withChunks, err := series(t, c, &storepb.SeriesRequest{MinTime: 0, MaxTime: math.MaxInt64, Matchers: all})
		require.NoError(t, err)
		require.Equal(t, lsetsOf(withChunks), lsetsOf(got))
		require.Equal(t, before+1, fp.reads.Load(), "skip_chunks used remote read")
	})

	t.Run("limit", func(t *testing.T) {
		for _, skip := range []bool{false, true} {
			got, err := series(t, c, &storepb.SeriesRequest{MinTime: 0, MaxTime: math.MaxInt64, Matchers: all, Limit: 2, SkipChunks: skip})
			require.NoError(t, err)
			require.Len(t, got, 2, "skip_chunks=%v", skip)
		}
	})

	t.Run("without replica labels", func(t *testing.T) {
		got, err := series(t, c, &storepb.SeriesRequest{MinTime: 0, MaxTime: math.MaxInt64,
			Matchers:             []*storepb.LabelMatcher{eqMatcher("job", "api"), reMatcher("__name__", "http.*|up")},
			WithoutReplicaLabels: []string{"replica", "instance"}})
		require.NoError(t, err)
		requireSorted(t, got)
		require.Equal(t, []string{
			`{__name__="http_requests_total", cluster="eu1", job="api"}`,
			`{__name__="http_requests_total", cluster="eu1", job="api"}`,
			`{__name__="up", cluster="eu1", job="api"}`,
		}, lsetsOf(got))
		for _, s := range got {
			require.Len(t, chunkSamples(t, s.GetChunks(), math.MinInt64, math.MaxInt64), 300)
		}
	})

	t.Run("batches", func(t *testing.T) {
		stream, err := c.Series(context.Background(), &storepb.SeriesRequest{MinTime: 0, MaxTime: math.MaxInt64, Matchers: all, ResponseBatchSize: 4})
		require.NoError(t, err)
		var sizes []int
		for {
			r, err := stream.Recv()
			if errors.Is(err, io.EOF) {
				break
			}
			require.NoError(t, err)
			require.NotNil(t, r.GetBatch(), "frame is not a batch")
			sizes = append(sizes, len(r.GetBatch().GetSeries()))
		}
		require.Equal(t, []int{4, 2}, sizes)
	})

	t.Run("invalid matcher", func(t *testing.T) {
		_, err := series(t, c, &storepb.SeriesRequest{MinTime: 0, MaxTime: 1, Matchers: []*storepb.LabelMatcher{reMatcher("job", "(")}})
		require.Equal(t, codes.InvalidArgument, status.Code(err))
	})
}

// External labels can change the order Prometheus sends series in: a series
// whose labels are a prefix of another's sorts first in the TSDB but may sort
// after it once external labels are added.
func TestSeriesSortedWithExternalLabels(t *testing.T) {
	fp := newFakeProm(t, labels.FromStrings("zone", "z1"), fakePromOptions{})
	fp.appendSeries(t, []storage.Series{
		floatSeries(labels.FromStrings("__name__", "m"), 0, 10),
		floatSeries(labels.FromStrings("__name__", "m", "instance", "x"), 0, 10),
		floatSeries(labels.FromStrings("__name__", "m", "zone", "own"), 0, 10),
	})
	c := storepb.ServerAsClient(newStore(t, fp, nil))
	got, err := series(t, c, &storepb.SeriesRequest{MinTime: 0, MaxTime: math.MaxInt64,
		Matchers: []*storepb.LabelMatcher{eqMatcher("__name__", "m")}})
	require.NoError(t, err)
	requireSorted(t, got)
	require.Equal(t, []string{
		`{__name__="m", instance="x", zone="z1"}`,
		`{__name__="m", zone="z1"}`,
		`{__name__="m", zone="z1"}`,
	}, lsetsOf(got), "external labels override the series' own")
}

func TestLabelNamesAndValues(t *testing.T) {
	fp := newFakeProm(t, extLabels, fakePromOptions{})
	fp.appendSeries(t, testData())
	c := storepb.ServerAsClient(newStore(t, fp, nil))
	ctx := context.Background()

	for _, tc := range []struct {
		name string
		req  *storepb.LabelNamesRequest
		want []string
	}{
		{name: "all", req: &storepb.LabelNamesRequest{Start: 0, End: math.MaxInt64},
			want: []string{"__name__", "cluster", "instance", "job", "replica", "service.name"}},
		{name: "matchers", req: &storepb.LabelNamesRequest{Start: 0, End: math.MaxInt64,
			Matchers: []*storepb.LabelMatcher{eqMatcher("__name__", "request_duration"), eqMatcher("cluster", "eu1")}},
			want: []string{"__name__", "cluster", "job", "replica"}},
		{name: "contradicting external labels", req: &storepb.LabelNamesRequest{Start: 0, End: math.MaxInt64,
			Matchers: []*storepb.LabelMatcher{eqMatcher("cluster", "us1")}}},
		{name: "no series in range", req: &storepb.LabelNamesRequest{Start: 1000 * step, End: 2000 * step,
			Matchers: []*storepb.LabelMatcher{eqMatcher("job", "api")}}},
		{name: "without replica labels and limit", req: &storepb.LabelNamesRequest{Start: 0, End: math.MaxInt64,
			WithoutReplicaLabels: []string{"replica", "instance"}, Limit: 3},
			want: []string{"__name__", "cluster", "job"}},
	} {
		t.Run("names/"+tc.name, func(t *testing.T) {
			r, err := c.LabelNames(ctx, tc.req)
			require.NoError(t, err)
			if len(tc.want) == 0 {
				require.Empty(t, r.GetNames())
				return
			}
			require.Equal(t, tc.want, r.GetNames())
		})
	}

	for _, tc := range []struct {
		name string
		req  *storepb.LabelValuesRequest
		want []string
	}{
		{name: "all", req: &storepb.LabelValuesRequest{Label: "__name__", Start: 0, End: math.MaxInt64},
			want: []string{"http_requests_total", "otel_metric", "request_duration", "request_size", "up"}},
		{name: "utf-8 label name", req: &storepb.LabelValuesRequest{Label: "service.name", Start: 0, End: math.MaxInt64},
			want: []string{"checkout"}},
		{name: "matchers and limit", req: &storepb.LabelValuesRequest{Label: "instance", Start: 0, End: math.MaxInt64, Limit: 1,
			Matchers: []*storepb.LabelMatcher{eqMatcher("__name__", "http_requests_total"), eqMatcher("replica", "a")}},
			want: []string{"a:80"}},
		{name: "value with quotes and backslashes in matcher", req: &storepb.LabelValuesRequest{Label: "job", Start: 0, End: math.MaxInt64,
			Matchers: []*storepb.LabelMatcher{eqMatcher("instance", `a"\b`)}}},
		{name: "external label", req: &storepb.LabelValuesRequest{Label: "cluster", Start: 0, End: math.MaxInt64},
			want: []string{"eu1"}},
		{name: "external label with matching series", req: &storepb.LabelValuesRequest{Label: "replica", Start: 0, End: math.MaxInt64,
			Matchers: []*storepb.LabelMatcher{eqMatcher("__name__", "up")}},
			want: []string{"a"}},
		{name: "external label without matching series", req: &storepb.LabelValuesRequest{Label: "replica", Start: 0, End: math.MaxInt64,
			Matchers: []*storepb.LabelMatcher{eqMatcher("__name__", "nope")}}},
		{name: "contradicting external labels", req: &storepb.LabelValuesRequest{Label: "job", Start: 0, End: math.MaxInt64,
			Matchers: []*storepb.LabelMatcher{eqMatcher("cluster", "us1")}}},
		{name: "stripped replica label", req: &storepb.LabelValuesRequest{Label: "replica", Start: 0, End: math.MaxInt64,
			WithoutReplicaLabels: []string{"replica"}}},
	} {
		t.Run("values/"+tc.name, func(t *testing.T) {
			r, err := c.LabelValues(ctx, tc.req)
			require.NoError(t, err)
			if len(tc.want) == 0 {
				require.Empty(t, r.GetValues())
				return
			}
			require.Equal(t, tc.want, r.GetValues())
		})
	}
}

func TestInfoAndMetadata(t *testing.T) {
	fp := newFakeProm(t, extLabels, fakePromOptions{})
	fp.appendSeries(t, []storage.Series{floatSeries(labels.FromStrings("__name__", "up"), 5*step, 10)})
	s := newStore(t, fp, nil)

	info, err := s.Info(context.Background(), &infopb.InfoRequest{})
	require.NoError(t, err)
	require.Equal(t, "sidecar", info.GetComponentType())
	require.Equal(t, []labels.Labels{extLabels}, storepb.LabelSetsFromProto(info.GetLabelSets()))
	require.Equal(t, int64(5*step), info.GetStore().GetMinTime(), "min time from prometheus_tsdb_lowest_timestamp")
	require.Equal(t, int64(math.MaxInt64), info.GetStore().GetMaxTime())
	require.True(t, info.GetStore().GetSupportsWithoutReplicaLabels())
	require.NotNil(t, info.GetMetricMetadata())
	require.Equal(t, extLabels, s.ExternalLabels())

	srv := &metadataServer{ctx: context.Background()}
	require.NoError(t, s.MetricMetadata(&metadatapb.MetricMetadataRequest{Metric: "request_duration"}, srv))
	require.Len(t, srv.got, 1)
	md := srv.got[0].GetMetadata().GetMetadata()
	require.Len(t, md, 1)
	require.Equal(t, "histogram", md["request_duration"].GetMetas()[0].GetType())
	require.Equal(t, "seconds", md["request_duration"].GetMetas()[0].GetUnit())

	srv = &metadataServer{ctx: context.Background()}
	require.NoError(t, s.MetricMetadata(&metadatapb.MetricMetadataRequest{Limit: -1}, srv))
	require.Len(t, srv.got[0].GetMetadata().GetMetadata(), 2)
}

// metadataServer collects MetricMetadata frames.
type metadataServer struct {
	metadatapb.Metadata_MetricMetadataServer
	ctx context.Context
	got []*metadatapb.MetricMetadataResponse
}

func (m *metadataServer) Send(r *metadatapb.MetricMetadataResponse) error {
	m.got = append(m.got, r)
	return nil
}
func (m *metadataServer) Context() context.Context { return m.ctx }

func TestNoExternalLabels(t *testing.T) {
	fp := newFakeProm(t, labels.EmptyLabels(), fakePromOptions{})
	cfg := DefaultConfig()
	cfg.URL = fp.url()
	s, err := New(cfg, nil, nil, nil)
	require.NoError(t, err)

	err = s.CheckPrometheus(context.Background())
	require.ErrorIs(t, err, ErrNoExternalLabels)
	require.ErrorContains(t, err, "prometheus at "+fp.url().String()+" has no external labels: set global.external_labels in prometheus.yml")
	require.ErrorIs(t, s.Ready(), ErrNoExternalLabels)

	_, err = s.Info(context.Background(), &infopb.InfoRequest{})
	require.Equal(t, codes.Unavailable, status.Code(err))
}

func TestPrometheusDownAndBack(t *testing.T) {
	fp := newFakeProm(t, extLabels, fakePromOptions{})
	fp.appendSeries(t, testData())
	reg := prometheus.NewPedanticRegistry()
	s := newStore(t, fp, reg)
	c := storepb.ServerAsClient(s)
	req := &storepb.SeriesRequest{MinTime: 0, MaxTime: math.MaxInt64, Matchers: []*storepb.LabelMatcher{eqMatcher("__name__", "up")}}
	require.NoError(t, s.Ready())
	require.Equal(t, 1.0, testutil.ToFloat64(s.up))

	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan error)
	go func() { done <- s.Run(ctx) }()
	defer func() {
		cancel()
		require.NoError(t, <-done)
	}()

	fp.stop()
	require.Eventually(t, func() bool { return s.Ready() != nil }, 5*time.Second, 10*time.Millisecond, "not ready while prometheus is down")
	require.Equal(t, 0.0, testutil.ToFloat64(s.up))

	_, err := series(t, c, req)
	require.Equal(t, codes.Unavailable, status.Code(err), "series: %v", err)
	require.ErrorContains(t, err, fp.url().String())
	_, err = c.LabelNames(context.Background(), &storepb.LabelNamesRequest{Start: 0, End: math.MaxInt64})
	require.Equal(t, codes.Unavailable, status.Code(err), "label names: %v", err)
	_, err = c.LabelValues(context.Background(), &storepb.LabelValuesRequest{Label: "job", Start: 0, End: math.MaxInt64})
	require.Equal(t, codes.Unavailable, status.Code(err), "label values: %v", err)
	info, err := s.Info(context.Background(), &infopb.InfoRequest{})
	require.NoError(t, err, "info keeps answering with the last known external labels")
	require.Equal(t, []labels.Labels{extLabels}, storepb.LabelSetsFromProto(info.GetLabelSets()))

	fp.start()
	require.Eventually(t, func() bool { return s.Ready() == nil }, 5*time.Second, 10*time.Millisecond, "ready again once prometheus is back")
	got, err := series(t, c, req)
	require.NoError(t, err)
	require.Len(t, got, 1)
	require.Equal(t, 1.0, testutil.ToFloat64(s.up))
}

func TestNeverReached(t *testing.T) {
	cfg := DefaultConfig()
	var err error
	cfg.URL = &url.URL{Scheme: "http", Host: "127.0.0.1:1"}
	s, err := New(cfg, nil, nil, nil)
	require.NoError(t, err)
	err = s.CheckPrometheus(context.Background())
	require.Error(t, err)
	require.NotErrorIs(t, err, ErrNoExternalLabels, "a connection error is not a configuration error")
	require.Error(t, s.Ready())
	_, err = series(t, storepb.ServerAsClient(s), &storepb.SeriesRequest{Matchers: []*storepb.LabelMatcher{eqMatcher("a", "b")}})
	require.Equal(t, codes.Unavailable, status.Code(err))
	require.True(t, strings.Contains(err.Error(), "127.0.0.1:1"), err.Error())
}

func TestConfigValidate(t *testing.T) {
	for _, tc := range []struct {
		name string
		url  string
		ok   bool
	}{
		{name: "http", url: "http://localhost:9090", ok: true},
		{name: "with prefix", url: "https://prom.example.com/prometheus/", ok: true},
		{name: "no host", url: "localhost:9090"},
		{name: "ftp", url: "ftp://localhost:9090"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			cfg := DefaultConfig()
			u, err := url.Parse(tc.url)
			require.NoError(t, err)
			cfg.URL = u
			_, err = New(cfg, nil, nil, nil)
			if tc.ok {
				require.NoError(t, err)
			} else {
				require.Error(t, err)
			}
		})
	}
}
