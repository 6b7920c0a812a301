package main

import (
	"context"
	"fmt"
	"io"
	"log/slog"
	"math"
	"net/http"
	"slices"
	"strconv"
	"strings"
	"time"

	"github.com/strata-io/strata/bench/benchutil"
	"github.com/strata-io/strata/internal/datagen"
	"github.com/strata-io/strata/test/e2e/e2eutil"
)

// Rules-manager metrics both sides export.
const (
	metricLastDuration = "prometheus_rule_group_last_duration_seconds"
	metricLastEval     = "prometheus_rule_group_last_evaluation_timestamp_seconds"
	metricIterations   = "prometheus_rule_group_iterations_total"
	metricMissed       = "prometheus_rule_group_iterations_missed_total"
	metricFailures     = "prometheus_rule_evaluation_failures_total"
	metricRules        = "prometheus_rule_group_rules"
)

// side holds what was measured of one side.
type side struct {
	evalPerRound []float64 // sum over groups of the last evaluation duration, per round
	ruleEvals    float64   // rule evaluations in the window
	missed       float64   // group iterations missed in the window
	failures     float64   // rule evaluation failures since start
	window       time.Duration
	cpu          []namedCPU // CPU time in the window, per process (the rules manager's first)
	rss          []namedRSS
}

// cpuOf sums the CPU time of the processes not named in except.
func (s side) cpuOf(except ...string) time.Duration {
	var d time.Duration
	for _, c := range s.cpu {
		if !slices.Contains(except, c.name) {
			d += c.d
		}
	}
	return d
}

type namedCPU struct {
	name string
	d    time.Duration
}

type namedRSS struct {
	name string
	hwm  int64
}

type results struct {
	prom, strata side
}

type measurer struct {
	cfg    config
	groups int
	st     *stack
	logger *slog.Logger
	client http.Client
}

func (m *measurer) scrape(ctx context.Context, base string) (benchutil.MetricsPage, error) {
	return benchutil.Scrape(ctx, &m.client, base+"/metrics")
}

// waitEvaluated waits until every group of base has evaluated once.
func (m *measurer) waitEvaluated(ctx context.Context, name, base string) error {
	deadline := time.Now().Add(m.cfg.readyWait + 3*m.cfg.interval)
	for {
		p, err := m.scrape(ctx, base)
		if err != nil {
			return fmt.Errorf("%s: %w", name, err)
		}
		n := 0
		for _, s := range p[metricLastEval] {
			if s.Value > 0 {
				n++
			}
		}
		if n >= m.groups {
			return nil
		}
		if time.Now().After(deadline) {
			return fmt.Errorf("%s: only %d of %d groups evaluated after %s", name, n, m.groups, m.cfg.readyWait+3*m.cfg.interval)
		}
		select {
		case <-ctx.Done():
			return ctx.Err()
		case <-time.After(time.Second):
		}
	}
}

// measureSide waits for a first evaluation of every group of the rules
// manager at base, then measures --rounds intervals: its metrics, the CPU
// time of self and of each of procs, and their peak RSS.
func (m *measurer) measureSide(ctx context.Context, name, base string, self *e2eutil.Process, procs ...*e2eutil.Process) (side, error) {
	var res side
	if err := m.waitEvaluated(ctx, name, base); err != nil {
		return res, benchutil.WithLog(err, self)
	}
	cpu := func() ([]time.Duration, error) {
		out := make([]time.Duration, len(procs))
		for i, p := range procs {
			c, err := benchutil.ReadCPU(p.Pid())
			if err != nil {
				return nil, err
			}
			out[i] = c
		}
		return out, nil
	}
	p0, err := m.scrape(ctx, base)
	if err != nil {
		return res, err
	}
	c0, err := cpu()
	if err != nil {
		return res, err
	}
	start := time.Now()
	m.logger.Info("measuring", "side", name, "rounds", m.cfg.rounds, "interval", m.cfg.interval)
	p1 := p0
	for range m.cfg.rounds {
		select {
		case <-ctx.Done():
			return res, ctx.Err()
		case <-time.After(m.cfg.interval):
		}
		if p1, err = m.scrape(ctx, base); err != nil {
			return res, err
		}
		res.evalPerRound = append(res.evalPerRound, p1.Sum(metricLastDuration, nil))
	}
	res.window = time.Since(start)
	c1, err := cpu()
	if err != nil {
		return res, err
	}
	for i, p := range procs {
		d := c1[i] - c0[i]
		res.cpu = append(res.cpu, namedCPU{p.Name, d})
		mem, err := benchutil.ReadProcMem(p.Pid())
		if err != nil {
			return res, err
		}
		res.rss = append(res.rss, namedRSS{p.Name, mem.HWM})
	}
	res.ruleEvals, res.missed, res.failures = windowCounts(p0, p1)
	return res, nil
}

