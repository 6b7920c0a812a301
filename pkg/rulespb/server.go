package rulespb

import (
	"context"

	"github.com/prometheus/prometheus/model/labels"
	"google.golang.org/grpc"
	"google.golang.org/grpc/codes"
	"google.golang.org/grpc/status"

	"github.com/strata-io/strata/pkg/storepb"
)

// GroupsFunc returns the rule groups a server has now, with its external
// labels already on their rules and alerts (see AddExternalLabels). It must
// be safe for concurrent use.
type GroupsFunc func(ctx context.Context) ([]*RuleGroup, error)

// Server serves the Rules API over a GroupsFunc: it applies the request's
// filters (FilterGroups) and sends one frame per group. A ruler registers it
// with RegisterRulesServer(srv, NewServer(groups)).
type Server struct {
	UnimplementedRulesServer
	groups GroupsFunc
}

// NewServer returns a Rules server over groups.
func NewServer(groups GroupsFunc) *Server { return &Server{groups: groups} }

// Rules implements RulesServer.
func (s *Server) Rules(req *RulesRequest, srv grpc.ServerStreamingServer[RulesResponse]) error {
	f, err := NewFilter(req)
	if err != nil {
		return status.Error(codes.InvalidArgument, err.Error())
	}
	gs, err := s.groups(srv.Context())
	if err != nil {
		return err
	}
	return SendGroups(srv, f.Groups(gs))
}

// SendGroups sends one frame per group.
func SendGroups(srv grpc.ServerStreamingServer[RulesResponse], gs []*RuleGroup) error {
	for _, g := range gs {
		if err := srv.Send(&RulesResponse{Result: &RulesResponse_Group{Group: g}}); err != nil {
			return err
		}
	}
	return nil
}

// AddExternalLabels adds ext to the labels of every rule of g and of every
// alert of its alerting rules, in place, as every Rules server must. An
// external label replaces a rule's label of the same name.
func AddExternalLabels(g *RuleGroup, ext labels.Labels) {
	if ext.IsEmpty() {
		return
	}
	add := func(ls *storepb.LabelSet) *storepb.LabelSet {
		b := labels.NewBuilder(fromLabelSet(ls))
		ext.Range(func(l labels.Label) { b.Set(l.Name, l.Value) })
		return labelSet(b.Labels())
	}
	for _, r := range g.GetRules() {
		if a := r.GetAlert(); a != nil {
			a.Labels = add(a.GetLabels())
			for _, al := range a.GetAlerts() {
				al.Labels = add(al.GetLabels())
			}
		} else if rr := r.GetRecording(); rr != nil {
			rr.Labels = add(rr.GetLabels())
		}
	}
}

// Endpoint is a client of one endpoint's Rules API, named for warnings and
// errors (e.g. by its address).
type Endpoint interface {
	RulesClient
	String() string
}
