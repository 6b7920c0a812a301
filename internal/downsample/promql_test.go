package downsample

import (
	"context"
	"math"
	"math/rand/v2"
	"testing"
	"time"

	"github.com/prometheus/common/model"
	"github.com/prometheus/prometheus/model/labels"
	"github.com/prometheus/prometheus/storage"
	"github.com/prometheus/prometheus/tsdb/chunkenc"
	"github.com/prometheus/prometheus/tsdb/chunks"
	"github.com/prometheus/prometheus/util/annotations"
	"github.com/stretchr/testify/require"

	"github.com/strata-io/strata/internal/testkit"
)

// iterQueryable serves one series per metric name, each read through the
// iterator its function returns: the raw data and its downsampled forms side
// by side, so that PromQL can compare them.
type iterQueryable map[string]func() chunkenc.Iterator

func (q iterQueryable) Querier(int64, int64) (storage.Querier, error) { return q, nil }

func (q iterQueryable) Select(_ context.Context, _ bool, _ *storage.SelectHints, ms ...*labels.Matcher) storage.SeriesSet {
	for name, fn := range q {
		lset := labels.FromStrings(model.MetricNameLabel, name)
		match := true
		for _, m := range ms {
			match = match && m.Matches(lset.Get(m.Name))
		}
		if match {
			return &oneSeriesSet{s: &storage.SeriesEntry{
				Lset:             lset,
				SampleIteratorFn: func(chunkenc.Iterator) chunkenc.Iterator { return fn() },
			}}
		}
	}
	return storage.EmptySeriesSet()
}

// oneSeriesSet yields s once.
type oneSeriesSet struct {
	s    storage.Series
	done bool
}

func (s *oneSeriesSet) Next() bool {
	ok := !s.done
	s.done = true
	return ok
}
func (s *oneSeriesSet) At() storage.Series              { return s.s }
func (*oneSeriesSet) Err() error                        { return nil }
func (*oneSeriesSet) Warnings() annotations.Annotations { return nil }

func (iterQueryable) LabelValues(context.Context, string, *storage.LabelHints, ...*labels.Matcher) ([]string, annotations.Annotations, error) {
	return nil, nil, nil
}

func (iterQueryable) LabelNames(context.Context, *storage.LabelHints, ...*labels.Matcher) ([]string, annotations.Annotations, error) {
	return nil, nil, nil
}

func (iterQueryable) Close() error { return nil }

// promqlData is 48h of two counters and one gauge scraped every 15s from
// t=0, with their 5m downsampled chunks. The request counter grows like web
// traffic (a daily cycle, 10% noise per scrape, a restart about every 6h);
// the noisy counter grows by a uniformly random 0..10 per scrape.
type promqlData struct {
	counter, noisy, gauge []fsample
	q                     iterQueryable
}

