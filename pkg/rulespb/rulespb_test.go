package rulespb

import (
	"encoding/json"
	"testing"
	"time"

	"github.com/prometheus/prometheus/model/labels"
	"github.com/stretchr/testify/require"
	"google.golang.org/protobuf/proto"
	"google.golang.org/protobuf/types/known/timestamppb"

	"github.com/strata-io/strata/pkg/storepb"
)

func ls(kv ...string) *storepb.LabelSet { return labelSet(labels.FromStrings(kv...)) }

func testGroup() *RuleGroup {
	t0 := time.Date(2026, 1, 2, 3, 4, 5, 600_000_000, time.UTC)
	return &RuleGroup{
		Name: "g", File: "/rules/a.yml", Interval: 30, Limit: 10,
		EvaluationDurationSeconds: 0.25, LastEvaluation: timestamppb.New(t0),
		PartialResponseStrategy: storepb.PartialResponseStrategy_ABORT,
		Rules: []*Rule{
			{Result: &Rule_Recording{Recording: &RecordingRule{
				Name: "job:up:sum", Query: "sum by (job) (up)", Labels: ls("team", "a"),
				Health: "ok", EvaluationDurationSeconds: 0.01, LastEvaluation: timestamppb.New(t0),
			}}},
			{Result: &Rule_Alert{Alert: &Alert{
				State: AlertState_FIRING, Name: "Down", Query: "up == 0", DurationSeconds: 60,
				KeepFiringForSeconds: 120, Labels: ls("severity", "page"), Annotations: ls("summary", "down"),
				Health: "err", LastError: "boom", EvaluationDurationSeconds: 0.02, LastEvaluation: timestamppb.New(t0),
				Alerts: []*AlertInstance{{
					Labels: ls("instance", "x", "severity", "page"), Annotations: ls("summary", "down"),
					State: AlertState_FIRING, ActiveAt: timestamppb.New(t0.Add(-time.Hour)), Value: "0e+00",
				}},
			}}},
		},
	}
}

// The generated marshalling (vtproto and the reflection-based one) round
// trips a group, and both write the same bytes.
func TestWireRoundTrip(t *testing.T) {
	g := testGroup()
	resp := &RulesResponse{Result: &RulesResponse_Group{Group: g}}
	vt, err := resp.MarshalVT()
	require.NoError(t, err)
	std, err := proto.MarshalOptions{Deterministic: true}.Marshal(resp)
	require.NoError(t, err)
	require.Equal(t, std, vt)

	var back RulesResponse
	require.NoError(t, back.UnmarshalVT(vt))
	require.True(t, proto.Equal(resp, &back))

	req := &RulesRequest{Type: RulesRequest_ALERT, PartialResponseStrategy: storepb.PartialResponseStrategy_ABORT,
		MatcherString: []string{`{a="b"}`}, RuleName: []string{"n"}, RuleGroup: []string{"g"}, File: []string{"f"}}
	b, err := req.MarshalVT()
	require.NoError(t, err)
	var reqBack RulesRequest
	require.NoError(t, proto.Unmarshal(b, &reqBack))
	require.True(t, proto.Equal(req, &reqBack))
	require.Equal(t, "/thanos.Rules/Rules", Rules_Rules_FullMethodName)
}

