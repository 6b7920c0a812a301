package query

import (
	"context"
	"net"
	"testing"
	"time"

	"github.com/prometheus/prometheus/model/labels"
	"github.com/stretchr/testify/require"
	"google.golang.org/grpc"
	"google.golang.org/grpc/credentials/insecure"
	"google.golang.org/protobuf/types/known/timestamppb"

	"github.com/strata-io/strata/pkg/rulespb"
	"github.com/strata-io/strata/pkg/storepb"
)

type namedRules struct {
	rulespb.RulesClient
	name string
}

func (n namedRules) String() string { return n.name }

// serveRules serves groups over the Rules API on a loopback port and
// returns a client of it.
func serveRules(t *testing.T, name string, groups []*rulespb.RuleGroup) rulespb.Endpoint {
	t.Helper()
	lis, err := net.Listen("tcp", "127.0.0.1:0")
	require.NoError(t, err)
	srv := grpc.NewServer()
	rulespb.RegisterRulesServer(srv, rulespb.NewServer(func(context.Context) ([]*rulespb.RuleGroup, error) {
		return groups, nil
	}))
	go func() { _ = srv.Serve(lis) }()
	t.Cleanup(srv.Stop)
	return dialRules(t, name, lis.Addr().String())
}

func dialRules(t *testing.T, name, addr string) rulespb.Endpoint {
	t.Helper()
	conn, err := grpc.NewClient(addr, grpc.WithTransportCredentials(insecure.NewCredentials()))
	require.NoError(t, err)
	t.Cleanup(func() { _ = conn.Close() })
	return namedRules{RulesClient: rulespb.NewRulesClient(conn), name: name}
}

// downEndpoint is a client of a port nothing listens on.
func downEndpoint(t *testing.T) rulespb.Endpoint {
	t.Helper()
	lis, err := net.Listen("tcp", "127.0.0.1:0")
	require.NoError(t, err)
	addr := lis.Addr().String()
	require.NoError(t, lis.Close())
	return dialRules(t, "down:"+addr, addr)
}

var t0 = time.Date(2026, 3, 1, 12, 0, 0, 0, time.UTC)

func lset(kv ...string) *storepb.LabelSet {
	return &storepb.LabelSet{Labels: storepb.LabelsToProto(labels.FromStrings(kv...))}
}

// replicaGroups is what one Prometheus of an HA pair (replica label
// "replica") reports: the same rules as its twin, its own alert states.
func replicaGroups(replica string, evalAt time.Time, alerts ...*rulespb.AlertInstance) []*rulespb.RuleGroup {
	return []*rulespb.RuleGroup{
		{
			Name: "node", File: "/rules/node.yml", Interval: 30, LastEvaluation: timestamppb.New(evalAt),
			Rules: []*rulespb.Rule{
				{Result: &rulespb.Rule_Recording{Recording: &rulespb.RecordingRule{
					Name: "instance:up:sum", Query: "sum by (instance) (up)", Health: "ok",
					Labels: lset("cluster", "eu", "replica", replica), LastEvaluation: timestamppb.New(evalAt),
				}}},
				{Result: &rulespb.Rule_Alert{Alert: &rulespb.Alert{
					Name: "InstanceDown", Query: "up == 0", DurationSeconds: 60, Health: "ok",
					Labels: lset("cluster", "eu", "replica", replica, "severity", "page"),
					State:  maxState(alerts), Alerts: alerts, LastEvaluation: timestamppb.New(evalAt),
				}}},
			},
		},
		{
			Name: "empty-alerts", File: "/rules/node.yml", Interval: 30,
			Rules: []*rulespb.Rule{{Result: &rulespb.Rule_Alert{Alert: &rulespb.Alert{
				Name: "Never", Query: "vector(1) == 0", Health: "ok",
				Labels: lset("cluster", "eu", "replica", replica),
			}}}},
		},
	}
}

func maxState(as []*rulespb.AlertInstance) rulespb.AlertState {
	var s rulespb.AlertState
	for _, a := range as {
		s = max(s, a.GetState())
	}
	return s
}

func alert(replica, instance string, state rulespb.AlertState, activeAt time.Time) *rulespb.AlertInstance {
	return &rulespb.AlertInstance{
		Labels: lset("alertname", "InstanceDown", "cluster", "eu", "instance", instance, "replica", replica, "severity", "page"),
		State:  state, ActiveAt: timestamppb.New(activeAt), Value: "0e+00",
	}
}

