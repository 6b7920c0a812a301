package dedup

import (
	"testing"
	"time"

	"github.com/prometheus/prometheus/model/histogram"
	"github.com/prometheus/prometheus/model/labels"
	"github.com/prometheus/prometheus/storage"
	"github.com/prometheus/prometheus/tsdb/chunkenc"
	"github.com/prometheus/prometheus/tsdb/chunks"
	"github.com/prometheus/prometheus/tsdb/tsdbutil"
	"github.com/prometheus/prometheus/util/annotations"
	"github.com/stretchr/testify/require"

	"github.com/strata-io/strata/internal/testkit"
)

// smpl is a test sample: a float, or a histogram when h is set.
type smpl struct {
	t int64
	f float64
	h *histogram.Histogram
}

func (s smpl) T() int64                      { return s.t }
func (s smpl) ST() int64                     { return 0 }
func (s smpl) F() float64                    { return s.f }
func (s smpl) H() *histogram.Histogram       { return s.h }
func (s smpl) FH() *histogram.FloatHistogram { return nil }
func (s smpl) Type() chunkenc.ValueType {
	if s.h != nil {
		return chunkenc.ValHistogram
	}
	return chunkenc.ValFloat
}
func (s smpl) Copy() chunks.Sample { return s }

// scrape returns float samples every step ms in [from, to), value = f(t).
func scrape(from, to, step int64, f func(t int64) float64) []smpl {
	var out []smpl
	for t := from; t < to; t += step {
		out = append(out, smpl{t: t, f: f(t)})
	}
	return out
}

func without(s []smpl, from, to int64) []smpl {
	var out []smpl
	for _, x := range s {
		if x.t < from || x.t >= to {
			out = append(out, x)
		}
	}
	return out
}

func listIt(s []smpl) chunkenc.Iterator {
	cs := make([]chunks.Sample, len(s))
	for i := range s {
		cs[i] = s[i]
	}
	return storage.NewListSeriesIterator(chunks.SampleSlice(cs))
}

func iters(reps ...[]smpl) []chunkenc.Iterator {
	out := make([]chunkenc.Iterator, len(reps))
	for i, r := range reps {
		out[i] = listIt(r)
	}
	return out
}

// drain reads it to the end.
func drain(t *testing.T, it chunkenc.Iterator, vt chunkenc.ValueType) []smpl {
	t.Helper()
	var out []smpl
	for ; vt != chunkenc.ValNone; vt = it.Next() {
		switch vt {
		case chunkenc.ValFloat:
			ts, f := it.At()
			out = append(out, smpl{t: ts, f: f})
		case chunkenc.ValHistogram:
			ts, h := it.AtHistogram(nil)
			out = append(out, smpl{t: ts, h: h})
		default:
			t.Fatalf("unexpected value type %v", vt)
		}
	}
	require.NoError(t, it.Err())
	return out
}

func timestamps(s []smpl) []int64 {
	out := make([]int64, len(s))
	for i := range s {
		out[i] = s[i].t
	}
	return out
}

func TestIteratorGapsAndReplicas(t *testing.T) {
	const step = 15_000
	id := func(t int64) float64 { return float64(t) }
	a := scrape(0, 600_000, step, id)     // phase 0
	b := scrape(5_000, 600_000, step, id) // phase 5s
	c := scrape(10_000, 600_000, step, id)

	for _, tc := range []struct {
		name string
		reps [][]smpl
		want []int64
	}{
		{
			name: "healthy replicas follow the first one, the other fills after its end",
			reps: [][]smpl{a, b},
			want: append(timestamps(a), 590_000),
		},
		{
			name: "identical replicas give one replica",
			reps: [][]smpl{a, a, a},
			want: timestamps(a),
		},
		{
			name: "gap in the first replica is filled by the second, which is kept",
			reps: [][]smpl{without(a, 100_000, 200_000), b},
			want: append(timestamps(a[:7]), timestamps(b[6:])...), // b from 95s on
		},
		{
			name: "gap in the second replica changes nothing",
			reps: [][]smpl{a, without(b, 100_000, 200_000)},
			want: append(timestamps(a), 590_000),
		},
		{
			name: "one missed scrape is not a gap",
			reps: [][]smpl{without(a, 100_000, 110_000), b},
			want: append(timestamps(without(a, 100_000, 110_000)), 590_000),
		},
		{
			name: "gaps in both replicas at different times leave no gap",
			reps: [][]smpl{without(a, 100_000, 200_000), without(b, 300_000, 400_000)},
			// a until 90s, b from 95s until 290s, a from 300s on, b's last.
			want: append(append(append(timestamps(a[:7]), timestamps(b[6:20])...), timestamps(a[20:])...), 590_000),
		},
		{
			name: "gap in every replica stays a gap",
			reps: [][]smpl{without(a, 100_000, 200_000), without(b, 100_000, 200_000)},
			// a until 90s, b's 95s, then a again from 200s (the earliest after the gap).
			want: append(append(timestamps(a[:7]), 95_000), timestamps(b[13:])...),
		},
		{
			name: "three replicas: the third fills when the second has a gap too",
			reps: [][]smpl{without(a, 100_000, 300_000), without(b, 150_000, 300_000), c},
			// a until 90s, b 95s..140s, c from 145s.
			want: append(append(timestamps(a[:7]), timestamps(b[6:10])...), timestamps(c[9:])...),
		},
		{
			name: "a replica starting late is not switched to",
			reps: [][]smpl{a[10:], b},
			want: timestamps(b),
		},
	} {
		t.Run(tc.name, func(t *testing.T) {
			it := NewSeriesIterator(false, iters(tc.reps...)...)
			got := drain(t, it, it.Next())
			require.Equal(t, tc.want, timestamps(got))
			for _, s := range got {
				require.Equal(t, float64(s.t), s.f, "values come from the replicas unchanged")
			}
		})
	}
}

