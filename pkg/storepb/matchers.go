package storepb

import (
	"fmt"

	"github.com/prometheus/prometheus/model/labels"
)

// MatchersToProto converts PromQL matchers to wire matchers.
func MatchersToProto(ms ...*labels.Matcher) ([]*LabelMatcher, error) {
	out := make([]*LabelMatcher, 0, len(ms))
	for _, m := range ms {
		var t LabelMatcher_Type
		switch m.Type {
		case labels.MatchEqual:
			t = LabelMatcher_EQ
		case labels.MatchNotEqual:
			t = LabelMatcher_NEQ
		case labels.MatchRegexp:
			t = LabelMatcher_RE
		case labels.MatchNotRegexp:
			t = LabelMatcher_NRE
		default:
			return nil, fmt.Errorf("unknown matcher type %d for label %q", m.Type, m.Name)
		}
		out = append(out, &LabelMatcher{Type: t, Name: m.Name, Value: m.Value})
	}
	return out, nil
}

// MatchersFromProto converts wire matchers to PromQL matchers. It fails on an
// unknown type or an invalid regular expression.
func MatchersFromProto(ms []*LabelMatcher) ([]*labels.Matcher, error) {
	out := make([]*labels.Matcher, 0, len(ms))
	for _, m := range ms {
		var t labels.MatchType
		switch m.GetType() {
		case LabelMatcher_EQ:
			t = labels.MatchEqual
		case LabelMatcher_NEQ:
			t = labels.MatchNotEqual
		case LabelMatcher_RE:
			t = labels.MatchRegexp
		case LabelMatcher_NRE:
			t = labels.MatchNotRegexp
		default:
			return nil, fmt.Errorf("unknown matcher type %d for label %q", m.GetType(), m.GetName())
		}
		lm, err := labels.NewMatcher(t, m.GetName(), m.GetValue())
		if err != nil {
			return nil, fmt.Errorf("matcher %s: %w", m.GetName(), err)
		}
		out = append(out, lm)
	}
	return out, nil
}

// PartialResponseDisabled tells whether a request asks to fail rather than
// answer partially, honouring the deprecated bool as well as the strategy.
func PartialResponseDisabled(deprecated bool, s PartialResponseStrategy) bool {
	return deprecated || s == PartialResponseStrategy_ABORT
}
