package ruler

import (
	"context"
	"errors"
	"io"
	"net"
	"net/http"
	"testing"
	"time"

	"github.com/stretchr/testify/require"
	"google.golang.org/grpc"
	"google.golang.org/grpc/credentials/insecure"

	"github.com/strata-io/strata/pkg/infopb"
	"github.com/strata-io/strata/pkg/rulespb"
	"github.com/strata-io/strata/pkg/storepb"
)

// The ruler serves its groups over the Thanos Rules service, with its
// external labels on every rule (so a querier deduplicates an HA pair by
// the replica label) and each group's partial_response_strategy, and its
// Info advertises the Rules and Store APIs.
func TestRulesOverGRPC(t *testing.T) {
	e := start(t)
	l, err := net.Listen("tcp", "127.0.0.1:0")
	require.NoError(t, err)
	srv := grpc.NewServer(grpc.ForceServerCodecV2(storepb.Codec{}))
	e.ruler.Register(http.NewServeMux(), srv)
	go func() { _ = srv.Serve(l) }()
	t.Cleanup(srv.Stop)
	conn, err := grpc.NewClient(l.Addr().String(), grpc.WithTransportCredentials(insecure.NewCredentials()),
		grpc.WithDefaultCallOptions(grpc.ForceCodecV2(storepb.Codec{})))
	require.NoError(t, err)
	t.Cleanup(func() { _ = conn.Close() })

	info, err := infopb.NewInfoClient(conn).Info(t.Context(), &infopb.InfoRequest{})
	require.NoError(t, err)
	require.NotNil(t, info.GetRules(), "Info advertises the Rules API")
	require.NotNil(t, info.GetStore(), "Info advertises the Store API (stateful)")

	groups := func() map[string]*rulespb.RuleGroup {
		ctx, cancel := context.WithTimeout(t.Context(), 10*time.Second)
		defer cancel()
		stream, err := rulespb.NewRulesClient(conn).Rules(ctx, &rulespb.RulesRequest{})
		require.NoError(t, err)
		out := map[string]*rulespb.RuleGroup{}
		for {
			resp, err := stream.Recv()
			if errors.Is(err, io.EOF) {
				return out
			}
			require.NoError(t, err)
			if g := resp.GetGroup(); g != nil {
				out[g.GetName()] = g
			}
		}
	}
	require.Eventually(t, func() bool {
		gs := groups()
		a, ok := gs["alerts"]
		return ok && len(a.GetRules()) == 1 && a.GetRules()[0].GetAlert().GetState() == rulespb.AlertState_FIRING
	}, 30*time.Second, 200*time.Millisecond, "the alert fires")
	gs := groups()
	require.Equal(t, storepb.PartialResponseStrategy_WARN, gs["rec"].GetPartialResponseStrategy())
	require.Equal(t, storepb.PartialResponseStrategy_ABORT, gs["alerts"].GetPartialResponseStrategy())
	alert := gs["alerts"].GetRules()[0].GetAlert()
	lbls := map[string]string{}
	for _, l := range alert.GetLabels().GetLabels() {
		lbls[l.GetName()] = l.GetValue()
	}
	require.Equal(t, map[string]string{"cluster": "eu", "ruler_replica": "a", "severity": "page"}, lbls)
}
