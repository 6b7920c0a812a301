package e2eutil

import (
	"bufio"
	"context"
	"fmt"
	"os"
	"os/exec"
	"time"
)

// BlockDuration is the block length Prometheus and promtool use by default
// (and the one a shipping sidecar needs): blocks cover [k*2h, (k+1)*2h) of
// Unix time.
const BlockDuration = 2 * time.Hour

// SyntheticData describes gauges for WriteOpenMetrics: Series series of the
// metric Metric (label `series`="0".."Series-1"), one sample every Step in
// [Start, End] (inclusive bounds), value = series index + minutes since Start.
type SyntheticData struct {
	Metric string
	Series int
	Start  time.Time
	End    time.Time
	Step   time.Duration
}

// AlignedRange returns the range [start, end] covering exactly n whole
// blocks of BlockDuration that ends at least `ago` before now; end is one
// step before the next block boundary, so promtool cuts exactly n blocks.
func AlignedRange(now time.Time, ago time.Duration, n int, step time.Duration) (start, end time.Time) {
	last := now.Add(-ago).Truncate(BlockDuration) // boundary after the last block
	start = last.Add(-time.Duration(n) * BlockDuration)
	return start, last.Add(-step)
}

// WriteOpenMetrics writes d as an OpenMetrics text file at path, the input
// of `promtool tsdb create-blocks-from openmetrics`.
func WriteOpenMetrics(path string, d SyntheticData) (err error) {
	if d.Step <= 0 || d.Series <= 0 || d.End.Before(d.Start) || d.Metric == "" {
		return fmt.Errorf("synthetic data needs a metric, series > 0, step > 0 and start <= end: %+v", d)
	}
	f, err := os.Create(path)
	if err != nil {
		return fmt.Errorf("create OpenMetrics file: %w", err)
	}
	defer func() {
		if cerr := f.Close(); err == nil && cerr != nil {
			err = fmt.Errorf("close OpenMetrics file: %w", cerr)
		}
	}()
	w := bufio.NewWriter(f)
	fmt.Fprintf(w, "# HELP %s Synthetic gauge written by the e2e tests.\n# TYPE %s gauge\n", d.Metric, d.Metric)
	for s := range d.Series {
		for ts := d.Start; !ts.After(d.End); ts = ts.Add(d.Step) {
			v := float64(s) + ts.Sub(d.Start).Minutes()
			fmt.Fprintf(w, "%s{series=\"%d\"} %g %d\n", d.Metric, s, v, ts.Unix())
		}
	}
	fmt.Fprint(w, "# EOF\n")
	if err := w.Flush(); err != nil {
		return fmt.Errorf("write OpenMetrics file: %w", err)
	}
	return nil
}

// CreateBlocks runs `promtool tsdb create-blocks-from openmetrics input
// dataDir`, which writes one block per BlockDuration window of the input
// into dataDir (created when missing). Run it before Prometheus starts on
// dataDir: a running Prometheus only sees the blocks after a reload.
func CreateBlocks(ctx context.Context, promtool, input, dataDir string) error {
	if err := os.MkdirAll(dataDir, 0o755); err != nil {
		return fmt.Errorf("create data dir: %w", err)
	}
	cmd := exec.CommandContext(ctx, promtool, "tsdb", "create-blocks-from", "openmetrics", "--quiet", input, dataDir)
	if out, err := cmd.CombinedOutput(); err != nil {
		return fmt.Errorf("promtool tsdb create-blocks-from openmetrics %s %s: %w\n%s", input, dataDir, err, out)
	}
	return nil
}
