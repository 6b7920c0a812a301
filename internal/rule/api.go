package rule

import (
	"encoding/json"
	"net/http"
	"slices"
	"strconv"
	"strings"
	"time"

	"github.com/prometheus/prometheus/model/labels"
	"github.com/prometheus/prometheus/rules"
)

// Rule types as /api/v1/rules names them.
const (
	TypeAlerting  = "alerting"
	TypeRecording = "recording"
)

// GroupState is a loaded rule group as the rules APIs show it.
type GroupState struct {
	Name, File string
	// Strategy is the group's partial_response_strategy.
	Strategy       Strategy
	Interval       time.Duration
	Limit          int
	EvaluationTime time.Duration
	LastEvaluation time.Time
	Rules          []State
}

// State is one rule of a group as the rules APIs show it.
type State struct {
	// Type is TypeAlerting or TypeRecording.
	Type        string
	Name, Query string
	// Duration and KeepFiringFor are an alerting rule's for and
	// keep_firing_for.
	Duration, KeepFiringFor time.Duration
	Labels, Annotations     labels.Labels
	// State is an alerting rule's: inactive, pending or firing.
	State string
	// Alerts are an alerting rule's active alerts.
	Alerts []AlertState
	// Health is ok, err or unknown; LastError the last evaluation's error.
	Health, LastError string
	EvaluationTime    time.Duration
	LastEvaluation    time.Time
}

// AlertState is one active alert.
type AlertState struct {
	Labels, Annotations labels.Labels
	// State is pending or firing.
	State           string
	ActiveAt        time.Time
	KeepFiringSince time.Time
	Value           float64
}

// Groups returns the loaded groups, sorted by file then name, with their
// rules and active alerts.
func (r *Ruler) Groups() []GroupState {
	groups := r.manager.RuleGroups()
	out := make([]GroupState, 0, len(groups))
	for _, g := range groups {
		gs := GroupState{
			Name:           g.Name(),
			File:           g.File(),
			Strategy:       r.Strategy(g.File(), g.Name()),
			Interval:       g.Interval(),
			Limit:          g.Limit(),
			EvaluationTime: g.GetEvaluationTime(),
			LastEvaluation: g.GetLastEvaluation(),
		}
		for _, rl := range g.Rules() {
			rs := State{
				Name:           rl.Name(),
				Query:          rl.Query().String(),
				Labels:         rl.Labels(),
				Health:         string(rl.Health()),
				EvaluationTime: rl.GetEvaluationDuration(),
				LastEvaluation: rl.GetEvaluationTimestamp(),
			}
			if err := rl.LastError(); err != nil {
				rs.LastError = err.Error()
			}
			switch rl := rl.(type) {
			case *rules.AlertingRule:
				rs.Type = TypeAlerting
				rs.Duration = rl.HoldDuration()
				rs.KeepFiringFor = rl.KeepFiringFor()
				rs.Annotations = rl.Annotations()
				rs.State = rl.State().String()
				rs.Alerts = alertStates(rl)
			default:
				rs.Type = TypeRecording
			}
			gs.Rules = append(gs.Rules, rs)
		}
		out = append(out, gs)
	}
	return out
}

// Alerts returns the active alerts of every alerting rule.
func (r *Ruler) Alerts() []AlertState {
	var out []AlertState
	for _, rl := range r.manager.AlertingRules() {
		out = append(out, alertStates(rl)...)
	}
	return out
}

// alertStates returns a rule's active alerts.
func alertStates(rl *rules.AlertingRule) []AlertState {
	active := rl.ActiveAlerts()
	out := make([]AlertState, 0, len(active))
	for _, a := range active {
		out = append(out, AlertState{
			Labels:          a.Labels,
			Annotations:     a.Annotations,
			State:           a.State.String(),
			ActiveAt:        a.ActiveAt,
			KeepFiringSince: a.KeepFiringSince,
			Value:           a.Value,
		})
	}
	return out
}

