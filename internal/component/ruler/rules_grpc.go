package ruler

import (
	"context"

	"github.com/prometheus/prometheus/model/labels"
	"google.golang.org/grpc"

	"github.com/strata-io/strata/internal/rule"
	"github.com/strata-io/strata/pkg/infopb"
	"github.com/strata-io/strata/pkg/rulespb"
	"github.com/strata-io/strata/pkg/rulespb/promrules"
	"github.com/strata-io/strata/pkg/storepb"
)

// registerRules serves the Thanos Rules service (the rules and alerts the
// querier fans out to) and an Info that advertises it: the results' Info
// when stateful, one of its own when stateless.
func (r *Ruler) registerRules(srv grpc.ServiceRegistrar) {
	rulespb.RegisterRulesServer(srv, rulespb.NewServer(r.ruleGroups))
	var next infopb.InfoServer
	if r.store != nil {
		next = r.store
	}
	infopb.RegisterInfoServer(srv, &rulesInfo{next: next, ext: r.cfg.Rule.ExternalLabels})
}

// ruleGroups returns the rule groups with the ruler's external labels on
// every rule and alert (so the querier can deduplicate an HA pair by its
// replica label) and each group's partial_response_strategy.
func (r *Ruler) ruleGroups(context.Context) ([]*rulespb.RuleGroup, error) {
	gs := promrules.Groups(r.rules.Manager().RuleGroups(), r.cfg.Rule.ExternalLabels)
	for _, g := range gs {
		g.PartialResponseStrategy = storepb.PartialResponseStrategy_ABORT
		if r.rules.Strategy(g.File, g.Name) == rule.Warn {
			g.PartialResponseStrategy = storepb.PartialResponseStrategy_WARN
		}
	}
	return gs, nil
}

// rulesInfo adds the Rules API to an Info answer.
type rulesInfo struct {
	infopb.UnimplementedInfoServer
	next infopb.InfoServer // nil when stateless: no StoreAPI
	ext  labels.Labels
}

func (i *rulesInfo) Info(ctx context.Context, req *infopb.InfoRequest) (*infopb.InfoResponse, error) {
	if i.next == nil {
		return &infopb.InfoResponse{
			LabelSets:     storepb.LabelSetsToProto([]labels.Labels{i.ext}),
			ComponentType: componentType,
			Rules:         &infopb.RulesInfo{},
		}, nil
	}
	resp, err := i.next.Info(ctx, req)
	if err != nil {
		return nil, err
	}
	resp.Rules = &infopb.RulesInfo{}
	return resp, nil
}