func newPromqlData(t *testing.T) promqlData {
	rng := rand.New(rand.NewPCG(11, 12))
	var d promqlData
	c, n := 0.0, 0.0
	for i := range 48 * 240 {
		ts := int64(i) * 15_000
		if i%1500 == 1499 { // a reset about every 6h15m
			c, n = 0, 0
		}
		perSec := 100 + 30*math.Sin(2*math.Pi*float64(ts)/86400_000)
		c += 15 * perSec * (0.9 + 0.2*rng.Float64())
		n += rng.Float64() * 10
		d.counter = append(d.counter, fsample{ts, c})
		d.noisy = append(d.noisy, fsample{ts, n})
		d.gauge = append(d.gauge, fsample{ts, 500 + 100*rng.NormFloat64()})
	}
	downsample := func(ss []fsample) []chunks.Meta {
		m, err := Downsample(listIterator(ss), Resolution5m)
		require.NoError(t, err)
		return m
	}
	cm, nm, gm := downsample(d.counter), downsample(d.noisy), downsample(d.gauge)
	c1h, err := Aggr(asAggrChunks(t, cm), Resolution1h)
	require.NoError(t, err)
	g1h, err := Aggr(asAggrChunks(t, gm), Resolution1h)
	require.NoError(t, err)
	rawC, rawN, rawG := rawChunks(t, d.counter), rawChunks(t, d.noisy), rawChunks(t, d.gauge)
	d.q = iterQueryable{
		"raw_counter":   func() chunkenc.Iterator { return NewChunksIterator(rawC) },
		"raw_noisy":     func() chunkenc.Iterator { return NewChunksIterator(rawN) },
		"raw_gauge":     func() chunkenc.Iterator { return NewChunksIterator(rawG) },
		"agg_counter":   func() chunkenc.Iterator { return NewCounterIterator(aggrChunks(t, cm, AggrCounter)) },
		"agg_noisy":     func() chunkenc.Iterator { return NewCounterIterator(aggrChunks(t, nm, AggrCounter)) },
		"agg1h_counter": func() chunkenc.Iterator { return NewCounterIterator(aggrChunks(t, c1h, AggrCounter)) },
		"agg1h_sum":     func() chunkenc.Iterator { return NewChunksIterator(aggrChunks(t, g1h, AggrSum)) },
		"agg1h_count":   func() chunkenc.Iterator { return NewChunksIterator(aggrChunks(t, g1h, AggrCount)) },
		"agg1h_max":     func() chunkenc.Iterator { return NewChunksIterator(aggrChunks(t, g1h, AggrMax)) },
		"agg_sum":       func() chunkenc.Iterator { return NewChunksIterator(aggrChunks(t, gm, AggrSum)) },
		"agg_count":     func() chunkenc.Iterator { return NewChunksIterator(aggrChunks(t, gm, AggrCount)) },
		"agg_min":       func() chunkenc.Iterator { return NewChunksIterator(aggrChunks(t, gm, AggrMin)) },
		"agg_max":       func() chunkenc.Iterator { return NewChunksIterator(aggrChunks(t, gm, AggrMax)) },
		"agg_avg": func() chunkenc.Iterator {
			return NewAverageIterator(aggrChunks(t, gm, AggrSum), aggrChunks(t, gm, AggrCount))
		},
	}
	return d
}

func TestPromQLRateOverCounterAggregate(t *testing.T) {
	d := newPromqlData(t)
	end := d.counter[len(d.counter)-1].t
	for _, tc := range []struct {
		name, raw, agg string
		step           time.Duration
		worst          float64 // largest relative error of one point
	}{
		{name: "rate 1h", raw: "rate(raw_counter[1h])", agg: "rate(agg_counter[1h])", step: 5 * time.Minute, worst: 0.02},
		{name: "rate 1h unaligned steps", raw: "rate(raw_counter[1h])", agg: "rate(agg_counter[1h])", step: 7*time.Minute + 13*time.Second, worst: 0.02},
		// Two windows per range: the noise of each 5m window shows.
		{name: "rate 10m", raw: "rate(raw_counter[10m])", agg: "rate(agg_counter[10m])", step: 5 * time.Minute, worst: 0.03},
		{name: "increase 6h", raw: "increase(raw_counter[6h])", agg: "increase(agg_counter[6h])", step: 17 * time.Minute, worst: 0.02},
		// At 1h a range is known to the hour: rate() over the windows in
		// (T-12h, T] measures about [T-11.5h, T+0.5h) of raw increase;
		// with the daily cycle's slope that is up to ~3%.
		{name: "rate 12h at 1h resolution", raw: "rate(raw_counter[12h])", agg: "rate(agg1h_counter[12h])", step: 10 * time.Minute, worst: 0.04},
		{name: "increase 24h at 1h resolution", raw: "increase(raw_counter[24h])", agg: "increase(agg1h_counter[24h])", step: 10 * time.Minute, worst: 0.02},
		// Uniform noise per scrape: the up to 5m that rate extrapolates at
		// each end of the range carries a few percent of noise, without bias.
		{name: "rate 1h of a noisy counter", raw: "rate(raw_noisy[1h])", agg: "rate(agg_noisy[1h])", step: 5 * time.Minute, worst: 0.05},
		{name: "rate 6h of a noisy counter", raw: "rate(raw_noisy[6h])", agg: "rate(agg_noisy[6h])", step: 5 * time.Minute, worst: 0.01},
	} {
		t.Run(tc.name, func(t *testing.T) {
			raw := testkit.EvalRange(t, d.q, tc.raw, 6*3600_000, end, tc.step)
			agg := testkit.EvalRange(t, d.q, tc.agg, 6*3600_000, end, tc.step)
			require.Greater(t, len(raw), 100)
			worst, bias := 0.0, 0.0
			for ts, want := range raw {
				got, ok := agg[ts]
				require.True(t, ok, "no downsampled point at t=%d", ts)
				require.InEpsilon(t, want, got, tc.worst, "t=%d", ts)
				worst = math.Max(worst, math.Abs(got-want)/want)
				bias += (got - want) / want / float64(len(raw))
			}
			// A reset mishandled at a chunk boundary would add hours of
			// increase to every range that covers it: far more than this.
			require.Less(t, math.Abs(bias), 0.005, "mean relative error")
			t.Logf("%d points, worst relative error %.4f, mean %.5f", len(raw), worst, bias)
		})
	}
}

