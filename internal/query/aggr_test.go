package query

import (
	"context"
	"fmt"
	"math"
	"math/rand/v2"
	"slices"
	"testing"
	"time"

	"github.com/prometheus/common/model"
	"github.com/prometheus/prometheus/model/labels"
	"github.com/prometheus/prometheus/storage"
	"github.com/prometheus/prometheus/tsdb/chunkenc"
	"github.com/prometheus/prometheus/tsdb/chunks"
	"github.com/stretchr/testify/require"
	"google.golang.org/grpc"

	"github.com/strata-io/strata/internal/downsample"
	"github.com/strata-io/strata/internal/testkit"
	"github.com/strata-io/strata/pkg/storepb"
)

// aggrStore serves one series per metric name, like a store gateway: raw
// chunks as they are, aggregate chunks with only the requested aggregates
// filled.
type aggrStore struct {
	storepb.UnimplementedStoreServer
	series map[string][]storedChunk
}

// storedChunk is a raw chunk (raw set) or a downsampled one (aggr set).
type storedChunk struct {
	mint, maxt int64
	raw        *storepb.Chunk
	aggr       *downsample.AggrChunk
}

func (s *aggrStore) Series(req *storepb.SeriesRequest, srv grpc.ServerStreamingServer[storepb.SeriesResponse]) error {
	ms, err := storepb.MatchersFromProto(req.GetMatchers())
	if err != nil {
		return err
	}
	for name, chks := range s.series {
		lset := labels.FromStrings(model.MetricNameLabel, name)
		match := true
		for _, m := range ms {
			match = match && m.Matches(lset.Get(m.Name))
		}
		if !match {
			continue
		}
		var out []*storepb.AggrChunk
		for _, c := range chks {
			wc := &storepb.AggrChunk{MinTime: c.mint, MaxTime: c.maxt, Raw: c.raw}
			if c.aggr != nil {
				for _, a := range req.GetAggregates() {
					chk, err := c.aggr.Get(downsample.AggrType(a))
					if err != nil {
						return err
					}
					pc := &storepb.Chunk{Type: storepb.Chunk_XOR, Data: chk.Bytes()}
					switch a {
					case storepb.Aggr_COUNT:
						wc.Count = pc
					case storepb.Aggr_SUM:
						wc.Sum = pc
					case storepb.Aggr_MIN:
						wc.Min = pc
					case storepb.Aggr_MAX:
						wc.Max = pc
					case storepb.Aggr_COUNTER:
						wc.Counter = pc
					}
				}
			}
			out = append(out, wc)
		}
		if err := srv.Send(seriesFrame(lset, out...)); err != nil {
			return err
		}
	}
	return nil
}

// rawStored cuts ss into XOR chunks of 120 samples, as Prometheus does.
func rawStored(t *testing.T, ss []fsample) []storedChunk {
	var out []storedChunk
	for len(ss) > 0 {
		n := min(120, len(ss))
		c := wireXOR(t, ss[:n]...)
		out = append(out, storedChunk{mint: c.MinTime, maxt: c.MaxTime, raw: c.Raw})
		ss = ss[n:]
	}
	return out
}

// downsampled returns the 5m aggregate chunks of ss, as the compactor writes
// them into a block.
func downsampled(t *testing.T, ss []fsample) []storedChunk {
	ts := make([]int64, len(ss))
	vs := make([]float64, len(ss))
	for i, s := range ss {
		ts[i], vs[i] = s.t, s.f
	}
	metas, err := downsample.Downsample(chunkenc.MockSeriesIterator(nil, ts, vs), downsample.Resolution5m)
	require.NoError(t, err)
	out := make([]storedChunk, 0, len(metas))
	for _, m := range metas {
		out = append(out, storedChunk{mint: m.MinTime, maxt: m.MaxTime, aggr: aggrOf(t, m)})
	}
	return out
}

func aggrOf(t *testing.T, m chunks.Meta) *downsample.AggrChunk {
	c, ok := m.Chunk.(*downsample.AggrChunk)
	require.True(t, ok, "chunk is %T", m.Chunk)
	return c
}

