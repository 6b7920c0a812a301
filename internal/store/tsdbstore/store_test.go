package tsdbstore_test

import (
	"context"
	"math"
	"testing"

	"github.com/prometheus/prometheus/model/histogram"
	"github.com/prometheus/prometheus/model/labels"
	"github.com/prometheus/prometheus/storage"
	"github.com/prometheus/prometheus/tsdb"
	"github.com/prometheus/prometheus/tsdb/chunkenc"
	"github.com/stretchr/testify/require"
	"google.golang.org/grpc/codes"
	"google.golang.org/grpc/status"

	"github.com/strata-io/strata/internal/store/storetest"
	"github.com/strata-io/strata/internal/store/tsdbstore"
	"github.com/strata-io/strata/pkg/infopb"
	"github.com/strata-io/strata/pkg/storepb"
)

func floats(mint, n, step int64) []storetest.Sample {
	out := make([]storetest.Sample, 0, n)
	for i := range n {
		out = append(out, storetest.Sample{T: mint + i*step, F: float64(i)})
	}
	return out
}

func eqMatcher(name, value string) *storepb.LabelMatcher {
	return &storepb.LabelMatcher{Type: storepb.LabelMatcher_EQ, Name: name, Value: value}
}

func TestSeries_ExternalLabelWinsAndOrder(t *testing.T) {
	db := openDB(t, []storage.Series{
		storetest.NewSeries(labels.FromStrings("__name__", "m"), floats(0, 10, 1000)),
		storetest.NewSeries(labels.FromStrings("__name__", "m", "app", "x"), floats(0, 10, 1000)),
		storetest.NewSeries(labels.FromStrings("__name__", "m", "region", "us", "z", "1"), floats(0, 10, 1000)),
	}, nil, false)
	c := storepb.ServerAsClient(tsdbstore.New(db, tsdbstore.Config{ExternalLabels: labels.FromStrings("region", "eu")}, nil))

	got, _, _, err := storetest.CollectSeries(t.Context(), c, &storepb.SeriesRequest{
		MinTime: 0, MaxTime: 10_000, Matchers: []*storepb.LabelMatcher{eqMatcher("__name__", "m")},
	})
	require.NoError(t, err)
	var lsets []string
	for _, s := range got {
		lsets = append(lsets, storepb.LabelsFromProto(s.GetLabels()).String())
	}
	require.Equal(t, []string{
		`{__name__="m", app="x", region="eu"}`,
		`{__name__="m", region="eu"}`,
		`{__name__="m", region="eu", z="1"}`, // the series' own region="us" is replaced
	}, lsets)

	// A matcher on the external label is checked against it, not against the
	// series' own label of that name.
	got, _, _, err = storetest.CollectSeries(t.Context(), c, &storepb.SeriesRequest{
		MinTime: 0, MaxTime: 10_000, Matchers: []*storepb.LabelMatcher{eqMatcher("__name__", "m"), eqMatcher("region", "us")},
	})
	require.NoError(t, err)
	require.Empty(t, got)
}

func TestSeries_LimitKeepsFirstSorted(t *testing.T) {
	var series []storage.Series
	for _, v := range []string{"a", "b", "c", "d"} {
		series = append(series, storetest.NewSeries(labels.FromStrings("__name__", "m", "v", v), floats(0, 3, 1000)))
	}
	db := openDB(t, series, nil, false)
	for _, ext := range []labels.Labels{labels.EmptyLabels(), labels.FromStrings("replica", "1")} {
		c := storepb.ServerAsClient(tsdbstore.New(db, tsdbstore.Config{ExternalLabels: ext}, nil))
		got, _, _, err := storetest.CollectSeries(t.Context(), c, &storepb.SeriesRequest{
			MinTime: 0, MaxTime: 10_000, Matchers: []*storepb.LabelMatcher{eqMatcher("__name__", "m")}, Limit: 2,
		})
		require.NoError(t, err)
		require.Len(t, got, 2)
		require.Equal(t, "a", storepb.LabelsFromProto(got[0].GetLabels()).Get("v"))
		require.Equal(t, "b", storepb.LabelsFromProto(got[1].GetLabels()).Get("v"))
	}
}

func TestSeries_WithoutReplicaLabelsKeepsEqualSeriesApart(t *testing.T) {
	db := openDB(t, []storage.Series{
		storetest.NewSeries(labels.FromStrings("__name__", "m", "pod", "a"), floats(0, 3, 1000)),
		storetest.NewSeries(labels.FromStrings("__name__", "m", "pod", "b"), floats(5000, 3, 1000)),
	}, nil, false)
	c := storepb.ServerAsClient(tsdbstore.New(db, tsdbstore.Config{}, nil))
	got, _, _, err := storetest.CollectSeries(t.Context(), c, &storepb.SeriesRequest{
		MinTime: 0, MaxTime: 10_000, Matchers: []*storepb.LabelMatcher{eqMatcher("__name__", "m")}, WithoutReplicaLabels: []string{"pod"},
	})
	require.NoError(t, err)
	require.Len(t, got, 2, "equal series are not merged")
	for _, s := range got {
		require.Equal(t, `{__name__="m"}`, storepb.LabelsFromProto(s.GetLabels()).String())
	}
}

