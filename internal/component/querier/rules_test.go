package querier

import (
	"context"
	"encoding/json"
	"net"
	"net/http"
	"net/http/httptest"
	"testing"
	"time"

	"github.com/prometheus/prometheus/model/labels"
	"github.com/stretchr/testify/require"
	"google.golang.org/grpc"
	"google.golang.org/grpc/codes"
	"google.golang.org/grpc/status"
	"google.golang.org/protobuf/types/known/timestamppb"

	"github.com/strata-io/strata/pkg/infopb"
	"github.com/strata-io/strata/pkg/rulespb"
	"github.com/strata-io/strata/pkg/storepb"
)

// rulerInfo advertises the Rules API only, as a ruler without a store would.
type rulerInfo struct{ infopb.UnimplementedInfoServer }

func (rulerInfo) Info(context.Context, *infopb.InfoRequest) (*infopb.InfoResponse, error) {
	return &infopb.InfoResponse{ComponentType: "rule", Rules: &infopb.RulesInfo{}}, nil
}

// serveRuler serves groups (nil: a Rules API that fails) and Info.
func serveRuler(t *testing.T, groups []*rulespb.RuleGroup) string {
	t.Helper()
	lis, err := net.Listen("tcp", "127.0.0.1:0")
	require.NoError(t, err)
	gs := grpc.NewServer()
	infopb.RegisterInfoServer(gs, rulerInfo{})
	rulespb.RegisterRulesServer(gs, rulespb.NewServer(func(context.Context) ([]*rulespb.RuleGroup, error) {
		if groups == nil {
			return nil, status.Error(codes.Unavailable, "rule manager not started")
		}
		return groups, nil
	}))
	go func() { _ = gs.Serve(lis) }()
	t.Cleanup(gs.Stop)
	return lis.Addr().String()
}

func rulerGroups(replica string, state rulespb.AlertState) []*rulespb.RuleGroup {
	ls := func(kv ...string) *storepb.LabelSet {
		return &storepb.LabelSet{Labels: storepb.LabelsToProto(labels.FromStrings(kv...))}
	}
	return []*rulespb.RuleGroup{{
		Name: "slo", File: "/rules/slo.yml", Interval: 60,
		Rules: []*rulespb.Rule{
			{Result: &rulespb.Rule_Recording{Recording: &rulespb.RecordingRule{
				Name: "job:errors:rate5m", Query: "sum by (job) (rate(errors_total[5m]))", Health: "ok",
				Labels: ls("ruler_replica", replica),
			}}},
			{Result: &rulespb.Rule_Alert{Alert: &rulespb.Alert{
				Name: "ErrorBudgetBurn", Query: "job:errors:rate5m > 1", Health: "ok", State: state,
				Labels: ls("ruler_replica", replica, "severity", "page"),
				Alerts: []*rulespb.AlertInstance{{
					Labels: ls("alertname", "ErrorBudgetBurn", "job", "api", "ruler_replica", replica, "severity", "page"),
					State:  state, ActiveAt: timestamppb.New(time.Date(2026, 3, 1, 12, 0, 0, 0, time.UTC)), Value: "2e+00",
				}},
			}}},
		},
	}}
}

// The querier lists the rules and alerts of an HA pair of rulers once,
// without their replica label, and says which endpoint failed.
func TestRulesAndAlertsOfEndpoints(t *testing.T) {
	a := serveRuler(t, rulerGroups("a", rulespb.AlertState_PENDING))
	b := serveRuler(t, rulerGroups("b", rulespb.AlertState_FIRING))
	broken := serveRuler(t, nil)
	cfg := parse(t, "--endpoint="+a, "--endpoint="+b, "--endpoint="+broken,
		"--query.replica-label=ruler_replica", "--endpoint.check-interval=100ms")
	q, err := New(cfg, Deps{})
	require.NoError(t, err)
	mux := http.NewServeMux()
	q.Register(mux, nil)
	ctx, cancel := context.WithCancel(t.Context())
	done := make(chan error, 1)
	go func() { done <- q.Run(ctx) }()
	t.Cleanup(func() {
		cancel()
		require.NoError(t, <-done)
		require.NoError(t, q.Close())
	})
	require.Eventually(t, func() bool { return len(q.set.RulesClients()) == 3 }, 10*time.Second, 20*time.Millisecond,
		"the endpoints' Info advertise rules")

	get := func(path string, into any) []string {
		t.Helper()
		w := httptest.NewRecorder()
		mux.ServeHTTP(w, httptest.NewRequestWithContext(t.Context(), http.MethodGet, path, nil))
		require.Equal(t, http.StatusOK, w.Code, w.Body.String())
		var env struct {
			Data     json.RawMessage `json:"data"`
			Warnings []string        `json:"warnings"`
		}
		require.NoError(t, json.Unmarshal(w.Body.Bytes(), &env))
		require.NoError(t, json.Unmarshal(env.Data, into))
		return env.Warnings
	}

	var rules rulespb.JSONRuleDiscovery
	warnings := get("/api/v1/rules", &rules)
	require.Len(t, warnings, 1)
	require.Contains(t, warnings[0], broken)
	require.Len(t, rules.Groups, 1)
	require.Len(t, rules.Groups[0].Rules, 2, "each rule once")
	ar := rules.Groups[0].Rules[1].Alerting
	require.Equal(t, "firing", ar.State)
	require.Equal(t, `{severity="page"}`, ar.Labels.String())

	var alerts rulespb.JSONAlertDiscovery
	get("/api/v1/alerts", &alerts)
	require.Len(t, alerts.Alerts, 1, "one alert for the pair")
	require.Equal(t, "firing", alerts.Alerts[0].State)
	require.Equal(t, `{alertname="ErrorBudgetBurn", job="api", severity="page"}`, alerts.Alerts[0].Labels.String())

	get("/api/v1/rules?type=record&dedup=false", &rules)
	require.Len(t, rules.Groups[0].Rules, 2, "both replicas' recording rules without dedup")
	require.Nil(t, rules.Groups[0].Rules[0].Alerting)

	w := httptest.NewRecorder()
	mux.ServeHTTP(w, httptest.NewRequestWithContext(t.Context(), http.MethodGet, "/api/v1/rules?partial_response=false", nil))
	require.Equal(t, http.StatusUnprocessableEntity, w.Code, w.Body.String())
	require.Contains(t, w.Body.String(), "rule manager not started")

	info, err := (&infoServer{proxy: q.proxy}).Info(t.Context(), &infopb.InfoRequest{})
	require.NoError(t, err)
	require.NotNil(t, info.GetRules(), "queriers stack: the querier serves the merged rules")
}