// aggrTestData is 48h scraped every 15s: a request counter with a restart
// about every 6h, the same traffic without restarts, and a gauge.
type aggrTestData struct {
	counter, steady, gauge []fsample
	end                    int64 // last sample, ms
}

func newAggrTestData() aggrTestData {
	rng := rand.New(rand.NewPCG(3, 4))
	var d aggrTestData
	c, s := 0.0, 0.0
	for i := range 48 * 240 {
		ts := int64(i) * 15_000
		if i%1500 == 1499 {
			c = 0
		}
		perSec := 100 + 30*math.Sin(2*math.Pi*float64(ts)/86400_000)
		inc := 15 * perSec * (0.9 + 0.2*rng.Float64())
		c += inc
		s += inc
		d.counter = append(d.counter, fsample{t: ts, f: c})
		d.steady = append(d.steady, fsample{t: ts, f: s})
		d.gauge = append(d.gauge, fsample{t: ts, f: 500 + 100*rng.NormFloat64()})
	}
	d.end = d.counter[len(d.counter)-1].t
	return d
}

// queryable returns the querier over s as PromQL's storage.
func (s *aggrStore) queryable(opts Options) storage.Queryable {
	opts.MaxResolutionMillis = downsample.Resolution5m
	return NewQueryableCreator(storepb.ServerAsClient(s), nil, nil)(opts)
}

func TestDownsampledThroughPromQL(t *testing.T) {
	d := newAggrTestData()
	split := func(ss []fsample, from, to int64) []fsample {
		var out []fsample
		for _, s := range ss {
			if s.t >= from && s.t < to {
				out = append(out, s)
			}
		}
		return out
	}
	// A series downsampled in two blocks with raw data in between, where no
	// downsampled block exists: [0, 20h) and [26h, 48h) at 5m, the rest raw.
	h := int64(3600_000)
	var mixed []storedChunk
	mixed = append(mixed, downsampled(t, split(d.counter, 0, 20*h))...)
	mixed = append(mixed, rawStored(t, split(d.counter, 20*h, 26*h))...)
	mixed = append(mixed, downsampled(t, split(d.counter, 26*h, 49*h))...)
	dsCounter := downsampled(t, d.counter)
	require.Greater(t, len(dsCounter), 3, "the test needs chunk boundaries")
	s := &aggrStore{series: map[string][]storedChunk{
		"raw_counter":   rawStored(t, d.counter),
		"ds_counter":    dsCounter,
		"mixed_counter": mixed,
		"raw_steady":    rawStored(t, d.steady),
		"ds_steady":     downsampled(t, d.steady),
		"raw_gauge":     rawStored(t, d.gauge),
		"ds_gauge":      downsampled(t, d.gauge),
	}}
	// Evaluate at the end of 5m windows so ranges hold whole windows.
	atWindowEnd := int64(3600_000 + 285_000)
	for _, dedup := range []bool{false, true} {
		q := s.queryable(Options{Deduplicate: dedup, ReplicaLabels: []string{"replica"}})
		name := func(n string) string { return fmt.Sprintf("%s (dedup=%v)", n, dedup) }
		for _, tc := range []struct {
			name, raw, agg string
			start          int64
			step           time.Duration
			tolerance      float64 // relative error allowed at every point
		}{
			{name: "rate 1h", raw: "rate(raw_counter[1h])", agg: "rate(ds_counter[1h])", start: 6 * h, step: 5 * time.Minute, tolerance: 0.02},
			{name: "rate 1h unaligned steps", raw: "rate(raw_counter[1h])", agg: "rate(ds_counter[1h])", start: 6 * h, step: 7*time.Minute + 13*time.Second, tolerance: 0.02},
			{name: "increase 6h", raw: "increase(raw_counter[6h])", agg: "increase(ds_counter[6h])", start: 6 * h, step: 17 * time.Minute, tolerance: 0.02},
			{name: "increase 48h", raw: "increase(raw_counter[48h])", agg: "increase(ds_counter[48h])", start: d.end, step: time.Minute, tolerance: 0.02},
			// Where the range starts in 5m data and ends in raw data, PromQL
			// sees irregular spacing and extrapolates less than one 5m window
			// at the start: up to 5m/1h of error. A reset mishandled where
			// the raw data starts would add several hours of increase.
			{name: "rate 1h across raw filling a gap", raw: "rate(raw_counter[1h])", agg: "rate(mixed_counter[1h])", start: 6 * h, step: 5 * time.Minute, tolerance: 0.09},
			{name: "increase 48h across raw filling a gap", raw: "increase(raw_counter[48h])", agg: "increase(mixed_counter[48h])", start: d.end, step: time.Minute, tolerance: 0.02},
			{name: "increase 6h across raw filling a gap", raw: "increase(raw_counter[6h])", agg: "increase(mixed_counter[6h])", start: 6 * h, step: 17 * time.Minute, tolerance: 0.02},
			{name: "avg_over_time 1h", raw: "avg_over_time(raw_gauge[1h])", agg: "avg_over_time(ds_gauge[1h])", start: atWindowEnd, step: 5 * time.Minute, tolerance: 1e-9},
			{name: "max_over_time 1h", raw: "max_over_time(raw_gauge[1h])", agg: "max_over_time(ds_gauge[1h])", start: atWindowEnd, step: 5 * time.Minute},
			{name: "min_over_time 1h", raw: "min_over_time(raw_gauge[1h])", agg: "min_over_time(ds_gauge[1h])", start: atWindowEnd, step: 5 * time.Minute},
		} {
			t.Run(name(tc.name), func(t *testing.T) {
				raw := testkit.EvalRange(t, q, tc.raw, tc.start, d.end, tc.step)
				agg := testkit.EvalRange(t, q, tc.agg, tc.start, d.end, tc.step)
				require.NotEmpty(t, raw)
				require.Len(t, agg, len(raw))
				for ts, want := range raw {
					got, ok := agg[ts]
					require.True(t, ok, "no downsampled point at t=%d", ts)
					if tc.tolerance == 0 {
						require.Equal(t, want, got, "t=%d", ts)
					} else {
						require.InEpsilon(t, want, got, tc.tolerance, "t=%d", ts)
					}
				}
			})
		}
		t.Run(name("no spurious resets at chunk boundaries"), func(t *testing.T) {
			raw := testkit.EvalRange(t, q, "resets(raw_steady[48h])", d.end, d.end, time.Minute)
			require.Equal(t, map[int64]float64{d.end: 0}, raw)
			agg := testkit.EvalRange(t, q, "resets(ds_steady[48h])", d.end, d.end, time.Minute)
			require.Equal(t, map[int64]float64{d.end: 0}, agg)
		})
	}
}

