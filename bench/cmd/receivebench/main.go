// Command receivebench measures `strata receive` under Prometheus remote
// write 1.0 load, against Prometheus' own remote-write receiver under the
// same load, in one run.
//
// Usage (from the repository root; `make bench-receive` runs the defaults):
//
//	go run ./bench/cmd/receivebench [flags]
//
//	--series=100000   active series (33 per Kubernetes-like pod, 21 metric names)
//	--rounds=20       scrape rounds appended after the warm-up round
//	--interval=15s    virtual time between two rounds (timestamps only; rounds go as fast as accepted)
//	--senders=4       concurrent senders, like Prometheus' queue shards
//	--batch=2000      samples per request (Prometheus' max_samples_per_send)
//	--three-node      also three `strata receive` in one hashring, replication factor 3
//	--dir=PATH        work directory (default: a temp dir, removed at the end)
//	--keep            keep the work directory (TSDBs, configs, logs)
//
// It builds .bin/strata and .bin/prometheus, then for each target in turn
// (a single `strata receive`, Prometheus with --web.enable-remote-write-receiver,
// with --three-node the hashring) starts it on free 127.0.0.1 ports with a
// fresh TSDB, generates the series, sends one warm-up round (which
// creates every series) and then --rounds rounds, each series hashed to
// one sender, every request a snappy-compressed prompb.WriteRequest of
// --batch samples, sender i posting to endpoint i mod the number of
// endpoints (as a balancer pins keep-alive connections). Rounds
// are virtual scrapes --interval apart, starting an hour or more before
// now, sent as fast as the target answers. It measures samples/s (wall),
// samples per CPU-second of the receiving processes (utime+stime from
// /proc/<pid>/stat over the phase; the generator's own CPU is not
// counted), peak RSS (VmHWM) per active series and the p50/p99 request
// latency the senders saw; it checks that everything sent is stored
// (Prometheus: head samples, head series and count({__name__=~".+"});
// strata: stored-sample counter and StoreAPI series count), stops the
// target and goes on. It prints a table and the strata/prometheus ratios,
// and exits 1 when a request failed or a check differs.
package main

import (
	"context"
	"errors"
	"flag"
	"fmt"
	"log/slog"
	"net/http"
	"os"
	"os/signal"
	"syscall"
	"time"

	"github.com/strata-io/strata/bench/benchutil"
	"github.com/strata-io/strata/test/e2e/e2eutil"
)

// config holds the command-line flags.
type config struct {
	series    int
	rounds    int
	interval  time.Duration
	senders   int
	batch     int
	threeNode bool
	dir       string
	keep      bool
	readyWait time.Duration
	seed      uint64
	// start is the timestamp of round 0 (before each series' offset).
	start time.Time
}

// end is just after the last round: every series has a sample within the
// interval before it.
func (c config) end() time.Time { return c.start.Add(time.Duration(c.rounds+1) * c.interval) }

func main() {
	cfg := config{seed: 1}
	flag.IntVar(&cfg.series, "series", 100000, "active series")
	flag.IntVar(&cfg.rounds, "rounds", 20, "scrape rounds after the warm-up round")
	flag.DurationVar(&cfg.interval, "interval", 15*time.Second, "virtual time between two rounds")
	flag.IntVar(&cfg.senders, "senders", 4, "concurrent senders (queue shards)")
	flag.IntVar(&cfg.batch, "batch", 2000, "samples per request")
	flag.BoolVar(&cfg.threeNode, "three-node", false, "also run three strata receive in a hashring with replication factor 3")
	flag.StringVar(&cfg.dir, "dir", "", "work directory (default: a new temp dir)")
	flag.BoolVar(&cfg.keep, "keep", false, "keep the work directory")
	flag.DurationVar(&cfg.readyWait, "ready-timeout", 2*time.Minute, "how long to wait for each process to become ready")
	flag.Parse()

	logger := slog.New(slog.NewTextHandler(os.Stderr, &slog.HandlerOptions{Level: slog.LevelInfo}))
	ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt, syscall.SIGTERM)
	err := run(ctx, cfg, logger)
	stop()
	if err != nil {
		logger.Error("receivebench", "err", err)
		os.Exit(1)
	}
}

// validate checks the flags and says what to fix.
func (c config) validate() error {
	switch {
	case c.series < 1:
		return errors.New("--series must be at least 1")
	case c.rounds < 1:
		return errors.New("--rounds must be at least 1")
	case c.interval < time.Millisecond:
		return errors.New("--interval must be at least 1ms")
	case c.senders < 1:
		return errors.New("--senders must be at least 1")
	case c.batch < 1:
		return errors.New("--batch must be at least 1")
	case c.readyWait <= 0:
		return errors.New("--ready-timeout must be positive")
	}
	return nil
}

// dataStart is where round 0 goes: an hour before now, or earlier so that
// the last round still ends a minute before now.
func dataStart(now time.Time, rounds int, interval time.Duration) time.Time {
	span := max(time.Hour, time.Duration(rounds+1)*interval+time.Minute)
	return now.Add(-span).Truncate(time.Second)
}

// result is what one target measured.
type result struct {
	name    string
	procs   int
	skipped string
	warm    phaseResult
	load    phaseResult
	warmCPU time.Duration
	loadCPU time.Duration
	// genCPU is the load generator's own CPU time over the load phase,
	// taken from the same cores as the receivers'.
	genCPU  time.Duration
	idleRSS int64 // resident memory after start, before any write (sum over processes)
	peakRSS int64 // VmHWM at the end (sum over processes)
	check   error
}

