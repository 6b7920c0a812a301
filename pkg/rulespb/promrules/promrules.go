// Package promrules converts the rule groups of a Prometheus rule manager
// (github.com/prometheus/prometheus/rules) to the Rules API's wire form, for
// a ruler serving them with rulespb.NewServer.
package promrules

import (
	"strconv"
	"time"

	"github.com/prometheus/prometheus/model/labels"
	"github.com/prometheus/prometheus/rules"
	"google.golang.org/protobuf/types/known/timestamppb"

	"github.com/strata-io/strata/pkg/rulespb"
	"github.com/strata-io/strata/pkg/storepb"
)

// Groups converts gs (e.g. (*rules.Manager).RuleGroups()) and adds ext, the
// ruler's external labels, to every rule and alert. The groups' partial
// response strategy is WARN (the zero value): set it from the rule files.
func Groups(gs []*rules.Group, ext labels.Labels) []*rulespb.RuleGroup {
	out := make([]*rulespb.RuleGroup, 0, len(gs))
	for _, g := range gs {
		pg := Group(g)
		rulespb.AddExternalLabels(pg, ext)
		out = append(out, pg)
	}
	return out
}

// Group converts one group with the fields Prometheus' /api/v1/rules shows.
func Group(g *rules.Group) *rulespb.RuleGroup {
	out := &rulespb.RuleGroup{
		Name:                      g.Name(),
		File:                      g.File(),
		Interval:                  g.Interval().Seconds(),
		Limit:                     int64(g.Limit()),
		EvaluationDurationSeconds: g.GetEvaluationTime().Seconds(),
		LastEvaluation:            ts(g.GetLastEvaluation()),
	}
	for _, r := range g.Rules() {
		lastErr := ""
		if err := r.LastError(); err != nil {
			lastErr = err.Error()
		}
		switch r := r.(type) {
		case *rules.AlertingRule:
			a := &rulespb.Alert{
				State:                     state(r.State()),
				Name:                      r.Name(),
				Query:                     r.Query().String(),
				DurationSeconds:           r.HoldDuration().Seconds(),
				KeepFiringForSeconds:      r.KeepFiringFor().Seconds(),
				Labels:                    labelSet(r.Labels()),
				Annotations:               labelSet(r.Annotations()),
				Health:                    string(r.Health()),
				LastError:                 lastErr,
				EvaluationDurationSeconds: r.GetEvaluationDuration().Seconds(),
				LastEvaluation:            ts(r.GetEvaluationTimestamp()),
			}
			for _, al := range r.ActiveAlerts() {
				a.Alerts = append(a.Alerts, &rulespb.AlertInstance{
					Labels:      labelSet(al.Labels),
					Annotations: labelSet(al.Annotations),
					State:       state(al.State),
					ActiveAt:    ts(al.ActiveAt),
					Value:       strconv.FormatFloat(al.Value, 'e', -1, 64),
				})
			}
			out.Rules = append(out.Rules, &rulespb.Rule{Result: &rulespb.Rule_Alert{Alert: a}})
		case *rules.RecordingRule:
			out.Rules = append(out.Rules, &rulespb.Rule{Result: &rulespb.Rule_Recording{Recording: &rulespb.RecordingRule{
				Name:                      r.Name(),
				Query:                     r.Query().String(),
				Labels:                    labelSet(r.Labels()),
				Health:                    string(r.Health()),
				LastError:                 lastErr,
				EvaluationDurationSeconds: r.GetEvaluationDuration().Seconds(),
				LastEvaluation:            ts(r.GetEvaluationTimestamp()),
			}}})
		}
	}
	return out
}

// state maps Prometheus' alert states to the wire's; the wire has no
// "unknown" (never evaluated), which reads as inactive.
func state(s rules.AlertState) rulespb.AlertState {
	switch s {
	case rules.StatePending:
		return rulespb.AlertState_PENDING
	case rules.StateFiring:
		return rulespb.AlertState_FIRING
	}
	return rulespb.AlertState_INACTIVE
}

func ts(t time.Time) *timestamppb.Timestamp {
	if t.IsZero() {
		return nil
	}
	return timestamppb.New(t)
}

func labelSet(lset labels.Labels) *storepb.LabelSet {
	return &storepb.LabelSet{Labels: storepb.LabelsToProto(lset)}
}