// TestDownsampledMissingAggregate checks that a store answering with
// aggregate chunks lacking what the query needs fails the query with advice.
func TestDownsampledMissingAggregate(t *testing.T) {
	d := newAggrTestData()
	chks := downsampled(t, d.gauge)
	wire := make([]*storepb.AggrChunk, 0, len(chks))
	for _, c := range chks {
		sum, err := c.aggr.Get(downsample.AggrSum)
		require.NoError(t, err)
		wire = append(wire, &storepb.AggrChunk{MinTime: c.mint, MaxTime: c.maxt, Sum: &storepb.Chunk{Type: storepb.Chunk_XOR, Data: sum.Bytes()}})
	}
	f := &fakeStore{frames: []*storepb.SeriesResponse{seriesFrame(labels.FromStrings("__name__", "x"), wire...)}}
	q, err := NewQueryableCreator(storepb.ServerAsClient(f), nil, nil)(Options{MaxResolutionMillis: downsample.Resolution5m}).Querier(0, d.end)
	require.NoError(t, err)
	defer q.Close()
	set := q.Select(context.Background(), true, &storage.SelectHints{Start: 0, End: d.end, Func: "rate"})
	require.True(t, set.Next())
	it := set.At().Iterator(nil)
	require.Equal(t, chunkenc.ValNone, it.Next())
	require.ErrorContains(t, it.Err(), "max_source_resolution")
}

