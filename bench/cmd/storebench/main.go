// Command storebench measures the store gateway: a dashboard query suite
// through `strata store` + `strata query` over a bucket of generated blocks,
// against a Prometheus serving the very same blocks from its local disk.
//
// Usage (from the repository root; `make bench-store` runs the defaults):
//
//	go run ./bench/cmd/storebench [flags]
//
//	--series=40000     approximate number of generated series (27 per pod)
//	--duration=48h     how much data to generate, ending at the last 2h boundary before now
//	--interval=30s     time between two samples of a series
//	--rounds=3         rounds of the suite; medians are reported
//	--step=60s         step of the range queries (which cover the whole --duration)
//	--query=REGEXP     run only the suite queries matching REGEXP
//	--store-arg=FLAG   extra flag for `strata store` (repeatable), e.g. --store-arg=--sync-block-duration=1m
//	--dir=PATH         work directory (default: a temp dir, removed at the end)
//	--keep             keep the work directory (bucket, data, configs, logs)
//
// It builds .bin/strata and .bin/prometheus, generates the dataset as 2h
// blocks (internal/datagen) into a Prometheus data dir and uploads each block
// to a FILESYSTEM bucket (as `strata tools bench gen --out-dir` does), with
// external labels cluster=bench, replica=0. It starts Prometheus on the data
// dir (same external labels, retention 10y, nothing scraped) and measures its
// time to ready and to its first query answer; then a querier and the store
// gateway on the bucket, measuring the store's time from process start to
// /-/ready and to the querier's first answer equal to Prometheus'. It runs
// the suite (bench/querysuite) as range and instant queries against both,
// interleaved, checks on round one that the answers are equal, and prints
// per-query medians, totals and ratios, the times to ready and the peak RSS
// (VmHWM) of the store, the querier and Prometheus. It exits non-zero when
// any answer differs.
package main

import (
	"context"
	"errors"
	"flag"
	"fmt"
	"log/slog"
	"os"
	"os/signal"
	"path/filepath"
	"syscall"
	"time"

	"github.com/prometheus/prometheus/model/labels"
	"github.com/thanos-io/objstore/providers/filesystem"

	"github.com/strata-io/strata/bench/benchutil"
	"github.com/strata-io/strata/bench/querysuite"
	"github.com/strata-io/strata/internal/datagen"
	"github.com/strata-io/strata/test/e2e/e2eutil"
)

type config struct {
	gen       datagen.Config
	rounds    int
	step      time.Duration
	filter    string
	storeArgs []string
	dir       string
	keep      bool
	readyWait time.Duration
}

// benchMaxSamples is --query.max-samples of Prometheus and the querier.
const benchMaxSamples = "500000000"

func main() {
	cfg := config{gen: datagen.Config{Series: 40000, Duration: 48 * time.Hour, Interval: 30 * time.Second, Seed: 1, End: time.Now()}}
	flag.IntVar(&cfg.gen.Series, "series", cfg.gen.Series, "approximate number of series to generate")
	flag.DurationVar(&cfg.gen.Duration, "duration", cfg.gen.Duration, "time range of the generated data (whole 2h blocks)")
	flag.DurationVar(&cfg.gen.Interval, "interval", cfg.gen.Interval, "time between two samples of a series")
	flag.IntVar(&cfg.rounds, "rounds", 3, "rounds of the query suite")
	flag.DurationVar(&cfg.step, "step", 60*time.Second, "step of the range queries")
	flag.StringVar(&cfg.filter, "query", "", "run only suite queries matching this regexp")
	flag.Func("store-arg", "extra flag for strata store (repeatable)", func(s string) error {
		cfg.storeArgs = append(cfg.storeArgs, s)
		return nil
	})
	flag.StringVar(&cfg.dir, "dir", "", "work directory (default: a new temp dir)")
	flag.BoolVar(&cfg.keep, "keep", false, "keep the work directory")
	flag.DurationVar(&cfg.readyWait, "ready-timeout", 5*time.Minute, "how long to wait for each process to become ready")
	flag.Parse()

	logger := slog.New(slog.NewTextHandler(os.Stderr, &slog.HandlerOptions{Level: slog.LevelInfo}))
	ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt, syscall.SIGTERM)
	err := run(ctx, cfg, logger)
	stop()
	if err != nil {
		logger.Error("storebench", "err", err)
		os.Exit(1)
	}
}

// externalLabels are the labels of the generated stream, on both sides.
var externalLabels = map[string]string{"cluster": "bench", "replica": "0"}

