// Command compactbench measures `strata compact` on a generated bucket:
// compaction and downsampling throughput, peak RSS and object-storage
// requests per input block.
//
// Usage (from the repository root; `make bench-compact` runs the defaults):
//
//	go run ./bench/cmd/compactbench [flags]
//
//	--series=40000      approximate number of generated series per replica (27 per pod)
//	--duration=48h      how much data to generate (whole 2h blocks)
//	--interval=30s      time between two samples of a series
//	--align=2d          where the data ends: the last 2h, 2d or 14d boundary (see below)
//	--replicas=1        1, or 2 for an HA pair (replica=0 and replica=1, same data) merged by offline dedup
//	--compact-arg=FLAG  extra flag for `strata compact` (repeatable), e.g. --compact-arg=--compact.concurrency=2
//	--timeout=3h        how long the compactor run may take
//	--dir=PATH          work directory (default: a temp dir, removed at the end)
//	--keep              keep the work directory (bucket, logs)
//
// It builds .bin/strata, generates a FILESYSTEM bucket in the work dir
// with `strata tools bench gen` (external labels cluster=bench,
// replica=0[,1]), then starts `strata compact --wait --wait-interval=1h
// --delete-delay=0s` on it and polls its /metrics until the first run
// succeeded (strata_compact_last_successful_run_timestamp_seconds > 0).
// It reads the compactor's counters (samples and blocks compacted, blocks
// downsampled, bucket operations by kind, bytes uploaded), its peak RSS
// (VmHWM) and, from its JSON log, the time spent compacting and
// downsampling; stops it; lists the bucket; and prints a summary.
//
// --align decides what the compactor has to do, since its planner only
// compacts complete windows and downsamples raw blocks spanning >= 40h or
// never to be compacted again (internal/compact/planner.go):
//
//	2h   data ends at the last 2h boundary before now (what `tools bench gen`
//	     does by default): the newest 2d window is still open, so the data is
//	     compacted to 8h blocks and one 2d block of what falls into the
//	     previous 2d window; that block is downsampled only if it spans >= 40h.
//	2d   (default) data ends at the last 2d boundary: one complete 2d window,
//	     compacted 2h -> 8h -> 2d into one 48h block, downsampled to 5m.
//	14d  data ends at the 14d boundary at least 14d ago: as 2d, and the 48h
//	     block is final (alone in a complete 14d window), so its 5m copy is
//	     downsampled to 1h too.
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
	"github.com/strata-io/strata/test/e2e/e2eutil"
)

// config holds the command-line flags.
type config struct {
	series      int
	duration    time.Duration
	interval    time.Duration
	align       time.Duration
	replicas    int
	compactArgs []string
	timeout     time.Duration
	dir         string
	keep        bool
}

func main() {
	cfg := config{}
	flag.IntVar(&cfg.series, "series", 40000, "approximate number of series per replica")
	flag.DurationVar(&cfg.duration, "duration", 48*time.Hour, "time range of the generated data (whole 2h blocks)")
	flag.DurationVar(&cfg.interval, "interval", 30*time.Second, "time between two samples of a series")
	flag.Func("align", "end the data at the last 2h, 2d (default) or 14d boundary", func(s string) error {
		d, err := parseAlign(s)
		cfg.align = d
		return err
	})
	flag.IntVar(&cfg.replicas, "replicas", 1, "1, or 2 for an HA pair deduplicated offline (--deduplication.replica-label=replica)")
	flag.Func("compact-arg", "extra flag for strata compact (repeatable)", func(s string) error {
		cfg.compactArgs = append(cfg.compactArgs, s)
		return nil
	})
	flag.DurationVar(&cfg.timeout, "timeout", 3*time.Hour, "how long the compactor's first run may take")
	flag.StringVar(&cfg.dir, "dir", "", "work directory (default: a new temp dir)")
	flag.BoolVar(&cfg.keep, "keep", false, "keep the work directory")
	flag.Parse()
	if cfg.align == 0 {
		cfg.align = 48 * time.Hour
	}

	logger := slog.New(slog.NewTextHandler(os.Stderr, &slog.HandlerOptions{Level: slog.LevelInfo}))
	ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt, syscall.SIGTERM)
	err := run(ctx, cfg, logger)
	stop()
	if err != nil {
		logger.Error("compactbench", "err", err)
		os.Exit(1)
	}
}

// parseAlign accepts the values of --align.
func parseAlign(s string) (time.Duration, error) {
	switch s {
	case "2h":
		return 2 * time.Hour, nil
	case "2d":
		return 48 * time.Hour, nil
	case "14d":
		return 14 * 24 * time.Hour, nil
	}
	return 0, fmt.Errorf("--align=%s: want 2h, 2d or 14d", s)
}

// validate checks the flags and says what to fix.
func (c config) validate() error {
	switch {
	case c.series < 1:
		return errors.New("--series must be at least 1")
	case c.duration < 2*time.Hour:
		return errors.New("--duration must be at least 2h (one block)")
	case c.interval <= 0:
		return errors.New("--interval must be positive")
	case c.replicas != 1 && c.replicas != 2:
		return fmt.Errorf("--replicas must be 1 or 2, got %d", c.replicas)
	case c.timeout <= 0:
		return errors.New("--timeout must be positive")
	}
	return nil
}

// run builds strata, generates the bucket, runs the compactor once and
// prints the summary. The work dir is removed at the end unless --keep.
func run(ctx context.Context, cfg config, logger *slog.Logger) (err error) {
	if err := cfg.validate(); err != nil {
		return err
	}
	root, err := e2eutil.RepoRoot()
	if err != nil {
		return err
	}
	logger.Info("building strata")
	bins, err := e2eutil.BuildStrata(ctx, root)
	if err != nil {
		return err
	}
	dir, cleanup, err := benchutil.WorkDir(cfg.dir, "strata-compactbench-", cfg.keep, logger)
	if err != nil {
		return err
	}
	defer func() { err = errors.Join(err, cleanup()) }()

	bucketDir := filepath.Join(dir, "bucket")
	if err := os.MkdirAll(bucketDir, 0o755); err != nil {
		return fmt.Errorf("create bucket dir: %w", err)
	}
	objstoreFlag := "--objstore.config=type: FILESYSTEM\nconfig:\n  directory: " + bucketDir
	end := dataEnd(time.Now(), cfg.align)
	gen, err := generate(ctx, bins.Strata, dir, objstoreFlag, cfg, end, logger)
	if err != nil {
		return err
	}
	before, err := listBlocks(bucketDir)
	if err != nil {
		return err
	}

	res, runErr := runCompactor(ctx, bins.Strata, dir, objstoreFlag, cfg, logger)
	if res == nil {
		return runErr
	}
	after, err := listBlocks(bucketDir)
	if err != nil {
		return errors.Join(runErr, err)
	}
	printSummary(os.Stdout, cfg, end, gen, before, after, res)
	return runErr
}

// dataEnd is the end of the generated data: now rounded down to a
// multiple of align (Unix epoch based, as the compactor's windows), one
// more align back for 14d so that the 14d window is over for at least
// 14d (the compactor then treats it as complete).
func dataEnd(now time.Time, align time.Duration) time.Time {
	ms := now.UnixMilli()
	end := ms - ms%align.Milliseconds()
	if align >= 14*24*time.Hour {
		end -= align.Milliseconds()
	}
	return time.UnixMilli(end).UTC()
}

// stopTimeout is how long a process gets to exit after SIGTERM.
const stopTimeout = 30 * time.Second
