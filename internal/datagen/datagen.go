// Package datagen writes a synthetic, Kubernetes-like metrics dataset directly
// as Prometheus TSDB blocks (one per 2h window), so that a Prometheus started
// on the directory serves it at once, without scraping or WAL replay.
//
// Each pod of each namespace has the labels namespace, pod, container, job,
// instance and 27 series:
//
//	http_requests_total{code,method,handler}        12 counters (3 codes × 2 methods × 2 handlers)
//	http_request_duration_seconds_bucket{le}         10 classic histogram buckets, plus _sum and _count
//	container_memory_working_set_bytes               gauge (random walk)
//	container_threads                                gauge
//	process_cpu_seconds_total                        counter
//
// Values come from a seeded generator: the same Config gives the same data.
package datagen

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"math"
	"math/rand/v2"
	"path/filepath"
	"strconv"
	"time"

	"github.com/oklog/ulid/v2"
	"github.com/prometheus/prometheus/model/labels"
	"github.com/prometheus/prometheus/storage"
	"github.com/prometheus/prometheus/tsdb"
)

// SeriesPerPod is the number of series each generated pod has.
const SeriesPerPod = 27

// BlockDuration is the time range of each written block; blocks are aligned
// to multiples of it since the Unix epoch, as Prometheus aligns its own.
const BlockDuration = 2 * time.Hour

// Config sizes the dataset.
type Config struct {
	// Series is the approximate total number of series (rounded up to whole pods).
	Series int
	// End is the exclusive end of the data; it is rounded down to a block boundary.
	End time.Time
	// Duration is how far back from End the data goes; rounded up to whole blocks.
	Duration time.Duration
	// Interval is the time between two samples of a series.
	Interval time.Duration
	// Seed seeds the value generator.
	Seed uint64
}

// DefaultConfig is ~5k series over the 24h before now, one sample every 30s.
func DefaultConfig() Config {
	return Config{Series: 5000, End: time.Now(), Duration: 24 * time.Hour, Interval: 30 * time.Second, Seed: 1}
}

// Validate reports a configuration that cannot produce data.
func (c Config) Validate() error {
	switch {
	case c.Series < 1:
		return errors.New("series must be at least 1")
	case c.Interval <= 0 || c.Interval > BlockDuration:
		return fmt.Errorf("interval must be in (0, %s], got %s", BlockDuration, c.Interval)
	case c.Duration < c.Interval:
		return fmt.Errorf("duration %s must be at least the interval %s", c.Duration, c.Interval)
	}
	return nil
}

// Stats describes what Generate wrote. MinTime and MaxTime are the first and
// last sample timestamps in ms (inclusive).
type Stats struct {
	Namespaces, Pods, Series, Blocks int
	Samples                          int64
	MinTime, MaxTime                 int64
}

// Block describes one block Generate wrote, as passed to a BlockFunc.
type Block struct {
	// ID is the block's ULID; Dir is its directory (<dir>/<ID>).
	ID  ulid.ULID
	Dir string
	// Index is the 1-based position of the block in the run; Total is the
	// number of blocks the run writes.
	Index, Total int
	// Series is the number of series in the block, Samples its samples.
	Series  int
	Samples int64
	// MinTime and MaxTime are the block's meta.json range in ms (MaxTime exclusive).
	MinTime, MaxTime int64
}

// BlockFunc is called by GenerateBlocks after each block is written, in time
// order, on the caller's goroutine. An error stops the generation and is
// returned. It may move or delete the block directory.
type BlockFunc func(ctx context.Context, b Block) error

// Generate writes the dataset into dir (a TSDB data directory, created if
// missing). It must not already hold blocks overlapping the range.
func Generate(ctx context.Context, dir string, cfg Config, logger *slog.Logger) (Stats, error) {
	return GenerateBlocks(ctx, dir, cfg, logger, nil)
}