// startup is how long a process took from start to ready and to answering
// the probe query.
type startup struct{ ready, firstAnswer time.Duration }

func run(ctx context.Context, cfg config, logger *slog.Logger) (err error) {
	if cfg.rounds < 1 {
		return errors.New("--rounds must be at least 1")
	}
	if err := cfg.gen.Validate(); err != nil {
		return fmt.Errorf("check --series, --duration and --interval: %w", err)
	}
	suite, err := querysuite.Select(cfg.filter)
	if err != nil {
		return err
	}
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

	dir, cleanup, err := benchutil.WorkDir(cfg.dir, "strata-storebench-", cfg.keep, logger)
	if err != nil {
		return err
	}
	defer func() { err = errors.Join(err, cleanup()) }()

	// One generation: each block is written into Prometheus' data dir and
	// uploaded from there to the bucket.
	prom := &e2eutil.Prometheus{
		Bin: bins.Prometheus, Name: "prometheus", Dir: filepath.Join(dir, "prometheus"), Retain: "10y",
		Config: e2eutil.PromConfig{ExternalLabels: externalLabels},
		// The suite's 48h range queries over 40k series load more than the
		// default 50M samples at once, on both sides.
		Extra: []string{"--query.max-samples=" + benchMaxSamples},
	}
	bucketDir := filepath.Join(dir, "bucket")
	if err := os.MkdirAll(bucketDir, 0o755); err != nil {
		return fmt.Errorf("create bucket dir: %w", err)
	}
	bkt, err := filesystem.NewBucket(bucketDir)
	if err != nil {
		return fmt.Errorf("open bucket: %w", err)
	}
	stats, err := datagen.GenerateBucket(ctx, bkt, cfg.gen, labels.FromMap(externalLabels), prom.DataDir(), logger.With("component", "gen"))
	_ = bkt.Close()
	if err != nil {
		return fmt.Errorf("generate data: %w", err)
	}
	bucketBytes, err := benchutil.DirSize(bucketDir)
	if err != nil {
		return err
	}

	ports := e2eutil.NewPorts()
	var procs []*e2eutil.Process
	defer func() {
		for i := len(procs) - 1; i >= 0; i-- {
			_ = procs[i].Stop(10 * time.Second)
		}
	}()

	// Prometheus first: start to ready, then to the first probe answer.
	readyCtx, cancel := context.WithTimeout(ctx, cfg.readyWait)
	defer cancel()
	begin := time.Now()
	if err := prom.Start(readyCtx, ports); err != nil {
		return benchutil.WithLog(err, prom.Process)
	}
	procs = append(procs, prom.Process)
	promStart := startup{ready: time.Since(begin)}
	promClient := e2eutil.NewClient(prom.URL())
	defer promClient.Close()
	if err := waitAnswer(readyCtx, promClient, time.UnixMilli(stats.MaxTime)); err != nil {
		return benchutil.WithLog(err, prom.Process)
	}
	promStart.firstAnswer = time.Since(begin)
	logger.Info("prometheus ready", "url", prom.URL(), "ready", promStart.ready, "first_answer", promStart.firstAnswer)

	// The querier first, on the store's future address, so that the time
	// to the first answer is the store's (plus at most one 250ms endpoint check).
	storeGRPC, err := ports.Addr()
	if err != nil {
		return err
	}
	storeHTTP, err := ports.Addr()
	if err != nil {
		return err
	}
	querier := e2eutil.NewQuerier(bins.Strata, dir, "querier", []string{storeGRPC}, "--query.timeout=5m", "--endpoint.check-interval=250ms",
		"--query.max-samples="+benchMaxSamples)
	querier.LogLevel = "info"
	if err := querier.Start(readyCtx, ports, true); err != nil {
		return benchutil.WithLog(err, querier.Process)
	}
	procs = append(procs, querier.Process)

	store := &e2eutil.Strata{
		Bin: bins.Strata, Name: "store", Dir: filepath.Join(dir, "store"), Component: "store",
		Args:     append([]string{"--objstore.config=type: FILESYSTEM\nconfig:\n  directory: " + bucketDir}, cfg.storeArgs...),
		GRPCAddr: storeGRPC, HTTPAddr: storeHTTP, LogLevel: "info",
	}
	begin = time.Now()
	store.Process, err = e2eutil.StartReady(readyCtx, 1, func() (e2eutil.Spec, error) { return store.Spec(), nil })
	if err != nil {
		return benchutil.WithLog(err, store.Process)
	}
	procs = append(procs, store.Process)
	storeStart := startup{ready: time.Since(begin)}

	b := &querysuite.Runner{
		Prom:    promClient,
		Strata:  e2eutil.NewClient(querier.URL()),
		End:     time.UnixMilli(stats.MaxTime),
		Start:   time.UnixMilli(stats.MinTime),
		Step:    cfg.step,
		Rounds:  cfg.rounds,
		Logger:  logger,
		Drop:    []string{"cluster", "replica"},
		Timeout: 5 * time.Minute,
	}
	b.Prom.HTTP.Timeout, b.Strata.HTTP.Timeout = b.Timeout, b.Timeout
	defer b.Strata.Close()
	if err := waitAnswer(readyCtx, b.Strata, b.End); err != nil {
		return benchutil.WithLog(err, store.Process)
	}
	storeStart.firstAnswer = time.Since(begin)
	if err := b.WaitForData(readyCtx); err != nil {
		return benchutil.WithLog(err, store.Process)
	}
	logger.Info("store ready", "grpc", storeGRPC, "ready", storeStart.ready, "first_answer", storeStart.firstAnswer)

	results, runErr := b.Run(ctx, suite)
	mem := map[string]benchutil.ProcMem{}
	for _, p := range []*e2eutil.Process{store.Process, querier.Process, prom.Process} {
		if mem[p.Name], err = benchutil.ReadProcMem(p.Pid()); err != nil {
			return errors.Join(runErr, err)
		}
	}
	querysuite.PrintTable(os.Stdout, fmt.Sprintf(
		"storebench: %d series (%d pods, %d namespaces), %d samples, %s at %s in %d blocks (bucket %.1f MiB); range queries step %s; %d rounds; median latency",
		stats.Series, stats.Pods, stats.Namespaces, stats.Samples, cfg.gen.Duration, cfg.gen.Interval, stats.Blocks,
		float64(bucketBytes)/(1<<20), cfg.step, cfg.rounds), results)
	printSummary(os.Stdout, results, promStart, storeStart, mem)
	return runErr
}