// windowCounts returns the rule evaluations and missed iterations between
// two pages, and the failures of the later one.
func windowCounts(before, after benchutil.MetricsPage) (evals, missed, failures float64) {
	it0 := before.By(metricIterations, "rule_group")
	it1 := after.By(metricIterations, "rule_group")
	rules := after.By(metricRules, "rule_group")
	for g, n := range it1 {
		evals += (n - it0[g]) * rules[g]
	}
	missed = after.Sum(metricMissed, nil) - before.Sum(metricMissed, nil)
	return evals, missed, after.Sum(metricFailures, nil)
}

// check is the comparison of one recording rule's results.
type check struct {
	name             string
	series, compared int
	mismatches       []string
	missing          int
}

// compareSample compares, for up to n recording rules, the latest sample
// of each series the ruler recorded with Prometheus evaluating the rule's
// expression at that sample's timestamp.
func compareSample(ctx context.Context, st *stack, groups []group, n int) ([]check, error) {
	var recs []rule
	for _, g := range groups {
		for _, r := range g.Rules {
			if r.Record != "" {
				recs = append(recs, r)
			}
		}
	}
	if n <= 0 || len(recs) == 0 {
		return nil, nil
	}
	stride := max(len(recs)/n, 1)
	prom, strata := e2eutil.NewClient(st.promURL), e2eutil.NewClient(st.ruleQURL)
	defer prom.Close()
	defer strata.Close()
	now := time.Now()
	var out []check
	for i := 0; i < len(recs) && len(out) < n; i += stride {
		r := recs[i]
		sd, _, err := strata.Query(ctx, r.Record+"[3m]", now, nil)
		if err != nil {
			return nil, fmt.Errorf("query ruler results of %s: %w", r.Record, err)
		}
		c := check{name: r.Record, series: len(sd.Result)}
		// The latest sample of each recorded series, by timestamp.
		byTS := map[int64]map[string]float64{}
		for _, s := range sd.Result {
			if len(s.Values) == 0 {
				continue
			}
			last := s.Values[len(s.Values)-1]
			if byTS[last.T] == nil {
				byTS[last.T] = map[string]float64{}
			}
			byTS[last.T][seriesKey(s.Metric)] = last.Float()
		}
		for ts, want := range byTS {
			pd, _, err := prom.Query(ctx, r.Expr, time.UnixMilli(ts), nil)
			if err != nil {
				return nil, fmt.Errorf("query prometheus %s: %w", r.Expr, err)
			}
			got := map[string]float64{}
			for _, s := range pd.Result {
				if s.Value != nil {
					got[seriesKey(s.Metric)] = s.Value.Float()
				}
			}
			for k, sv := range want {
				pv, ok := got[k]
				if !ok {
					c.missing++
					continue
				}
				delete(got, k)
				c.compared++
				if !closeEnough(pv, sv) {
					c.mismatches = append(c.mismatches, fmt.Sprintf("%s at %d: prometheus %g, strata %g", k, ts, pv, sv))
				}
			}
			c.missing += len(got)
		}
		out = append(out, c)
	}
	return out, nil
}

// seriesKey identifies a series without its name and the external labels.
func seriesKey(m map[string]string) string {
	out := map[string]string{}
	for k, v := range m {
		if k != "__name__" && k != "cluster" && k != "replica" {
			out[k] = v
		}
	}
	return e2eutil.LabelsKey(out)
}

func closeEnough(a, b float64) bool {
	if a == b || math.IsNaN(a) && math.IsNaN(b) {
		return true
	}
	return math.Abs(a-b) <= 1e-9*math.Max(math.Abs(a), math.Abs(b))
}

func mean(xs []float64) float64 {
	var s float64
	for _, x := range xs {
		s += x
	}
	return s / float64(max(len(xs), 1))
}

func ratio(a, b float64) string {
	if b == 0 {
		return "-"
	}
	return strconv.FormatFloat(a/b, 'f', 2, 64)
}

