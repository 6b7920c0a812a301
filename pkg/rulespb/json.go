package rulespb

import (
	"encoding/json"
	"fmt"
	"strings"
	"time"

	"github.com/prometheus/prometheus/model/labels"
	"google.golang.org/protobuf/types/known/timestamppb"

	"github.com/strata-io/strata/pkg/storepb"
)

// The types below are the JSON of Prometheus' /api/v1/rules and
// /api/v1/alerts (field names, types and omissions as Prometheus writes
// them), plus Thanos' partialResponseStrategy on groups.

// JSONRuleDiscovery is the data of /api/v1/rules.
type JSONRuleDiscovery struct {
	Groups []*JSONRuleGroup `json:"groups"`
}

// JSONAlertDiscovery is the data of /api/v1/alerts.
type JSONAlertDiscovery struct {
	Alerts []*JSONAlert `json:"alerts"`
}

// JSONRuleGroup is one group of /api/v1/rules.
type JSONRuleGroup struct {
	Name           string      `json:"name"`
	File           string      `json:"file"`
	Rules          []*JSONRule `json:"rules"`
	Interval       float64     `json:"interval"`
	Limit          int64       `json:"limit"`
	EvaluationTime float64     `json:"evaluationTime"`
	LastEvaluation time.Time   `json:"lastEvaluation"`
	// PartialResponseStrategy is Thanos' extension ("WARN" or "ABORT");
	// Prometheus does not send it.
	PartialResponseStrategy string `json:"partialResponseStrategy,omitempty"`
}

// JSONRule is an alerting or a recording rule: exactly one field is set.
// It is written as Prometheus writes either, with "type" telling which.
type JSONRule struct {
	Alerting  *JSONAlertingRule
	Recording *JSONRecordingRule
}

// MarshalJSON writes the rule that is set.
func (r JSONRule) MarshalJSON() ([]byte, error) {
	switch {
	case r.Alerting != nil:
		a := *r.Alerting
		a.Type = "alerting"
		if a.Alerts == nil {
			a.Alerts = []*JSONAlert{}
		}
		return json.Marshal(a)
	case r.Recording != nil:
		rr := *r.Recording
		rr.Type = "recording"
		return json.Marshal(rr)
	}
	return nil, fmt.Errorf("rule is neither alerting nor recording")
}

// UnmarshalJSON reads a rule by its "type".
func (r *JSONRule) UnmarshalJSON(b []byte) error {
	var t struct {
		Type string `json:"type"`
	}
	if err := json.Unmarshal(b, &t); err != nil {
		return err
	}
	*r = JSONRule{}
	switch t.Type {
	case "alerting":
		r.Alerting = &JSONAlertingRule{}
		return json.Unmarshal(b, r.Alerting)
	case "recording":
		r.Recording = &JSONRecordingRule{}
		return json.Unmarshal(b, r.Recording)
	}
	return fmt.Errorf("rule of unknown type %q", t.Type)
}

// JSONAlertingRule is an alerting rule of /api/v1/rules.
type JSONAlertingRule struct {
	// State is "inactive", "pending" or "firing".
	State          string        `json:"state"`
	Name           string        `json:"name"`
	Query          string        `json:"query"`
	Duration       float64       `json:"duration"`
	KeepFiringFor  float64       `json:"keepFiringFor"`
	Labels         labels.Labels `json:"labels"`
	Annotations    labels.Labels `json:"annotations"`
	Alerts         []*JSONAlert  `json:"alerts"`
	Health         string        `json:"health"`
	LastError      string        `json:"lastError,omitempty"`
	EvaluationTime float64       `json:"evaluationTime"`
	LastEvaluation time.Time     `json:"lastEvaluation"`
	Type           string        `json:"type"`
}

// JSONRecordingRule is a recording rule of /api/v1/rules.
type JSONRecordingRule struct {
	Name           string        `json:"name"`
	Query          string        `json:"query"`
	Labels         labels.Labels `json:"labels"`
	Health         string        `json:"health"`
	LastError      string        `json:"lastError,omitempty"`
	EvaluationTime float64       `json:"evaluationTime"`
	LastEvaluation time.Time     `json:"lastEvaluation"`
	Type           string        `json:"type"`
}

