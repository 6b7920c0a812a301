package promrules

import (
	"context"
	"encoding/json"
	"testing"
	"time"

	"github.com/prometheus/prometheus/model/labels"
	"github.com/prometheus/prometheus/promql"
	"github.com/prometheus/prometheus/promql/parser"
	"github.com/prometheus/prometheus/rules"
	"github.com/prometheus/prometheus/util/teststorage"
	"github.com/stretchr/testify/require"

	"github.com/strata-io/strata/pkg/rulespb"
)

// A group of Prometheus' rule manager, evaluated once, converts to the
// wire form with the ruler's external labels, and its JSON is what
// Prometheus' /api/v1/rules shows plus the external labels.
func TestGroups(t *testing.T) {
	p := parser.NewParser(parser.Options{})
	expr, err := p.ParseExpr("vector(1)")
	require.NoError(t, err)
	alerting := rules.NewAlertingRule("AlwaysFiring", expr, 0, 0,
		labels.FromStrings("severity", "page"), labels.FromStrings("summary", "fires"), labels.EmptyLabels(), "", false, nil)
	recording := rules.NewRecordingRule("strata:one", expr, labels.FromStrings("team", "a"))
	never := rules.NewAlertingRule("Never", expr, time.Minute, 0, labels.EmptyLabels(), labels.EmptyLabels(), labels.EmptyLabels(), "", false, nil)
	store := teststorage.New(t)
	g := rules.NewGroup(rules.GroupOptions{
		Name: "g", File: "/rules/a.yml", Interval: 30 * time.Second, Limit: 5,
		Rules: []rules.Rule{recording, alerting, never},
		Opts: &rules.ManagerOptions{
			Context:    context.Background(),
			Appendable: store,
			Queryable:  store,
			NotifyFunc: func(context.Context, string, ...*rules.Alert) {},
			QueryFunc: func(context.Context, string, time.Time) (promql.Vector, error) {
				return promql.Vector{{Metric: labels.EmptyLabels(), F: 1}}, nil
			},
		},
	})
	at := time.Date(2026, 3, 1, 12, 0, 0, 0, time.UTC)
	g.Eval(t.Context(), at)
	idle := rules.NewGroup(rules.GroupOptions{Name: "idle", File: "/rules/a.yml", Interval: time.Minute, Rules: []rules.Rule{
		rules.NewAlertingRule("NotYet", expr, 0, 0, labels.EmptyLabels(), labels.EmptyLabels(), labels.EmptyLabels(), "", false, nil),
	}})

	gs := Groups([]*rules.Group{g, idle}, labels.FromStrings("cluster", "eu"))
	require.Len(t, gs, 2)
	out, err := json.Marshal(rulespb.GroupsToJSON(gs))
	require.NoError(t, err)
	var d rulespb.JSONRuleDiscovery
	require.NoError(t, json.Unmarshal(out, &d))
	jg := d.Groups[0]
	require.Equal(t, "g", jg.Name)
	require.Equal(t, "/rules/a.yml", jg.File)
	require.InDelta(t, 30.0, jg.Interval, 0)
	require.Equal(t, int64(5), jg.Limit)
	require.Equal(t, "WARN", jg.PartialResponseStrategy)
	require.Len(t, jg.Rules, 3)

	rec := jg.Rules[0].Recording
	require.Equal(t, "strata:one", rec.Name)
	require.Equal(t, "vector(1)", rec.Query)
	require.Equal(t, "ok", rec.Health)
	require.Equal(t, `{cluster="eu", team="a"}`, rec.Labels.String())
	require.False(t, rec.LastEvaluation.IsZero(), "evaluated")

	al := jg.Rules[1].Alerting
	require.Equal(t, "firing", al.State)
	require.Equal(t, `{cluster="eu", severity="page"}`, al.Labels.String())
	require.Equal(t, `{summary="fires"}`, al.Annotations.String())
	require.Len(t, al.Alerts, 1)
	require.Equal(t, "firing", al.Alerts[0].State)
	require.Equal(t, `{alertname="AlwaysFiring", cluster="eu", severity="page"}`, al.Alerts[0].Labels.String())
	require.Equal(t, "1e+00", al.Alerts[0].Value)
	require.Equal(t, at, *al.Alerts[0].ActiveAt)

	pending := jg.Rules[2].Alerting
	require.Equal(t, "pending", pending.State, "a 1m for clause holds the alert pending")
	require.InDelta(t, 60.0, pending.Duration, 0)

	notYet := rulespb.GroupToJSON(gs[1]).Rules[0].Alerting
	require.Equal(t, "inactive", notYet.State, "never evaluated: Prometheus' unknown state has no wire value")
	require.True(t, notYet.LastEvaluation.IsZero())
	require.Empty(t, notYet.Alerts)
}
