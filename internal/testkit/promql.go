package testkit

import (
	"context"
	"testing"
	"time"

	"github.com/prometheus/prometheus/promql"
	"github.com/prometheus/prometheus/storage"
)

// EvalRange runs the PromQL range query expr over q from start to end (ms)
// every step, with Prometheus' engine (5m lookback), and returns the float
// points of its only series by timestamp. The test fails when the query
// fails or does not return exactly one series.
func EvalRange(t testing.TB, q storage.Queryable, expr string, start, end int64, step time.Duration) map[int64]float64 {
	t.Helper()
	eng := promql.NewEngine(promql.EngineOpts{MaxSamples: 50_000_000, Timeout: time.Minute, LookbackDelta: 5 * time.Minute})
	defer func() {
		if err := eng.Close(); err != nil {
			t.Errorf("close promql engine: %v", err)
		}
	}()
	qry, err := eng.NewRangeQuery(context.Background(), q, nil, expr, time.UnixMilli(start), time.UnixMilli(end), step)
	if err != nil {
		t.Fatalf("%s: %v", expr, err)
	}
	defer qry.Close()
	res := qry.Exec(context.Background())
	if res.Err != nil {
		t.Fatalf("%s: %v", expr, res.Err)
	}
	m, err := res.Matrix()
	if err != nil {
		t.Fatalf("%s: %v", expr, err)
	}
	if len(m) != 1 {
		t.Fatalf("%s: got %d series, want 1: %v", expr, len(m), m)
	}
	out := make(map[int64]float64, len(m[0].Floats))
	for _, p := range m[0].Floats {
		out[p.T] = p.F
	}
	return out
}
