package e2eutil

import (
	"bufio"
	"fmt"
	"math"
	"os"
	"strconv"
	"time"
)

// Family is one metric family of synthetic data for WriteFamilies: Series
// series (label `series`="0".."Series-1") of a counter or a gauge.
type Family struct {
	// Name is the family name. A counter's samples are named Name_total,
	// as OpenMetrics requires.
	Name string
	// Counter makes the family a counter; otherwise it is a gauge.
	Counter bool
	Series  int
	// Value returns the value of series s at its i-th sample (i from 0).
	Value func(s, i int) float64
}

// CounterWithResets returns counter values that grow by (s+1)/2 per sample
// and reset to 0 every `every` samples, so that rate() sees resets.
func CounterWithResets(every int) func(s, i int) float64 {
	return func(s, i int) float64 { return float64(s+1) * float64(i%every) / 2 }
}

// Wave returns gauge values that go up and down: 10*s plus a sine of
// amplitude 5 with a period of `period` samples.
func Wave(period int) func(s, i int) float64 {
	return func(s, i int) float64 {
		return 10*float64(s) + 5*math.Sin(2*math.Pi*float64(i)/float64(period))
	}
}

// WriteFamilies writes the families as an OpenMetrics text file at path, one
// sample every step in [start, end] (inclusive bounds) per series: the input
// of CreateBlocks. Values are written at full float64 precision, so a query
// over the resulting blocks sees exactly the values Value returned.
func WriteFamilies(path string, start, end time.Time, step time.Duration, fams ...Family) (err error) {
	if step <= 0 || end.Before(start) || len(fams) == 0 {
		return fmt.Errorf("synthetic data needs families, step > 0 and start <= end: step %s, [%s, %s], %d families",
			step, start, end, len(fams))
	}
	for _, f := range fams {
		if f.Name == "" || f.Series <= 0 || f.Value == nil {
			return fmt.Errorf("synthetic family needs a name, series > 0 and a value function: %+v", f)
		}
	}
	out, err := os.Create(path)
	if err != nil {
		return fmt.Errorf("create OpenMetrics file: %w", err)
	}
	defer func() {
		if cerr := out.Close(); err == nil && cerr != nil {
			err = fmt.Errorf("close OpenMetrics file: %w", cerr)
		}
	}()
	w := bufio.NewWriter(out)
	for _, f := range fams {
		typ, sample := "gauge", f.Name
		if f.Counter {
			typ, sample = "counter", f.Name+"_total"
		}
		fmt.Fprintf(w, "# HELP %s Synthetic %s written by the e2e tests.\n# TYPE %s %s\n", f.Name, typ, f.Name, typ)
		for s := range f.Series {
			i := 0
			for ts := start; !ts.After(end); ts = ts.Add(step) {
				v := strconv.FormatFloat(f.Value(s, i), 'g', -1, 64)
				fmt.Fprintf(w, "%s{series=\"%d\"} %s %d\n", sample, s, v, ts.Unix())
				i++
			}
		}
	}
	fmt.Fprint(w, "# EOF\n")
	if err := w.Flush(); err != nil {
		return fmt.Errorf("write OpenMetrics file: %w", err)
	}
	return nil
}
