package promstore

import (
	"context"
	"encoding/json"
	"errors"
	"io"
	"net/http"
	"net/url"
	"os"
	"path/filepath"
	"testing"
	"time"

	"github.com/prometheus/prometheus/model/labels"
	"github.com/stretchr/testify/require"

	"github.com/strata-io/strata/internal/testkit"
	"github.com/strata-io/strata/pkg/infopb"
	"github.com/strata-io/strata/pkg/rulespb"
	"github.com/strata-io/strata/pkg/storepb"
	"github.com/strata-io/strata/test/e2e/e2eutil"
)

// rulesStream collects Rules frames.
type rulesStream struct {
	rulespb.Rules_RulesServer
	ctx context.Context
	got []*rulespb.RuleGroup
}

func (r *rulesStream) Send(m *rulespb.RulesResponse) error {
	r.got = append(r.got, m.GetGroup())
	return nil
}
func (r *rulesStream) Context() context.Context { return r.ctx }

func rulesOf(t *testing.T, s *Store, req *rulespb.RulesRequest) []*rulespb.RuleGroup {
	t.Helper()
	srv := &rulesStream{ctx: t.Context()}
	require.NoError(t, s.Rules(req, srv))
	return srv.got
}

const testRuleFile = `groups:
  - name: strata-test
    interval: 1s
    rules:
      - record: strata:one
        expr: vector(1)
        labels:
          team: storage
      - alert: AlwaysFiring
        expr: vector(1)
        labels:
          severity: page
        annotations:
          summary: it fires
`

