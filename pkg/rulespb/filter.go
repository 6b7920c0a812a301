package rulespb

import (
	"fmt"
	"slices"

	"github.com/prometheus/prometheus/model/labels"
	"github.com/prometheus/prometheus/promql/parser"
)

// Filter is a RulesRequest's selection, ready to apply to rule groups.
type Filter struct {
	typ      RulesRequest_Type
	names    []string
	groups   []string
	files    []string
	matchers [][]*labels.Matcher
}

// NewFilter parses the request's selection: its type, rule_name,
// rule_group, file and matcher_string (series selectors such as
// `{severity="page"}`, matched against a rule's labels).
func NewFilter(req *RulesRequest) (*Filter, error) {
	f := &Filter{
		typ:    req.GetType(),
		names:  req.GetRuleName(),
		groups: req.GetRuleGroup(),
		files:  req.GetFile(),
	}
	p := parser.NewParser(parser.Options{})
	for _, s := range req.GetMatcherString() {
		ms, err := p.ParseMetricSelector(s)
		if err != nil {
			return nil, fmt.Errorf("matcher %q: %w", s, err)
		}
		f.matchers = append(f.matchers, ms)
	}
	return f, nil
}

// FilterGroups returns the groups of gs the request selects, each with the
// rules it selects, in their order. As in Prometheus, a group left without
// rules is dropped. gs is not modified: groups whose rules are all kept are
// returned as they are, the others as new groups.
func FilterGroups(req *RulesRequest, gs []*RuleGroup) ([]*RuleGroup, error) {
	f, err := NewFilter(req)
	if err != nil {
		return nil, err
	}
	return f.Groups(gs), nil
}

// Groups applies the filter to gs (see FilterGroups).
func (f *Filter) Groups(gs []*RuleGroup) []*RuleGroup {
	out := make([]*RuleGroup, 0, len(gs))
	for _, g := range gs {
		if len(f.groups) > 0 && !slices.Contains(f.groups, g.GetName()) {
			continue
		}
		if len(f.files) > 0 && !slices.Contains(f.files, g.GetFile()) {
			continue
		}
		rules := make([]*Rule, 0, len(g.GetRules()))
		for _, r := range g.GetRules() {
			if f.Keep(r) {
				rules = append(rules, r)
			}
		}
		switch {
		case len(rules) == 0:
		case len(rules) == len(g.GetRules()):
			out = append(out, g)
		default:
			out = append(out, WithRules(g, rules))
		}
	}
	return out
}

// Keep tells whether the filter keeps rule r, by its type, name and labels
// (the group and file are not looked at).
func (f *Filter) Keep(r *Rule) bool {
	var (
		name string
		lset labels.Labels
	)
	switch {
	case r.GetAlert() != nil:
		if f.typ == RulesRequest_RECORD {
			return false
		}
		name, lset = r.GetAlert().GetName(), fromLabelSet(r.GetAlert().GetLabels())
	case r.GetRecording() != nil:
		if f.typ == RulesRequest_ALERT {
			return false
		}
		name, lset = r.GetRecording().GetName(), fromLabelSet(r.GetRecording().GetLabels())
	default:
		return false
	}
	if len(f.names) > 0 && !slices.Contains(f.names, name) {
		return false
	}
	if len(f.matchers) == 0 {
		return true
	}
	for _, ms := range f.matchers {
		if matchAll(ms, lset) {
			return true
		}
	}
	return false
}

func matchAll(ms []*labels.Matcher, lset labels.Labels) bool {
	for _, m := range ms {
		if !m.Matches(lset.Get(m.Name)) {
			return false
		}
	}
	return true
}

// WithRules returns a new group with g's fields and the given rules.
func WithRules(g *RuleGroup, rules []*Rule) *RuleGroup {
	return &RuleGroup{
		Name:                      g.GetName(),
		File:                      g.GetFile(),
		Rules:                     rules,
		Interval:                  g.GetInterval(),
		EvaluationDurationSeconds: g.GetEvaluationDurationSeconds(),
		LastEvaluation:            g.GetLastEvaluation(),
		PartialResponseStrategy:   g.GetPartialResponseStrategy(),
		Limit:                     g.GetLimit(),
	}
}