// trueIncrease is the increase of a raw counter as PromQL counts it: a value
// below the previous one is a reset and counts whole.
func trueIncrease(ss []fsample) float64 {
	inc := 0.0
	for i := 1; i < len(ss); i++ {
		if d := ss[i].f - ss[i-1].f; d >= 0 {
			inc += d
		} else {
			inc += ss[i].f
		}
	}
	return inc
}

// wireChunks returns stored chunks as the store would send them for aggrs.
func wireChunks(chks []storedChunk, aggrs []storepb.Aggr) []chunkRef {
	var refs []chunkRef
	for _, c := range chks {
		wc := &storepb.AggrChunk{MinTime: c.mint, MaxTime: c.maxt, Raw: c.raw}
		if c.aggr != nil && slices.Contains(aggrs, storepb.Aggr_COUNTER) {
			chk, _ := c.aggr.Get(downsample.AggrCounter)
			wc.Counter = &storepb.Chunk{Type: storepb.Chunk_XOR, Data: chk.Bytes()}
		}
		refs = append(refs, chunkRef{c: wc})
	}
	return sortedRefs(nil, 0, refs)
}

func TestCounterAcrossRawAndDownsampled(t *testing.T) {
	// 3h at 15s, resets at 40m (in the 5m data) and 2h10m (in the raw data).
	var ss []fsample
	v := 0.0
	for i := range 3 * 240 {
		ts := int64(i) * 15_000
		if ts == 40*60_000 || ts == 130*60_000 {
			v = 0
		}
		v += 10 + float64(i%7)
		ss = append(ss, fsample{t: ts, f: v})
	}
	at := func(ms int64) int { return int(ms / 15_000) }
	h := int64(3600_000)
	counter := []storepb.Aggr{storepb.Aggr_COUNTER}
	for _, tc := range []struct {
		name  string
		chks  []storedChunk
		first int64 // timestamp of the first sample, ms
	}{
		{name: "5m then raw", chks: append(downsampled(t, ss[:at(h)]), rawStored(t, ss[at(h):])...)},
		{name: "raw then 5m", chks: append(rawStored(t, ss[:at(h)]), downsampled(t, ss[at(h):])...)},
		{name: "5m, raw, 5m", chks: append(append(downsampled(t, ss[:at(h)]), rawStored(t, ss[at(h):at(2*h)])...), downsampled(t, ss[at(2*h):])...)},
		// Raw data from 50m overlaps the 5m block that ends at 1h.
		{name: "raw overlapping 5m", chks: append(downsampled(t, ss[:at(h)]), rawStored(t, ss[at(50*60_000):])...)},
	} {
		t.Run(tc.name, func(t *testing.T) {
			it := newSeriesIterator(wireChunks(tc.chks, counter), counter)
			var got []fsample
			for it.Next() == chunkenc.ValFloat {
				ts, f := it.At()
				if n := len(got); n > 0 {
					require.Greater(t, ts, got[n-1].t)
					require.GreaterOrEqual(t, f, got[n-1].f, "the counter must never reset, t=%d", ts)
				}
				got = append(got, fsample{t: ts, f: f})
			}
			require.NoError(t, it.Err())
			require.Equal(t, ss[0], got[0], "starts at the first raw sample")
			require.Equal(t, ss[len(ss)-1].t, got[len(got)-1].t)
			require.InDelta(t, trueIncrease(ss), got[len(got)-1].f-got[0].f, 1e-6, "the raw data's increase, resets included")

			// Seeking gives the same values as iterating.
			it = newSeriesIterator(wireChunks(tc.chks, counter), counter)
			for _, s := range []int64{30 * 60_000, 61 * 60_000, 61 * 60_000, 150 * 60_000} {
				require.Equal(t, chunkenc.ValFloat, it.Seek(s))
				i := slices.IndexFunc(got, func(g fsample) bool { return g.t >= s })
				ts, f := it.At()
				require.Equal(t, got[i], fsample{t: ts, f: f}, "seek %d", s)
			}
			require.Equal(t, chunkenc.ValNone, it.Seek(ss[len(ss)-1].t+1))
		})
	}
}