// A real Prometheus with a rule file (one recording and one always-firing
// alerting rule): its rules are served over the Rules API with its external
// labels on every rule and alert, the filters apply, Info advertises the
// API, and the JSON of Prometheus survives the conversion unchanged.
func TestRulesOfRealPrometheus(t *testing.T) {
	root, err := e2eutil.RepoRoot()
	require.NoError(t, err)
	bin := filepath.Join(root, e2eutil.BinDir, "prometheus")
	_, err = os.Stat(bin)
	testkit.RequireOrSkip(t, "prometheus binary (make deps)", err)

	ctx, cancel := context.WithTimeout(t.Context(), 2*time.Minute)
	defer cancel()
	dir := t.TempDir()
	ruleFile := filepath.Join(dir, "rules.yml")
	require.NoError(t, os.WriteFile(ruleFile, []byte(testRuleFile), 0o644))
	p := &e2eutil.Prometheus{Bin: bin, Name: "prometheus", Dir: filepath.Join(dir, "prom"),
		Config: e2eutil.PromConfig{ExternalLabels: map[string]string{"cluster": "eu", "replica": "a"}}}
	ports := e2eutil.NewPorts()
	proc, err := e2eutil.StartReady(ctx, 3, func() (e2eutil.Spec, error) {
		addr, err := ports.Addr()
		if err != nil {
			return e2eutil.Spec{}, err
		}
		p.Addr = addr
		spec, err := p.Spec()
		if err != nil {
			return spec, err
		}
		f, err := os.OpenFile(p.ConfigPath(), os.O_APPEND|os.O_WRONLY, 0)
		if err != nil {
			return spec, err
		}
		_, err = f.WriteString("rule_files:\n  - " + ruleFile + "\n")
		return spec, errors.Join(err, f.Close())
	})
	if proc != nil {
		t.Cleanup(func() {
			if err := proc.Stop(30 * time.Second); err != nil {
				t.Logf("stop prometheus: %v", err)
			}
			if t.Failed() {
				t.Logf("prometheus log:\n%s", proc.Logs())
			}
		})
	}
	require.NoError(t, err)

	cfg := DefaultConfig()
	cfg.URL, err = url.Parse(p.URL())
	require.NoError(t, err)
	client := &http.Client{}
	t.Cleanup(client.CloseIdleConnections)
	s, err := New(cfg, client, nil, nil)
	require.NoError(t, err)
	require.NoError(t, s.CheckPrometheus(ctx))

	info, err := s.Info(ctx, &infopb.InfoRequest{})
	require.NoError(t, err)
	require.NotNil(t, info.GetRules(), "Info advertises the Rules API")

	// Wait for an evaluation that made the alert fire.
	var gs []*rulespb.RuleGroup
	require.Eventually(t, func() bool {
		gs = rulesOf(t, s, &rulespb.RulesRequest{})
		return len(gs) == 1 && len(gs[0].GetRules()) == 2 &&
			gs[0].GetRules()[1].GetAlert().GetState() == rulespb.AlertState_FIRING
	}, time.Minute, 200*time.Millisecond, "the alert fires")

	g := gs[0]
	require.Equal(t, "strata-test", g.GetName())
	require.Equal(t, ruleFile, g.GetFile())
	require.InDelta(t, 1.0, g.GetInterval(), 0)
	require.NotNil(t, g.GetLastEvaluation())
	rec := g.GetRules()[0].GetRecording()
	require.Equal(t, "strata:one", rec.GetName())
	require.Equal(t, "vector(1)", rec.GetQuery())
	require.Equal(t, "ok", rec.GetHealth())
	lbls := func(ls *storepb.LabelSet) string { return storepb.LabelsFromProto(ls.GetLabels()).String() }
	require.Equal(t, `{cluster="eu", replica="a", team="storage"}`, lbls(rec.GetLabels()))
	alert := g.GetRules()[1].GetAlert()
	require.Equal(t, "AlwaysFiring", alert.GetName())
	require.Equal(t, `{cluster="eu", replica="a", severity="page"}`, lbls(alert.GetLabels()))
	require.Equal(t, `{summary="it fires"}`, lbls(alert.GetAnnotations()))
	require.Len(t, alert.GetAlerts(), 1)
	inst := alert.GetAlerts()[0]
	require.Equal(t, rulespb.AlertState_FIRING, inst.GetState())
	require.Equal(t, `{alertname="AlwaysFiring", cluster="eu", replica="a", severity="page"}`, lbls(inst.GetLabels()))
	require.Equal(t, "1e+00", inst.GetValue())
	require.NotNil(t, inst.GetActiveAt())

	names := func(gs []*rulespb.RuleGroup) []string {
		var out []string
		for _, g := range gs {
			for _, r := range g.GetRules() {
				out = append(out, r.GetAlert().GetName()+r.GetRecording().GetName())
			}
		}
		return out
	}
	for _, tc := range []struct {
		req  *rulespb.RulesRequest
		want []string
	}{
		{&rulespb.RulesRequest{Type: rulespb.RulesRequest_RECORD}, []string{"strata:one"}},
		{&rulespb.RulesRequest{Type: rulespb.RulesRequest_ALERT}, []string{"AlwaysFiring"}},
		{&rulespb.RulesRequest{RuleName: []string{"AlwaysFiring"}}, []string{"AlwaysFiring"}},
		{&rulespb.RulesRequest{RuleGroup: []string{"other"}}, nil},
		{&rulespb.RulesRequest{File: []string{ruleFile}}, []string{"strata:one", "AlwaysFiring"}},
		{&rulespb.RulesRequest{MatcherString: []string{`{severity="page"}`}}, []string{"AlwaysFiring"}},
		{&rulespb.RulesRequest{MatcherString: []string{`{cluster="eu", team="storage"}`}}, []string{"strata:one"}},
	} {
		require.Equal(t, tc.want, names(rulesOf(t, s, tc.req)), "%v", tc.req)
	}

	// Prometheus' JSON, converted to the wire form and back, is the same
	// JSON (plus Thanos' partialResponseStrategy on groups).
	for _, path := range []string{"/api/v1/rules", "/api/v1/alerts"} {
		resp, err := client.Get(p.URL() + path)
		require.NoError(t, err)
		body, err := io.ReadAll(resp.Body)
		require.NoError(t, errors.Join(err, resp.Body.Close()))
		var env struct {
			Data json.RawMessage `json:"data"`
		}
		require.NoError(t, json.Unmarshal(body, &env))
		var d rulespb.JSONRuleDiscovery
		require.NoError(t, json.Unmarshal(env.Data, &d))
		var wire []*rulespb.RuleGroup
		for _, jg := range d.Groups {
			wire = append(wire, rulespb.GroupFromJSON(jg))
		}
		if path == "/api/v1/alerts" {
			var a rulespb.JSONAlertDiscovery
			require.NoError(t, json.Unmarshal(env.Data, &a))
			var fromAlerts []*rulespb.AlertInstance
			for _, ja := range a.Alerts {
				fromAlerts = append(fromAlerts, rulespb.AlertFromJSON(ja))
			}
			g := &rulespb.RuleGroup{Rules: []*rulespb.Rule{{Result: &rulespb.Rule_Alert{Alert: &rulespb.Alert{Alerts: fromAlerts}}}}}
			out, err := json.Marshal(rulespb.AlertsToJSON([]*rulespb.RuleGroup{g}))
			require.NoError(t, err)
			require.JSONEq(t, string(env.Data), string(out))
			continue
		}
		out, err := json.Marshal(rulespb.GroupsToJSON(wire))
		require.NoError(t, err)
		var got map[string]any
		require.NoError(t, json.Unmarshal(out, &got))
		for _, g := range got["groups"].([]any) {
			require.Equal(t, "WARN", g.(map[string]any)["partialResponseStrategy"])
			delete(g.(map[string]any), "partialResponseStrategy")
		}
		out, err = json.Marshal(got)
		require.NoError(t, err)
		require.JSONEq(t, string(env.Data), string(out))
	}
	require.Equal(t, labels.FromStrings("cluster", "eu", "replica", "a"), s.ExternalLabels())
}
