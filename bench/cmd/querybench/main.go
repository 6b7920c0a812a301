// Command querybench measures the cost of querying Prometheus data through a
// Strata sidecar and querier, against the same Prometheus queried directly.
//
// Usage (from the repository root; `make bench` runs the defaults):
//
//	go run ./bench/cmd/querybench [flags]
//
//	--series=5000      approximate number of generated series (27 per pod)
//	--duration=24h     how much data to generate, ending at the last 2h boundary before now
//	--interval=30s     time between two samples of a series
//	--rounds=5         rounds of the suite; medians are reported
//	--step=60s         step of the range queries (which cover the whole --duration)
//	--query=REGEXP     run only the suite queries matching REGEXP
//	--dir=PATH         work directory (default: a temp dir, removed at the end)
//	--keep             keep the work directory (data, configs, logs)
//
// It builds .bin/strata, .bin/prometheus and .bin/promtool, generates the
// dataset as 2h TSDB blocks (internal/datagen) in a fresh Prometheus data dir,
// starts Prometheus on it (external labels cluster=bench, replica=0, no
// scraping), a sidecar and a querier on free 127.0.0.1 ports, and runs a
// dashboard-like suite of range and instant queries against Prometheus and
// the querier, interleaved, for --rounds rounds. The first round checks that
// both answer the same series with values within 1e-9 relative; then it prints
// per query the median latency of each side and their ratio (strata /
// prometheus; above 1 means Strata is slower), and totals per query type.
// It exits non-zero when any result differs. Every process is stopped and the
// work dir removed on exit, also on Ctrl-C.
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
	dir       string
	keep      bool
	readyWait time.Duration
}

func main() {
	cfg := config{gen: datagen.DefaultConfig()}
	flag.IntVar(&cfg.gen.Series, "series", cfg.gen.Series, "approximate number of series to generate")
	flag.DurationVar(&cfg.gen.Duration, "duration", cfg.gen.Duration, "time range of the generated data (whole 2h blocks)")
	flag.DurationVar(&cfg.gen.Interval, "interval", cfg.gen.Interval, "time between two samples of a series")
	flag.IntVar(&cfg.rounds, "rounds", 5, "rounds of the query suite")
	flag.DurationVar(&cfg.step, "step", 60*time.Second, "step of the range queries")
	flag.StringVar(&cfg.filter, "query", "", "run only suite queries matching this regexp")
	flag.StringVar(&cfg.dir, "dir", "", "work directory (default: a new temp dir)")
	flag.BoolVar(&cfg.keep, "keep", false, "keep the work directory")
	flag.DurationVar(&cfg.readyWait, "ready-timeout", 2*time.Minute, "how long to wait for the processes to become ready")
	flag.Parse()

	logger := slog.New(slog.NewTextHandler(os.Stderr, &slog.HandlerOptions{Level: slog.LevelInfo}))
	ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt, syscall.SIGTERM)
	err := run(ctx, cfg, logger)
	stop()
	if err != nil {
		logger.Error("querybench", "err", err)
		os.Exit(1)
	}
}

func run(ctx context.Context, cfg config, logger *slog.Logger) (err error) {
	if cfg.rounds < 1 {
		return errors.New("--rounds must be at least 1")
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

	dir, cleanup, err := benchutil.WorkDir(cfg.dir, "strata-querybench-", cfg.keep, logger)
	if err != nil {
		return err
	}
	defer func() { err = errors.Join(err, cleanup()) }()

	prom := &e2eutil.Prometheus{
		Bin: bins.Prometheus, Name: "prometheus", Dir: filepath.Join(dir, "prometheus"), Retain: "10y",
		Config: e2eutil.PromConfig{ExternalLabels: map[string]string{"cluster": "bench", "replica": "0"}},
	}
	start := time.Now()
	stats, err := datagen.Generate(ctx, prom.DataDir(), cfg.gen, quietLogger())
	if err != nil {
		return fmt.Errorf("generate data: %w", err)
	}
	logger.Info("generated data", "series", stats.Series, "pods", stats.Pods, "namespaces", stats.Namespaces,
		"samples", stats.Samples, "blocks", stats.Blocks, "took", time.Since(start).Round(time.Millisecond))

	ports := e2eutil.NewPorts()
	var procs []*e2eutil.Process
	defer func() {
		for i := len(procs) - 1; i >= 0; i-- {
			_ = procs[i].Stop(10 * time.Second)
		}
	}()
	readyCtx, cancel := context.WithTimeout(ctx, cfg.readyWait)
	defer cancel()
	if err := prom.Start(readyCtx, ports); err != nil {
		return benchutil.WithLog(err, prom.Process)
	}
	procs = append(procs, prom.Process)
	sidecar := e2eutil.NewSidecar(bins.Strata, dir, "sidecar", prom.URL())
	sidecar.LogLevel = "info"
	if err := sidecar.Start(readyCtx, ports, true); err != nil {
		return benchutil.WithLog(err, sidecar.Process)
	}
	procs = append(procs, sidecar.Process)
	querier := e2eutil.NewQuerier(bins.Strata, dir, "querier", []string{sidecar.GRPCAddr}, "--query.timeout=5m")
	querier.LogLevel = "info"
	if err := querier.Start(readyCtx, ports, true); err != nil {
		return benchutil.WithLog(err, querier.Process)
	}
	procs = append(procs, querier.Process)
	logger.Info("processes ready", "prometheus", prom.URL(), "sidecar", sidecar.GRPCAddr, "querier", querier.URL())

	b := &querysuite.Runner{
		Prom:    e2eutil.NewClient(prom.URL()),
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
	defer b.Prom.Close()
	defer b.Strata.Close()
	if err := b.WaitForData(readyCtx); err != nil {
		return err
	}
	results, err := b.Run(ctx, suite)
	querysuite.PrintTable(os.Stdout, fmt.Sprintf("querybench: %d series (%d pods, %d namespaces), %d samples, %s at %s; range queries step %s; %d rounds; median latency",
		stats.Series, stats.Pods, stats.Namespaces, stats.Samples, cfg.gen.Duration, cfg.gen.Interval, cfg.step, cfg.rounds), results)
	fmt.Fprintln(os.Stdout, "\nratio = strata / prometheus (above 1: slower through sidecar + querier)")
	return err
}

// quietLogger drops the info logs of Prometheus' block writer (one per block).
func quietLogger() *slog.Logger {
	return slog.New(slog.NewTextHandler(os.Stderr, &slog.HandlerOptions{Level: slog.LevelWarn})).With("component", "datagen")
}
