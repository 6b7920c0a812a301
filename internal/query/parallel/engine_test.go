package parallel

import (
	"context"
	"testing"
	"time"

	"github.com/prometheus/prometheus/model/labels"
	"github.com/prometheus/prometheus/promql"
	"github.com/prometheus/prometheus/promql/promqltest"
	"github.com/prometheus/prometheus/util/teststorage"
	"github.com/stretchr/testify/require"
)

// TestPromQLCorpusSplit runs Prometheus' own PromQL test corpus with every
// range query cut into up to three pieces of at least one step: a split
// answer must equal the whole one.
func TestPromQLCorpusSplit(t *testing.T) {
	if testing.Short() {
		t.Skip("the corpus takes a while; run without -short")
	}
	inner := promqltest.NewTestEngine(t, false, 0, promqltest.DefaultMaxSamplesPerQuery)
	promqltest.RunBuiltinTests(t, NewEngine(inner, Config{MaxShards: 3, MinStepsPerShard: 2}))
}

func TestSplitDecision(t *testing.T) {
	e := NewEngine(nil, Config{MaxShards: 4, MinStepsPerShard: 10})
	start := time.Unix(0, 0)
	for _, tc := range []struct {
		name string
		qs   string
		end  time.Duration
		step time.Duration
		want int
	}{
		{name: "long", qs: `rate(x[5m])`, end: 100 * time.Minute, step: time.Minute, want: 4},
		{name: "few steps", qs: `rate(x[5m])`, end: 15 * time.Minute, step: time.Minute, want: 1},
		{name: "enough for two", qs: `x`, end: 25 * time.Minute, step: time.Minute, want: 2},
		{name: "at start", qs: `x @ start()`, end: 100 * time.Minute, step: time.Minute, want: 1},
		{name: "at end in subquery", qs: `max_over_time(x[10m:1m] @ end())`, end: 100 * time.Minute, step: time.Minute, want: 1},
		{name: "bad query", qs: `rate(x[5m]`, end: 100 * time.Minute, step: time.Minute, want: 1},
	} {
		t.Run(tc.name, func(t *testing.T) {
			require.Equal(t, tc.want, e.shards(tc.qs, nil, start, start.Add(tc.end), tc.step))
		})
	}
	require.Equal(t, 1, e.shards(`x`, promql.NewPrometheusQueryOpts(true, 0), start, start.Add(100*time.Minute), time.Minute),
		"per-step statistics need the whole query")
}

func TestSplitEqualsWhole(t *testing.T) {
	st := teststorage.New(t)
	app := st.Appender(context.Background())
	lbls := []string{"a", "b", "c"}
	for i, l := range lbls {
		for ts := int64(0); ts < 3600_000; ts += 15_000 {
			_, err := app.Append(0, labelsOf("m", l), ts, float64(ts/1000*(int64(i)+1)))
			require.NoError(t, err)
		}
	}
	require.NoError(t, app.Commit())

	inner := promqltest.NewTestEngine(t, false, 0, promqltest.DefaultMaxSamplesPerQuery)
	split := NewEngine(inner, Config{MaxShards: 4, MinStepsPerShard: 5})
	for _, qs := range []string{`rate(m[5m])`, `sum(m)`, `m`, `topk(1, m)`, `max_over_time(m[10m:1m])`} {
		run := func(e promql.QueryEngine) (promql.Matrix, func()) {
			q, err := e.NewRangeQuery(context.Background(), st, nil, qs, time.Unix(0, 0), time.Unix(3600, 0), 30*time.Second)
			require.NoError(t, err)
			r := q.Exec(context.Background())
			require.NoError(t, r.Err)
			return r.Value.(promql.Matrix), q.Close // the engine reuses the points after Close
		}
		whole, closeWhole := run(inner)
		parts, closeParts := run(split)
		require.Equal(t, len(whole), len(parts), qs)
		for i := range whole {
			require.Equal(t, whole[i].Metric, parts[i].Metric, qs)
			require.Equal(t, whole[i].Floats, parts[i].Floats, "%s %s", qs, whole[i].Metric)
		}
		closeWhole()
		closeParts()
		require.NotEmpty(t, whole)
	}
}

func labelsOf(name, v string) labels.Labels { return labels.FromStrings("__name__", name, "l", v) }
