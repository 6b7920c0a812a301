package main

import (
	"context"
	"fmt"
	"log/slog"
	"path/filepath"
	"time"

	"github.com/strata-io/strata/bench/benchutil"
	"github.com/strata-io/strata/test/e2e/e2eutil"
)

// genStats is what `strata tools bench gen` reported for one replica
// (its "bucket generated" log line) and how long it took.
type genStats struct {
	blocks, series, samples int64
	took                    time.Duration
}

// generate runs `strata tools bench gen` once per replica (replica=0, 1;
// same seed, so an HA pair of identical data) into the bucket, one after
// the other, and returns the stats of the first replica.
func generate(ctx context.Context, bin, dir, objstoreFlag string, cfg config, end time.Time, logger *slog.Logger) (genStats, error) {
	var first genStats
	for r := range cfg.replicas {
		logger.Info("generating bucket", "replica", r, "series", cfg.series, "duration", cfg.duration, "end", end.Format(time.RFC3339))
		st, err := generateReplica(ctx, bin, dir, objstoreFlag, cfg, end, r)
		if err != nil {
			return first, err
		}
		logger.Info("bucket generated", "replica", r, "blocks", st.blocks, "series", st.series, "samples", st.samples, "took", st.took)
		if r == 0 {
			first = st
		}
	}
	return first, nil
}

// generateReplica runs one `strata tools bench gen` to its end.
func generateReplica(ctx context.Context, bin, dir, objstoreFlag string, cfg config, end time.Time, replica int) (genStats, error) {
	spec := e2eutil.Spec{
		Name: fmt.Sprintf("gen-replica%d", replica),
		Bin:  bin,
		Dir:  filepath.Join(dir, "gen"),
		Args: []string{
			"tools", "bench", "gen", objstoreFlag, "--log.level=info", "--log.format=json",
			fmt.Sprintf("--series=%d", cfg.series), "--duration=" + cfg.duration.String(),
			"--interval=" + cfg.interval.String(), "--end=" + end.Format(time.RFC3339),
			"--label=cluster=bench", fmt.Sprintf("--label=replica=%d", replica), "--seed=1",
		},
	}
	begin := time.Now()
	p, err := e2eutil.Start(spec)
	if err != nil {
		return genStats{}, err
	}
	if err := p.Wait(ctx); err != nil {
		return genStats{}, benchutil.WithLog(fmt.Errorf("%s: %w", spec.Name, err), p)
	}
	st := genStats{took: time.Since(begin)}
	for _, l := range readLogLines(p.LogPath()) {
		if l.msg() == "bucket generated" {
			st.blocks, st.series, st.samples = l.int("blocks"), l.int("series"), l.int("samples")
		}
	}
	if st.blocks == 0 {
		return st, benchutil.WithLog(fmt.Errorf("%s logged no \"bucket generated\" line", spec.Name), p)
	}
	return st, nil
}