// JSONAlert is an active alert, in a rule of /api/v1/rules and in
// /api/v1/alerts.
type JSONAlert struct {
	Labels          labels.Labels `json:"labels"`
	Annotations     labels.Labels `json:"annotations"`
	State           string        `json:"state"`
	ActiveAt        *time.Time    `json:"activeAt,omitempty"`
	KeepFiringSince *time.Time    `json:"keepFiringSince,omitempty"`
	Value           string        `json:"value"`
}

// StateString is the state as Prometheus' JSON writes it.
func StateString(s AlertState) string { return strings.ToLower(s.String()) }

// ParseState reads a state of Prometheus' JSON; an unknown one is INACTIVE.
func ParseState(s string) AlertState {
	return AlertState(AlertState_value[strings.ToUpper(s)])
}

// timeToProto converts t; the zero time (never evaluated) is nil.
func timeToProto(t time.Time) *timestamppb.Timestamp {
	if t.IsZero() {
		return nil
	}
	return timestamppb.New(t)
}

// timeFromProto converts ts; nil is the zero time.
func timeFromProto(ts *timestamppb.Timestamp) time.Time {
	if ts == nil {
		return time.Time{}
	}
	return ts.AsTime()
}

func labelSet(lset labels.Labels) *storepb.LabelSet {
	return &storepb.LabelSet{Labels: storepb.LabelsToProto(lset)}
}

func fromLabelSet(ls *storepb.LabelSet) labels.Labels {
	return storepb.LabelsFromProto(ls.GetLabels())
}

// GroupFromJSON converts a group of Prometheus' JSON to the wire form.
// Alerts lose keepFiringSince, which the wire form does not carry.
func GroupFromJSON(g *JSONRuleGroup) *RuleGroup {
	out := &RuleGroup{
		Name:                      g.Name,
		File:                      g.File,
		Interval:                  g.Interval,
		Limit:                     g.Limit,
		EvaluationDurationSeconds: g.EvaluationTime,
		LastEvaluation:            timeToProto(g.LastEvaluation),
		Rules:                     make([]*Rule, 0, len(g.Rules)),
	}
	if v, ok := storepb.PartialResponseStrategy_value[g.PartialResponseStrategy]; ok {
		out.PartialResponseStrategy = storepb.PartialResponseStrategy(v)
	}
	for _, r := range g.Rules {
		switch {
		case r.Alerting != nil:
			a := r.Alerting
			pa := &Alert{
				State:                     ParseState(a.State),
				Name:                      a.Name,
				Query:                     a.Query,
				DurationSeconds:           a.Duration,
				KeepFiringForSeconds:      a.KeepFiringFor,
				Labels:                    labelSet(a.Labels),
				Annotations:               labelSet(a.Annotations),
				Health:                    a.Health,
				LastError:                 a.LastError,
				EvaluationDurationSeconds: a.EvaluationTime,
				LastEvaluation:            timeToProto(a.LastEvaluation),
			}
			for _, al := range a.Alerts {
				pa.Alerts = append(pa.Alerts, AlertFromJSON(al))
			}
			out.Rules = append(out.Rules, &Rule{Result: &Rule_Alert{Alert: pa}})
		case r.Recording != nil:
			rr := r.Recording
			out.Rules = append(out.Rules, &Rule{Result: &Rule_Recording{Recording: &RecordingRule{
				Name:                      rr.Name,
				Query:                     rr.Query,
				Labels:                    labelSet(rr.Labels),
				Health:                    rr.Health,
				LastError:                 rr.LastError,
				EvaluationDurationSeconds: rr.EvaluationTime,
				LastEvaluation:            timeToProto(rr.LastEvaluation),
			}}})
		}
	}
	return out
}

