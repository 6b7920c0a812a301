package promstore

import (
	"context"
	"net/url"
	"strings"

	"google.golang.org/grpc"
	"google.golang.org/grpc/codes"
	"google.golang.org/grpc/status"

	"github.com/strata-io/strata/pkg/rulespb"
)

// Rules implements rulespb.RulesServer from Prometheus' /api/v1/rules: the
// type, rule_name, rule_group and file filters are passed on; the matchers
// are applied here, after the external labels of Prometheus were added to
// every rule and alert (so they can select by them). One frame per group.
func (s *Store) Rules(req *rulespb.RulesRequest, srv grpc.ServerStreamingServer[rulespb.RulesResponse]) error {
	filter, err := rulespb.NewFilter(req)
	if err != nil {
		return status.Error(codes.InvalidArgument, err.Error())
	}
	ext, err := s.knownExtLabels()
	if err != nil {
		return err
	}
	ctx, cancel := context.WithTimeout(srv.Context(), s.cfg.APITimeout)
	defer cancel()
	params := url.Values{}
	if t := req.GetType(); t != rulespb.RulesRequest_ALL {
		params.Set("type", strings.ToLower(t.String()))
	}
	for key, vals := range map[string][]string{
		"rule_name[]":  req.GetRuleName(),
		"rule_group[]": req.GetRuleGroup(),
		"file[]":       req.GetFile(),
	} {
		for _, v := range vals {
			params.Add(key, v)
		}
	}
	var data rulespb.JSONRuleDiscovery
	if err := s.get(ctx, "rules", "/api/v1/rules", params, &data); err != nil {
		return err
	}
	gs := make([]*rulespb.RuleGroup, 0, len(data.Groups))
	for _, jg := range data.Groups {
		g := rulespb.GroupFromJSON(jg)
		rulespb.AddExternalLabels(g, ext)
		gs = append(gs, g)
	}
	return rulespb.SendGroups(srv, filter.Groups(gs))
}
