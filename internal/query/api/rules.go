package api

import (
	"context"
	"fmt"
	"net/http"
	"strings"

	"github.com/prometheus/prometheus/util/annotations"

	"github.com/strata-io/strata/pkg/rulespb"
	"github.com/strata-io/strata/pkg/storepb"
)

// RulesFetcher answers /api/v1/rules and /api/v1/alerts (query.RulesFanout
// is one). Implementations must be safe for concurrent use.
type RulesFetcher interface {
	// Rules returns the rule groups req selects, with replicaLabels removed
	// from rules and alerts and the copies of HA replicas merged (none
	// removed when replicaLabels is empty). The returned annotations become
	// the response's warnings; an error fails the request.
	Rules(ctx context.Context, req *rulespb.RulesRequest, replicaLabels []string) ([]*rulespb.RuleGroup, annotations.Annotations, error)
}

// SetRules makes /api/v1/rules and /api/v1/alerts answer from r; without
// it they answer empty lists. Call it before Register.
func (a *API) SetRules(r RulesFetcher) { a.rulesSrc = r }

// rulesRequest reads the parameters shared by /api/v1/rules and
// /api/v1/alerts: partial_response, dedup and replicaLabels[]. It returns
// the replica labels to deduplicate by.
func (a *API) rulesRequest(r *http.Request) (*rulespb.RulesRequest, []string, *apiError) {
	if err := r.ParseForm(); err != nil {
		return nil, nil, &apiError{errorBadData, fmt.Errorf("error parsing form values: %w", err)}
	}
	partial, err := boolParam(r, paramPartialResponse, a.cfg.DefaultPartialResponse)
	if err != nil {
		return nil, nil, &apiError{errorBadData, err}
	}
	dedup, err := boolParam(r, paramDedup, a.cfg.DefaultDedup)
	if err != nil {
		return nil, nil, &apiError{errorBadData, err}
	}
	req := &rulespb.RulesRequest{PartialResponseStrategy: storepb.PartialResponseStrategy_ABORT}
	if partial {
		req.PartialResponseStrategy = storepb.PartialResponseStrategy_WARN
	}
	var replicaLabels []string
	if dedup {
		replicaLabels = a.cfg.ReplicaLabels
		if rl := nonEmpty(r.Form[paramReplicaLabels]); len(rl) > 0 {
			replicaLabels = rl
		}
	}
	return req, replicaLabels, nil
}

// fetchRules runs req against the rules source.
func (a *API) fetchRules(r *http.Request, req *rulespb.RulesRequest, replicaLabels []string) ([]*rulespb.RuleGroup, annotations.Annotations, *apiError) {
	ctx, cancel, apiErr := a.requestContext(r)
	if apiErr != nil {
		return nil, nil, apiErr
	}
	defer cancel()
	gs, warnings, err := a.rulesSrc.Rules(ctx, req, replicaLabels)
	if err != nil {
		return nil, warnings, execError(err)
	}
	return gs, warnings, nil
}

// rules is /api/v1/rules: the rules of every endpoint that serves the Rules
// API, with Prometheus' filters type (alert or record), rule_name[],
// rule_group[], file[] and match[] (matcher[] is read too).
func (a *API) rules(r *http.Request) result {
	req, replicaLabels, apiErr := a.rulesRequest(r)
	if apiErr != nil {
		return result{err: apiErr}
	}
	switch typ := strings.ToLower(r.Form.Get("type")); typ {
	case "":
	case "alert":
		req.Type = rulespb.RulesRequest_ALERT
	case "record":
		req.Type = rulespb.RulesRequest_RECORD
	default:
		return badParam("type", fmt.Errorf("not supported value %q", typ))
	}
	req.RuleName = r.Form["rule_name[]"]
	req.RuleGroup = r.Form["rule_group[]"]
	req.File = r.Form["file[]"]
	req.MatcherString = append(nonEmpty(r.Form["match[]"]), nonEmpty(r.Form["matcher[]"])...)
	if _, err := a.matchersParam(req.MatcherString); err != nil {
		return errResult(errorBadData, err)
	}
	if a.rulesSrc == nil {
		return result{data: rulespb.GroupsToJSON(nil)}
	}
	gs, warnings, apiErr := a.fetchRules(r, req, replicaLabels)
	if apiErr != nil {
		return result{err: apiErr, warnings: warnings}
	}
	return result{data: rulespb.GroupsToJSON(gs), warnings: warnings}
}

// alerts is /api/v1/alerts: the alerts of every alerting rule of every
// endpoint that serves the Rules API.
func (a *API) alerts(r *http.Request) result {
	req, replicaLabels, apiErr := a.rulesRequest(r)
	if apiErr != nil {
		return result{err: apiErr}
	}
	if a.rulesSrc == nil {
		return result{data: rulespb.AlertsToJSON(nil)}
	}
	req.Type = rulespb.RulesRequest_ALERT
	gs, warnings, apiErr := a.fetchRules(r, req, replicaLabels)
	if apiErr != nil {
		return result{err: apiErr, warnings: warnings}
	}
	return result{data: rulespb.AlertsToJSON(gs), warnings: warnings}
}
