package main

import (
	"fmt"
	"strconv"
	"strings"
	"time"

	"github.com/prometheus/common/model"
)

// rule is one generated recording or alerting rule.
type rule struct {
	// Record is the recorded metric name; empty for an alerting rule.
	Record string
	// Alert is the alert name; empty for a recording rule.
	Alert string
	// Expr is the PromQL expression.
	Expr string
	// For is the alert's pending duration; 0 for none.
	For time.Duration
}

// name is the record or alert name.
func (r rule) name() string {
	if r.Record != "" {
		return r.Record
	}
	return r.Alert
}

// group is a named list of rules evaluated together.
type group struct {
	Name  string
	Rules []rule
}

// ruleSet describes the generated rules.
type ruleSet struct {
	// Rules is the total number of rules.
	Rules int
	// PerGroup is the number of rules per group.
	PerGroup int
	// Namespaces is the number of generated namespaces (ns-0 ...) the
	// selectors pick from.
	Namespaces int
}

// recordingKinds and alertingKinds build dashboard-like expressions from a
// namespace selector ns (e.g. `namespace="ns-3"`), a range w and a
// variation index v.
var recordingKinds = []func(ns, w string, v int) string{
	func(ns, w string, _ int) string {
		return fmt.Sprintf(`sum by (namespace, code) (rate(http_requests_total{%s}[%s]))`, ns, w)
	},
	func(ns, w string, v int) string {
		q := []string{"0.5", "0.9", "0.95", "0.99"}[v%4]
		return fmt.Sprintf(`histogram_quantile(%s, sum by (le, job) (rate(http_request_duration_seconds_bucket{%s}[%s])))`, q, ns, w)
	},
	func(ns, w string, _ int) string {
		return fmt.Sprintf(`sum by (job) (rate(http_requests_total{%s,code=~"5.."}[%s])) / sum by (job) (rate(http_requests_total{%s}[%s]))`, ns, w, ns, w)
	},
	func(ns, w string, _ int) string {
		return fmt.Sprintf(`avg_over_time(container_memory_working_set_bytes{%s}[%s])`, ns, w)
	},
	func(ns, w string, v int) string {
		return fmt.Sprintf(`topk(%d, sum by (pod) (rate(http_requests_total{%s}[%s])))`, 3+v%5, ns, w)
	},
	func(ns, w string, _ int) string {
		return fmt.Sprintf(`sum by (namespace) (rate(http_request_duration_seconds_sum{%s}[%s])) / sum by (namespace) (rate(http_request_duration_seconds_count{%s}[%s]))`, ns, w, ns, w)
	},
	func(ns, w string, v int) string {
		m := []string{"GET", "POST"}[v%2]
		return fmt.Sprintf(`sum by (namespace, handler) (rate(http_requests_total{%s,method="%s"}[%s]))`, ns, m, w)
	},
	func(ns, w string, _ int) string {
		return fmt.Sprintf(`sum by (namespace) (rate(process_cpu_seconds_total{%s}[%s]))`, ns, w)
	},
	func(ns, _ string, _ int) string {
		return fmt.Sprintf(`max by (namespace, container) (container_threads{%s})`, ns)
	},
}

var alertingKinds = []func(ns, w string, v int) string{
	func(ns, w string, v int) string {
		return fmt.Sprintf(`sum by (job) (rate(http_requests_total{%s,code=~"5.."}[%s])) / sum by (job) (rate(http_requests_total{%s}[%s])) > 0.0%d`, ns, w, ns, w, 1+v%5)
	},
	func(ns, w string, v int) string {
		return fmt.Sprintf(`histogram_quantile(0.99, sum by (le, job) (rate(http_request_duration_seconds_bucket{%s}[%s]))) > %s`, ns, w, []string{"0.25", "0.5", "1"}[v%3])
	},
	func(ns, w string, v int) string {
		return fmt.Sprintf(`avg_over_time(container_memory_working_set_bytes{%s}[%s]) > %de8`, ns, w, 3+v%6)
	},
	func(ns, _ string, v int) string {
		return fmt.Sprintf(`container_threads{%s} > %d`, ns, 20+v%30)
	},
	func(ns, w string, v int) string {
		return fmt.Sprintf(`topk(3, rate(process_cpu_seconds_total{%s}[%s])) > 0.%d`, ns, w, 1+v%8)
	},
	func(ns, _ string, v int) string {
		if v%2 == 0 {
			// Present: the alert stays inactive.
			return fmt.Sprintf(`absent(http_requests_total{%s,code="200"})`, ns)
		}
		return fmt.Sprintf(`absent(http_requests_total{%s,handler="/missing-%d"})`, ns, v)
	},
	func(ns, w string, _ int) string {
		return fmt.Sprintf(`sum by (namespace) (rate(http_requests_total{%s}[%s])) < 1`, ns, w)
	},
}

// windows are the ranges of the generated range selectors.
var windows = []string{"2m", "5m", "10m", "15m"}

// generate returns the rules of s in groups of s.PerGroup (the last one may
// be shorter). Three rules in five are recording rules, the others alerts;
// names are unique and the expressions valid PromQL.
func generate(s ruleSet) []group {
	per := max(s.PerGroup, 1)
	nsCount := max(s.Namespaces, 1)
	var groups []group
	for i := range s.Rules {
		if i%per == 0 {
			groups = append(groups, group{Name: fmt.Sprintf("bench-%04d", i/per)})
		}
		g := &groups[len(groups)-1]
		v := i / 5
		w := windows[(i/3+i/11)%len(windows)]
		ns := fmt.Sprintf(`namespace="ns-%d"`, (i*7+i/37)%nsCount)
		if i%10 == 9 {
			// Some rules over every namespace.
			ns = `namespace=~"ns-.*"`
		}
		var r rule
		if i%5 < 3 {
			k := (i / 5 * 3) + i%5
			kind := k % len(recordingKinds)
			r.Record = fmt.Sprintf("bench:kind%d:%04d", kind, i)
			r.Expr = recordingKinds[kind](ns, w, v)
		} else {
			k := (i/5)*2 + i%5 - 3
			kind := k % len(alertingKinds)
			r.Alert = fmt.Sprintf("BenchAlert%d_%04d", kind, i)
			r.Expr = alertingKinds[kind](ns, w, v)
			if v%2 == 1 {
				r.For = time.Minute
			}
		}
		g.Rules = append(g.Rules, r)
	}
	return groups
}

// ruleFileYAML renders groups as a Prometheus rule file with the given
// group interval.
func ruleFileYAML(groups []group, interval time.Duration) string {
	var b strings.Builder
	b.WriteString("groups:\n")
	for _, g := range groups {
		fmt.Fprintf(&b, "  - name: %s\n    interval: %s\n    rules:\n", strconv.Quote(g.Name), model.Duration(interval))
		for _, r := range g.Rules {
			if r.Record != "" {
				fmt.Fprintf(&b, "      - record: %s\n", r.Record)
			} else {
				fmt.Fprintf(&b, "      - alert: %s\n", r.Alert)
				if r.For > 0 {
					fmt.Fprintf(&b, "        for: %s\n", model.Duration(r.For))
				}
				b.WriteString("        labels:\n          severity: warning\n")
			}
			fmt.Fprintf(&b, "        expr: %s\n", strconv.Quote(r.Expr))
		}
	}
	return b.String()
}
