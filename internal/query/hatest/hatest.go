// Package hatest holds the data of an HA Prometheus pair as production has
// it, and the check that the querier deduplicates it: used by the tests of
// every StoreAPI server (one store serving both replicas, one store per
// replica, sidecars, a mix) and of the compactor's offline deduplication.
//
// The pair scrapes NumSeries counters every 15 s for Duration: replica "1"
// scrapes 7 s after replica "0" and its counters are 1,000 lower (its own
// view of the target since it started); replica "0" is down for 20 minutes
// in the middle. Deduplicated, the data must read as one replica that never
// missed a scrape: one sample per scrape, increase() and rate() of one
// counter, no spike where the replicas switch.
package hatest

import (
	"context"
	"fmt"
	"math"
	"testing"
	"time"

	"github.com/prometheus/prometheus/model/histogram"
	"github.com/prometheus/prometheus/model/labels"
	"github.com/prometheus/prometheus/promql"
	"github.com/prometheus/prometheus/storage"
	"github.com/prometheus/prometheus/tsdb/chunkenc"
	"github.com/prometheus/prometheus/tsdb/chunks"
	"github.com/stretchr/testify/require"
)

const (
	// ReplicaLabel is the replica label of the pair.
	ReplicaLabel = "replica"
	// NumSeries is the number of counters each replica scrapes.
	NumSeries = 80
	// Interval is the scrape interval, ms.
	Interval = int64(15_000)
	// Phase is how much later replica "1" scrapes, ms.
	Phase = int64(7_000)
	// Duration is the time the pair scrapes, ms.
	Duration = int64(4 * 3600_000)
	// DownFrom is when the outage of replica "0" starts, ms after the start.
	DownFrom = int64(100 * 60_000)
	// DownTo is when the outage ends (exclusive): it is [DownFrom, DownTo).
	DownTo = DownFrom + 20*60_000
	// lag is how much lower the counters of replica "1" are.
	lag = 1000
)

// rateOf is the rate (per second) of series i.
func rateOf(i int) float64 { return 1 + 0.1*float64(i) }

// MaxRate is the highest per-second rate of the pair's counters.
func MaxRate() float64 { return rateOf(NumSeries - 1) }

// TrueIncrease is the sum over the counters of their increase between the
// first and the last scrape of a replica.
func TrueIncrease() float64 {
	var sum float64
	for i := range NumSeries {
		sum += rateOf(i) * float64(Duration-Interval) / 1000
	}
	return sum
}

// SamplesPerReplica is the number of samples one replica that never missed
// a scrape would have.
func SamplesPerReplica() int { return NumSeries * int(Duration/Interval) }

// Replica returns the series of one replica (0 or 1) starting at start (ms),
// with the replica label among their labels when withLabel (as the sidecar
// and the blocks' external labels add it, leave it out).
func Replica(start int64, replica int, withLabel bool) []storage.Series {
	out := make([]storage.Series, 0, NumSeries)
	for i := range NumSeries {
		b := labels.NewBuilder(labels.FromStrings("__name__", "http_requests_total", "job", "api", "instance", fmt.Sprintf("10.0.%d.%d:8080", i/10, i%10)))
		if withLabel {
			b.Set(ReplicaLabel, fmt.Sprint(replica))
		}
		var ss []chunks.Sample
		for off := int64(0); off < Duration; off += Interval {
			ts := off + int64(replica)*Phase
			if replica == 0 && off >= DownFrom && off < DownTo {
				continue
			}
			// Both replicas read the same target counter; replica 1
			// started later and counts 1,000 less.
			v := 5e5 + rateOf(i)*float64(ts)/1000 - float64(replica)*lag
			ss = append(ss, sample{t: start + ts, f: v})
		}
		out = append(out, storage.NewListSeries(b.Labels(), ss))
	}
	return out
}

// Check evaluates, at the end of the pair's data (which started at start),
// what a user looks at over q (a Queryable that deduplicates by
// ReplicaLabel) and fails t if the replicas were not deduplicated: the
// sample count of one replica, the increase of one counter, no rate spike.
func Check(t testing.TB, q storage.Queryable, start int64) {
	t.Helper()
	engine := promql.NewEngine(promql.EngineOpts{MaxSamples: 50_000_000, Timeout: time.Minute, LookbackDelta: 5 * time.Minute})
	end := time.UnixMilli(start + Duration - 1)
	window := fmt.Sprintf("[%ds]", Duration/1000)
	instant := func(expr string) float64 {
		t.Helper()
		qry, err := engine.NewInstantQuery(context.Background(), q, nil, expr, end)
		require.NoError(t, err)
		defer qry.Close()
		res := qry.Exec(context.Background())
		require.NoError(t, res.Err, expr)
		v, err := res.Vector()
		require.NoError(t, err, expr)
		require.Len(t, v, 1, expr)
		return v[0].F
	}

	count := instant("sum(count_over_time(http_requests_total" + window + "))")
	require.InDelta(t, float64(SamplesPerReplica()), count, float64(2*NumSeries),
		"one sample per scrape: the replicas are deduplicated, not interleaved (two replicas: %d)", 2*SamplesPerReplica())

	inc := instant("sum(increase(http_requests_total" + window + "))")
	require.InEpsilon(t, TrueIncrease(), inc, 0.01, "increase over the deduplicated counters")

	qry, err := engine.NewRangeQuery(context.Background(), q, nil, "max(rate(http_requests_total[1m]))",
		time.UnixMilli(start+5*60_000), end, time.Minute)
	require.NoError(t, err)
	defer qry.Close()
	res := qry.Exec(context.Background())
	require.NoError(t, res.Err)
	m, err := res.Matrix()
	require.NoError(t, err)
	require.Len(t, m, 1)
	peak := math.Inf(-1)
	for _, p := range m[0].Floats {
		peak = max(peak, p.F)
	}
	require.Greater(t, len(m[0].Floats), int(Duration/60_000)-10, "rate() has a value at every step")
	require.InEpsilon(t, MaxRate(), peak, 0.05, "no rate spike where the replicas switch")
}

// sample is a float sample.
type sample struct {
	t int64
	f float64
}

func (s sample) T() int64                      { return s.t }
func (s sample) ST() int64                     { return 0 }
func (s sample) F() float64                    { return s.f }
func (s sample) H() *histogram.Histogram       { return nil }
func (s sample) FH() *histogram.FloatHistogram { return nil }
func (s sample) Type() chunkenc.ValueType      { return chunkenc.ValFloat }
func (s sample) Copy() chunks.Sample           { return s }

// Split cuts the samples of ss at t (ms): before holds those before t, after
// the others (a store gateway's blocks and a sidecar's recent data).
func Split(ss []storage.Series, t int64) (before, after []storage.Series) {
	for _, s := range ss {
		var b, a []chunks.Sample
		it := s.Iterator(nil)
		for it.Next() == chunkenc.ValFloat {
			ts, f := it.At()
			if ts < t {
				b = append(b, sample{t: ts, f: f})
			} else {
				a = append(a, sample{t: ts, f: f})
			}
		}
		before = append(before, storage.NewListSeries(s.Labels(), b))
		after = append(after, storage.NewListSeries(s.Labels(), a))
	}
	return before, after
}
