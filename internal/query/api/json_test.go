package api

import (
	"fmt"
	"net/http/httptest"
	"testing"

	"github.com/prometheus/prometheus/model/labels"
	"github.com/prometheus/prometheus/promql"
)

// BenchmarkRespondMatrix measures encoding a range query answer of 100
// series × 1000 points (about 2.5 MB of JSON).
func BenchmarkRespondMatrix(b *testing.B) {
	m := make(promql.Matrix, 100)
	for i := range m {
		m[i].Metric = labels.FromStrings("__name__", "http_requests_total", "instance", fmt.Sprintf("host-%d:9090", i), "job", "api")
		m[i].Floats = make([]promql.FPoint, 1000)
		for j := range m[i].Floats {
			m[i].Floats[j] = promql.FPoint{T: int64(j) * 15_000, F: float64(i*j) / 7}
		}
	}
	a := New(DefaultConfig(), nil, nil, nil, nil, nil, nil)
	req := httptest.NewRequest("GET", "/api/v1/query_range", nil)
	b.ReportAllocs()
	for b.Loop() {
		w := httptest.NewRecorder()
		a.respond(w, req, result{data: &queryData{Result: m}})
	}
}
