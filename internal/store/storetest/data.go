package storetest

import (
	"fmt"
	"math/rand/v2"
	"slices"

	"github.com/prometheus/prometheus/model/histogram"
	"github.com/prometheus/prometheus/model/labels"
	"github.com/prometheus/prometheus/storage"
)

// Shape of the data set built by Dataset.
const (
	// ScrapeInterval is the spacing of samples, in ms.
	ScrapeInterval int64 = 15_000
	// DataDuration is the time span of the data set, in ms (3h).
	DataDuration int64 = 3 * 3600_000
)

// seriesSpec is one series of the data set before sample generation.
type seriesSpec struct {
	lset       labels.Labels
	kind       string // "counter", "gauge", "histogram"
	start, end int64  // ms offsets from the data set's min time, inclusive
}

// Dataset returns the contract data set: about 220 series sorted by label
// set, with float samples every ScrapeInterval over DataDuration starting at
// minTime (ms), some starting late or ending early, one with a counter
// reset, and one native histogram series. It is deterministic.
//
// Label shapes covered: series with and without the `path` label; one
// without `instance`; `build_info` alone and with labels (whose order
// changes once an external label is inserted); regex-worthy values.
func Dataset(minTime int64) []storage.Series {
	var specs []seriesSpec
	add := func(kind string, start, end int64, kv ...string) {
		specs = append(specs, seriesSpec{lset: labels.FromStrings(kv...), kind: kind, start: start, end: end})
	}
	full := DataDuration
	for _, job := range []string{"api", "web"} {
		for i := range 10 {
			inst := fmt.Sprintf("host-%d:9090", i)
			end := full
			if job == "web" && i == 9 {
				end = full / 3 // stops after one hour
			}
			add("gauge", 0, end, "__name__", "up", "job", job, "instance", inst)
			for _, code := range []string{"200", "404", "500"} {
				for _, method := range []string{"GET", "POST"} {
					kv := []string{"__name__", "http_requests_total", "job", job, "instance", inst, "code", code, "method", method}
					if job == "web" {
						kv = append(kv, "path", "/"+method)
					}
					start := int64(0)
					if i == 8 && code == "500" {
						start = 2 * full / 3 // starts after two hours
					}
					add("counter", start, end, kv...)
				}
			}
		}
	}
	for i := range 5 {
		for cpu := range 4 {
			for _, mode := range []string{"idle", "system", "user"} {
				add("counter", 0, full, "__name__", "node_cpu_seconds_total", "job", "node",
					"instance", fmt.Sprintf("node-%d:9100", i), "cpu", fmt.Sprint(cpu), "mode", mode)
			}
		}
	}
	add("gauge", 0, full, "__name__", "build_info")
	add("gauge", 0, full, "__name__", "build_info", "branch", "main", "version", "2.0")
	add("gauge", 0, full, "__name__", "scrape_info", "job", "api")
	add("histogram", 0, full, "__name__", "http_request_duration_seconds", "job", "api", "instance", "host-0:9090")

	slices.SortFunc(specs, func(a, b seriesSpec) int { return labels.Compare(a.lset, b.lset) })
	out := make([]storage.Series, 0, len(specs))
	for i, sp := range specs {
		rng := rand.New(rand.NewPCG(uint64(i), 42))
		out = append(out, NewSeries(sp.lset, genSamples(rng, sp, minTime)))
	}
	return out
}

func genSamples(rng *rand.Rand, sp seriesSpec, minTime int64) []Sample {
	var (
		out []Sample
		v   float64
		n   int64
	)
	for off := sp.start; off <= sp.end; off += ScrapeInterval {
		t := minTime + off
		switch sp.kind {
		case "counter":
			v += float64(rng.IntN(100))
			if n == 200 && sp.lset.Get("code") == "404" && sp.lset.Get("instance") == "host-3:9090" {
				v = 1 // a counter reset
			}
			out = append(out, Sample{T: t, F: v})
		case "gauge":
			out = append(out, Sample{T: t, F: rng.Float64() * 100})
		case "histogram":
			out = append(out, Sample{T: t, H: testHistogram(n)})
		}
		n++
	}
	return out
}

// testHistogram returns the i-th sample of a growing exponential histogram
// with positive and negative buckets.
func testHistogram(i int64) *histogram.Histogram {
	u := uint64(i)
	return &histogram.Histogram{
		CounterResetHint: histogram.UnknownCounterReset,
		Schema:           1,
		ZeroThreshold:    0.001,
		ZeroCount:        2 + u,
		Count:            2 + u + (4 + 4*u) + (2 + 2*u),
		Sum:              18.4 * float64(i+1),
		PositiveSpans:    []histogram.Span{{Offset: 0, Length: 2}, {Offset: 1, Length: 2}},
		PositiveBuckets:  []int64{1 + i, 0, 0, 0}, // absolute 1+i each
		NegativeSpans:    []histogram.Span{{Offset: 0, Length: 2}},
		NegativeBuckets:  []int64{1 + i, 0},
	}
}