func TestIteratorSeek(t *testing.T) {
	const step = 15_000
	id := func(t int64) float64 { return float64(t) }
	a := without(scrape(0, 600_000, step, id), 100_000, 200_000)
	b := scrape(5_000, 600_000, step, id)

	t.Run("seek into the gap lands on the other replica", func(t *testing.T) {
		it := NewSeriesIterator(false, iters(a, b)...)
		require.Equal(t, chunkenc.ValFloat, it.Seek(120_000))
		require.Equal(t, int64(125_000), it.AtT())
		got := drain(t, it, it.Next())
		require.Equal(t, timestamps(b[9:]), timestamps(got))
	})
	t.Run("seek after next, backwards is a no-op", func(t *testing.T) {
		it := NewSeriesIterator(false, iters(a, b)...)
		require.Equal(t, chunkenc.ValFloat, it.Next())
		require.Equal(t, chunkenc.ValFloat, it.Seek(44_000))
		require.Equal(t, int64(45_000), it.AtT())
		require.Equal(t, chunkenc.ValFloat, it.Seek(10_000))
		require.Equal(t, int64(45_000), it.AtT())
		require.Equal(t, chunkenc.ValFloat, it.Next())
		require.Equal(t, int64(60_000), it.AtT())
	})
	t.Run("seek past the end", func(t *testing.T) {
		it := NewSeriesIterator(false, iters(a, b)...)
		require.Equal(t, chunkenc.ValNone, it.Seek(10_000_000))
		require.Equal(t, chunkenc.ValNone, it.Next())
	})
}

func TestIteratorHistograms(t *testing.T) {
	const step = 15_000
	hs := tsdbutil.GenerateTestHistograms(40)
	var a, b []smpl
	for i := range 40 {
		ts := int64(i) * step
		if ts < 100_000 || ts >= 200_000 {
			a = append(a, smpl{t: ts, h: hs[i]})
		}
		// b has floats first, then histograms: a series may change type.
		if i < 5 {
			b = append(b, smpl{t: ts + 5_000, f: float64(i)})
		} else {
			b = append(b, smpl{t: ts + 5_000, h: hs[i]})
		}
	}
	it := NewSeriesIterator(true, iters(a, b)...)
	got := drain(t, it, it.Next())
	want := append(timestamps(a[:7]), timestamps(b[6:])...)
	require.Equal(t, want, timestamps(got))
	for i, s := range got {
		require.NotNil(t, s.h, "sample %d at %d must be a histogram", i, s.t)
	}
	require.Equal(t, histogram.UnknownCounterReset, got[7].h.CounterResetHint, "first sample after a switch")

	// A healthy replica starting first is followed alone, whatever the
	// type of its samples.
	late := make([]smpl, len(a))
	for i := range a {
		late[i] = smpl{t: a[i].t + 10_000, h: a[i].h}
	}
	it = NewSeriesIterator(false, iters(late, b)...)
	got = drain(t, it, it.Next())
	require.Equal(t, append(timestamps(b), 595_000), timestamps(got))
	require.Equal(t, chunkenc.ValFloat, got[0].Type())
	require.Equal(t, chunkenc.ValHistogram, got[5].Type())
}

