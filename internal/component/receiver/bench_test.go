package receiver

import (
	"fmt"
	"net/http"
	"testing"

	"github.com/prometheus/prometheus/prompb"
)

// BenchmarkReceive measures the single-node write path (decode, validate,
// append) per sample: 20k series in requests of 2000 samples, as
// Prometheus' queue manager sends them, each series getting a new sample
// per round.
func BenchmarkReceive(b *testing.B) {
	cfg := DefaultConfig()
	cfg.RemoteWriteAddress = "127.0.0.1:0"
	cfg.TSDB.Dir = b.TempDir()
	cfg.TSDB.TooFarInFuture = 0
	r, err := New(cfg, Deps{})
	if err != nil {
		b.Fatal(err)
	}
	defer r.Close()
	const series, batch = 20000, 2000
	lbls := make([][]prompb.Label, series)
	for i := range lbls {
		lbls[i] = []prompb.Label{
			{Name: "__name__", Value: fmt.Sprintf("http_requests_total_%d", i%20)},
			{Name: "code", Value: []string{"200", "404", "500"}[i%3]},
			{Name: "container", Value: "app"},
			{Name: "instance", Value: fmt.Sprintf("10.0.%d.%d:8080", i/250%250, i%250)},
			{Name: "job", Value: "kubernetes-pods"},
			{Name: "namespace", Value: fmt.Sprintf("ns-%d", i%17)},
			{Name: "pod", Value: fmt.Sprintf("app-%d", i/33)},
		}
	}
	const base = int64(1_700_000_000_000)
	req := func(round, first int) []byte {
		wr := &prompb.WriteRequest{}
		for i := first; i < first+batch; i++ {
			wr.Timeseries = append(wr.Timeseries, prompb.TimeSeries{Labels: lbls[i], Samples: []prompb.Sample{{Timestamp: base + int64(round)*15000, Value: float64(round * i)}}})
		}
		return body(b, wr)
	}
	// Round 0 creates the series.
	for first := 0; first < series; first += batch {
		if rec := post(r.Handler(), http.MethodPost, req(0, first), "application/x-protobuf", ""); rec.Code != http.StatusNoContent {
			b.Fatal(rec.Code, rec.Body.String())
		}
	}
	const perRound = series / batch
	bodies := make([][]byte, b.N)
	for i := range bodies {
		bodies[i] = req(1+i/perRound, i%perRound*batch)
	}
	b.ReportAllocs()
	b.ResetTimer()
	for i := range b.N {
		if rec := post(r.Handler(), http.MethodPost, bodies[i], "application/x-protobuf", ""); rec.Code != http.StatusNoContent {
			b.Fatal(rec.Code, rec.Body.String())
		}
	}
	b.ReportMetric(float64(batch), "samples/op")
}
