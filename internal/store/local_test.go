package store

import (
	"context"
	"errors"
	"math"
	"testing"
	"time"

	"github.com/prometheus/prometheus/model/labels"
	"github.com/stretchr/testify/require"
	"google.golang.org/grpc"

	"github.com/strata-io/strata/pkg/infopb"
	"github.com/strata-io/strata/pkg/storepb"
)

// fakeLocal answers Info with what info holds (err when set) and one
// series to every Series call.
type fakeLocal struct {
	storepb.UnimplementedStoreServer
	infopb.UnimplementedInfoServer
	info  *infopb.InfoResponse
	err   error
	calls int
}

func (f *fakeLocal) Info(context.Context, *infopb.InfoRequest) (*infopb.InfoResponse, error) {
	f.calls++
	return f.info, f.err
}

func (f *fakeLocal) Series(_ *storepb.SeriesRequest, srv grpc.ServerStreamingServer[storepb.SeriesResponse]) error {
	return srv.Send(&storepb.SeriesResponse{Result: &storepb.SeriesResponse_Series{Series: &storepb.Series{Labels: storepb.LabelsToProto(labels.FromStrings("__name__", "up"))}}})
}

func TestLocalClient(t *testing.T) {
	srv := &fakeLocal{err: errors.New("not ready")}
	c := NewLocalClient("local-store", srv)
	now := time.Unix(1000, 0)
	c.now = func() time.Time { return now }

	require.Equal(t, "local-store", c.String())
	mint, maxt := c.TimeRange()
	require.Equal(t, [2]int64{math.MinInt64, math.MaxInt64}, [2]int64{mint, maxt}, "before a good Info, all of time")
	require.Empty(t, c.LabelSets())
	require.False(t, c.SupportsWithoutReplicaLabels())

	ext := labels.FromStrings("cluster", "eu", "replica", "a")
	srv.info, srv.err = &infopb.InfoResponse{
		LabelSets: storepb.LabelSetsToProto([]labels.Labels{ext}),
		Store:     &infopb.StoreInfo{MinTime: 10, MaxTime: 20, SupportsWithoutReplicaLabels: true},
	}, nil
	require.Empty(t, c.LabelSets(), "Info is read at most once a second")
	now = now.Add(time.Second)
	require.Equal(t, []labels.Labels{ext}, c.LabelSets())
	mint, maxt = c.TimeRange()
	require.Equal(t, [2]int64{10, 20}, [2]int64{mint, maxt})
	require.True(t, c.SupportsWithoutReplicaLabels())
	require.Equal(t, 2, srv.calls)

	srv.err = errors.New("gone")
	now = now.Add(time.Second)
	_, err := c.Info()
	require.ErrorContains(t, err, "gone")
	require.Equal(t, []labels.Labels{ext}, c.LabelSets(), "a failed Info keeps the last good answer")

	stream, err := c.Series(t.Context(), &storepb.SeriesRequest{})
	require.NoError(t, err)
	resp, err := stream.Recv()
	require.NoError(t, err)
	require.Equal(t, "up", resp.GetSeries().GetLabels()[0].GetValue())
}
