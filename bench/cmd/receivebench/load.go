package main

import (
	"bytes"
	"context"
	"fmt"
	"io"
	"math"
	"math/rand/v2"
	"net/http"
	"slices"
	"sync"
	"time"

	"github.com/golang/snappy"
	"github.com/prometheus/prometheus/prompb"
)

// maxErrorBodies is how many error answers a phase keeps to print.
const maxErrorBodies = 3

// load is the remote-write traffic of one target: its series split into
// shards, one sender per shard. Sender i sends to endpoint i mod the
// number of endpoints, as a load balancer in front of several receivers
// balances Prometheus' keep-alive connections: all samples of a series
// go through the same endpoint, in order.
type load struct {
	client    *http.Client
	endpoints []string // full URLs of the remote-write endpoints
	shards    [][]*series
	batch     int
	start     time.Time
	interval  time.Duration
	seed      uint64
}

// phaseResult is what the senders saw over one phase.
type phaseResult struct {
	samples   int64 // samples in requests answered 2xx
	requests  int
	errors    int // non-2xx answers and transport errors
	bodies    []string
	latencies []time.Duration // of every request, ok or not
	wall      time.Duration
}

// run sends rounds [from, to) of every shard, the shards concurrently,
// each as fast as the endpoints answer, and returns what it saw. It stops
// early when ctx ends.
func (l *load) run(ctx context.Context, from, to int) phaseResult {
	var (
		mu  sync.Mutex
		res phaseResult
		wg  sync.WaitGroup
	)
	begin := time.Now()
	for i, shard := range l.shards {
		wg.Go(func() {
			rng := rand.New(rand.NewPCG(l.seed, uint64(i)<<32|uint64(from)))
			url := l.endpoints[i%len(l.endpoints)]
			r := l.sendShard(ctx, url, newStream(shard, from, to, l.start, l.interval, rng))
			mu.Lock()
			defer mu.Unlock()
			res.samples += r.samples
			res.requests += r.requests
			res.errors += r.errors
			res.latencies = append(res.latencies, r.latencies...)
			for _, b := range r.bodies {
				if len(res.bodies) < maxErrorBodies {
					res.bodies = append(res.bodies, b)
				}
			}
		})
	}
	wg.Wait()
	res.wall = time.Since(begin)
	return res
}

// sendShard is one sender posting to url: it encodes each batch as a snappy-compressed
// remote write 1.0 request, as Prometheus does, and posts it.
func (l *load) sendShard(ctx context.Context, url string, st *stream) phaseResult {
	var (
		res  phaseResult
		req  prompb.WriteRequest
		raw  []byte
		comp []byte
	)
	for ctx.Err() == nil {
		req.Timeseries = st.fill(req.Timeseries[:0], l.batch)
		if len(req.Timeseries) == 0 {
			break
		}
		size := req.Size()
		if cap(raw) < size {
			raw = make([]byte, size)
		}
		n, err := req.MarshalToSizedBuffer(raw[:size])
		if err != nil {
			res.note(fmt.Sprintf("marshal: %v", err))
			continue
		}
		comp = snappy.Encode(comp[:cap(comp)], raw[size-n:size])
		began := time.Now()
		status, body, err := l.post(ctx, url, comp)
		res.latencies = append(res.latencies, time.Since(began))
		res.requests++
		switch {
		case err != nil:
			res.note(err.Error())
		case status/100 != 2:
			res.note(fmt.Sprintf("%s: HTTP %d: %s", url, status, bytes.TrimSpace(body)))
		default:
			res.samples += int64(len(req.Timeseries))
		}
	}
	return res
}

// note counts an error and keeps its message if there is room.
func (r *phaseResult) note(msg string) {
	r.errors++
	if len(r.bodies) < maxErrorBodies {
		r.bodies = append(r.bodies, msg)
	}
}

// post sends one request with Prometheus' remote write 1.0 headers and
// returns the status and up to 1KiB of the answer's body.
func (l *load) post(ctx context.Context, url string, body []byte) (int, []byte, error) {
	req, err := http.NewRequestWithContext(ctx, http.MethodPost, url, bytes.NewReader(body))
	if err != nil {
		return 0, nil, err
	}
	req.Header.Set("Content-Encoding", "snappy")
	req.Header.Set("Content-Type", "application/x-protobuf")
	req.Header.Set("User-Agent", "strata-receivebench")
	req.Header.Set("X-Prometheus-Remote-Write-Version", "0.1.0")
	resp, err := l.client.Do(req)
	if err != nil {
		return 0, nil, fmt.Errorf("POST %s: %w", url, err)
	}
	msg, _ := io.ReadAll(io.LimitReader(resp.Body, 1<<10))
	_, _ = io.Copy(io.Discard, resp.Body)
	_ = resp.Body.Close()
	return resp.StatusCode, msg, nil
}

// percentile returns the q-quantile (0 ≤ q ≤ 1) of ds by the nearest-rank
// method, 0 for none. It sorts ds.
func percentile(ds []time.Duration, q float64) time.Duration {
	if len(ds) == 0 {
		return 0
	}
	slices.Sort(ds)
	rank := int(math.Ceil(q * float64(len(ds))))
	return ds[min(max(rank, 1), len(ds))-1]
}