// GenerateBlocks is Generate calling fn (when not nil) after each block.
func GenerateBlocks(ctx context.Context, dir string, cfg Config, logger *slog.Logger, fn BlockFunc) (Stats, error) {
	if err := cfg.Validate(); err != nil {
		return Stats{}, err
	}
	if logger == nil {
		logger = slog.New(slog.DiscardHandler)
	}
	block := BlockDuration.Milliseconds()
	end := cfg.End.UnixMilli() / block * block
	nBlocks := int((cfg.Duration.Milliseconds() + block - 1) / block)
	start := end - int64(nBlocks)*block
	interval := cfg.Interval.Milliseconds()

	pods := newPods(cfg)
	st := Stats{Pods: len(pods), Series: len(pods) * SeriesPerPod, MinTime: math.MaxInt64, MaxTime: math.MinInt64}
	st.Namespaces = pods[len(pods)-1].ns + 1

	for w := start; w < end; w += block {
		// The head's chunk range is twice the window so that every sample of
		// the window stays appendable while series are written one by one.
		bw, err := tsdb.NewBlockWriter(logger, dir, 2*block)
		if err != nil {
			return st, fmt.Errorf("create block writer: %w", err)
		}
		var id ulid.ULID
		n, minT, maxT, err := writeWindow(ctx, bw, pods, w, w+block, interval)
		if err == nil {
			id, err = bw.Flush(ctx)
		}
		if cerr := bw.Close(); err == nil && cerr != nil {
			err = fmt.Errorf("close block writer: %w", cerr)
		}
		if err != nil {
			return st, fmt.Errorf("write block [%d, %d): %w", w, w+block, err)
		}
		st.Blocks++
		st.Samples += n
		st.MinTime = min(st.MinTime, minT)
		st.MaxTime = max(st.MaxTime, maxT)
		if fn != nil {
			b := Block{
				ID: id, Dir: filepath.Join(dir, id.String()), Index: st.Blocks, Total: nBlocks,
				Series: st.Series, Samples: n, MinTime: minT, MaxTime: maxT + 1,
			}
			if err := fn(ctx, b); err != nil {
				return st, err
			}
		}
	}
	return st, nil
}

// writeWindow appends every pod's samples with timestamps in [from, to).
func writeWindow(ctx context.Context, bw *tsdb.BlockWriter, pods []*pod, from, to, interval int64) (n, minT, maxT int64, err error) {
	minT, maxT = math.MaxInt64, math.MinInt64
	refs := make([]storage.SeriesRef, SeriesPerPod)
	vals := make([]float64, SeriesPerPod)
	const podsPerCommit = 50
	app := bw.Appender(ctx)
	for i, p := range pods {
		if err := ctx.Err(); err != nil {
			_ = app.Rollback()
			return n, minT, maxT, err
		}
		clear(refs)
		// First sample at or after from on this pod's scrape phase.
		first := from + (p.offset-from%interval+interval)%interval
		for t := first; t < to; t += interval {
			p.step(vals, float64(interval)/1000)
			for j, v := range vals {
				if refs[j], err = app.Append(refs[j], p.series[j], t, v); err != nil {
					_ = app.Rollback()
					return n, minT, maxT, fmt.Errorf("append %s at %d: %w", p.series[j], t, err)
				}
			}
			n += SeriesPerPod
			minT, maxT = min(minT, t), max(maxT, t)
		}
		if (i+1)%podsPerCommit == 0 || i == len(pods)-1 {
			if err := app.Commit(); err != nil {
				return n, minT, maxT, fmt.Errorf("commit: %w", err)
			}
			app = bw.Appender(ctx)
		}
	}
	return n, minT, maxT, nil
}

var (
	codes    = []string{"200", "404", "500"}
	methods  = []string{"GET", "POST"}
	handlers = []string{"/api/v1/items", "/healthz"}
	buckets  = []float64{0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, math.Inf(1)}
)

// pod holds one pod's series labels and the state of its values.
type pod struct {
	ns     int
	offset int64 // scrape phase in ms
	series []labels.Labels
	rng    *rand.Rand

	reqRate  []float64 // per request counter, requests/s
	counters []float64 // current values of the 12 request counters
	latency  float64   // median request latency, seconds
	hist     []float64 // cumulative bucket counts, then sum, then count
	mem      float64
	threads  float64
	cpu      float64
}

