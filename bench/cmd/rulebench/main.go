// Command rulebench measures the cost of evaluating a large rule file with
// `strata rule` (querying a strata query over a strata sidecar next to the
// Prometheus holding the data) against that Prometheus evaluating the same
// rule file itself.
//
// Usage (from the repository root; `make bench-rule` runs the defaults):
//
//	go run ./bench/cmd/rulebench [flags]
//
//	--rules=1000         generated rules (3 in 5 recording, the others alerting)
//	--per-group=20       rules per group
//	--series=5000        approximate number of generated series (27 per pod)
//	--eval-interval=30s  interval of every group
//	--rounds=3           evaluation rounds measured per side
//	--check=20           recording rules whose results are compared
//	--dir=PATH           work directory (default: a temp dir, removed at the end)
//	--keep               keep the work directory (data, configs, logs)
//
// It builds .bin/strata and .bin/prometheus, generates the dataset
// (internal/datagen) as 2h TSDB blocks reaching at least 15m past now, so
// that every evaluation finds full windows, and writes one rule file of
// dashboard-style expressions (rate and sum by, histogram_quantile over
// classic buckets, error ratios, avg_over_time, topk, absent, comparisons
// for alerts). Then, in two phases on the same data:
//
//  1. Prometheus (external labels cluster=bench, replica=0) evaluates the
//     rule file itself. Its rule results are dropped as out of bounds (the
//     generated blocks reach into the future), so it pays for evaluating, not
//     for storing them.
//  2. Prometheus reloads without the rule file and `strata rule` evaluates
//     the same file (same path, so the same evaluation slots) against a
//     strata query over a strata sidecar of that Prometheus.
//
// Each phase waits until every group evaluated once, then measures --rounds
// intervals: evaluation time per interval (sum over groups of
// prometheus_rule_group_last_duration_seconds, which both rules managers
// export), rule evaluations and failures, CPU seconds (utime+stime from
// /proc) per rule evaluation and peak RSS of each process. Finally, for
// --check recording rules, it compares the latest sample of each series the
// ruler recorded (read through a second querier over the ruler's StoreAPI)
// with Prometheus evaluating the rule's expression at that timestamp,
// within 1e-9 relative. It exits non-zero when a side has rule evaluation
// failures; mismatches are reported, not fatal.
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
	"path/filepath"
	"syscall"
	"time"

	"github.com/prometheus/common/model"

	"github.com/strata-io/strata/bench/benchutil"
	"github.com/strata-io/strata/internal/datagen"
	"github.com/strata-io/strata/test/e2e/e2eutil"
)

type config struct {
	gen       datagen.Config
	rules     int
	perGroup  int
	interval  time.Duration
	rounds    int
	dir       string
	keep      bool
	readyWait time.Duration
	samples   int
}

func main() {
	cfg := config{gen: datagen.DefaultConfig()}
	flag.IntVar(&cfg.rules, "rules", 1000, "number of generated rules")
	flag.IntVar(&cfg.perGroup, "per-group", 20, "rules per group")
	flag.IntVar(&cfg.gen.Series, "series", cfg.gen.Series, "approximate number of series to generate")
	flag.DurationVar(&cfg.interval, "eval-interval", 30*time.Second, "evaluation interval of every group")
	flag.IntVar(&cfg.rounds, "rounds", 3, "evaluation rounds measured")
	flag.IntVar(&cfg.samples, "check", 20, "recording rules whose results are compared between the sides")
	flag.StringVar(&cfg.dir, "dir", "", "work directory (default: a new temp dir)")
	flag.BoolVar(&cfg.keep, "keep", false, "keep the work directory")
	flag.DurationVar(&cfg.readyWait, "ready-timeout", 2*time.Minute, "how long to wait for the processes to become ready")
	flag.Parse()

	logger := slog.New(slog.NewTextHandler(os.Stderr, &slog.HandlerOptions{Level: slog.LevelInfo}))
	ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt, syscall.SIGTERM)
	err := run(ctx, cfg, logger)
	stop()
	if err != nil {
		logger.Error("rulebench", "err", err)
		os.Exit(1)
	}
}

// stack is the set of processes of a run.
type stack struct {
	prom, sidecar, querier, ruler, ruleQuerier *e2eutil.Process
	promURL, querierURL, rulerURL, ruleQURL    string

	dir, ruleFile, promCfgPath string
	bins                       e2eutil.Binaries
	ports                      *e2eutil.Ports
}