// Two HA replicas report the same rules: the querier answers one list of
// groups without the replica label, each rule once, each alert once (the
// firing copy over the pending one; alerts only one replica has kept).
func TestRulesFanoutDeduplicatesReplicas(t *testing.T) {
	a := serveRules(t, "a", replicaGroups("a", t0,
		alert("a", "x", rulespb.AlertState_PENDING, t0.Add(-time.Minute)),
		alert("a", "y", rulespb.AlertState_FIRING, t0.Add(-time.Hour)),
	))
	b := serveRules(t, "b", replicaGroups("b", t0.Add(time.Second),
		alert("b", "x", rulespb.AlertState_FIRING, t0.Add(-2*time.Minute)),
	))
	f := NewRulesFanout(func() []rulespb.Endpoint { return []rulespb.Endpoint{a, b} })

	gs, warnings, err := f.Rules(t.Context(), &rulespb.RulesRequest{}, []string{"replica"})
	require.NoError(t, err)
	require.Empty(t, warnings)
	got := rulespb.GroupsToJSON(gs)
	require.Len(t, got.Groups, 2)
	require.Equal(t, "empty-alerts", got.Groups[0].Name, "sorted by file, then name")
	require.Len(t, got.Groups[0].Rules, 1)
	require.Equal(t, `{cluster="eu"}`, got.Groups[0].Rules[0].Alerting.Labels.String())

	node := got.Groups[1]
	require.Equal(t, "node", node.Name)
	require.Equal(t, t0.Add(time.Second), node.LastEvaluation, "the latest evaluation of the replicas")
	require.Len(t, node.Rules, 2, "each rule once")
	require.Equal(t, `{cluster="eu"}`, node.Rules[0].Recording.Labels.String())
	ar := node.Rules[1].Alerting
	require.Equal(t, `{cluster="eu", severity="page"}`, ar.Labels.String())
	require.Equal(t, "firing", ar.State)
	require.Len(t, ar.Alerts, 2, "one alert per label set")
	byInstance := map[string]*rulespb.JSONAlert{}
	for _, al := range ar.Alerts {
		require.Empty(t, al.Labels.Get("replica"))
		byInstance[al.Labels.Get("instance")] = al
	}
	require.Equal(t, "firing", byInstance["x"].State, "firing wins over pending")
	require.Equal(t, t0.Add(-2*time.Minute), *byInstance["x"].ActiveAt)
	require.Equal(t, "firing", byInstance["y"].State, "an alert of one replica only is kept")

	// Without replica labels (dedup off) the copies stay apart.
	gs, _, err = f.Rules(t.Context(), &rulespb.RulesRequest{}, nil)
	require.NoError(t, err)
	require.Len(t, rulespb.GroupsToJSON(gs).Groups[1].Rules, 4)

	// Filters reach the endpoints and apply to the merged list.
	for _, tc := range []struct {
		req  *rulespb.RulesRequest
		want []string
	}{
		{&rulespb.RulesRequest{Type: rulespb.RulesRequest_RECORD}, []string{"node/instance:up:sum"}},
		{&rulespb.RulesRequest{Type: rulespb.RulesRequest_ALERT}, []string{"empty-alerts/Never", "node/InstanceDown"}},
		{&rulespb.RulesRequest{RuleName: []string{"Never"}}, []string{"empty-alerts/Never"}},
		{&rulespb.RulesRequest{RuleGroup: []string{"node"}}, []string{"node/instance:up:sum", "node/InstanceDown"}},
		{&rulespb.RulesRequest{File: []string{"/rules/other.yml"}}, nil},
		{&rulespb.RulesRequest{MatcherString: []string{`{severity="page"}`}}, []string{"node/InstanceDown"}},
	} {
		gs, _, err := f.Rules(t.Context(), tc.req, []string{"replica"})
		require.NoError(t, err)
		var names []string
		for _, g := range gs {
			for _, r := range g.GetRules() {
				names = append(names, g.GetName()+"/"+r.GetAlert().GetName()+r.GetRecording().GetName())
			}
		}
		require.Equal(t, tc.want, names, "%v", tc.req)
	}
}

// An endpoint that is down is a warning under partial response and fails
// the request without it; no endpoint at all is an empty answer.
func TestRulesFanoutEndpointDown(t *testing.T) {
	a := serveRules(t, "a", replicaGroups("a", t0))
	down := downEndpoint(t)
	f := NewRulesFanout(func() []rulespb.Endpoint { return []rulespb.Endpoint{a, down} })

	gs, warnings, err := f.Rules(t.Context(), &rulespb.RulesRequest{PartialResponseStrategy: storepb.PartialResponseStrategy_WARN}, []string{"replica"})
	require.NoError(t, err)
	require.Len(t, gs, 2, "the rules of the endpoint that answered")
	require.Len(t, warnings, 1)
	require.ErrorContains(t, warnings.AsErrors()[0], "rules of endpoint "+down.String())

	_, _, err = f.Rules(t.Context(), &rulespb.RulesRequest{PartialResponseStrategy: storepb.PartialResponseStrategy_ABORT}, []string{"replica"})
	require.ErrorContains(t, err, "rules of endpoint "+down.String())

	none := NewRulesFanout(func() []rulespb.Endpoint { return nil })
	gs, warnings, err = none.Rules(t.Context(), &rulespb.RulesRequest{}, nil)
	require.NoError(t, err)
	require.Empty(t, warnings)
	require.Empty(t, gs)
}

// A querier serving the merged rules over the Rules API (queriers stack)
// sends the groups, then the warnings.
func TestRulesServerStacks(t *testing.T) {
	a := serveRules(t, "a", replicaGroups("a", t0))
	b := serveRules(t, "b", replicaGroups("b", t0))
	down := downEndpoint(t)
	f := NewRulesFanout(func() []rulespb.Endpoint { return []rulespb.Endpoint{a, b, down} })

	lis, err := net.Listen("tcp", "127.0.0.1:0")
	require.NoError(t, err)
	srv := grpc.NewServer()
	rulespb.RegisterRulesServer(srv, NewRulesServer(f, []string{"replica"}))
	go func() { _ = srv.Serve(lis) }()
	t.Cleanup(srv.Stop)
	top := NewRulesFanout(func() []rulespb.Endpoint { return []rulespb.Endpoint{dialRules(t, "querier", lis.Addr().String())} })

	gs, warnings, err := top.Rules(t.Context(), &rulespb.RulesRequest{}, nil)
	require.NoError(t, err)
	require.Len(t, gs, 2)
	require.Len(t, gs[1].GetRules(), 2, "deduplicated below")
	require.Len(t, warnings, 1)
	require.ErrorContains(t, warnings.AsErrors()[0], down.String())
}
