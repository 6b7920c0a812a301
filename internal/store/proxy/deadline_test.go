package proxy

import (
	"context"
	"errors"
	"testing"
	"time"

	"github.com/prometheus/prometheus/model/labels"
	"github.com/stretchr/testify/require"
	"google.golang.org/grpc"
	"google.golang.org/grpc/codes"
	"google.golang.org/grpc/status"

	"github.com/strata-io/strata/pkg/storepb"
)

// deadlineStore ends every call with DeadlineExceeded as soon as its context
// has a deadline, without waiting for the context to say so: that is what a
// remote endpoint does when the propagated deadline fires on its side first,
// and what gRPC does for a call whose deadline has passed before the
// caller's timer fired (under CPU saturation).
type deadlineStore struct {
	storepb.UnimplementedStoreServer
}

func (deadlineStore) Series(_ *storepb.SeriesRequest, srv grpc.ServerStreamingServer[storepb.SeriesResponse]) error {
	if _, ok := srv.Context().Deadline(); ok {
		return status.Error(codes.DeadlineExceeded, context.DeadlineExceeded.Error())
	}
	return nil
}

func (deadlineStore) LabelNames(ctx context.Context, _ *storepb.LabelNamesRequest) (*storepb.LabelNamesResponse, error) {
	if _, ok := ctx.Deadline(); ok {
		return nil, status.Error(codes.DeadlineExceeded, context.DeadlineExceeded.Error())
	}
	return &storepb.LabelNamesResponse{}, nil
}

func TestRequestDeadlineFailsTheRequest(t *testing.T) {
	good := newClient("store-a", &fakeStore{series: []*storepb.Series{series([]string{"__name__", "up", "replica", "a"}, 1)}, names: []string{"__name__"}})
	late := &testClient{StoreClient: storepb.ServerAsClient(deadlineStore{}), name: "store-b", mint: good.mint, maxt: good.maxt}
	// --store.response-timeout (2m) is far off: the request's 1s deadline is
	// the one the endpoint ran out of, even though ctx has not fired yet.
	p := newProxy(Config{ResponseTimeout: 2 * time.Minute}, good, late)
	ctx, cancel := context.WithTimeout(t.Context(), time.Second)
	defer cancel()

	res := runSeries(ctx, t, p, allReq()) // partial response allowed
	require.Error(t, res.err, "a request whose deadline cut an endpoint off must not succeed with partial data (warnings: %v)", res.warnings)
	require.True(t, errors.Is(res.err, context.DeadlineExceeded), res.err)
	require.Equal(t, codes.DeadlineExceeded, status.Code(res.err))
	require.Contains(t, res.err.Error(), "endpoint store-b: rpc error: the request's deadline passed")
	require.NotContains(t, res.err.Error(), "2m0s")

	_, err := p.LabelNames(ctx, &storepb.LabelNamesRequest{})
	require.Error(t, err)
	require.True(t, errors.Is(err, context.DeadlineExceeded), err)

	// With the response timeout the shorter one, the endpoint's timeout is
	// its own: a warning under partial response that says so.
	p = newProxy(Config{ResponseTimeout: 100 * time.Millisecond}, good, late)
	ctx, cancel = context.WithTimeout(t.Context(), time.Minute)
	defer cancel()
	res = runSeries(ctx, t, p, allReq())
	require.NoError(t, res.err)
	require.Equal(t, []string{labels.FromStrings("__name__", "up", "replica", "a").String()}, labelsOf(res.frames))
	require.Equal(t, []string{"endpoint store-b: rpc error: timed out after 100ms"}, res.warnings)
}
