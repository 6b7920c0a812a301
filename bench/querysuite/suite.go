// Package querysuite runs a dashboard-like suite of PromQL queries against
// Prometheus and a Strata querier serving the same data, checks that both
// answer the same, and prints their latencies side by side. The macro
// benchmarks under bench/cmd share it.
package querysuite

import (
	"context"
	"encoding/json"
	"fmt"
	"io"
	"log/slog"
	"math"
	"net/http"
	"net/url"
	"regexp"
	"slices"
	"sort"
	"strconv"
	"time"

	"github.com/strata-io/strata/test/e2e/e2eutil"
)

// Dashboard is what a Kubernetes service dashboard asks for. Each query
// runs as a range query over the whole dataset and as an instant query at its end.
var Dashboard = []string{
	`sum by (namespace) (rate(http_requests_total[5m]))`,
	`sum by (namespace, code) (increase(http_requests_total{code=~"5.."}[1h]))`,
	`topk(5, sum by (pod) (rate(http_requests_total[5m])))`,
	`histogram_quantile(0.99, sum by (le) (rate(http_request_duration_seconds_bucket[5m])))`,
	`histogram_quantile(0.9, sum by (namespace, le) (rate(http_request_duration_seconds_bucket[5m])))`,
	`avg_over_time(container_memory_working_set_bytes[10m])`,
	`max by (namespace) (container_memory_working_set_bytes)`,
	`count by (namespace) (container_threads)`,
	`rate(process_cpu_seconds_total[5m])`,
}

// relTolerance is the largest relative difference between two values that
// still counts as equal (summation order may differ).
const relTolerance = 1e-9

// Runner runs the suite against two HTTP APIs. Set every field before use;
// a Runner is used by one goroutine at a time.
type Runner struct {
	// Prom is the reference (Prometheus), Strata the side under test.
	Prom, Strata *e2eutil.Client
	// Start and End bound the range queries; instant queries run at End.
	Start, End time.Time
	// Step is the range queries' step.
	Step time.Duration
	// Rounds is how many times the suite runs; round one compares answers.
	Rounds int
	// Timeout bounds each request.
	Timeout time.Duration
	// Drop names the labels Strata adds (external labels), removed from its
	// answers before comparing.
	Drop []string
	// Logger receives progress and differences.
	Logger *slog.Logger
}

// Result is one (query, type) row of the table.
type Result struct {
	// Query is the PromQL expression; Kind is "range" or "instant".
	Query, Kind string
	// Prom and Strata are the latencies of each round (request until the
	// body is read).
	Prom, Strata []time.Duration
	// Series and Points count Prometheus' answer of round one.
	Series, Points int
	// Diff describes the first difference between the answers of round
	// one; empty when they are equal.
	Diff string
}

// PromMedian is the median latency of Prometheus.
func (r Result) PromMedian() time.Duration { return median(r.Prom) }

// StrataMedian is the median latency of Strata.
func (r Result) StrataMedian() time.Duration { return median(r.Strata) }

// WaitForData polls until Strata answers a probe query like Prometheus.
func (b *Runner) WaitForData(ctx context.Context) error {
	probe := url.Values{"query": {"count(container_threads)"}, "time": {e2eutil.FormatTime(b.End)}}
	var last string
	for {
		want, _, errP := b.fetch(ctx, b.Prom, "/api/v1/query", probe)
		got, _, errS := b.fetch(ctx, b.Strata, "/api/v1/query", probe)
		if errP == nil && errS == nil {
			d := compare(want, got, b.Drop)
			if d == "" {
				return nil
			}
			last = d
		} else {
			last = fmt.Sprintf("prometheus: %v, strata: %v", errP, errS)
		}
		select {
		case <-ctx.Done():
			return fmt.Errorf("querier does not answer like Prometheus (last: %s): %w", last, ctx.Err())
		case <-time.After(500 * time.Millisecond):
		}
	}
}