func run(ctx context.Context, cfg config, logger *slog.Logger) (err error) {
	if cfg.rounds < 1 || cfg.rules < 1 || cfg.interval < time.Second {
		return errors.New("--rounds and --rules must be at least 1, --eval-interval at least 1s")
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
	dir, cleanup, err := benchutil.WorkDir(cfg.dir, "strata-rulebench-", cfg.keep, logger)
	if err != nil {
		return err
	}
	defer func() { err = errors.Join(err, cleanup()) }()

	// The data reaches at least 15m past now (blocks end on 2h boundaries),
	// so that every evaluation of the run finds a full window of samples.
	now := time.Now()
	cfg.gen.End = now.Add(datagen.BlockDuration + 15*time.Minute)
	cfg.gen.Duration = 4 * time.Hour
	promDir := filepath.Join(dir, "prometheus")
	start := time.Now()
	stats, err := datagen.Generate(ctx, filepath.Join(promDir, "data"), cfg.gen, quietLogger())
	if err != nil {
		return fmt.Errorf("generate data: %w", err)
	}
	logger.Info("generated data", "series", stats.Series, "pods", stats.Pods, "namespaces", stats.Namespaces,
		"samples", stats.Samples, "blocks", stats.Blocks, "took", time.Since(start).Round(time.Millisecond))

	groups := generate(ruleSet{Rules: cfg.rules, PerGroup: cfg.perGroup, Namespaces: stats.Namespaces})
	ruleFile := filepath.Join(dir, "rules.yml")
	if err := os.WriteFile(ruleFile, []byte(ruleFileYAML(groups, cfg.interval)), 0o644); err != nil {
		return fmt.Errorf("write rule file: %w", err)
	}

	var procs []*e2eutil.Process
	defer func() {
		for i := len(procs) - 1; i >= 0; i-- {
			_ = procs[i].Stop(10 * time.Second)
		}
	}()
	st, err := startStack(ctx, cfg, bins, dir, promDir, ruleFile, &procs)
	if err != nil {
		return err
	}
	logger.Info("processes ready", "prometheus", st.promURL, "querier", st.querierURL,
		"groups", len(groups), "rules", cfg.rules)

	m := &measurer{cfg: cfg, groups: len(groups), st: st, logger: logger}
	var res results
	// Phase 1: Prometheus evaluates the rules alone.
	if res.prom, err = m.measureSide(ctx, "prometheus", st.promURL, st.prom, st.prom); err != nil {
		return err
	}
	// Phase 2: Prometheus drops the rules; the ruler evaluates them through
	// the querier and the sidecar.
	if err := dropPromRules(ctx, cfg, st); err != nil {
		return err
	}
	if err := startRuler(ctx, cfg, st, &procs); err != nil {
		return err
	}
	if res.strata, err = m.measureSide(ctx, "ruler", st.rulerURL, st.ruler, st.ruler, st.querier, st.sidecar, st.prom); err != nil {
		return err
	}
	checks, err := compareSample(ctx, st, groups, cfg.samples)
	if err != nil {
		return err
	}
	printReport(os.Stdout, cfg, stats, len(groups), res, checks)
	if res.prom.failures > 0 || res.strata.failures > 0 {
		return fmt.Errorf("rule evaluation failures: prometheus %v, strata %v (see the logs in %s with --keep)",
			res.prom.failures, res.strata.failures, dir)
	}
	return nil
}

// startStack starts Prometheus (with the rule file), the sidecar, the
// querier, the ruler and a querier over the ruler, adding each to procs.
func startStack(ctx context.Context, cfg config, bins e2eutil.Binaries, dir, promDir, ruleFile string, procs *[]*e2eutil.Process) (*stack, error) {
	readyCtx, cancel := context.WithTimeout(ctx, cfg.readyWait)
	defer cancel()
	ports := e2eutil.NewPorts()
	st := &stack{}

	promCfgPath := filepath.Join(promDir, "prometheus.yml")
	if err := writePromConfig(promCfgPath, cfg.interval, ruleFile); err != nil {
		return nil, err
	}
	st.promCfgPath = promCfgPath
	prom, err := e2eutil.StartReady(readyCtx, 3, func() (e2eutil.Spec, error) {
		addr, err := ports.Addr()
		if err != nil {
			return e2eutil.Spec{}, err
		}
		st.promURL = "http://" + addr
		return e2eutil.Spec{Name: "prometheus", Bin: bins.Prometheus, Dir: promDir, ReadyURL: st.promURL + "/-/ready", Args: []string{
			"--config.file=" + promCfgPath,
			"--storage.tsdb.path=" + filepath.Join(promDir, "data"),
			"--storage.tsdb.retention.time=10y",
			"--web.listen-address=" + addr,
			"--web.enable-lifecycle",
		}}, nil
	})
	if err != nil {
		return nil, benchutil.WithLog(err, prom)
	}
	*procs = append(*procs, prom)
	st.prom = prom

	sidecar := e2eutil.NewSidecar(bins.Strata, dir, "sidecar", st.promURL)
	sidecar.LogLevel = "info"
	if err := sidecar.Start(readyCtx, ports, true); err != nil {
		return nil, benchutil.WithLog(err, sidecar.Process)
	}
	*procs = append(*procs, sidecar.Process)
	st.sidecar = sidecar.Process

	querier := e2eutil.NewQuerier(bins.Strata, dir, "querier", []string{sidecar.GRPCAddr})
	querier.LogLevel = "info"
	if err := querier.Start(readyCtx, ports, true); err != nil {
		return nil, benchutil.WithLog(err, querier.Process)
	}
	*procs = append(*procs, querier.Process)
	st.querier, st.querierURL = querier.Process, querier.URL()

	st.dir, st.ruleFile, st.bins, st.ports = dir, ruleFile, bins, ports
	return st, nil
}

// startRuler starts the ruler over the querier and a second querier over
// the ruler's StoreAPI, adding them to procs.
func startRuler(ctx context.Context, cfg config, st *stack, procs *[]*e2eutil.Process) error {
	readyCtx, cancel := context.WithTimeout(ctx, cfg.readyWait)
	defer cancel()
	ruler := &e2eutil.Strata{Bin: st.bins.Strata, Name: "ruler", Dir: filepath.Join(st.dir, "ruler"), Component: "rule", LogLevel: "info",
		Args: []string{
			"--query=" + st.querierURL,
			"--rule-file=" + st.ruleFile,
			"--eval-interval=" + cfg.interval.String(),
			"--data-dir=" + filepath.Join(st.dir, "ruler", "data"),
		}}
	if err := ruler.Start(readyCtx, st.ports, true); err != nil {
		return benchutil.WithLog(err, ruler.Process)
	}
	*procs = append(*procs, ruler.Process)
	st.ruler, st.rulerURL = ruler.Process, ruler.URL()

	ruleQ := e2eutil.NewQuerier(st.bins.Strata, st.dir, "rule-querier", []string{ruler.GRPCAddr})
	ruleQ.LogLevel = "info"
	if err := ruleQ.Start(readyCtx, st.ports, true); err != nil {
		return benchutil.WithLog(err, ruleQ.Process)
	}
	*procs = append(*procs, ruleQ.Process)
	st.ruleQuerier, st.ruleQURL = ruleQ.Process, ruleQ.URL()
	return nil
}

// writePromConfig writes Prometheus' config, loading ruleFile unless it is
// empty.
func writePromConfig(path string, interval time.Duration, ruleFile string) error {
	rules := "[]"
	if ruleFile != "" {
		rules = fmt.Sprintf("[%q]", ruleFile)
	}
	yml := fmt.Sprintf(`global:
  scrape_interval: %[1]s
  evaluation_interval: %[1]s
  external_labels:
    cluster: "bench"
    replica: "0"
rule_files: %[2]s
scrape_configs: []
`, model.Duration(interval), rules)
	if err := os.WriteFile(path, []byte(yml), 0o644); err != nil {
		return fmt.Errorf("write prometheus config: %w", err)
	}
	return nil
}

// dropPromRules rewrites Prometheus' config without the rule file and
// reloads it, so that it only serves the sidecar's reads.
func dropPromRules(ctx context.Context, cfg config, st *stack) error {
	if err := writePromConfig(st.promCfgPath, cfg.interval, ""); err != nil {
		return err
	}
	req, err := http.NewRequestWithContext(ctx, http.MethodPost, st.promURL+"/-/reload", nil)
	if err != nil {
		return err
	}
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		return fmt.Errorf("reload prometheus: %w", err)
	}
	_ = resp.Body.Close()
	if resp.StatusCode != http.StatusOK {
		return fmt.Errorf("reload prometheus: %s", resp.Status)
	}
	return nil
}

// quietLogger drops the info logs of Prometheus' block writer (one per block).
func quietLogger() *slog.Logger {
	return slog.New(slog.NewTextHandler(os.Stderr, &slog.HandlerOptions{Level: slog.LevelWarn})).With("component", "datagen")
}
