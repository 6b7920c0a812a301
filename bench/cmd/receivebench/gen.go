package main

import (
	"fmt"
	"math"
	"math/rand/v2"
	"strconv"
	"time"

	"github.com/prometheus/common/model"
	"github.com/prometheus/prometheus/model/labels"
	"github.com/prometheus/prometheus/prompb"
)

// valueKind says how a series' value moves from one scrape to the next.
type valueKind uint8

const (
	counter  valueKind = iota // grows by rate × interval, with jitter
	gauge                     // random walk around its start
	constant                  // never changes (up, limits)
)

// template is one series of every pod: a metric name, the labels that
// tell it apart from the pod's other series of that name, and its kind.
type template struct {
	name  string
	extra []string // label name, value, ...
	kind  valueKind
	scale float64 // counter rate per second or gauge start value
}

// podTemplates are the series of one pod: what a kubelet/cAdvisor,
// kube-state-metrics and an instrumented Go web service expose per pod,
// 33 series over 21 metric names.
var podTemplates = func() []template {
	var t []template
	for _, code := range []string{"200", "404", "500"} {
		for _, method := range []string{"GET", "POST"} {
			rate := 20.0
			if code != "200" {
				rate = 0.5
			}
			t = append(t, template{"http_requests_total", []string{"code", code, "method", method}, counter, rate})
		}
	}
	for i, le := range []string{"0.005", "0.025", "0.1", "0.25", "0.5", "1", "2.5", "+Inf"} {
		t = append(t, template{"http_request_duration_seconds_bucket", []string{"le", le}, counter, 5 + 5*float64(i)})
	}
	return append(t,
		template{"http_request_duration_seconds_sum", nil, counter, 4},
		template{"http_request_duration_seconds_count", nil, counter, 40},
		template{"container_cpu_usage_seconds_total", nil, counter, 0.3},
		template{"container_memory_working_set_bytes", nil, gauge, 3e8},
		template{"container_memory_rss", nil, gauge, 2.5e8},
		template{"container_network_receive_bytes_total", nil, counter, 2e5},
		template{"container_network_transmit_bytes_total", nil, counter, 1e5},
		template{"container_fs_reads_total", nil, counter, 3},
		template{"container_fs_writes_total", nil, counter, 8},
		template{"container_threads", nil, gauge, 40},
		template{"container_spec_cpu_shares", nil, constant, 1024},
		template{"process_cpu_seconds_total", nil, counter, 0.25},
		template{"process_resident_memory_bytes", nil, gauge, 2e8},
		template{"process_open_fds", nil, gauge, 60},
		template{"go_goroutines", nil, gauge, 120},
		template{"go_memstats_heap_alloc_bytes", nil, gauge, 8e7},
		template{"up", nil, constant, 1},
		template{"kube_pod_status_ready", []string{"condition", "true"}, constant, 1},
		template{"kube_pod_container_status_restarts_total", nil, counter, 0.0001},
	)
}()

// podsPerNamespace and appsPerNamespace shape the namespaces: 20 pods of
// 5 deployments each.
const (
	podsPerNamespace = 20
	appsPerNamespace = 5
)

// series is one generated series and the state of its value. Only the
// sender owning the series (its shard) touches the state.
type series struct {
	labels []prompb.Label // sorted by name, as remote write requires
	shard  int
	kind   valueKind
	offset int64 // scrape phase within the interval, ms
	value  float64
	rate   float64 // per second, counters only
}

// generateSeries returns exactly n series of pods of podTemplates (the
// last pod may be cut short), each assigned to one of shards senders by
// the hash of its labels, as Prometheus' queue manager shards series. The
// same arguments give the same series.
func generateSeries(n, shards int, interval time.Duration, seed uint64) []*series {
	out := make([]*series, 0, n)
	var base labels.Labels
	var rng *rand.Rand
	var offset int64
	for i := range n {
		podIdx, tmplIdx := i/len(podTemplates), i%len(podTemplates)
		if tmplIdx == 0 {
			rng = rand.New(rand.NewPCG(seed, uint64(podIdx)))
			ns := "ns-" + strconv.Itoa(podIdx/podsPerNamespace)
			app := "app-" + strconv.Itoa(podIdx%podsPerNamespace%appsPerNamespace)
			base = labels.FromStrings(
				"namespace", ns,
				"pod", fmt.Sprintf("%s-%08x-%05x", app, rng.Uint32(), rng.Uint32()&0xfffff),
				"container", app,
				"job", ns+"/"+app,
				"instance", fmt.Sprintf("10.%d.%d.%d:8080", podIdx>>16&255, podIdx>>8&255, podIdx&255),
			)
			offset = rng.Int64N(max(interval.Milliseconds(), 1))
		}
		t := podTemplates[tmplIdx]
		b := labels.NewBuilder(base).Set(model.MetricNameLabel, t.name)
		for k := 0; k+1 < len(t.extra); k += 2 {
			b.Set(t.extra[k], t.extra[k+1])
		}
		lset := b.Labels()
		s := &series{
			labels: prompb.FromLabels(lset, nil),
			shard:  int(lset.Hash() % uint64(max(shards, 1))),
			kind:   t.kind,
			offset: offset,
		}
		switch t.kind {
		case counter:
			s.rate = t.scale * (0.5 + rng.Float64())
			s.value = math.Round(s.rate * 3600 * rng.Float64())
		default:
			s.value = t.scale * (0.8 + 0.4*rng.Float64())
		}
		out = append(out, s)
	}
	return out
}

// shardSeries splits the series by their shard.
func shardSeries(all []*series, shards int) [][]*series {
	out := make([][]*series, shards)
	for _, s := range all {
		out[s.shard] = append(out[s.shard], s)
	}
	return out
}

// next advances the value by one scrape interval of dt seconds.
func (s *series) next(rng *rand.Rand, dt float64) float64 {
	switch s.kind {
	case counter:
		s.value += math.Round(s.rate * dt * (0.5 + rng.Float64()))
	case gauge:
		s.value = max(0, s.value*(1+(rng.Float64()-0.5)*0.02))
	}
	return s.value
}

// stream is a sender's queue over a phase: every series of its shard once
// per round, rounds [from, to), round after round. Like Prometheus' queue
// shards it cuts the queue into requests of at most batch samples, one
// sample per time series entry, a request possibly spanning two rounds.
type stream struct {
	series   []*series
	round    int // current round
	to       int // first round not to send
	idx      int // next series of the current round
	start    int64
	interval int64 // ms
	rng      *rand.Rand
}

// newStream returns the stream of rounds [from, to) over series; round r
// has the timestamps start + r×interval + each series' offset.
func newStream(series []*series, from, to int, start time.Time, interval time.Duration, rng *rand.Rand) *stream {
	if len(series) == 0 {
		from = to
	}
	return &stream{series: series, round: from, to: to, start: start.UnixMilli(), interval: interval.Milliseconds(), rng: rng}
}

// fill appends up to batch samples to dst and returns it; an empty result
// means the stream is done.
func (st *stream) fill(dst []prompb.TimeSeries, batch int) []prompb.TimeSeries {
	dt := float64(st.interval) / 1000
	for len(dst) < batch && st.round < st.to {
		s := st.series[st.idx]
		dst = append(dst, prompb.TimeSeries{
			Labels:  s.labels,
			Samples: []prompb.Sample{{Timestamp: st.start + int64(st.round)*st.interval + s.offset, Value: s.next(st.rng, dt)}},
		})
		if st.idx++; st.idx == len(st.series) {
			st.idx = 0
			st.round++
		}
	}
	return dst
}
