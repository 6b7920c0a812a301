package query

import (
	"cmp"
	"context"
	"errors"
	"fmt"
	"io"
	"slices"
	"strings"
	"sync"

	"github.com/prometheus/prometheus/util/annotations"
	"google.golang.org/grpc"
	"google.golang.org/grpc/codes"
	"google.golang.org/grpc/status"
	"google.golang.org/protobuf/types/known/timestamppb"

	"github.com/strata-io/strata/pkg/rulespb"
	"github.com/strata-io/strata/pkg/storepb"
)

// RulesFanout asks every endpoint that serves the Rules API for its rule
// groups and merges them into one list, deduplicating the rules and alerts
// of HA replicas. It is safe for concurrent use.
type RulesFanout struct {
	clients func() []rulespb.Endpoint
}

// NewRulesFanout returns a RulesFanout over the endpoints the function
// returns at each call (e.g. endpoint.Set.RulesClients).
func NewRulesFanout(clients func() []rulespb.Endpoint) *RulesFanout {
	return &RulesFanout{clients: clients}
}

// Rules sends req to every endpoint and returns the merged groups, sorted
// by file and name, filtered by req. replicaLabels are removed from the
// labels of every rule and alert first, so that the copies HA replicas send
// merge: groups of the same file and name are one group, equal rules are
// one rule, and of the alerts with equal labels one is kept (firing over
// pending, then the one active for longer). An endpoint that fails is a
// warning when req's strategy is WARN and fails the call when it is ABORT;
// the endpoints' own warnings are returned too.
func (f *RulesFanout) Rules(ctx context.Context, req *rulespb.RulesRequest, replicaLabels []string) ([]*rulespb.RuleGroup, annotations.Annotations, error) {
	filter, err := rulespb.NewFilter(req)
	if err != nil {
		return nil, nil, status.Error(codes.InvalidArgument, err.Error())
	}
	clients := f.clients()
	type answer struct {
		groups   []*rulespb.RuleGroup
		warnings []string
		err      error
	}
	answers := make([]answer, len(clients))
	var wg sync.WaitGroup
	for i, c := range clients {
		wg.Go(func() {
			gs, ws, err := fetchRules(ctx, c, req)
			if err != nil {
				err = fmt.Errorf("rules of endpoint %s: %w", c.String(), err)
			}
			answers[i] = answer{groups: gs, warnings: ws, err: err}
		})
	}
	wg.Wait()

	warnings := annotations.New()
	m := newRulesMerger(replicaLabels)
	for _, a := range answers {
		if a.err != nil {
			if req.GetPartialResponseStrategy() == storepb.PartialResponseStrategy_ABORT {
				return nil, nil, a.err
			}
			warnings.Add(a.err)
			continue
		}
		for _, w := range a.warnings {
			warnings.Add(errors.New(w))
		}
		for _, g := range a.groups {
			m.add(g)
		}
	}
	return filter.Groups(m.groups()), *warnings, nil
}

// fetchRules reads one endpoint's answer to the end.
func fetchRules(ctx context.Context, c rulespb.Endpoint, req *rulespb.RulesRequest) ([]*rulespb.RuleGroup, []string, error) {
	ctx, cancel := context.WithCancel(ctx)
	defer cancel()
	stream, err := c.Rules(ctx, req)
	if err != nil {
		return nil, nil, err
	}
	var (
		gs       []*rulespb.RuleGroup
		warnings []string
	)
	for {
		r, err := stream.Recv()
		if errors.Is(err, io.EOF) {
			return gs, warnings, nil
		}
		if err != nil {
			return nil, nil, err
		}
		if w := r.GetWarning(); w != "" {
			warnings = append(warnings, w)
		}
		if g := r.GetGroup(); g != nil {
			gs = append(gs, g)
		}
	}
}

// rulesMerger merges groups as RulesFanout.Rules describes. It owns the
// groups added: it changes them.
type rulesMerger struct {
	replicaLabels []string
	byKey         map[groupKey]*mergedGroup
}

type groupKey struct{ file, name string }

type mergedGroup struct {
	g     *rulespb.RuleGroup
	rules map[string]int // rule key -> index in g.Rules
}

func newRulesMerger(replicaLabels []string) *rulesMerger {
	return &rulesMerger{replicaLabels: replicaLabels, byKey: map[groupKey]*mergedGroup{}}
}

func (m *rulesMerger) add(g *rulespb.RuleGroup) {
	for _, r := range g.GetRules() {
		m.strip(r)
	}
	k := groupKey{file: g.GetFile(), name: g.GetName()}
	mg, ok := m.byKey[k]
	if !ok {
		mg = &mergedGroup{g: rulespb.WithRules(g, nil), rules: map[string]int{}}
		m.byKey[k] = mg
	} else if later(g.GetLastEvaluation(), mg.g.GetLastEvaluation()) {
		mg.g.LastEvaluation = g.GetLastEvaluation()
		mg.g.EvaluationDurationSeconds = g.GetEvaluationDurationSeconds()
	}
	for _, r := range g.GetRules() {
		rk := ruleKey(r)
		i, dup := mg.rules[rk]
		if !dup {
			mg.rules[rk] = len(mg.g.Rules)
			mg.g.Rules = append(mg.g.Rules, r)
			continue
		}
		mg.g.Rules[i] = mergeRules(mg.g.Rules[i], r)
	}
}

