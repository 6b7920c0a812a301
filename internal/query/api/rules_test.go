package api

import (
	"context"
	"errors"
	"net/http"
	"net/url"
	"sync"
	"testing"
	"time"

	"github.com/prometheus/prometheus/model/labels"
	"github.com/prometheus/prometheus/util/annotations"
	"github.com/stretchr/testify/require"
	"google.golang.org/protobuf/proto"
	"google.golang.org/protobuf/types/known/timestamppb"

	"github.com/strata-io/strata/pkg/rulespb"
	"github.com/strata-io/strata/pkg/storepb"
)

// fakeRules answers every request with its groups and remembers the last
// request.
type fakeRules struct {
	mu            sync.Mutex
	req           *rulespb.RulesRequest
	replicaLabels []string
	groups        []*rulespb.RuleGroup
	warnings      []string
	err           error
}

func (f *fakeRules) Rules(_ context.Context, req *rulespb.RulesRequest, replicaLabels []string) ([]*rulespb.RuleGroup, annotations.Annotations, error) {
	f.mu.Lock()
	defer f.mu.Unlock()
	f.req, f.replicaLabels = proto.CloneOf(req), replicaLabels
	ws := annotations.New()
	for _, w := range f.warnings {
		ws.Add(errors.New(w))
	}
	if f.err != nil {
		return nil, *ws, f.err
	}
	return f.groups, *ws, nil
}

func (f *fakeRules) last() (*rulespb.RulesRequest, []string) {
	f.mu.Lock()
	defer f.mu.Unlock()
	return f.req, f.replicaLabels
}

func pbLabels(kv ...string) *storepb.LabelSet {
	return &storepb.LabelSet{Labels: storepb.LabelsToProto(labels.FromStrings(kv...))}
}

func apiTestGroups() []*rulespb.RuleGroup {
	t0 := time.Date(2026, 3, 1, 12, 0, 0, 0, time.UTC)
	return []*rulespb.RuleGroup{{
		Name: "node", File: "/rules/node.yml", Interval: 30, EvaluationDurationSeconds: 0.5,
		LastEvaluation: timestamppb.New(t0), PartialResponseStrategy: storepb.PartialResponseStrategy_WARN,
		Rules: []*rulespb.Rule{
			{Result: &rulespb.Rule_Recording{Recording: &rulespb.RecordingRule{
				Name: "job:up:sum", Query: "sum by (job) (up)", Labels: pbLabels("cluster", "eu"), Health: "ok",
				EvaluationDurationSeconds: 0.1, LastEvaluation: timestamppb.New(t0),
			}}},
			{Result: &rulespb.Rule_Alert{Alert: &rulespb.Alert{
				State: rulespb.AlertState_FIRING, Name: "Down", Query: "up == 0", DurationSeconds: 60,
				Labels: pbLabels("cluster", "eu", "severity", "page"), Annotations: pbLabels("summary", "down"),
				Health: "ok", EvaluationDurationSeconds: 0.2, LastEvaluation: timestamppb.New(t0),
				Alerts: []*rulespb.AlertInstance{{
					Labels: pbLabels("alertname", "Down", "cluster", "eu", "severity", "page"), Annotations: pbLabels("summary", "down"),
					State: rulespb.AlertState_FIRING, ActiveAt: timestamppb.New(t0.Add(-time.Hour)), Value: "0e+00",
				}},
			}}},
		},
	}}
}