// waitAnswer polls an instant probe query every 100ms until it returns at
// least one series.
func waitAnswer(ctx context.Context, c *e2eutil.Client, at time.Time) error {
	var last string
	for {
		d, _, err := c.Query(ctx, "count(container_threads)", at, nil)
		switch {
		case err != nil:
			last = err.Error()
		case len(d.Result) == 0:
			last = "empty result"
		default:
			return nil
		}
		select {
		case <-ctx.Done():
			return fmt.Errorf("%s does not answer the probe query (last: %s): %w", c.BaseURL, last, ctx.Err())
		case <-time.After(100 * time.Millisecond):
		}
	}
}

func printSummary(w *os.File, rows []*querysuite.Result, prom, store startup, mem map[string]benchutil.ProcMem) {
	p, s := querysuite.Totals(rows, "")
	fmt.Fprintf(w, "TOTAL    all      prometheus %s  strata %s  ratio %.2f (goal <= 1.20)\n", querysuite.MS(p), querysuite.MS(s), float64(s)/float64(max(p, 1)))
	fmt.Fprintf(w, "\ntime to ready        start -> /-/ready   start -> first answer\n")
	fmt.Fprintf(w, "  prometheus         %10s          %10s\n", prom.ready.Round(time.Millisecond), prom.firstAnswer.Round(time.Millisecond))
	fmt.Fprintf(w, "  store (+ querier)  %10s          %10s\n", store.ready.Round(time.Millisecond), store.firstAnswer.Round(time.Millisecond))
	fmt.Fprintf(w, "\nmemory at the end    peak RSS (VmHWM)   RSS anon   RSS file (mmapped blocks)\n")
	for _, name := range []string{"prometheus", "store", "querier"} {
		m := mem[name]
		fmt.Fprintf(w, "  %-18s %10s  %10s  %10s\n", name, benchutil.MiB(m.HWM), benchutil.MiB(m.Anon), benchutil.MiB(m.File))
	}
	verdict := "lower"
	if mem["store"].HWM >= mem["prometheus"].HWM {
		verdict = "NOT lower"
	}
	fmt.Fprintf(w, "  store peak RSS is %s than prometheus' (goal: lower)\n", verdict)
	fmt.Fprintln(w, "\nratio = strata / prometheus (above 1: slower through store gateway + querier)")
}