// groups returns the merged groups sorted by file and name.
func (m *rulesMerger) groups() []*rulespb.RuleGroup {
	out := make([]*rulespb.RuleGroup, 0, len(m.byKey))
	for _, mg := range m.byKey {
		out = append(out, mg.g)
	}
	slices.SortFunc(out, func(a, b *rulespb.RuleGroup) int {
		return cmp.Or(strings.Compare(a.GetFile(), b.GetFile()), strings.Compare(a.GetName(), b.GetName()))
	})
	return out
}

// strip removes the replica labels from a rule and its alerts.
func (m *rulesMerger) strip(r *rulespb.Rule) {
	if len(m.replicaLabels) == 0 {
		return
	}
	if a := r.GetAlert(); a != nil {
		a.Labels = m.stripSet(a.GetLabels())
		for _, al := range a.GetAlerts() {
			al.Labels = m.stripSet(al.GetLabels())
		}
	} else if rr := r.GetRecording(); rr != nil {
		rr.Labels = m.stripSet(rr.GetLabels())
	}
}

func (m *rulesMerger) stripSet(ls *storepb.LabelSet) *storepb.LabelSet {
	if ls == nil {
		return nil
	}
	ls.Labels = slices.DeleteFunc(ls.Labels, func(l *storepb.Label) bool {
		return slices.Contains(m.replicaLabels, l.GetName())
	})
	return ls
}

// labelsKey renders a label set (sorted first) for use in a key.
func labelsKey(ls *storepb.LabelSet) string {
	return storepb.LabelsFromProto(ls.GetLabels()).String()
}

// ruleKey identifies a rule across replicas: its kind, name, query, labels
// and, for an alerting rule, its hold durations.
func ruleKey(r *rulespb.Rule) string {
	if a := r.GetAlert(); a != nil {
		return fmt.Sprintf("alert\xff%s\xff%s\xff%s\xff%g\xff%g", a.GetName(), a.GetQuery(), labelsKey(a.GetLabels()), a.GetDurationSeconds(), a.GetKeepFiringForSeconds())
	}
	rr := r.GetRecording()
	return fmt.Sprintf("record\xff%s\xff%s\xff%s", rr.GetName(), rr.GetQuery(), labelsKey(rr.GetLabels()))
}

// mergeRules merges two copies of a rule: the copy evaluated last gives the
// health and evaluation fields; an alerting rule gets the union of the
// alerts (one per label set) and the highest state.
func mergeRules(have, other *rulespb.Rule) *rulespb.Rule {
	if hr := have.GetRecording(); hr != nil {
		or := other.GetRecording()
		if later(or.GetLastEvaluation(), hr.GetLastEvaluation()) {
			return other
		}
		return have
	}
	ha, oa := have.GetAlert(), other.GetAlert()
	keep, drop := ha, oa
	if later(oa.GetLastEvaluation(), ha.GetLastEvaluation()) {
		keep, drop = oa, ha
	}
	alerts := map[string]*rulespb.AlertInstance{}
	var order []string
	for _, al := range append(slices.Clone(keep.GetAlerts()), drop.GetAlerts()...) {
		k := labelsKey(al.GetLabels())
		cur, ok := alerts[k]
		if !ok {
			order = append(order, k)
			alerts[k] = al
			continue
		}
		if preferAlert(al, cur) {
			alerts[k] = al
		}
	}
	keep.Alerts = keep.Alerts[:0]
	for _, k := range order {
		keep.Alerts = append(keep.Alerts, alerts[k])
	}
	keep.State = max(keep.GetState(), drop.GetState())
	return &rulespb.Rule{Result: &rulespb.Rule_Alert{Alert: keep}}
}

// preferAlert tells whether a should replace b, two copies of one alert:
// firing over pending over inactive, then the one active for longer.
func preferAlert(a, b *rulespb.AlertInstance) bool {
	if a.GetState() != b.GetState() {
		return a.GetState() > b.GetState()
	}
	return a.GetActiveAt() != nil && (b.GetActiveAt() == nil || later(b.GetActiveAt(), a.GetActiveAt()))
}

// later tells whether a is after b; an unknown (nil) time is never later,
// and any known time is later than an unknown one.
func later(a, b *timestamppb.Timestamp) bool {
	return a != nil && (b == nil || a.AsTime().After(b.AsTime()))
}

// RulesServer serves a RulesFanout over the Rules API, so that a querier
// that is another querier's endpoint passes its endpoints' rules on.
type RulesServer struct {
	rulespb.UnimplementedRulesServer
	fanout        *RulesFanout
	replicaLabels []string
}

// NewRulesServer returns a Rules API server over f that deduplicates by
// replicaLabels.
func NewRulesServer(f *RulesFanout, replicaLabels []string) *RulesServer {
	return &RulesServer{fanout: f, replicaLabels: replicaLabels}
}

// Rules answers one frame per merged group, then one warning frame per
// warning.
func (s *RulesServer) Rules(req *rulespb.RulesRequest, srv grpc.ServerStreamingServer[rulespb.RulesResponse]) error {
	gs, warnings, err := s.fanout.Rules(srv.Context(), req, s.replicaLabels)
	if err != nil {
		return err
	}
	if err := rulespb.SendGroups(srv, gs); err != nil {
		return err
	}
	for _, w := range warnings.AsErrors() {
		if err := srv.Send(&rulespb.RulesResponse{Result: &rulespb.RulesResponse_Warning{Warning: w.Error()}}); err != nil {
			return err
		}
	}
	return nil
}
