package api

import (
	"context"
	"net/http"
	"net/url"
	"testing"
	"time"

	"github.com/prometheus/client_golang/prometheus"
	"github.com/prometheus/prometheus/promql"
	"github.com/stretchr/testify/require"
	"google.golang.org/grpc"
	"google.golang.org/grpc/codes"
	"google.golang.org/grpc/status"

	"github.com/strata-io/strata/internal/query"
	"github.com/strata-io/strata/internal/store"
	"github.com/strata-io/strata/internal/store/proxy"
	"github.com/strata-io/strata/internal/testkit"
	"github.com/strata-io/strata/pkg/storepb"
)

// earlyDeadlineStore fails with DeadlineExceeded as soon as its call has a
// deadline, before the caller's context says it is done: as gRPC does for a
// call whose deadline passed before the caller's timer fired (CPU
// saturation), or a remote store whose copy of the deadline fired first.
type earlyDeadlineStore struct {
	storepb.UnimplementedStoreServer
}

func (earlyDeadlineStore) Series(_ *storepb.SeriesRequest, srv grpc.ServerStreamingServer[storepb.SeriesResponse]) error {
	if _, ok := srv.Context().Deadline(); ok {
		return status.Error(codes.DeadlineExceeded, context.DeadlineExceeded.Error())
	}
	return nil
}

func (earlyDeadlineStore) LabelNames(ctx context.Context, _ *storepb.LabelNamesRequest) (*storepb.LabelNamesResponse, error) {
	if _, ok := ctx.Deadline(); ok {
		return nil, status.Error(codes.DeadlineExceeded, context.DeadlineExceeded.Error())
	}
	return &storepb.LabelNamesResponse{}, nil
}

// A request's deadline reached while a store is answering is a 503 timeout,
// never a 200 with whatever the other stores had and a warning.
func TestRequestDeadlineThroughProxyIsATimeout(t *testing.T) {
	reg := prometheus.NewRegistry()
	c := testkit.NewLocalStore("store-1:10901", earlyDeadlineStore{})
	px := proxy.New(proxy.Config{ResponseTimeout: 2 * time.Minute}, func() []store.Client { return []store.Client{c} }, nil, reg)
	qc := query.NewQueryableCreator(storepb.ServerAsClient(px), nil, reg)
	engine := promql.NewEngine(promql.EngineOpts{MaxSamples: 1000, Timeout: 2 * time.Minute})
	cfg := DefaultConfig()
	cfg.DefaultPartialResponse = true // --query.partial-response's default
	a := New(cfg, engine, qc, nil, nil, nil, reg)
	f := &fixture{api: a, mux: http.NewServeMux()}
	a.Register(f.mux, "")

	for _, tc := range []struct {
		path   string
		params url.Values
	}{
		{"/api/v1/query_range", url.Values{"query": {"up"}, "start": {"0"}, "end": {"3600"}, "step": {"60"}, "timeout": {"1s"}}},
		{"/api/v1/query", url.Values{"query": {"up"}, "timeout": {"1s"}}},
		{"/api/v1/series", url.Values{"match[]": {"up"}, "timeout": {"1s"}}},
		{"/api/v1/labels", url.Values{"timeout": {"1s"}}},
	} {
		t.Run(tc.path, func(t *testing.T) {
			code, body := f.do(t, "GET", tc.path, tc.params)
			require.Equal(t, 503, code, body)
			var got apiErrBody
			require.NoError(t, jsonUnmarshal(body, &got))
			require.Equal(t, "timeout", got.ErrorType, body)
			require.Contains(t, got.Error, "store-1:10901")
			require.NotContains(t, got.Error, "2m0s")
		})
	}
}