func TestIteratorCounterOffset(t *testing.T) {
	const step = 15_000
	counter := func(t int64) float64 { return float64(t) / 100 } // 10/s
	a := without(scrape(0, 600_000, step, counter), 100_000, 200_000)
	// b's scrape sees the target 8s before its timestamp: its first value
	// after a's last one is lower than it.
	b := scrape(5_000, 600_000, step, func(t int64) float64 { return counter(t - 8_000) })
	// A genuine reset inside b, after the switch.
	for i := range b {
		if b[i].t >= 400_000 {
			b[i].f -= counter(400_000)
		}
	}

	it := NewSeriesIterator(true, iters(a, b)...)
	got := drain(t, it, it.Next())
	require.Equal(t, float64(90_000)/100, got[6].f)
	require.Equal(t, int64(95_000), got[7].t)
	require.GreaterOrEqual(t, got[7].f, got[6].f, "the switch must not make the counter go back")
	require.InDelta(t, counter(95_000), got[7].f, 1e-9, "the switch continues the counter's slope")
	resets := 0
	for i := 1; i < len(got); i++ {
		if got[i].f < got[i-1].f {
			resets++
			require.GreaterOrEqual(t, got[i].t, int64(400_000))
		}
	}
	require.Equal(t, 1, resets, "the genuine reset stays visible")

	it = NewSeriesIterator(false, iters(a, b)...)
	got = drain(t, it, it.Next())
	require.Less(t, got[7].f, got[6].f, "without isCounter values are not adjusted")
}

// TestRateAcrossSwitch compares rate() over deduplicated replicas with rate()
// over the healthy replica alone, through the PromQL engine.
func TestRateAcrossSwitch(t *testing.T) {
	const step = 15_000
	counter := func(t int64) float64 { return 1000 + float64(t)/1000*3.3 }
	a := without(scrape(0, 3_600_000, step, counter), 1_000_000, 1_600_000)
	b := scrape(7_000, 3_600_000, step, func(t int64) float64 { return counter(t - 9_000) })
	lset := labels.FromStrings("__name__", "requests_total")

	queryable := func(reps ...[]smpl) storage.Queryable {
		return storage.QueryableFunc(func(int64, int64) (storage.Querier, error) {
			return &storage.MockQuerier{SelectMockFunction: func(_ bool, h *storage.SelectHints, _ ...*labels.Matcher) storage.SeriesSet {
				var ss []storage.Series
				for _, r := range reps {
					cs := make([]chunks.Sample, len(r))
					for i := range r {
						cs[i] = r[i]
					}
					ss = append(ss, storage.NewListSeries(lset, cs))
				}
				return NewSeriesSet(&listSet{series: ss}, IsCounterFunc(h.Func))
			}}, nil
		})
	}
	const expr = "rate(requests_total[5m])"
	deduped := testkit.EvalRange(t, queryable(a, b), expr, 300_000, 3_500_000, time.Minute)
	single := testkit.EvalRange(t, queryable(b), expr, 300_000, 3_500_000, time.Minute)
	require.Len(t, deduped, len(single))
	for ts, want := range single {
		got, ok := deduped[ts]
		require.True(t, ok, "no deduplicated rate at %d", ts)
		require.InEpsilon(t, want, got, 0.01, "rate at %d", ts)
	}
}

func TestSeriesSetGroupsReplicas(t *testing.T) {
	mk := func(name string, s []smpl) storage.Series {
		cs := make([]chunks.Sample, len(s))
		for i := range s {
			cs[i] = s[i]
		}
		return storage.NewListSeries(labels.FromStrings("__name__", name), cs)
	}
	one := func(t int64) float64 { return 1 }
	a := scrape(0, 60_000, 15_000, one)
	b := scrape(5_000, 60_000, 15_000, one)
	set := NewSeriesSet(&listSet{series: []storage.Series{mk("a", a), mk("a", b), mk("b", b), mk("c", a), mk("c", a), mk("c", b)}}, false)
	var names []string
	var counts []int
	for set.Next() {
		s := set.At()
		names = append(names, s.Labels().Get("__name__"))
		it := s.Iterator(nil)
		counts = append(counts, len(drain(t, it, it.Next())))
	}
	require.NoError(t, set.Err())
	require.Equal(t, []string{"a", "b", "c"}, names)
	// a: 0..45s from the first replica, then 50s from the second one.
	require.Equal(t, []int{5, 4, 5}, counts)
}

// listSet is a storage.SeriesSet over a slice.
type listSet struct {
	series []storage.Series
	cur    storage.Series
}

func (s *listSet) Next() bool {
	if len(s.series) == 0 {
		return false
	}
	s.cur, s.series = s.series[0], s.series[1:]
	return true
}
func (s *listSet) At() storage.Series                { return s.cur }
func (s *listSet) Err() error                        { return nil }
func (s *listSet) Warnings() annotations.Annotations { return nil }