// AlertFromJSON converts an alert of Prometheus' JSON to the wire form.
func AlertFromJSON(a *JSONAlert) *AlertInstance {
	out := &AlertInstance{
		Labels:      labelSet(a.Labels),
		Annotations: labelSet(a.Annotations),
		State:       ParseState(a.State),
		Value:       a.Value,
	}
	if a.ActiveAt != nil {
		out.ActiveAt = timestamppb.New(*a.ActiveAt)
	}
	return out
}

// GroupToJSON converts a group to Prometheus' JSON, with Thanos'
// partialResponseStrategy.
func GroupToJSON(g *RuleGroup) *JSONRuleGroup {
	out := &JSONRuleGroup{
		Name:                    g.GetName(),
		File:                    g.GetFile(),
		Interval:                g.GetInterval(),
		Limit:                   g.GetLimit(),
		EvaluationTime:          g.GetEvaluationDurationSeconds(),
		LastEvaluation:          timeFromProto(g.GetLastEvaluation()),
		PartialResponseStrategy: g.GetPartialResponseStrategy().String(),
		Rules:                   make([]*JSONRule, 0, len(g.GetRules())),
	}
	for _, r := range g.GetRules() {
		if a := r.GetAlert(); a != nil {
			ja := &JSONAlertingRule{
				State:          StateString(a.GetState()),
				Name:           a.GetName(),
				Query:          a.GetQuery(),
				Duration:       a.GetDurationSeconds(),
				KeepFiringFor:  a.GetKeepFiringForSeconds(),
				Labels:         fromLabelSet(a.GetLabels()),
				Annotations:    fromLabelSet(a.GetAnnotations()),
				Alerts:         make([]*JSONAlert, 0, len(a.GetAlerts())),
				Health:         a.GetHealth(),
				LastError:      a.GetLastError(),
				EvaluationTime: a.GetEvaluationDurationSeconds(),
				LastEvaluation: timeFromProto(a.GetLastEvaluation()),
			}
			for _, al := range a.GetAlerts() {
				ja.Alerts = append(ja.Alerts, AlertToJSON(al))
			}
			out.Rules = append(out.Rules, &JSONRule{Alerting: ja})
		} else if rr := r.GetRecording(); rr != nil {
			out.Rules = append(out.Rules, &JSONRule{Recording: &JSONRecordingRule{
				Name:           rr.GetName(),
				Query:          rr.GetQuery(),
				Labels:         fromLabelSet(rr.GetLabels()),
				Health:         rr.GetHealth(),
				LastError:      rr.GetLastError(),
				EvaluationTime: rr.GetEvaluationDurationSeconds(),
				LastEvaluation: timeFromProto(rr.GetLastEvaluation()),
			}})
		}
	}
	return out
}

// AlertToJSON converts an alert to Prometheus' JSON.
func AlertToJSON(a *AlertInstance) *JSONAlert {
	out := &JSONAlert{
		Labels:      fromLabelSet(a.GetLabels()),
		Annotations: fromLabelSet(a.GetAnnotations()),
		State:       StateString(a.GetState()),
		Value:       a.GetValue(),
	}
	if a.GetActiveAt() != nil {
		t := a.GetActiveAt().AsTime()
		out.ActiveAt = &t
	}
	return out
}

// GroupsToJSON converts groups to the data of /api/v1/rules; no groups is
// an empty list, never null.
func GroupsToJSON(gs []*RuleGroup) *JSONRuleDiscovery {
	out := &JSONRuleDiscovery{Groups: make([]*JSONRuleGroup, 0, len(gs))}
	for _, g := range gs {
		out.Groups = append(out.Groups, GroupToJSON(g))
	}
	return out
}

// AlertsToJSON lists the alerts of every alerting rule of gs, as the data of
// /api/v1/alerts; no alerts is an empty list, never null.
func AlertsToJSON(gs []*RuleGroup) *JSONAlertDiscovery {
	out := &JSONAlertDiscovery{Alerts: []*JSONAlert{}}
	for _, g := range gs {
		for _, r := range g.GetRules() {
			for _, a := range r.GetAlert().GetAlerts() {
				out.Alerts = append(out.Alerts, AlertToJSON(a))
			}
		}
	}
	return out
}
