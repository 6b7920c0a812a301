package proxy

import (
	"context"
	"testing"

	"github.com/stretchr/testify/require"
	"google.golang.org/grpc"
	"google.golang.org/grpc/codes"
	"google.golang.org/grpc/status"

	"github.com/strata-io/strata/pkg/storepb"
)

// panicClient is an endpoint whose Series panics in the proxy's reader
// goroutine, as a bug in an in-process store would.
type panicClient struct{ *testClient }

func (panicClient) Series(context.Context, *storepb.SeriesRequest, ...grpc.CallOption) (grpc.ServerStreamingClient[storepb.SeriesResponse], error) {
	panic("bug in an in-process store")
}

// TestSeriesSurvivesAPanickingEndpoint: a panic while reading one endpoint
// is that endpoint's failure (a warning naming it, an error with partial
// response off), not a dead process; the other endpoints still answer.
func TestSeriesSurvivesAPanickingEndpoint(t *testing.T) {
	good := newClient("good", &fakeStore{series: []*storepb.Series{series([]string{"__name__", "up", "job", "a"}, 1)}})
	bad := panicClient{newClient("bad", &fakeStore{})}
	p := newProxy(Config{}, good, bad)

	res := runSeries(t.Context(), t, p, allReq())
	require.NoError(t, res.err)
	require.Equal(t, []string{`{__name__="up", job="a"}`}, labelsOf(res.frames))
	require.Len(t, res.warnings, 1)
	require.Contains(t, res.warnings[0], "bad")
	require.Contains(t, res.warnings[0], "panic")

	req := allReq()
	req.PartialResponseStrategy = storepb.PartialResponseStrategy_ABORT
	res = runSeries(t.Context(), t, p, req)
	require.Error(t, res.err)
	require.Equal(t, codes.Internal, status.Code(res.err), "a panic is the server's bug: %v", res.err)
	require.Contains(t, res.err.Error(), "bad")
}

func (panicClient) LabelNames(context.Context, *storepb.LabelNamesRequest, ...grpc.CallOption) (*storepb.LabelNamesResponse, error) {
	panic("bug in an in-process store")
}

// TestLabelNamesSurvivesAPanickingEndpoint: the same for the label calls.
func TestLabelNamesSurvivesAPanickingEndpoint(t *testing.T) {
	good := newClient("good", &fakeStore{names: []string{"job"}})
	bad := panicClient{newClient("bad", &fakeStore{})}
	p := newProxy(Config{}, good, bad)

	resp, err := p.LabelNames(t.Context(), &storepb.LabelNamesRequest{})
	require.NoError(t, err)
	require.Equal(t, []string{"job"}, resp.GetNames())
	require.Len(t, resp.GetWarnings(), 1)
	require.Contains(t, resp.GetWarnings()[0], "bad")

	_, err = p.LabelNames(t.Context(), &storepb.LabelNamesRequest{PartialResponseStrategy: storepb.PartialResponseStrategy_ABORT})
	require.Error(t, err)
	require.Contains(t, err.Error(), "panic")
}
