package main

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"net/http"
	"time"

	"github.com/strata-io/strata/bench/benchutil"
	"github.com/strata-io/strata/test/e2e/e2eutil"
)

// compactResult is what one compactor run measured.
type compactResult struct {
	// elapsed is from process start to the end of the first successful
	// run (its timestamp gauge), or to the moment the run was seen done.
	elapsed time.Duration
	metrics benchutil.MetricsPage
	mem     benchutil.ProcMem
	phases  phaseTimes
}

// pollInterval is how often the compactor's /metrics is scraped.
const pollInterval = 500 * time.Millisecond

// runCompactor starts `strata compact --wait` on the bucket, waits for
// the end of its first run, reads its metrics, memory and log, and stops
// it. The result is nil when nothing could be measured; the error tells
// a failed run (the result is then still worth printing).
func runCompactor(ctx context.Context, bin, dir, objstoreFlag string, cfg config, logger *slog.Logger) (*compactResult, error) {
	args := []string{objstoreFlag, "--wait", "--wait-interval=1h", "--delete-delay=0s", "--log.format=json"}
	if cfg.replicas > 1 {
		args = append(args, "--deduplication.replica-label=replica")
	}
	comp := e2eutil.NewCompactor(bin, dir, "compact", append(args, cfg.compactArgs...)...)
	comp.LogLevel = "info"

	ctx, cancel := context.WithTimeout(ctx, cfg.timeout)
	defer cancel()
	begin := time.Now()
	if err := comp.Start(ctx, e2eutil.NewPorts(), true); err != nil {
		return nil, benchutil.WithLog(err, comp.Process)
	}
	defer func() { _ = comp.Process.Stop(stopTimeout) }()
	logger.Info("compactor started", "http", comp.HTTPAddr, "log", comp.Process.LogPath())

	client := &http.Client{Timeout: 10 * time.Second}
	defer client.CloseIdleConnections()
	page, err := waitFirstRun(ctx, client, comp)
	if err != nil {
		return nil, benchutil.WithLog(err, comp.Process)
	}
	res := &compactResult{metrics: page, phases: readPhaseTimes(comp.Process.LogPath())}
	if ts := page.Sum("strata_compact_last_successful_run_timestamp_seconds", nil); ts > 0 {
		res.elapsed = time.Unix(0, int64(ts*1e9)).Sub(begin)
	} else {
		res.elapsed = time.Since(begin)
	}
	if res.mem, err = benchutil.ReadProcMem(comp.Process.Pid()); err != nil {
		return nil, err
	}
	if err := comp.Process.Stop(stopTimeout); err != nil {
		logger.Warn("compactor did not stop cleanly", "err", err)
	}
	if res.phases.runFailed || page.Sum("strata_compact_last_successful_run_timestamp_seconds", nil) == 0 {
		return res, fmt.Errorf("the compactor's first run had failures: see %s", comp.Process.LogPath())
	}
	return res, nil
}

// waitFirstRun scrapes the compactor's /metrics every pollInterval until
// its first run ended: a last-successful-run timestamp, a run failure, or
// the "compactor run done" log line (a run with failed groups). It
// returns the last page.
func waitFirstRun(ctx context.Context, client *http.Client, comp *e2eutil.Strata) (benchutil.MetricsPage, error) {
	tick := time.NewTicker(pollInterval)
	defer tick.Stop()
	var lastErr error
	for {
		page, err := benchutil.Scrape(ctx, client, comp.URL()+"/metrics")
		if err == nil {
			runs := page.Sum("strata_compact_runs_total", nil)
			switch {
			case page.Sum("strata_compact_run_failures_total", nil) > 0:
				return page, errors.New("the compactor's run failed (strata_compact_run_failures_total > 0)")
			case runs >= 1 && page.Sum("strata_compact_last_successful_run_timestamp_seconds", nil) > 0:
				return page, nil
			case runs >= 1 && readPhaseTimes(comp.Process.LogPath()).runDone:
				return page, nil
			}
		}
		lastErr = err
		select {
		case <-comp.Process.Done():
			return nil, fmt.Errorf("the compactor exited before its first run ended")
		case <-ctx.Done():
			return nil, fmt.Errorf("the compactor's first run did not end (raise --timeout; last scrape error: %v): %w", lastErr, ctx.Err())
		case <-tick.C:
		}
	}
}
