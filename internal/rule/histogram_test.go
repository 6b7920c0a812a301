package rule

import (
	"encoding/json"
	"fmt"
	"strconv"
	"strings"
	"testing"

	"github.com/prometheus/common/model"
	"github.com/prometheus/prometheus/model/histogram"
	"github.com/stretchr/testify/require"
)

// histogramJSON renders h as Prometheus' query API does: count, sum and
// the non-empty buckets with their bounds.
func histogramJSON(h *histogram.FloatHistogram) string {
	f := func(v float64) string { return strconv.Quote(strconv.FormatFloat(v, 'f', -1, 64)) }
	var buckets []string
	it := h.AllBucketIterator()
	for it.Next() {
		b := it.At()
		if b.Count == 0 {
			continue
		}
		rule := 0
		if b.LowerInclusive && b.UpperInclusive {
			rule = 3
		} else if b.LowerInclusive {
			rule = 1
		}
		buckets = append(buckets, fmt.Sprintf("[%d,%s,%s,%s]", rule, f(b.Lower), f(b.Upper), f(b.Count)))
	}
	return fmt.Sprintf(`{"count":%s,"sum":%s,"buckets":[%s]}`, f(h.Count), f(h.Sum), strings.Join(buckets, ","))
}

func TestHistogramFromJSON(t *testing.T) {
	for name, h := range map[string]*histogram.FloatHistogram{
		"schema 0": {
			Schema: 0, Count: 10, Sum: 42.5, ZeroThreshold: 1e-128, ZeroCount: 1,
			PositiveSpans: []histogram.Span{{Offset: 0, Length: 2}, {Offset: 3, Length: 1}}, PositiveBuckets: []float64{2, 3, 4},
		},
		"schema 3 with negatives": {
			Schema: 3, Count: 9, Sum: -1.5, ZeroThreshold: 0.001, ZeroCount: 2,
			PositiveSpans: []histogram.Span{{Offset: -5, Length: 1}}, PositiveBuckets: []float64{3},
			NegativeSpans: []histogram.Span{{Offset: 2, Length: 2}}, NegativeBuckets: []float64{1, 3},
		},
		"schema -2, no zero bucket": {
			Schema: -2, Count: 5, Sum: 1e6,
			PositiveSpans: []histogram.Span{{Offset: 1, Length: 1}, {Offset: 1, Length: 1}}, PositiveBuckets: []float64{1, 4},
		},
		"empty": {Schema: 0, Count: 0, Sum: 0},
	} {
		t.Run(name, func(t *testing.T) {
			var in model.SampleHistogram
			require.NoError(t, json.Unmarshal([]byte(histogramJSON(h)), &in))
			got, err := histogramFromJSON(&in)
			require.NoError(t, err)
			if h.ZeroCount == 0 {
				got.ZeroThreshold = h.ZeroThreshold
			}
			require.True(t, h.Equals(got), "want %s\ngot  %s", h, got)
		})
	}
}

func TestHistogramFromJSONRefusesCustomBuckets(t *testing.T) {
	h := &histogram.FloatHistogram{
		Schema: histogram.CustomBucketsSchema, Count: 3, Sum: 1,
		CustomValues:  []float64{0.1, 0.25, 1},
		PositiveSpans: []histogram.Span{{Offset: 0, Length: 3}}, PositiveBuckets: []float64{1, 1, 1},
	}
	var in model.SampleHistogram
	require.NoError(t, json.Unmarshal([]byte(histogramJSON(h)), &in))
	_, err := histogramFromJSON(&in)
	require.ErrorContains(t, err, "custom bucket histograms are not supported")
}
