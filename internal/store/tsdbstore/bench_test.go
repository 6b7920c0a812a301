package tsdbstore_test

import (
	"fmt"
	"testing"

	"github.com/prometheus/prometheus/model/labels"
	"github.com/prometheus/prometheus/storage"
	"github.com/stretchr/testify/require"

	"github.com/strata-io/strata/internal/store/storetest"
	"github.com/strata-io/strata/internal/store/tsdbstore"
	"github.com/strata-io/strata/pkg/storepb"
)

// BenchmarkSeries measures a full Series call through the in-process client:
// select, chunk copy, labels with external labels, sorting.
func BenchmarkSeries(b *testing.B) {
	for _, bc := range []struct {
		name              string
		series, samples   int
		matcher           *storepb.LabelMatcher
		skipChunks, noExt bool
	}{
		{name: "10k_series_x_10_samples", series: 10_000, samples: 10, matcher: &storepb.LabelMatcher{Type: storepb.LabelMatcher_EQ, Name: "__name__", Value: "m"}},
		{name: "10k_series_x_10_samples_no_ext", series: 10_000, samples: 10, noExt: true, matcher: &storepb.LabelMatcher{Type: storepb.LabelMatcher_EQ, Name: "__name__", Value: "m"}},
		{name: "10k_series_skip_chunks", series: 10_000, samples: 10, skipChunks: true, matcher: &storepb.LabelMatcher{Type: storepb.LabelMatcher_EQ, Name: "__name__", Value: "m"}},
		{name: "10_series_x_100k_samples", series: 10, samples: 100_000, matcher: &storepb.LabelMatcher{Type: storepb.LabelMatcher_EQ, Name: "__name__", Value: "m"}},
		{name: "10k_series_regex_1pct", series: 10_000, samples: 10, matcher: &storepb.LabelMatcher{Type: storepb.LabelMatcher_RE, Name: "i", Value: "1.*5"}},
	} {
		b.Run(bc.name, func(b *testing.B) {
			series := make([]storage.Series, 0, bc.series)
			for i := range bc.series {
				ss := make([]storetest.Sample, 0, bc.samples)
				for j := range int64(bc.samples) {
					ss = append(ss, storetest.Sample{T: j * 15_000, F: float64(j)})
				}
				series = append(series, storetest.NewSeries(labels.FromStrings("__name__", "m", "i", fmt.Sprint(i), "job", "bench"), ss))
			}
			db := openDB(b, series, nil, false)
			ext := labels.FromStrings("cluster", "c1", "replica", "r0")
			if bc.noExt {
				ext = labels.EmptyLabels()
			}
			c := storepb.ServerAsClient(tsdbstore.New(db, tsdbstore.Config{ExternalLabels: ext}, nil))
			req := &storepb.SeriesRequest{MinTime: 0, MaxTime: int64(bc.samples) * 15_000, Matchers: []*storepb.LabelMatcher{bc.matcher}, SkipChunks: bc.skipChunks}
			b.ReportAllocs()
			b.ResetTimer()
			for b.Loop() {
				got, _, _, err := storetest.CollectSeries(b.Context(), c, req)
				require.NoError(b, err)
				require.NotEmpty(b, got)
			}
		})
	}
}