// Run executes the suite Rounds times, interleaving Prometheus and Strata
// (alternating which goes first), and compares the answers of round one.
func (b *Runner) Run(ctx context.Context, suite []string) ([]*Result, error) {
	var rows []*Result
	for _, q := range suite {
		rows = append(rows, &Result{Query: q, Kind: "range"}, &Result{Query: q, Kind: "instant"})
	}
	var diffs int
	for round := range b.Rounds {
		for _, r := range rows {
			path, params := b.request(r)
			first, second := b.Prom, b.Strata
			if round%2 == 1 {
				first, second = second, first
			}
			var ans [2]*e2eutil.QueryData
			for _, c := range []*e2eutil.Client{first, second} {
				d, took, err := b.fetch(ctx, c, path, params)
				if err != nil {
					return rows, fmt.Errorf("%s query %s against %s: %w", r.Kind, r.Query, c.BaseURL, err)
				}
				if c == b.Prom {
					r.Prom = append(r.Prom, took)
					ans[0] = d
				} else {
					r.Strata = append(r.Strata, took)
					ans[1] = d
				}
			}
			if round == 0 {
				r.Series = len(ans[0].Result)
				for _, s := range ans[0].Result {
					r.Points += max(len(s.Values), 1)
				}
				if r.Diff = compare(ans[0], ans[1], b.Drop); r.Diff != "" {
					diffs++
					b.Logger.Error("results differ", "query", r.Query, "type", r.Kind, "diff", r.Diff)
				}
			}
		}
		b.Logger.Info("round done", "round", round+1, "of", b.Rounds)
	}
	if diffs > 0 {
		return rows, fmt.Errorf("%d of %d queries answered differently through strata", diffs, len(rows))
	}
	return rows, nil
}

func (b *Runner) request(r *Result) (string, url.Values) {
	if r.Kind == "range" {
		return "/api/v1/query_range", url.Values{
			"query": {r.Query},
			"start": {e2eutil.FormatTime(b.Start)},
			"end":   {e2eutil.FormatTime(b.End)},
			"step":  {strconv.FormatFloat(b.Step.Seconds(), 'f', -1, 64)},
		}
	}
	return "/api/v1/query", url.Values{"query": {r.Query}, "time": {e2eutil.FormatTime(b.End)}}
}

// fetch times one request (until the body is read) and decodes it after.
func (b *Runner) fetch(ctx context.Context, c *e2eutil.Client, path string, params url.Values) (*e2eutil.QueryData, time.Duration, error) {
	ctx, cancel := context.WithTimeout(ctx, b.Timeout)
	defer cancel()
	req, err := http.NewRequestWithContext(ctx, http.MethodGet, c.BaseURL+path+"?"+params.Encode(), nil)
	if err != nil {
		return nil, 0, err
	}
	begin := time.Now()
	resp, err := c.HTTP.Do(req)
	if err != nil {
		return nil, 0, err
	}
	body, err := io.ReadAll(resp.Body)
	_ = resp.Body.Close()
	took := time.Since(begin)
	if err != nil {
		return nil, took, fmt.Errorf("read body: %w", err)
	}
	var env e2eutil.Response
	if err := json.Unmarshal(body, &env); err != nil {
		return nil, took, fmt.Errorf("HTTP %d, not API JSON: %.200s", resp.StatusCode, body)
	}
	env.HTTPStatus = resp.StatusCode
	if err := env.Err(); err != nil {
		return nil, took, err
	}
	var d e2eutil.QueryData
	if err := json.Unmarshal(env.Data, &d); err != nil {
		return nil, took, fmt.Errorf("decode data: %w", err)
	}
	return &d, took, nil
}

// compare returns "" when both answers hold the same series (after removing
// the drop labels from got) with equal timestamps and values equal within
// relTolerance, otherwise a short description of the first difference.
func compare(want, got *e2eutil.QueryData, drop []string) string {
	if want.ResultType != got.ResultType {
		return fmt.Sprintf("result type %s vs %s", want.ResultType, got.ResultType)
	}
	index := func(d *e2eutil.QueryData, drop []string) map[string][]e2eutil.Point {
		out := map[string][]e2eutil.Point{}
		for _, s := range d.Result {
			m := map[string]string{}
			for k, v := range s.Metric {
				if !slices.Contains(drop, k) {
					m[k] = v
				}
			}
			pts := s.Values
			if s.Value != nil {
				pts = []e2eutil.Point{*s.Value}
			}
			out[e2eutil.LabelsKey(m)] = pts
		}
		return out
	}
	w, g := index(want, nil), index(got, drop)
	if len(w) != len(g) {
		return fmt.Sprintf("%d series vs %d (first %d labels: %v)", len(w), len(g), min(3, len(g)), firstKeys(g, 3))
	}
	for k, wp := range w {
		gp, ok := g[k]
		if !ok {
			return fmt.Sprintf("series %s missing (have e.g. %v)", k, firstKeys(g, 2))
		}
		if len(wp) != len(gp) {
			return fmt.Sprintf("series %s: %d points vs %d", k, len(wp), len(gp))
		}
		for i := range wp {
			if wp[i].T != gp[i].T {
				return fmt.Sprintf("series %s point %d: time %d vs %d", k, i, wp[i].T, gp[i].T)
			}
			if !closeEnough(wp[i].Float(), gp[i].Float()) {
				return fmt.Sprintf("series %s at %d: %s vs %s", k, wp[i].T, wp[i].V, gp[i].V)
			}
		}
	}
	return ""
}

