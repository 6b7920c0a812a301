package bucketstore_test

import (
	"testing"

	"github.com/prometheus/common/model"
	"github.com/prometheus/prometheus/model/labels"
	"github.com/stretchr/testify/require"

	"github.com/strata-io/strata/internal/store/storetest"
	"github.com/strata-io/strata/pkg/storepb"
)

// BenchmarkSeries measures Series over one block of 20000 series (two
// samples each) in an in-memory bucket, with the index pages a query needs
// already fetched by a first run.
func BenchmarkSeries(b *testing.B) {
	minT := storetest.DefaultMinTime
	dirs := writeBlocks(b, bigSeries(20000), [][2]int64{{minT, minT + hour}}, nil)
	bkt := newCountingBucket()
	uploadBlock(b, bkt, dirs[0], labels.FromStrings("region", "eu"), 0)
	s := newStore(b, testConfig(), bkt)
	c := storepb.ServerAsClient(s)
	for _, bc := range []struct {
		name string
		ms   []*labels.Matcher
		want int
	}{
		{name: "one_metric_400_series", ms: []*labels.Matcher{labels.MustNewMatcher(labels.MatchEqual, model.MetricNameLabel, "metric_07")}, want: 400},
		{name: "regex_2000_series", ms: []*labels.Matcher{labels.MustNewMatcher(labels.MatchRegexp, model.MetricNameLabel, "metric_0[0-4]")}, want: 2000},
		{name: "all_20000_series", ms: []*labels.Matcher{labels.MustNewMatcher(labels.MatchRegexp, model.MetricNameLabel, ".+")}, want: 20000},
	} {
		b.Run(bc.name, func(b *testing.B) {
			ms, err := storepb.MatchersToProto(bc.ms...)
			require.NoError(b, err)
			req := &storepb.SeriesRequest{MinTime: minT, MaxTime: minT + hour, Matchers: ms, PartialResponseStrategy: storepb.PartialResponseStrategy_ABORT}
			b.ReportAllocs()
			for b.Loop() {
				got, _, _, err := storetest.CollectSeries(b.Context(), c, req)
				require.NoError(b, err)
				require.Len(b, got, bc.want)
			}
		})
	}
}
