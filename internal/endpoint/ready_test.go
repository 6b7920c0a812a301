package endpoint

import (
	"context"
	"errors"
	"io"
	"math"
	"net"
	"sync/atomic"
	"testing"
	"time"

	"github.com/prometheus/prometheus/model/labels"
	"github.com/stretchr/testify/require"
	"google.golang.org/grpc"
	"google.golang.org/grpc/health"
	healthpb "google.golang.org/grpc/health/grpc_health_v1"

	"github.com/strata-io/strata/internal/store/proxy"
	"github.com/strata-io/strata/pkg/infopb"
	"github.com/strata-io/strata/pkg/storepb"
)

// startingStore is a store gateway in its first sync: gRPC health
// NOT_SERVING and an Info announcing nothing (an empty range) until
// becomeReady, then SERVING with its labels and range.
type startingStore struct {
	infopb.UnimplementedInfoServer
	storepb.UnimplementedStoreServer

	addr   string
	health *health.Server
	ready  atomic.Bool
}

func startStartingStore(t *testing.T) *startingStore {
	t.Helper()
	lis, err := net.Listen("tcp", "127.0.0.1:0")
	require.NoError(t, err)
	s := &startingStore{addr: lis.Addr().String(), health: health.NewServer()}
	s.health.SetServingStatus("", healthpb.HealthCheckResponse_NOT_SERVING)
	srv := grpc.NewServer(grpc.ForceServerCodecV2(storepb.Codec{}))
	healthpb.RegisterHealthServer(srv, s.health)
	infopb.RegisterInfoServer(srv, s)
	storepb.RegisterStoreServer(srv, s)
	go func() { _ = srv.Serve(lis) }()
	t.Cleanup(srv.Stop)
	return s
}

func (s *startingStore) becomeReady() {
	s.ready.Store(true)
	s.health.SetServingStatus("", healthpb.HealthCheckResponse_SERVING)
}

func (s *startingStore) Info(context.Context, *infopb.InfoRequest) (*infopb.InfoResponse, error) {
	if !s.ready.Load() {
		return &infopb.InfoResponse{ComponentType: "store", Store: &infopb.StoreInfo{MinTime: math.MaxInt64, MaxTime: math.MinInt64}}, nil
	}
	return &infopb.InfoResponse{
		ComponentType: "store",
		LabelSets:     storepb.LabelSetsToProto([]labels.Labels{labels.FromStrings("region", "eu")}),
		Store:         &infopb.StoreInfo{MinTime: 1000, MaxTime: 2000, SupportsWithoutReplicaLabels: true},
	}, nil
}

func (s *startingStore) Series(_ *storepb.SeriesRequest, srv grpc.ServerStreamingServer[storepb.SeriesResponse]) error {
	if !s.ready.Load() {
		return nil // what a store without readiness would answer: nothing
	}
	lset := labels.FromStrings("__name__", "up", "region", "eu")
	return srv.Send(&storepb.SeriesResponse{Result: &storepb.SeriesResponse_Series{Series: &storepb.Series{Labels: storepb.LabelsToProto(lset)}}})
}

// query runs a series request through a proxy over s and returns the
// series, warnings and error.
func query(t *testing.T, s *Set, strategy storepb.PartialResponseStrategy) ([]string, []string, error) {
	t.Helper()
	p := proxy.New(proxy.Config{ResponseTimeout: 5 * time.Second}, s.Clients, nil, nil)
	stream, err := storepb.ServerAsClient(p).Series(t.Context(), &storepb.SeriesRequest{MinTime: 1000, MaxTime: 2000, PartialResponseStrategy: strategy})
	if err != nil {
		return nil, nil, err
	}
	var got, warnings []string
	for {
		r, err := stream.Recv()
		if errors.Is(err, io.EOF) {
			return got, warnings, nil
		}
		if err != nil {
			return got, warnings, err
		}
		if w := r.GetWarning(); w != "" {
			warnings = append(warnings, w)
		}
		if ser := r.GetSeries(); ser != nil {
			got = append(got, storepb.LabelsFromProto(ser.GetLabels()).String())
		}
	}
}

// TestNotReadyEndpointWarnsThenIsSeenQuickly: a query while a store is
// starting gets a warning naming it (an error without partial response),
// not an empty success; once it is ready, the set sees it within about a
// second although the check interval is long.
func TestNotReadyEndpointWarnsThenIsSeenQuickly(t *testing.T) {
	st := startStartingStore(t)
	cfg := fastConfig(Group{Addresses: []string{st.addr}})
	cfg.CheckInterval = time.Hour
	s, err := New(cfg, nil, nil)
	require.NoError(t, err)
	runSet(t, s)
	require.Eventually(t, func() bool { return s.Ready() == nil }, 10*time.Second, 10*time.Millisecond)

	status, _ := statusOf(s, st.addr)
	require.False(t, status.Healthy, "a NOT_SERVING endpoint is not healthy")
	require.Contains(t, status.LastError, "not ready")

	got, warns, err := query(t, s, storepb.PartialResponseStrategy_WARN)
	require.NoError(t, err)
	require.Empty(t, got)
	require.Len(t, warns, 1, "not silence")
	require.Contains(t, warns[0], st.addr)
	require.Contains(t, warns[0], "not ready")
	_, _, err = query(t, s, storepb.PartialResponseStrategy_ABORT)
	require.ErrorContains(t, err, st.addr)

	st.becomeReady()
	start := time.Now()
	require.Eventually(t, func() bool {
		status, _ := statusOf(s, st.addr)
		return status.Healthy && status.MinTime == 1000
	}, 5*time.Second, 10*time.Millisecond)
	require.Less(t, time.Since(start), 2500*time.Millisecond, "re-checked at a short interval, not --endpoint.check-interval")
	got, warns, err = query(t, s, storepb.PartialResponseStrategy_ABORT)
	require.NoError(t, err)
	require.Empty(t, warns)
	require.Equal(t, []string{`{__name__="up", region="eu"}`}, got)
}