// RulesHandler serves GET /api/v1/rules in Prometheus' JSON, with the
// filters type (alert or record), rule_name[], rule_group[], file[] and
// exclude_alerts. Groups carry partialResponseStrategy too.
func (r *Ruler) RulesHandler() http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, req *http.Request) {
		if err := req.ParseForm(); err != nil {
			writeError(w, http.StatusBadRequest, "bad_data", err.Error())
			return
		}
		typ := req.Form.Get("type")
		if typ != "" && typ != "alert" && typ != "record" {
			writeError(w, http.StatusBadRequest, "bad_data", `type must be "alert" or "record", not "`+typ+`"`)
			return
		}
		excludeAlerts := false
		if s := req.Form.Get("exclude_alerts"); s != "" {
			b, err := strconv.ParseBool(s)
			if err != nil {
				writeError(w, http.StatusBadRequest, "bad_data", "exclude_alerts must be true or false")
				return
			}
			excludeAlerts = b
		}
		names, groups, files := req.Form["rule_name[]"], req.Form["rule_group[]"], req.Form["file[]"]
		keep := func(list []string, v string) bool { return len(list) == 0 || slices.Contains(list, v) }
		out := []jsonGroup{}
		for _, g := range r.Groups() {
			if !keep(groups, g.Name) || !keep(files, g.File) {
				continue
			}
			jg := jsonGroup{
				Name:                    g.Name,
				File:                    g.File,
				Rules:                   []any{},
				Interval:                g.Interval.Seconds(),
				Limit:                   g.Limit,
				EvaluationTime:          g.EvaluationTime.Seconds(),
				LastEvaluation:          g.LastEvaluation,
				PartialResponseStrategy: strings.ToUpper(string(g.Strategy)), // as Thanos and the querier write it
			}
			for _, rl := range g.Rules {
				if !keep(names, rl.Name) {
					continue
				}
				switch {
				case rl.Type == TypeAlerting && typ != "record":
					ja := jsonAlertingRule{
						State:          rl.State,
						Name:           rl.Name,
						Query:          rl.Query,
						Duration:       rl.Duration.Seconds(),
						KeepFiringFor:  rl.KeepFiringFor.Seconds(),
						Labels:         rl.Labels,
						Annotations:    rl.Annotations,
						Alerts:         []jsonAlert{},
						Health:         rl.Health,
						LastError:      rl.LastError,
						EvaluationTime: rl.EvaluationTime.Seconds(),
						LastEvaluation: rl.LastEvaluation,
						Type:           TypeAlerting,
					}
					if !excludeAlerts {
						ja.Alerts = toJSONAlerts(rl.Alerts)
					}
					jg.Rules = append(jg.Rules, ja)
				case rl.Type == TypeRecording && typ != "alert":
					jg.Rules = append(jg.Rules, jsonRecordingRule{
						Name:           rl.Name,
						Query:          rl.Query,
						Labels:         rl.Labels,
						Health:         rl.Health,
						LastError:      rl.LastError,
						EvaluationTime: rl.EvaluationTime.Seconds(),
						LastEvaluation: rl.LastEvaluation,
						Type:           TypeRecording,
					})
				}
			}
			// Filtering rules out of a group leaves no empty group, as
			// Prometheus does.
			if len(jg.Rules) == 0 && (typ != "" || len(names) > 0) {
				continue
			}
			out = append(out, jg)
		}
		writeData(w, map[string]any{"groups": out})
	})
}

// AlertsHandler serves GET /api/v1/alerts in Prometheus' JSON.
func (r *Ruler) AlertsHandler() http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, _ *http.Request) {
		writeData(w, map[string]any{"alerts": toJSONAlerts(r.Alerts())})
	})
}

// jsonGroup is a group in /api/v1/rules.
type jsonGroup struct {
	Name                    string    `json:"name"`
	File                    string    `json:"file"`
	Rules                   []any     `json:"rules"`
	Interval                float64   `json:"interval"`
	Limit                   int       `json:"limit"`
	EvaluationTime          float64   `json:"evaluationTime"`
	LastEvaluation          time.Time `json:"lastEvaluation"`
	PartialResponseStrategy string    `json:"partialResponseStrategy"`
}

// jsonAlertingRule is an alerting rule in /api/v1/rules.
type jsonAlertingRule struct {
	State          string        `json:"state"`
	Name           string        `json:"name"`
	Query          string        `json:"query"`
	Duration       float64       `json:"duration"`
	KeepFiringFor  float64       `json:"keepFiringFor"`
	Labels         labels.Labels `json:"labels"`
	Annotations    labels.Labels `json:"annotations"`
	Alerts         []jsonAlert   `json:"alerts"`
	Health         string        `json:"health"`
	LastError      string        `json:"lastError,omitempty"`
	EvaluationTime float64       `json:"evaluationTime"`
	LastEvaluation time.Time     `json:"lastEvaluation"`
	Type           string        `json:"type"`
}

// jsonRecordingRule is a recording rule in /api/v1/rules.
type jsonRecordingRule struct {
	Name           string        `json:"name"`
	Query          string        `json:"query"`
	Labels         labels.Labels `json:"labels,omitempty"`
	Health         string        `json:"health"`
	LastError      string        `json:"lastError,omitempty"`
	EvaluationTime float64       `json:"evaluationTime"`
	LastEvaluation time.Time     `json:"lastEvaluation"`
	Type           string        `json:"type"`
}

// jsonAlert is an alert in /api/v1/alerts and /api/v1/rules.
type jsonAlert struct {
	Labels          labels.Labels `json:"labels"`
	Annotations     labels.Labels `json:"annotations"`
	State           string        `json:"state"`
	ActiveAt        *time.Time    `json:"activeAt,omitempty"`
	KeepFiringSince *time.Time    `json:"keepFiringSince,omitempty"`
	Value           string        `json:"value"`
}

// toJSONAlerts converts alerts to their JSON form.
func toJSONAlerts(in []AlertState) []jsonAlert {
	out := make([]jsonAlert, 0, len(in))
	for _, a := range in {
		ja := jsonAlert{
			Labels:      a.Labels,
			Annotations: a.Annotations,
			State:       a.State,
			Value:       strconv.FormatFloat(a.Value, 'e', -1, 64),
		}
		if !a.ActiveAt.IsZero() {
			t := a.ActiveAt
			ja.ActiveAt = &t
		}
		if !a.KeepFiringSince.IsZero() {
			t := a.KeepFiringSince
			ja.KeepFiringSince = &t
		}
		out = append(out, ja)
	}
	return out
}

// writeData writes a successful API response.
func writeData(w http.ResponseWriter, data any) {
	w.Header().Set("Content-Type", "application/json")
	_ = json.NewEncoder(w).Encode(map[string]any{"status": "success", "data": data})
}

// writeError writes a failed API response.
func writeError(w http.ResponseWriter, code int, typ, msg string) {
	w.Header().Set("Content-Type", "application/json")
	w.WriteHeader(code)
	_ = json.NewEncoder(w).Encode(map[string]any{"status": "error", "errorType": typ, "error": msg})
}