// JSON as Prometheus writes it converts to the wire form and back to the
// same JSON.
func TestJSONRoundTrip(t *testing.T) {
	in := `{"groups":[{"name":"g","file":"/rules/a.yml","rules":[` +
		`{"name":"job:up:sum","query":"sum by (job) (up)","labels":{"team":"a"},"health":"ok","evaluationTime":0.01,"lastEvaluation":"2026-01-02T03:04:05.6Z","type":"recording"},` +
		`{"state":"firing","name":"Down","query":"up == 0","duration":60,"keepFiringFor":120,"labels":{"severity":"page"},"annotations":{"summary":"down"},` +
		`"alerts":[{"labels":{"instance":"x","severity":"page"},"annotations":{"summary":"down"},"state":"firing","activeAt":"2026-01-02T02:04:05.6Z","value":"0e+00"}],` +
		`"health":"err","lastError":"boom","evaluationTime":0.02,"lastEvaluation":"2026-01-02T03:04:05.6Z","type":"alerting"},` +
		`{"state":"inactive","name":"Never","query":"vector(1) == 0","duration":0,"keepFiringFor":0,"labels":{},"annotations":{},"alerts":[],"health":"unknown","evaluationTime":0,"lastEvaluation":"0001-01-01T00:00:00Z","type":"alerting"}` +
		`],"interval":30,"limit":10,"evaluationTime":0.25,"lastEvaluation":"2026-01-02T03:04:05.6Z","partialResponseStrategy":"ABORT"}]}`
	var d JSONRuleDiscovery
	require.NoError(t, json.Unmarshal([]byte(in), &d))
	require.Len(t, d.Groups, 1)
	g := GroupFromJSON(d.Groups[0])
	require.True(t, proto.Equal(testGroup().GetRules()[1], g.GetRules()[1]), "alerting rule converted")
	require.Nil(t, g.GetRules()[2].GetAlert().GetLastEvaluation(), "never evaluated: no timestamp")

	out, err := json.Marshal(GroupsToJSON([]*RuleGroup{g}))
	require.NoError(t, err)
	require.JSONEq(t, in, string(out))

	alerts, err := json.Marshal(AlertsToJSON([]*RuleGroup{g}))
	require.NoError(t, err)
	require.JSONEq(t, `{"alerts":[{"labels":{"instance":"x","severity":"page"},"annotations":{"summary":"down"},"state":"firing","activeAt":"2026-01-02T02:04:05.6Z","value":"0e+00"}]}`, string(alerts))

	empty, err := json.Marshal(GroupsToJSON(nil))
	require.NoError(t, err)
	require.JSONEq(t, `{"groups":[]}`, string(empty))
	empty, err = json.Marshal(AlertsToJSON(nil))
	require.NoError(t, err)
	require.JSONEq(t, `{"alerts":[]}`, string(empty))
}

func ruleNames(gs []*RuleGroup) []string {
	var out []string
	for _, g := range gs {
		for _, r := range g.GetRules() {
			out = append(out, g.GetName()+"/"+r.GetAlert().GetName()+r.GetRecording().GetName())
		}
	}
	return out
}

func TestFilterGroups(t *testing.T) {
	g2 := testGroup()
	g2.Name, g2.File = "g2", "/rules/b.yml"
	gs := []*RuleGroup{testGroup(), g2}
	for name, tc := range map[string]struct {
		req  *RulesRequest
		want []string
	}{
		"all":        {&RulesRequest{}, []string{"g/job:up:sum", "g/Down", "g2/job:up:sum", "g2/Down"}},
		"alerts":     {&RulesRequest{Type: RulesRequest_ALERT}, []string{"g/Down", "g2/Down"}},
		"recordings": {&RulesRequest{Type: RulesRequest_RECORD}, []string{"g/job:up:sum", "g2/job:up:sum"}},
		"name":       {&RulesRequest{RuleName: []string{"Down"}}, []string{"g/Down", "g2/Down"}},
		"group":      {&RulesRequest{RuleGroup: []string{"g2"}}, []string{"g2/job:up:sum", "g2/Down"}},
		"file":       {&RulesRequest{File: []string{"/rules/a.yml"}}, []string{"g/job:up:sum", "g/Down"}},
		"matcher":    {&RulesRequest{MatcherString: []string{`{severity="page"}`, `{team=~"b|c"}`}}, []string{"g/Down", "g2/Down"}},
		"nothing":    {&RulesRequest{RuleName: []string{"none"}}, nil},
	} {
		t.Run(name, func(t *testing.T) {
			got, err := FilterGroups(tc.req, gs)
			require.NoError(t, err)
			require.Equal(t, tc.want, ruleNames(got))
		})
	}
	require.Len(t, gs[0].GetRules(), 2, "input untouched")
	_, err := FilterGroups(&RulesRequest{MatcherString: []string{"{"}}, gs)
	require.Error(t, err)
}

func TestAddExternalLabels(t *testing.T) {
	g := testGroup()
	AddExternalLabels(g, labels.FromStrings("cluster", "eu", "severity", "ext"))
	require.Equal(t, `{cluster="eu", severity="ext", team="a"}`, fromLabelSet(g.GetRules()[0].GetRecording().GetLabels()).String())
	require.Equal(t, `{cluster="eu", severity="ext"}`, fromLabelSet(g.GetRules()[1].GetAlert().GetLabels()).String())
	require.Equal(t, `{cluster="eu", instance="x", severity="ext"}`, fromLabelSet(g.GetRules()[1].GetAlert().GetAlerts()[0].GetLabels()).String())
}