func TestSeries_Errors(t *testing.T) {
	db := openDB(t, nil, nil, false)
	c := storepb.ServerAsClient(tsdbstore.New(db, tsdbstore.Config{}, nil))
	_, _, _, err := storetest.CollectSeries(t.Context(), c, &storepb.SeriesRequest{
		MaxTime:  1,
		Matchers: []*storepb.LabelMatcher{{Type: storepb.LabelMatcher_RE, Name: "a", Value: "("}},
	})
	require.Equal(t, codes.InvalidArgument, status.Code(err), "bad regex: %v", err)

	c = storepb.ServerAsClient(tsdbstore.New(downQueryable{}, tsdbstore.Config{}, nil))
	_, _, _, err = storetest.CollectSeries(t.Context(), c, &storepb.SeriesRequest{MaxTime: 1, Matchers: []*storepb.LabelMatcher{eqMatcher("a", "b")}})
	require.Equal(t, codes.Internal, status.Code(err), "backend down: %v", err)
	require.ErrorContains(t, err, "backend down")

	ctx, cancel := context.WithCancel(t.Context())
	cancel()
	c = serveGRPC(t, tsdbstore.New(db, tsdbstore.Config{}, nil))
	_, _, _, err = storetest.CollectSeries(ctx, c, &storepb.SeriesRequest{MaxTime: 1, Matchers: []*storepb.LabelMatcher{eqMatcher("a", "b")}})
	require.Equal(t, codes.Canceled, status.Code(err), "cancelled: %v", err)
}

// TestSeries_ReencodesNewChunkEncodings checks that XOR2 and histogram chunks
// with start timestamps, which the StoreAPI cannot carry, are sent as XOR and
// HISTOGRAM chunks with the same samples.
func TestSeries_ReencodesNewChunkEncodings(t *testing.T) {
	hs := make([]storetest.Sample, 0, 30)
	for i := range int64(30) {
		h := &histogram.Histogram{
			Schema: 0, Count: uint64(3 + 3*i), Sum: float64(i),
			PositiveSpans: []histogram.Span{{Offset: 0, Length: 3}}, PositiveBuckets: []int64{1 + i, 0, 0},
		}
		hs = append(hs, storetest.Sample{T: i * 1000, H: h})
	}
	fs := floats(0, 500, 1000)
	db := openDB(t, []storage.Series{
		storetest.NewSeries(labels.FromStrings("__name__", "f"), fs),
		storetest.NewSeries(labels.FromStrings("__name__", "h"), hs),
	}, func(o *tsdb.Options) {
		o.FloatChunkEncoding = chunkenc.EncXOR2
		o.EnableHistogramSTEncoding = true
	}, false)

	// The storage does hold the new encodings.
	q, err := db.ChunkQuerier(math.MinInt64, math.MaxInt64)
	require.NoError(t, err)
	set := q.Select(t.Context(), true, nil, labels.MustNewMatcher(labels.MatchRegexp, "__name__", "f|h"))
	var encs []chunkenc.Encoding
	for set.Next() {
		it := set.At().Iterator(nil)
		require.True(t, it.Next())
		encs = append(encs, it.At().Chunk.Encoding())
	}
	require.NoError(t, set.Err())
	require.NoError(t, q.Close())
	require.Equal(t, []chunkenc.Encoding{chunkenc.EncXOR2, chunkenc.EncHistogramST}, encs)

	c := storepb.ServerAsClient(tsdbstore.New(db, tsdbstore.Config{}, nil))
	got, _, _, err := storetest.CollectSeries(t.Context(), c, &storepb.SeriesRequest{
		MinTime: 0, MaxTime: math.MaxInt64, Matchers: []*storepb.LabelMatcher{{Type: storepb.LabelMatcher_RE, Name: "__name__", Value: "f|h"}},
	})
	require.NoError(t, err)
	require.Len(t, got, 2)
	for i, want := range [][]storetest.Sample{fs, hs} {
		wantEnc := []storepb.Chunk_Encoding{storepb.Chunk_XOR, storepb.Chunk_HISTOGRAM}[i]
		for _, ch := range got[i].GetChunks() {
			require.Equal(t, wantEnc, ch.GetRaw().GetType())
		}
		samples, err := storetest.DecodeSeries(got[i])
		require.NoError(t, err)
		require.Len(t, samples, len(want))
		for j := range want {
			require.True(t, want[j].Equal(samples[j]), "sample %d: want %s got %s", j, want[j], samples[j])
		}
	}
}

func TestInfo(t *testing.T) {
	db := openDB(t, []storage.Series{storetest.NewSeries(labels.FromStrings("__name__", "m"), floats(5000, 3, 1000))}, nil, false)
	ext := labels.FromStrings("cluster", "c1", "replica", "r0")
	resp, err := tsdbstore.New(db, tsdbstore.Config{ExternalLabels: ext, ComponentType: "receive"}, nil).Info(t.Context(), &infopb.InfoRequest{})
	require.NoError(t, err)
	require.Equal(t, "receive", resp.GetComponentType())
	require.Equal(t, []labels.Labels{ext}, storepb.LabelSetsFromProto(resp.GetLabelSets()))
	require.Equal(t, int64(5000), resp.GetStore().GetMinTime(), "oldest sample")
	require.Equal(t, int64(math.MaxInt64), resp.GetStore().GetMaxTime())
	require.True(t, resp.GetStore().GetSupportsWithoutReplicaLabels())

	resp, err = tsdbstore.New(downQueryable{}, tsdbstore.Config{}, nil).Info(t.Context(), &infopb.InfoRequest{})
	require.NoError(t, err)
	require.Empty(t, resp.GetLabelSets())
	require.Equal(t, int64(math.MinInt64), resp.GetStore().GetMinTime(), "no start time known")
}

func TestLabelValues_EmptyLabelName(t *testing.T) {
	db := openDB(t, nil, nil, false)
	_, err := tsdbstore.New(db, tsdbstore.Config{}, nil).LabelValues(t.Context(), &storepb.LabelValuesRequest{})
	require.Equal(t, codes.InvalidArgument, status.Code(err))
}
