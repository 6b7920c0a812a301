package main

import (
	"strings"
	"testing"
	"time"

	"github.com/prometheus/common/model"
	"github.com/prometheus/prometheus/model/rulefmt"
	"github.com/prometheus/prometheus/promql/parser"
)

func TestGenerateRules(t *testing.T) {
	groups := generate(ruleSet{Rules: 1000, PerGroup: 20, Namespaces: 10})
	if len(groups) != 50 {
		t.Fatalf("got %d groups, want 50", len(groups))
	}
	var recording, alerting int
	names := map[string]bool{}
	exprs := map[string]bool{}
	p := parser.NewParser(parser.Options{})
	for _, g := range groups {
		if len(g.Rules) != 20 {
			t.Errorf("group %s has %d rules, want 20", g.Name, len(g.Rules))
		}
		for _, r := range g.Rules {
			if (r.Record == "") == (r.Alert == "") {
				t.Fatalf("rule %+v must be either recording or alerting", r)
			}
			if r.Record != "" {
				recording++
			} else {
				alerting++
			}
			if names[r.name()] {
				t.Errorf("duplicate rule name %s", r.name())
			}
			names[r.name()] = true
			exprs[r.Expr] = true
			if _, err := p.ParseExpr(r.Expr); err != nil {
				t.Errorf("rule %s: expression %q does not parse: %v", r.name(), r.Expr, err)
			}
		}
	}
	if recording+alerting != 1000 || recording != 600 {
		t.Errorf("got %d recording and %d alerting rules, want 600 and 400", recording, alerting)
	}
	if len(exprs) < 500 {
		t.Errorf("only %d distinct expressions among 1000 rules", len(exprs))
	}
	// Every kind of expression is used.
	for _, want := range []string{"histogram_quantile(", "avg_over_time(", "absent(", "topk(", " / sum by", " > ", "rate("} {
		found := false
		for e := range exprs {
			if strings.Contains(e, want) {
				found = true
				break
			}
		}
		if !found {
			t.Errorf("no expression uses %q", want)
		}
	}
}

func TestRuleFileParses(t *testing.T) {
	groups := generate(ruleSet{Rules: 45, PerGroup: 20, Namespaces: 3})
	if len(groups) != 3 || len(groups[2].Rules) != 5 {
		t.Fatalf("45 rules by 20: got %d groups", len(groups))
	}
	yml := ruleFileYAML(groups, 30*time.Second)
	rgs, errs := rulefmt.Parse([]byte(yml), false, model.UTF8Validation, parser.NewParser(parser.Options{}), nil)
	if len(errs) > 0 {
		t.Fatalf("rule file does not parse: %v\n%s", errs, yml)
	}
	var n int
	for _, g := range rgs.Groups {
		if time.Duration(g.Interval) != 30*time.Second {
			t.Errorf("group %s interval %s, want 30s", g.Name, g.Interval)
		}
		n += len(g.Rules)
	}
	if n != 45 {
		t.Errorf("rule file holds %d rules, want 45", n)
	}
}
