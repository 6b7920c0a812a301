package main

import (
	"fmt"
	"io"
	"maps"
	"slices"
	"strings"
	"time"

	"github.com/oklog/ulid/v2"

	"github.com/strata-io/strata/bench/benchutil"
	"github.com/strata-io/strata/pkg/metadata"
)

// opsMetric counts the compactor's bucket requests, by label operation.
const opsMetric = "strata_objstore_bucket_operations_total"

// operations is the order of the request kinds in the summary.
var operations = []string{"get", "get_range", "upload", "exists", "iter", "attributes", "delete"}

// printSummary writes the figures of the run to w.
func printSummary(w io.Writer, cfg config, end time.Time, gen genStats, before, after []blockInfo, res *compactResult) {
	printInput(w, cfg, end, gen, before)
	printRun(w, before, after, res)
	printRequests(w, len(before), res.metrics)
	printResult(w, after)
	printWhy(w, after)
}

// printInput describes the generated bucket.
func printInput(w io.Writer, cfg config, end time.Time, gen genStats, before []blockInfo) {
	samples, bytes, _ := totals(before)
	start := end.Add(-time.Duration(gen.blocks) * 2 * time.Hour)
	fmt.Fprintf(w, "compactbench: %d series x %d replica(s), %s at %s, data %s .. %s (--align=%s)\n",
		gen.series, cfg.replicas, shortDur(cfg.duration), cfg.interval, start.Format(time.RFC3339), end.Format(time.RFC3339), alignName(cfg.align))
	flags := append([]string{"--wait", "--wait-interval=1h", "--delete-delay=0s"}, cfg.compactArgs...)
	if cfg.replicas > 1 {
		flags = append(flags, "--deduplication.replica-label=replica")
	}
	fmt.Fprintf(w, "  strata compact %s\n\n", strings.Join(flags, " "))
	fmt.Fprintf(w, "input          %d blocks, %d samples, %d series per replica, %s in the bucket (generated in %s per replica)\n",
		len(before), samples, gen.series, benchutil.MiB(bytes), gen.took.Round(time.Millisecond))
}

// printRun gives the durations and throughputs of the first run.
func printRun(w io.Writer, before, after []blockInfo, res *compactResult) {
	m, pt := res.metrics, res.phases
	inSamples, _, _ := totals(before)
	fmt.Fprintf(w, "run            %s from process start to the end of the first successful run (logged run: %s)\n",
		res.elapsed.Round(time.Millisecond), pt.run.Round(time.Millisecond))
	fmt.Fprintf(w, "               %s input samples per second of run\n", rate(float64(inSamples), res.elapsed))
	compacted := m.Sum("strata_compact_samples_compacted_total", nil)
	fmt.Fprintf(w, "compaction     %.0f compactions of %.0f blocks, %.0f samples compacted (each level counts its inputs again)\n",
		m.Sum("strata_compact_compactions_total", nil), m.Sum("strata_compact_blocks_compacted_total", nil), compacted)
	fmt.Fprintf(w, "               %s samples/s over %s in groups (download+merge+upload); merging alone %s: %s samples/s\n",
		rate(compacted, pt.compact), pt.compact.Round(time.Millisecond), pt.merge.Round(time.Millisecond), rate(compacted, pt.merge))
	for _, res := range []int64{metadata.Resolution5m, metadata.Resolution1h} {
		res5 := metadata.ResolutionName(res)
		n := m.Sum("strata_compact_blocks_downsampled_total", map[string]string{"resolution": res5})
		var in uint64
		for _, id := range pt.downsampledFrom[res5] {
			if b, ok := byID(after, id); ok {
				in += b.meta.Stats.NumSamples
			}
		}
		d := pt.downsample[res5]
		fmt.Fprintf(w, "downsampling   to %-3s %.0f blocks, %d input samples in %s (download+downsample+upload): %s samples/s\n",
			res5, n, in, d.Round(time.Millisecond), rate(float64(in), d))
	}
	fmt.Fprintf(w, "uploaded       %s (strata_compact_bytes_uploaded_total)\n",
		benchutil.MiB(int64(m.Sum("strata_compact_bytes_uploaded_total", nil))))
	fmt.Fprintf(w, "memory         compactor peak RSS (VmHWM) %s; at the end RSS anon %s, RSS file %s\n",
		benchutil.MiB(res.mem.HWM), benchutil.MiB(res.mem.Anon), benchutil.MiB(res.mem.File))
	fmt.Fprintf(w, "failures       groups %.0f, compactions %.0f, downsamplings %.0f, no-compact marks %.0f\n",
		m.Sum("strata_compact_group_failures_total", nil), m.Sum("strata_compact_compaction_failures_total", nil),
		m.Sum("strata_compact_downsample_failures_total", nil), m.Sum("strata_compact_blocks_marked_total", map[string]string{"marker": "no-compact"}))
}