// /api/v1/rules and /api/v1/alerts answer Prometheus' JSON (with Thanos'
// partialResponseStrategy on groups), pass Prometheus' filters on, and map
// partial_response, dedup and replicaLabels[].
func TestRulesAndAlertsAPI(t *testing.T) {
	cfg := DefaultConfig()
	cfg.ReplicaLabels = []string{"replica"}
	cfg.DefaultPartialResponse = true
	src := &fakeRules{groups: apiTestGroups(), warnings: []string{"endpoint c: unavailable"}}
	f := newFixture(t, cfg, nil, nil, nil)
	f.api.SetRules(src)

	const rulesJSON = `{"status":"success","data":{"groups":[{"name":"node","file":"/rules/node.yml","rules":[` +
		`{"name":"job:up:sum","query":"sum by (job) (up)","labels":{"cluster":"eu"},"health":"ok","evaluationTime":0.1,"lastEvaluation":"2026-03-01T12:00:00Z","type":"recording"},` +
		`{"state":"firing","name":"Down","query":"up == 0","duration":60,"keepFiringFor":0,"labels":{"cluster":"eu","severity":"page"},"annotations":{"summary":"down"},` +
		`"alerts":[{"labels":{"alertname":"Down","cluster":"eu","severity":"page"},"annotations":{"summary":"down"},"state":"firing","activeAt":"2026-03-01T11:00:00Z","value":"0e+00"}],` +
		`"health":"ok","evaluationTime":0.2,"lastEvaluation":"2026-03-01T12:00:00Z","type":"alerting"}],` +
		`"interval":30,"limit":0,"evaluationTime":0.5,"lastEvaluation":"2026-03-01T12:00:00Z","partialResponseStrategy":"WARN"}]},"warnings":["endpoint c: unavailable"]}`
	for _, m := range methods {
		code, body := f.do(t, m, "/api/v1/rules", nil)
		require.Equal(t, http.StatusOK, code, body)
		require.JSONEq(t, rulesJSON, body)
		req, rl := src.last()
		require.True(t, proto.Equal(&rulespb.RulesRequest{PartialResponseStrategy: storepb.PartialResponseStrategy_WARN}, req), "%v", req)
		require.Equal(t, []string{"replica"}, rl)

		code, body = f.do(t, m, "/api/v1/alerts", nil)
		require.Equal(t, http.StatusOK, code, body)
		require.JSONEq(t, `{"status":"success","data":{"alerts":[{"labels":{"alertname":"Down","cluster":"eu","severity":"page"},"annotations":{"summary":"down"},"state":"firing","activeAt":"2026-03-01T11:00:00Z","value":"0e+00"}]},"warnings":["endpoint c: unavailable"]}`, body)
		req, _ = src.last()
		require.Equal(t, rulespb.RulesRequest_ALERT, req.GetType())
	}

	code, body := f.do(t, http.MethodGet, "/api/v1/rules", url.Values{
		"type": {"record"}, "rule_name[]": {"a", "b"}, "rule_group[]": {"g"}, "file[]": {"/f.yml"},
		"match[]": {`{severity="page"}`}, "partial_response": {"false"}, "replicaLabels[]": {"ruler_replica"},
	})
	require.Equal(t, http.StatusOK, code, body)
	req, rl := src.last()
	require.True(t, proto.Equal(&rulespb.RulesRequest{
		Type: rulespb.RulesRequest_RECORD, PartialResponseStrategy: storepb.PartialResponseStrategy_ABORT,
		RuleName: []string{"a", "b"}, RuleGroup: []string{"g"}, File: []string{"/f.yml"}, MatcherString: []string{`{severity="page"}`},
	}, req), "%v", req)
	require.Equal(t, []string{"ruler_replica"}, rl)

	_, _ = f.do(t, http.MethodGet, "/api/v1/rules", url.Values{"type": {"ALERT"}, "dedup": {"false"}})
	req, rl = src.last()
	require.Equal(t, rulespb.RulesRequest_ALERT, req.GetType())
	require.Empty(t, rl, "no deduplication")

	for params, want := range map[string]url.Values{
		`invalid parameter \"type\": not supported value \"both\"`:           {"type": {"both"}},
		"match[] must contain at least one non-empty matcher":                {"match[]": {`{a=""}`}},
		`'partial_response' parameter: strconv.ParseBool: parsing \"maybe\"`: {"partial_response": {"maybe"}},
	} {
		code, body := f.do(t, http.MethodGet, "/api/v1/rules", want)
		require.Equal(t, http.StatusBadRequest, code, body)
		require.Contains(t, body, params)
	}

	src.err = errors.New("rules of endpoint b: connection refused")
	code, body = f.do(t, http.MethodGet, "/api/v1/rules", nil)
	require.Equal(t, http.StatusUnprocessableEntity, code, body)
	require.Contains(t, body, "rules of endpoint b: connection refused")
}

// Without a rules source (no endpoint offers rules) both answer empty lists.
func TestRulesAndAlertsWithoutSource(t *testing.T) {
	f := newFixture(t, DefaultConfig(), nil, nil, nil)
	_, body := f.do(t, http.MethodGet, "/api/v1/rules", nil)
	require.JSONEq(t, `{"status":"success","data":{"groups":[]}}`, body)
	_, body = f.do(t, http.MethodGet, "/api/v1/alerts", nil)
	require.JSONEq(t, `{"status":"success","data":{"alerts":[]}}`, body)
}
