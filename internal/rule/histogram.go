package rule

import (
	"fmt"
	"math"
	"slices"

	"github.com/prometheus/common/model"
	"github.com/prometheus/prometheus/model/histogram"
)

// Limits of the exponential schemas of native histograms.
const (
	minSchema = -4
	maxSchema = 8
)

// jsonBucket is one bucket of a histogram as the query API shows it, at
// its index in the histogram's schema.
type jsonBucket struct {
	index int32
	count float64
}

// histogramFromJSON rebuilds an exponential native histogram from the
// buckets the query API lists (bounds and counts of its non-empty
// buckets): the schema follows from the ratio of a bucket's bounds, each
// bucket's index from its upper (or, negative, lower) bound. Histograms
// with custom buckets cannot be told from their bounds and are refused.
func histogramFromJSON(in *model.SampleHistogram) (*histogram.FloatHistogram, error) {
	fh := &histogram.FloatHistogram{Count: float64(in.Count), Sum: float64(in.Sum)}
	schema, found := int32(0), false
	var pos, neg []jsonBucket
	for _, b := range in.Buckets {
		lo, hi, n := float64(b.Lower), float64(b.Upper), float64(b.Count)
		switch {
		case math.IsInf(lo, 0) || math.IsInf(hi, 0) || math.IsNaN(lo) || math.IsNaN(hi):
			return nil, fmt.Errorf("histogram bucket (%g, %g]: custom bucket histograms are not supported", lo, hi)
		case lo <= 0 && hi >= 0:
			fh.ZeroThreshold, fh.ZeroCount = hi, n
			continue
		}
		a, z := lo, hi // |bounds|, small then large
		if hi < 0 {
			a, z = -hi, -lo
		}
		s, err := schemaOf(a, z)
		if err != nil {
			return nil, err
		}
		if found && s != schema {
			return nil, fmt.Errorf("histogram bucket (%g, %g]: bounds of schema %d among buckets of schema %d: custom bucket histograms are not supported", lo, hi, s, schema)
		}
		schema, found = s, true
		idx := int32(math.Round(math.Log2(z) * math.Exp2(float64(s))))
		if hi < 0 {
			neg = append(neg, jsonBucket{idx, n})
		} else {
			pos = append(pos, jsonBucket{idx, n})
		}
	}
	fh.Schema = schema
	fh.PositiveSpans, fh.PositiveBuckets = spansOf(pos)
	fh.NegativeSpans, fh.NegativeBuckets = spansOf(neg)
	if err := fh.Validate(); err != nil {
		return nil, fmt.Errorf("rebuild histogram: %w", err)
	}
	return fh, nil
}

// schemaOf returns the schema whose buckets have bounds with the ratio
// z/a: 2^(2^-schema).
func schemaOf(a, z float64) (int32, error) {
	if a <= 0 || z <= a {
		return 0, fmt.Errorf("histogram bucket bounds %g, %g: not an exponential bucket", a, z)
	}
	f := -math.Log2(math.Log2(z / a))
	s := math.Round(f)
	if math.Abs(f-s) > 1e-6 || s < minSchema || s > maxSchema {
		return 0, fmt.Errorf("histogram bucket bounds %g, %g: not an exponential bucket: custom bucket histograms are not supported", a, z)
	}
	return int32(s), nil
}

// spansOf returns the spans and absolute counts of buckets.
func spansOf(bs []jsonBucket) ([]histogram.Span, []float64) {
	if len(bs) == 0 {
		return nil, nil
	}
	slices.SortFunc(bs, func(x, y jsonBucket) int { return int(x.index) - int(y.index) })
	var (
		spans  []histogram.Span
		counts []float64
		next   int32
	)
	for i, b := range bs {
		switch {
		case i == 0:
			spans = append(spans, histogram.Span{Offset: b.index, Length: 1})
		case b.index == next:
			spans[len(spans)-1].Length++
		default:
			spans = append(spans, histogram.Span{Offset: b.index - next, Length: 1})
		}
		counts = append(counts, b.count)
		next = b.index + 1
	}
	return spans, counts
}