// printReport prints the results table.
func printReport(w io.Writer, cfg config, stats datagen.Stats, groups int, res results, checks []check) {
	fmt.Fprintf(w, "rulebench: %d rules (%d groups, interval %s) over %d series (%d pods, %d namespaces); %d rounds per side (%s, %s)\n\n",
		cfg.rules, groups, cfg.interval, stats.Series, stats.Pods, stats.Namespaces, cfg.rounds,
		res.prom.window.Round(time.Second), res.strata.window.Round(time.Second))
	perEval := func(cpu time.Duration, evals float64) float64 {
		if evals == 0 {
			return 0
		}
		return cpu.Seconds() / evals * 1e3
	}
	pe, se := mean(res.prom.evalPerRound), mean(res.strata.evalPerRound)
	pcpu := perEval(res.prom.cpuOf(), res.prom.ruleEvals)
	scpu := perEval(res.strata.cpuOf("prometheus"), res.strata.ruleEvals)
	rcpu := perEval(res.strata.cpuOf("prometheus", "querier", "sidecar"), res.strata.ruleEvals)
	acpu := perEval(res.strata.cpuOf(), res.strata.ruleEvals)
	peak := func(rs []namedRSS, except string) int64 {
		var s int64
		for _, r := range rs {
			if r.name != except {
				s += r.hwm
			}
		}
		return s
	}
	row := func(label, p, s, r string) { fmt.Fprintf(w, "%-50s %12s %12s %7s\n", label, p, s, r) }
	row("", "prometheus", "strata", "ratio")
	row("eval time per interval (sum over groups)", fmtSec(pe), fmtSec(se), ratio(se, pe))
	row("rule evaluations measured", fmt.Sprint(res.prom.ruleEvals), fmt.Sprint(res.strata.ruleEvals), "")
	row("missed group iterations", fmt.Sprint(res.prom.missed), fmt.Sprint(res.strata.missed), "")
	row("rule evaluation failures (total)", fmt.Sprint(res.prom.failures), fmt.Sprint(res.strata.failures), "")
	row("CPU ms/rule eval (strata: ruler+querier+sidecar)", fmt.Sprintf("%.3f", pcpu), fmt.Sprintf("%.3f", scpu), ratio(scpu, pcpu))
	row("  ruler alone", "", fmt.Sprintf("%.3f", rcpu), ratio(rcpu, pcpu))
	row("  ruler+querier+sidecar+prometheus (reads)", "", fmt.Sprintf("%.3f", acpu), ratio(acpu, pcpu))
	row("peak RSS (strata: ruler+querier+sidecar)", benchutil.MiB(peak(res.prom.rss, "")), benchutil.MiB(peak(res.strata.rss, "prometheus")),
		ratio(float64(peak(res.strata.rss, "prometheus")), float64(peak(res.prom.rss, ""))))
	var parts []string
	for _, c := range res.strata.cpu {
		parts = append(parts, fmt.Sprintf("%s %.2fs", c.name, c.d.Seconds()))
	}
	fmt.Fprintf(w, "  strata phase CPU by process: %s\n", strings.Join(parts, ", "))
	parts = parts[:0]
	for _, r := range res.strata.rss {
		parts = append(parts, r.name+" "+benchutil.MiB(r.hwm))
	}
	fmt.Fprintf(w, "  peak RSS by process (since start): %s\n", strings.Join(parts, ", "))
	fmt.Fprintln(w, "\nThe sides run one after the other on the same data: first Prometheus evaluates the rule file")
	fmt.Fprintln(w, "alone, then it drops it and `strata rule` evaluates it through querier and sidecar (Prometheus then")
	fmt.Fprintln(w, "only serves the sidecar's reads). Prometheus' figures include holding the data; its peak RSS is")
	fmt.Fprintln(w, "since start. ratio = strata / prometheus (above 1: strata costs more).")

	var series, compared, missing int
	var mism []string
	for _, c := range checks {
		series += c.series
		compared += c.compared
		missing += c.missing
		for _, m := range c.mismatches {
			mism = append(mism, c.name+" "+m)
		}
	}
	fmt.Fprintf(w, "\ncorrectness: %d recording rules, %d series recorded by the ruler, %d compared with Prometheus evaluating the expression at the same timestamp, %d mismatches (>1e-9 relative), %d series on one side only\n",
		len(checks), series, compared, len(mism), missing)
	slices.Sort(mism)
	for i, m := range mism {
		if i == 10 {
			fmt.Fprintf(w, "  ... %d more\n", len(mism)-10)
			break
		}
		fmt.Fprintf(w, "  %s\n", m)
	}
}

func fmtSec(s float64) string {
	return (time.Duration(s * float64(time.Second))).Round(time.Millisecond).String()
}