// printRequests gives the compactor's bucket requests, in all and per
// input block.
func printRequests(w io.Writer, inputBlocks int, m benchutil.MetricsPage) {
	ops := m.By(opsMetric, "operation")
	names := slices.Clone(operations)
	for _, k := range slices.Sorted(maps.Keys(ops)) {
		if !slices.Contains(names, k) {
			names = append(names, k)
		}
	}
	fmt.Fprintf(w, "\nobject storage requests   total   per input block\n")
	var all float64
	for _, op := range names {
		all += ops[op]
		fmt.Fprintf(w, "  %-20s %9.0f   %9.2f\n", op, ops[op], ops[op]/float64(max(inputBlocks, 1)))
	}
	fmt.Fprintf(w, "  %-20s %9.0f   %9.2f\n", "all", all, all/float64(max(inputBlocks, 1)))
}

// printResult lists the live blocks per resolution after the run.
func printResult(w io.Writer, after []blockInfo) {
	fmt.Fprintf(w, "\nresult (blocks without deletion mark)\n  resolution  blocks  levels  spans            samples        size\n")
	blocks := live(after)
	for _, res := range []int64{metadata.ResolutionRaw, metadata.Resolution5m, metadata.Resolution1h} {
		var group []blockInfo
		levels, spans := map[int]bool{}, map[time.Duration]bool{}
		for _, b := range blocks {
			if b.meta.Thanos.Downsample.Resolution == res {
				group = append(group, b)
				levels[b.meta.Compaction.Level] = true
				spans[b.span()] = true
			}
		}
		samples, bytes, _ := totals(group)
		fmt.Fprintf(w, "  %-10s  %6d  %-6s  %-14s  %11d  %10s\n", metadata.ResolutionName(res), len(group),
			joinSorted(levels, func(l int) string { return fmt.Sprint(l) }),
			joinSorted(spans, func(d time.Duration) string { return shortDur(d) }), samples, benchutil.MiB(bytes))
	}
}

// printWhy explains, for each live raw and 5m block without a copy at the
// next resolution, why the planner did not downsample it.
func printWhy(w io.Writer, after []blockInfo) {
	blocks := live(after)
	covered := map[int64]map[ulid.ULID]bool{metadata.Resolution5m: {}, metadata.Resolution1h: {}}
	for _, b := range blocks {
		if c := covered[b.meta.Thanos.Downsample.Resolution]; c != nil {
			for _, s := range sourcesOf(b) {
				c[s] = true
			}
		}
	}
	fmt.Fprintln(w, "\ndownsampling (internal/compact/planner.go): raw -> 5m when a raw block spans >= 40h, 5m -> 1h when a 5m block")
	fmt.Fprintln(w, "spans >= 10d, or either once the block is final: alone in its 14d window after that window is complete")
	fmt.Fprintln(w, "(ended >= 14d ago, or the stream's newest data reaches its last 2h slot). Blocks not downsampled:")
	n := 0
	for _, b := range blocks {
		next, minSpan := int64(0), time.Duration(0)
		switch b.meta.Thanos.Downsample.Resolution {
		case metadata.ResolutionRaw:
			next, minSpan = metadata.Resolution5m, 40*time.Hour
		case metadata.Resolution5m:
			next, minSpan = metadata.Resolution1h, 10*24*time.Hour
		default:
			continue
		}
		if allIn(sourcesOf(b), covered[next]) {
			continue
		}
		n++
		fmt.Fprintf(w, "  %s %s [%s, %s) span %s < %s and not final: its 14d window is still open or holds other blocks\n",
			metadata.ResolutionName(b.meta.Thanos.Downsample.Resolution), b.meta.ULID, time.UnixMilli(b.meta.MinTime).UTC().Format(time.RFC3339),
			time.UnixMilli(b.meta.MaxTime).UTC().Format(time.RFC3339), shortDur(b.span()), shortDur(minSpan))
	}
	if n == 0 {
		fmt.Fprintln(w, "  none")
	}
}

// sourcesOf returns the block's source ULIDs (itself when none are listed).
func sourcesOf(b blockInfo) []ulid.ULID {
	if len(b.meta.Compaction.Sources) == 0 {
		return []ulid.ULID{b.meta.ULID}
	}
	return b.meta.Compaction.Sources
}

func allIn(ids []ulid.ULID, set map[ulid.ULID]bool) bool {
	for _, id := range ids {
		if !set[id] {
			return false
		}
	}
	return true
}

// rate formats n per second over d, in millions ("-" without time).
func rate(n float64, d time.Duration) string {
	if d <= 0 {
		return "-"
	}
	return fmt.Sprintf("%.2fM", n/d.Seconds()/1e6)
}

func alignName(d time.Duration) string { return shortDur(d) }

// shortDur rounds d to the minute (block spans end 1ms after their last
// sample) and writes whole days as "2d", whole hours as "8h", else as Go
// does.
func shortDur(d time.Duration) string {
	d = d.Round(time.Minute)
	switch {
	case d > 0 && d%(24*time.Hour) == 0:
		return fmt.Sprintf("%dd", d/(24*time.Hour))
	case d > 0 && d%time.Hour == 0:
		return fmt.Sprintf("%dh", d/time.Hour)
	}
	return d.String()
}

// joinSorted joins the keys of set, sorted, formatted with f; "-" when empty.
func joinSorted[K int | time.Duration](set map[K]bool, f func(K) string) string {
	if len(set) == 0 {
		return "-"
	}
	var out []string
	for _, k := range slices.Sorted(maps.Keys(set)) {
		out = append(out, f(k))
	}
	return strings.Join(out, ",")
}
