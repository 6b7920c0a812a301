package main

import (
	"math/rand/v2"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/prometheus/prometheus/prompb"
	"github.com/stretchr/testify/require"

	"github.com/strata-io/strata/bench/benchutil"
)

func TestGenerateSeriesHasExactlyTheAskedCardinality(t *testing.T) {
	for _, n := range []int{1, 32, 33, 34, 1000, 20001} {
		all := generateSeries(n, 4, 15*time.Second, 1)
		require.Len(t, all, n)
		seen := map[string]bool{}
		names := map[string]bool{}
		for _, s := range all {
			require.True(t, slices.IsSortedFunc(s.labels, func(a, b prompb.Label) int {
				return strings.Compare(a.Name, b.Name)
			}), "labels are sorted by name, as remote write requires")
			key := ""
			for _, l := range s.labels {
				require.NotEmpty(t, l.Value, "label %s", l.Name)
				key += l.Name + "=" + l.Value + ","
				if l.Name == "__name__" {
					names[l.Value] = true
				}
			}
			require.False(t, seen[key], "series %s generated twice", key)
			seen[key] = true
			require.Less(t, s.offset, int64(15000), "the scrape phase lies within the interval")
		}
		if n >= len(podTemplates) {
			require.Len(t, names, 21, "every metric name appears once a whole pod exists")
		}
	}
	require.Equal(t, generateSeries(500, 4, time.Second, 7), generateSeries(500, 4, time.Second, 7), "the same arguments give the same series")
}

func TestShardSeriesPutsEverySeriesInOneBalancedShard(t *testing.T) {
	all := generateSeries(20000, 4, 15*time.Second, 1)
	shards := shardSeries(all, 4)
	require.Len(t, shards, 4)
	total := 0
	for i, sh := range shards {
		total += len(sh)
		require.InDelta(t, 5000, len(sh), 500, "shard %d holds about a quarter of the series", i)
		for _, s := range sh {
			require.Equal(t, i, s.shard)
		}
	}
	require.Equal(t, 20000, total)
}

func TestStreamSendsEverySampleOnceInBatches(t *testing.T) {
	series := generateSeries(70, 1, 10*time.Second, 1)
	start := time.UnixMilli(1_700_000_000_000)
	st := newStream(series, 1, 4, start, 10*time.Second, rand.New(rand.NewPCG(1, 2)))

	var sizes []int
	last := map[*prompb.Label]int64{} // by the series' first label entry
	count := map[*prompb.Label]int{}
	for {
		batch := st.fill(nil, 32)
		if len(batch) == 0 {
			break
		}
		sizes = append(sizes, len(batch))
		for _, ts := range batch {
			require.Len(t, ts.Samples, 1, "one sample per time series entry, as Prometheus sends")
			k := &ts.Labels[0]
			require.Greater(t, ts.Samples[0].Timestamp, last[k], "a series' timestamps increase")
			last[k] = ts.Samples[0].Timestamp
			count[k]++
		}
	}
	// 3 rounds × 70 series = 210 samples: six full requests and one of 18.
	require.Equal(t, []int{32, 32, 32, 32, 32, 32, 18}, sizes)
	require.Len(t, count, 70)
	for _, n := range count {
		require.Equal(t, 3, n, "each series once per round")
	}
	s := series[0]
	require.Equal(t, start.UnixMilli()+3*10000+s.offset, last[&s.labels[0]], "the last round is round 3")

	require.Empty(t, newStream(nil, 0, 5, start, time.Second, rand.New(rand.NewPCG(1, 1))).fill(nil, 10), "an empty shard sends nothing")
}

func TestCountersNeverDecrease(t *testing.T) {
	rng := rand.New(rand.NewPCG(1, 1))
	for _, s := range generateSeries(66, 1, 15*time.Second, 3) {
		prev := s.value
		for range 50 {
			v := s.next(rng, 15)
			if s.kind == counter {
				require.GreaterOrEqual(t, v, prev)
			}
			if s.kind == constant {
				require.Equal(t, prev, v)
			}
			require.GreaterOrEqual(t, v, 0.0)
			prev = v
		}
	}
}

func TestPercentile(t *testing.T) {
	ms := func(v ...int) []time.Duration {
		out := make([]time.Duration, len(v))
		for i, x := range v {
			out[i] = time.Duration(x) * time.Millisecond
		}
		return out
	}
	require.Zero(t, percentile(nil, 0.5))
	require.Equal(t, 7*time.Millisecond, percentile(ms(7), 0.99))
	d := ms(10, 1, 9, 2, 8, 3, 7, 4, 6, 5)
	require.Equal(t, 5*time.Millisecond, percentile(d, 0.5), "nearest rank: the 5th of 10")
	require.Equal(t, 10*time.Millisecond, percentile(d, 0.99))
	require.Equal(t, 1*time.Millisecond, percentile(d, 0))
	hundred := make([]int, 100)
	for i := range hundred {
		hundred[i] = 100 - i
	}
	require.Equal(t, 99*time.Millisecond, percentile(ms(hundred...), 0.99))
}

func TestParseStatCPU(t *testing.T) {
	// A command name with spaces and parentheses; utime 250, stime 50 ticks.
	line := "1234 (strata (x) y) S 1 1234 1234 0 -1 4194560 100 0 0 0 250 50 0 0 20 0 12 0 100 1000 200\n"
	d, err := benchutil.ParseStatCPU(line)
	require.NoError(t, err)
	require.Equal(t, 3*time.Second, d)

	_, err = benchutil.ParseStatCPU("garbage")
	require.Error(t, err)
	_, err = benchutil.ParseStatCPU("1 (a) S 1 2")
	require.ErrorContains(t, err, "short")
}

func TestDataStartLeavesRoomBeforeNow(t *testing.T) {
	now := time.Date(2026, 1, 1, 12, 0, 0, 0, time.UTC)
	require.Equal(t, now.Add(-time.Hour), dataStart(now, 20, 15*time.Second))
	long := dataStart(now, 1000, 15*time.Second)
	require.True(t, long.Add(1001*15*time.Second).Before(now), "a long run still ends before now")
}