func closeEnough(a, b float64) bool {
	if a == b || (math.IsNaN(a) && math.IsNaN(b)) {
		return true
	}
	return math.Abs(a-b) <= relTolerance*math.Max(math.Abs(a), math.Abs(b))
}

func firstKeys(m map[string][]e2eutil.Point, n int) []string {
	keys := make([]string, 0, len(m))
	for k := range m {
		keys = append(keys, k)
	}
	sort.Strings(keys)
	return keys[:min(n, len(keys))]
}

func median(ds []time.Duration) time.Duration {
	if len(ds) == 0 {
		return 0
	}
	s := slices.Clone(ds)
	slices.Sort(s)
	if len(s)%2 == 1 {
		return s[len(s)/2]
	}
	return (s[len(s)/2-1] + s[len(s)/2]) / 2
}

// PrintTable writes one line per row with the median latency of each side,
// their ratio (strata / prometheus) and whether the answers were equal, then
// totals per query type. title is printed first.
func PrintTable(w io.Writer, title string, rows []*Result) {
	fmt.Fprintf(w, "\n%s\n\n", title)
	width := len("query")
	for _, r := range rows {
		width = max(width, len(r.Query))
	}
	line := func(query, kind, series, prom, strata, ratio, same string) {
		fmt.Fprintf(w, "%-*s  %-7s  %6s  %11s  %11s  %6s  %s\n", width, query, kind, series, prom, strata, ratio, same)
	}
	line("query", "type", "series", "prometheus", "strata", "ratio", "same")
	totals := map[string][2]time.Duration{}
	for _, r := range rows {
		if len(r.Prom) == 0 || len(r.Strata) == 0 {
			continue
		}
		p, s := r.PromMedian(), r.StrataMedian()
		same := "yes"
		if r.Diff != "" {
			same = "NO"
		}
		line(r.Query, r.Kind, strconv.Itoa(r.Series), ms(p), ms(s), fmt.Sprintf("%.2f", ratio(s, p)), same)
		t := totals[r.Kind]
		totals[r.Kind] = [2]time.Duration{t[0] + p, t[1] + s}
	}
	for _, kind := range []string{"range", "instant"} {
		if t, ok := totals[kind]; ok {
			line("TOTAL", kind, "", ms(t[0]), ms(t[1]), fmt.Sprintf("%.2f", ratio(t[1], t[0])), "")
		}
	}
}

// Totals returns the summed medians of each side over rows of kind
// ("range", "instant" or "" for all).
func Totals(rows []*Result, kind string) (prom, strata time.Duration) {
	for _, r := range rows {
		if kind == "" || r.Kind == kind {
			prom += r.PromMedian()
			strata += r.StrataMedian()
		}
	}
	return prom, strata
}

// Select returns the Dashboard queries matching the regexp filter (all for "").
func Select(filter string) ([]string, error) {
	if filter == "" {
		return Dashboard, nil
	}
	re, err := regexp.Compile(filter)
	if err != nil {
		return nil, fmt.Errorf("--query: %w", err)
	}
	var out []string
	for _, q := range Dashboard {
		if re.MatchString(q) {
			out = append(out, q)
		}
	}
	if len(out) == 0 {
		return nil, fmt.Errorf("--query %q matches no suite query", filter)
	}
	return out, nil
}

// MS formats d in milliseconds with one decimal, as the tables do.
func MS(d time.Duration) string { return ms(d) }

func ratio(a, b time.Duration) float64 {
	if b == 0 {
		return math.NaN()
	}
	return float64(a) / float64(b)
}

func ms(d time.Duration) string { return strconv.FormatFloat(float64(d)/1e6, 'f', 1, 64) + "ms" }