func newPods(cfg Config) []*pod {
	nPods := (cfg.Series + SeriesPerPod - 1) / SeriesPerPod
	const podsPerNamespace = 20
	out := make([]*pod, nPods)
	for i := range out {
		ns := i / podsPerNamespace
		rng := rand.New(rand.NewPCG(cfg.Seed, uint64(i)))
		base := labels.NewBuilder(labels.EmptyLabels())
		nsName := "ns-" + strconv.Itoa(ns)
		app := "app-" + strconv.Itoa(i%podsPerNamespace/4)
		base.Set("namespace", nsName)
		base.Set("pod", fmt.Sprintf("%s-%08x", app, rng.Uint32()))
		base.Set("container", app)
		base.Set("job", nsName+"/"+app)
		base.Set("instance", fmt.Sprintf("10.%d.%d.%d:8080", ns%256, i/256%256, i%256))
		p := &pod{
			ns: ns, offset: rng.Int64N(cfg.Interval.Milliseconds()), rng: rng,
			latency: 0.02 + rng.Float64()*0.3, mem: 1e8 + rng.Float64()*9e8, threads: float64(10 + rng.IntN(40)),
			hist: make([]float64, len(buckets)+2),
		}
		with := func(kv ...string) labels.Labels {
			b := labels.NewBuilder(base.Labels())
			for k := 0; k < len(kv); k += 2 {
				b.Set(kv[k], kv[k+1])
			}
			return b.Labels()
		}
		for _, c := range codes {
			for _, m := range methods {
				for _, h := range handlers {
					p.series = append(p.series, with("__name__", "http_requests_total", "code", c, "method", m, "handler", h))
					rate := rng.Float64() * 20
					if c != "200" {
						rate /= 20
					}
					p.reqRate = append(p.reqRate, rate)
					p.counters = append(p.counters, 0)
				}
			}
		}
		for _, le := range buckets {
			p.series = append(p.series, with("__name__", "http_request_duration_seconds_bucket", "le", strconv.FormatFloat(le, 'g', -1, 64)))
		}
		p.series = append(p.series,
			with("__name__", "http_request_duration_seconds_sum"),
			with("__name__", "http_request_duration_seconds_count"),
			with("__name__", "container_memory_working_set_bytes"),
			with("__name__", "container_threads"),
			with("__name__", "process_cpu_seconds_total"),
		)
		out[i] = p
	}
	return out
}

// step advances the pod by dt seconds and writes the 27 values in series order.
func (p *pod) step(vals []float64, dt float64) {
	var total float64
	for i, r := range p.reqRate {
		inc := math.Round(r * dt * (0.5 + p.rng.Float64()))
		p.counters[i] += inc
		total += inc
		// A rare counter reset, as after a container restart.
		if p.rng.IntN(5000) == 0 {
			p.counters[i] = 0
		}
		vals[i] = p.counters[i]
	}
	nb := len(buckets)
	// Log-normal latencies around the pod's median: the fraction below le.
	for i, le := range buckets {
		frac := 1.0
		if !math.IsInf(le, 1) {
			frac = 0.5 * math.Erfc(-math.Log(le/p.latency)/(0.8*math.Sqrt2))
		}
		p.hist[i] += math.Floor(total * frac)
	}
	p.hist[nb-1] = max(p.hist[nb-1], p.hist[nb-2]) // +Inf is the largest bucket
	p.hist[nb] += total * p.latency * (0.8 + 0.4*p.rng.Float64())
	p.hist[nb+1] = p.hist[nb-1]
	copy(vals[12:], p.hist)

	p.mem = max(5e7, p.mem*(1+(p.rng.Float64()-0.5)*0.02))
	if p.rng.IntN(100) == 0 {
		p.threads = max(1, p.threads+float64(p.rng.IntN(5)-2))
	}
	p.cpu += dt * p.rng.Float64() * 0.5
	vals[24], vals[25], vals[26] = p.mem, p.threads, p.cpu
}