func TestPromQLOverTimeFromAggregates(t *testing.T) {
	d := newPromqlData(t)
	end := d.gauge[len(d.gauge)-1].t
	// Evaluate at the end of windows (the last raw sample of each window),
	// so that each range holds whole windows only.
	at5m := int64(3600_000 + 285_000)
	at1h := int64(6*3600_000 + 3585_000)
	for _, tc := range []struct {
		name, raw, agg string
		tolerance      float64
		start          int64
		step           time.Duration
	}{
		{name: "avg_over_time from sum and count", raw: "avg_over_time(raw_gauge[1h])", agg: "sum_over_time(agg_sum[1h]) / sum_over_time(agg_count[1h])", tolerance: 1e-9, start: at5m, step: 5 * time.Minute},
		{name: "avg_over_time of the average", raw: "avg_over_time(raw_gauge[1h])", agg: "avg_over_time(agg_avg[1h])", tolerance: 1e-9, start: at5m, step: 5 * time.Minute},
		{name: "count_over_time", raw: "count_over_time(raw_gauge[1h])", agg: "sum_over_time(agg_count[1h])", start: at5m, step: 5 * time.Minute},
		{name: "sum_over_time", raw: "sum_over_time(raw_gauge[1h])", agg: "sum_over_time(agg_sum[1h])", tolerance: 1e-9, start: at5m, step: 5 * time.Minute},
		{name: "min_over_time", raw: "min_over_time(raw_gauge[1h])", agg: "min_over_time(agg_min[1h])", start: at5m, step: 5 * time.Minute},
		{name: "max_over_time", raw: "max_over_time(raw_gauge[1h])", agg: "max_over_time(agg_max[1h])", start: at5m, step: 5 * time.Minute},
		{name: "avg_over_time at 1h resolution", raw: "avg_over_time(raw_gauge[6h])", agg: "sum_over_time(agg1h_sum[6h]) / sum_over_time(agg1h_count[6h])", tolerance: 1e-9, start: at1h, step: time.Hour},
		{name: "max_over_time at 1h resolution", raw: "max_over_time(raw_gauge[6h])", agg: "max_over_time(agg1h_max[6h])", start: at1h, step: time.Hour},
	} {
		t.Run(tc.name, func(t *testing.T) {
			raw := testkit.EvalRange(t, d.q, tc.raw, tc.start, end, tc.step)
			agg := testkit.EvalRange(t, d.q, tc.agg, tc.start, end, tc.step)
			require.Greater(t, len(raw), 40)
			require.Len(t, agg, len(raw))
			for ts, want := range raw {
				if tc.tolerance == 0 {
					require.Equal(t, want, agg[ts], "t=%d", ts)
				} else {
					require.InEpsilon(t, want, agg[ts], tc.tolerance, "t=%d", ts)
				}
			}
		})
	}
}