// starter starts a target; a nil target with a reason means skipped.
type starter struct {
	name  string
	start func(context.Context) (*target, string, error)
}

// always adapts the start of a target that is never skipped.
func always(start func(context.Context) (*target, error)) func(context.Context) (*target, string, error) {
	return func(ctx context.Context) (*target, string, error) {
		t, err := start(ctx)
		return t, "", err
	}
}

// run builds the binaries and measures every target in turn.
func run(ctx context.Context, cfg config, logger *slog.Logger) (err error) {
	if err := cfg.validate(); err != nil {
		return err
	}
	cfg.start = dataStart(time.Now(), cfg.rounds, cfg.interval)
	root, err := e2eutil.RepoRoot()
	if err != nil {
		return err
	}
	logger.Info("building binaries (a first prometheus build takes minutes)")
	bins, err := e2eutil.BuildPrometheus(ctx, root)
	if err != nil {
		return err
	}
	if _, err := e2eutil.BuildStrata(ctx, root); err != nil {
		return err
	}
	dir, cleanup, err := benchutil.WorkDir(cfg.dir, "strata-receivebench-", cfg.keep, logger)
	if err != nil {
		return err
	}
	defer func() { err = errors.Join(err, cleanup()) }()

	e := &env{cfg: cfg, bins: bins, dir: dir, ports: e2eutil.NewPorts()}
	starts := []starter{{"strata receive", always(e.startStrata)}, {"prometheus", always(e.startPrometheus)}}
	if cfg.threeNode {
		starts = append(starts, starter{"strata receive x3 RF3", e.startThreeNodes})
	}
	var results []*result
	for _, s := range starts {
		if ctx.Err() != nil {
			break
		}
		readyCtx, cancel := context.WithTimeout(ctx, cfg.readyWait)
		t, skipped, err := s.start(readyCtx)
		cancel()
		if err != nil {
			return fmt.Errorf("start %s: %w", s.name, err)
		}
		if t == nil {
			logger.Warn("skipped", "target", s.name, "why", skipped)
			results = append(results, &result{name: s.name, skipped: skipped})
			continue
		}
		res, err := measure(ctx, cfg, t, logger)
		t.stop()
		if err != nil {
			return fmt.Errorf("measure %s: %w", s.name, err)
		}
		results = append(results, res)
	}
	if ctx.Err() != nil {
		return ctx.Err()
	}
	printSummary(os.Stdout, cfg, results)
	var errs []error
	for _, r := range results {
		if r.check != nil {
			errs = append(errs, fmt.Errorf("%s: %w", r.name, r.check))
		}
		if n := r.warm.errors + r.load.errors; n > 0 {
			errs = append(errs, fmt.Errorf("%s: %d requests failed", r.name, n))
		}
	}
	return errors.Join(errs...)
}

// measure sends the warm-up round and the measured rounds to t, reading
// the CPU time of its processes around each phase, then its peak memory,
// and runs its check.
func measure(ctx context.Context, cfg config, t *target, logger *slog.Logger) (*result, error) {
	res := &result{name: t.name, procs: len(t.procs)}
	for _, p := range t.procs {
		m, err := benchutil.ReadProcMem(p.Pid())
		if err != nil {
			return nil, err
		}
		res.idleRSS += m.Anon + m.File
	}
	logger.Info("generating series", "target", t.name, "series", cfg.series)
	series := generateSeries(cfg.series, cfg.senders, cfg.interval, cfg.seed)
	client := &http.Client{
		Timeout:   time.Minute,
		Transport: &http.Transport{MaxIdleConnsPerHost: cfg.senders, DisableCompression: true},
	}
	defer client.CloseIdleConnections()
	l := &load{
		client: client, endpoints: t.endpoints, shards: shardSeries(series, cfg.senders),
		batch: cfg.batch, start: cfg.start, interval: cfg.interval, seed: cfg.seed,
	}
	cpu := func() (time.Duration, error) {
		var sum time.Duration
		for _, p := range t.procs {
			d, err := benchutil.ReadCPU(p.Pid())
			if err != nil {
				return 0, err
			}
			sum += d
		}
		return sum, nil
	}
	c0, err := cpu()
	if err != nil {
		return nil, err
	}
	logger.Info("warm-up round", "target", t.name, "endpoints", len(t.endpoints))
	res.warm = l.run(ctx, 0, 1)
	c1, err := cpu()
	if err != nil {
		return nil, err
	}
	g1, err := benchutil.ReadCPU(os.Getpid())
	if err != nil {
		return nil, err
	}
	logger.Info("load", "target", t.name, "rounds", cfg.rounds)
	res.load = l.run(ctx, 1, cfg.rounds+1)
	c2, err := cpu()
	if err != nil {
		return nil, err
	}
	g2, err := benchutil.ReadCPU(os.Getpid())
	if err != nil {
		return nil, err
	}
	res.genCPU = g2 - g1
	if ctx.Err() != nil {
		return nil, ctx.Err()
	}
	res.warmCPU, res.loadCPU = c1-c0, c2-c1
	for _, p := range t.procs {
		m, err := benchutil.ReadProcMem(p.Pid())
		if err != nil {
			return nil, err
		}
		res.peakRSS += m.HWM
	}
	logger.Info("checking what was stored", "target", t.name)
	res.check = t.check(ctx, res.warm.samples+res.load.samples)
	if res.check != nil {
		logger.Error("check failed", "target", t.name, "err", res.check)
	}
	return res, nil
}
