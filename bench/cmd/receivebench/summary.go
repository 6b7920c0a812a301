package main

import (
	"fmt"
	"io"
	"runtime"
	"strings"
	"time"

	"github.com/strata-io/strata/bench/benchutil"
)

// printSummary prints the throughput, latency and memory tables and the
// ratios of each strata target to Prometheus.
func printSummary(w io.Writer, cfg config, results []*result) {
	pods := (cfg.series + len(podTemplates) - 1) / len(podTemplates)
	names := map[string]bool{}
	for _, t := range podTemplates {
		names[t.name] = true
	}
	fmt.Fprintf(w, "\nreceivebench: %d series (%d pods, %d namespaces, %d metric names), warm-up round + %d rounds at %s (virtual time),\n"+
		"%d senders, %d samples/request, remote write 1.0 + snappy; %d CPUs; CPU of the receiving processes only\n",
		cfg.series, pods, (pods+podsPerNamespace-1)/podsPerNamespace, len(names), cfg.rounds, cfg.interval,
		cfg.senders, cfg.batch, runtime.NumCPU())

	header := fmt.Sprintf("%-24s %5s %10s %8s %10s %7s %13s %7s %7s %6s", "target", "procs", "samples", "wall", "samples/s", "CPU-s", "samples/CPU-s", "p50", "p99", "errors")
	phase := func(title string, get func(*result) (phaseResult, time.Duration)) {
		fmt.Fprintf(w, "\n%s\n%s\n", title, header)
		for _, r := range results {
			if r.skipped != "" {
				fmt.Fprintf(w, "%-24s skipped: %s\n", r.name, r.skipped)
				continue
			}
			p, cpu := get(r)
			fmt.Fprintf(w, "%-24s %5d %10d %8s %10.0f %7.2f %13.0f %7s %7s %6d\n", r.name, r.procs, p.samples,
				p.wall.Round(10*time.Millisecond), rate(p.samples, p.wall), cpu.Seconds(), rate(p.samples, cpu),
				ms(percentile(p.latencies, 0.5)), ms(percentile(p.latencies, 0.99)), p.errors)
		}
	}
	phase("warm-up (round 0: creates every series)", func(r *result) (phaseResult, time.Duration) { return r.warm, r.warmCPU })
	phase(fmt.Sprintf("load (rounds 1-%d: appends)", cfg.rounds), func(r *result) (phaseResult, time.Duration) { return r.load, r.loadCPU })
	fmt.Fprintf(w, "load generator's own CPU over the load:")
	for _, r := range results {
		if r.skipped == "" {
			fmt.Fprintf(w, "  %s %.2fs", r.name, r.genCPU.Seconds())
		}
	}
	fmt.Fprintln(w)

	fmt.Fprintf(w, "\n%-24s %10s %10s %16s %20s\n", "memory", "idle RSS", "peak RSS", "peak RSS/series", "(peak-idle)/series")
	for _, r := range results {
		if r.skipped != "" {
			continue
		}
		fmt.Fprintf(w, "%-24s %10s %10s %14.0f B %18.0f B\n", r.name, benchutil.MiB(r.idleRSS), benchutil.MiB(r.peakRSS),
			float64(r.peakRSS)/float64(cfg.series), float64(r.peakRSS-r.idleRSS)/float64(cfg.series))
	}

	for _, r := range results {
		bodies := append(append([]string(nil), r.warm.bodies...), r.load.bodies...)
		if len(bodies) > maxErrorBodies {
			bodies = bodies[:maxErrorBodies]
		}
		if len(bodies) > 0 {
			fmt.Fprintf(w, "\nfirst errors of %s:\n  %s\n", r.name, strings.Join(bodies, "\n  "))
		}
		if r.check != nil {
			fmt.Fprintf(w, "\ncheck of %s FAILED: %v\n", r.name, r.check)
		}
	}

	var prom *result
	for _, r := range results {
		if r.name == "prometheus" && r.skipped == "" {
			prom = r
		}
	}
	if prom == nil {
		return
	}
	fmt.Fprintf(w, "\nratio = strata / prometheus  (samples per CPU-s: above 1 is cheaper; RSS per series: below 1 is smaller)\n")
	fmt.Fprintf(w, "%-24s %18s %18s %14s %14s\n", "target", "samples/CPU-s load", "samples/CPU-s warm", "samples/s load", "peak RSS/series")
	for _, r := range results {
		if r == prom || r.skipped != "" {
			continue
		}
		fmt.Fprintf(w, "%-24s %18.2f %18.2f %14.2f %14.2f\n", r.name,
			ratio(rate(r.load.samples, r.loadCPU), rate(prom.load.samples, prom.loadCPU)),
			ratio(rate(r.warm.samples, r.warmCPU), rate(prom.warm.samples, prom.warmCPU)),
			ratio(rate(r.load.samples, r.load.wall), rate(prom.load.samples, prom.load.wall)),
			ratio(float64(r.peakRSS), float64(prom.peakRSS)))
	}
	if r := results[len(results)-1]; cfg.threeNode && r.skipped == "" {
		fmt.Fprintln(w, "(the three-node hashring stores every sample three times; its CPU and RSS are the sums over its nodes)")
	}
}

// rate is n per second of d, 0 for no time.
func rate(n int64, d time.Duration) float64 {
	if d <= 0 {
		return 0
	}
	return float64(n) / d.Seconds()
}

// ratio is a/b, 0 when b is 0.
func ratio(a, b float64) float64 {
	if b == 0 {
		return 0
	}
	return a / b
}

// ms formats a latency in milliseconds with one decimal.
func ms(d time.Duration) string { return fmt.Sprintf("%.1fms", float64(d)/float64(time.Millisecond)) }
