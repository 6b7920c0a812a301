package server

import (
	"context"
	"encoding/binary"
	"io"
	"log/slog"
	"net"
	"strings"
	"testing"
	"time"

	"github.com/prometheus/client_golang/prometheus"
	"github.com/prometheus/client_golang/prometheus/testutil"
	"github.com/stretchr/testify/require"
	"google.golang.org/grpc"
	"google.golang.org/grpc/codes"
	"google.golang.org/grpc/credentials/insecure"
	"google.golang.org/grpc/status"

	"github.com/strata-io/strata/internal/testkit"
	"github.com/strata-io/strata/pkg/storepb"
)

// panickyStore panics in every call whose matcher asks for it, and answers
// the others; its Series blocks until the call ends when asked to.
type panickyStore struct {
	storepb.UnimplementedStoreServer
	block chan struct{} // closed when a blocking Series started
}

func (s *panickyStore) LabelNames(_ context.Context, req *storepb.LabelNamesRequest) (*storepb.LabelNamesResponse, error) {
	if req.GetLimit() == 13 {
		var m map[string]int
		m["boom"]++ //nolint:staticcheck // SA5000 is the point: a nil map write, a real bug's kind of panic.
	}
	return &storepb.LabelNamesResponse{Names: []string{"job"}}, nil
}

func (s *panickyStore) Series(req *storepb.SeriesRequest, srv grpc.ServerStreamingServer[storepb.SeriesResponse]) error {
	switch req.GetLimit() {
	case 13:
		panic("series handler bug")
	case 99:
		close(s.block)
		<-srv.Context().Done()
		return nil
	}
	return srv.Send(&storepb.SeriesResponse{Result: &storepb.SeriesResponse_Warning{Warning: "ok"}})
}

// startStore runs a server with cfg and a panickyStore, and returns a client.
func startStore(t *testing.T, cfg GRPCConfig, reg prometheus.Registerer, logger *slog.Logger) (storepb.StoreClient, *panickyStore) {
	t.Helper()
	cfg.Address = "127.0.0.1:0"
	cfg.GracePeriod = time.Second
	srv, err := NewGRPC(cfg, reg, logger)
	require.NoError(t, err)
	ps := &panickyStore{block: make(chan struct{})}
	storepb.RegisterStoreServer(srv.Server(), ps)
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan error, 1)
	go func() { done <- srv.Run(ctx) }()
	conn, err := grpc.NewClient(srv.Addr().String(), grpc.WithTransportCredentials(insecure.NewCredentials()),
		grpc.WithDefaultCallOptions(grpc.ForceCodecV2(storepb.Codec{})))
	require.NoError(t, err)
	t.Cleanup(func() {
		require.NoError(t, conn.Close())
		cancel()
		require.NoError(t, <-done)
	})
	return storepb.NewStoreClient(conn), ps
}

func TestGRPCRecoversPanics(t *testing.T) {
	reg := prometheus.NewRegistry()
	var logs testkit.SyncBuffer
	c, _ := startStore(t, GRPCConfig{}, reg, slog.New(slog.NewTextHandler(&logs, nil)))
	ctx := t.Context()

	_, err := c.LabelNames(ctx, &storepb.LabelNamesRequest{Limit: 13})
	require.Equal(t, codes.Internal, status.Code(err), "a panicking unary call fails with Internal: %v", err)
	require.ErrorContains(t, err, "/thanos.Store/LabelNames")

	stream, err := c.Series(ctx, &storepb.SeriesRequest{Limit: 13})
	require.NoError(t, err)
	_, err = stream.Recv()
	require.Equal(t, codes.Internal, status.Code(err), "a panicking stream fails with Internal: %v", err)
	require.ErrorContains(t, err, "series handler bug")

	resp, err := c.LabelNames(ctx, &storepb.LabelNamesRequest{})
	require.NoError(t, err, "the server still serves after the panics")
	require.Equal(t, []string{"job"}, resp.GetNames())

	require.NoError(t, testutil.GatherAndCompare(reg, strings.NewReader(`
# HELP strata_grpc_server_panics_total gRPC calls whose handler panicked; each was answered with an Internal error.
# TYPE strata_grpc_server_panics_total counter
strata_grpc_server_panics_total 2
`), "strata_grpc_server_panics_total"))
	out := logs.String()
	require.Contains(t, out, "grpc handler panicked")
	require.Contains(t, out, "method=/thanos.Store/Series")
	require.Contains(t, out, "assignment to entry in nil map", "the panic value is logged")
	require.Contains(t, out, "server.(*panickyStore).LabelNames", "the stack is logged")
}

func TestGRPCMessageSizeLimit(t *testing.T) {
	big := &storepb.LabelNamesRequest{Matchers: []*storepb.LabelMatcher{{Name: "job", Value: strings.Repeat("x", 5<<20)}}}

	c, _ := startStore(t, GRPCConfig{}, nil, discard())
	_, err := c.LabelNames(t.Context(), big)
	require.Equal(t, codes.ResourceExhausted, status.Code(err), "a 5 MiB request is above the 4 MiB default: %v", err)

	c, _ = startStore(t, GRPCConfig{MaxRecvMsgSize: 8 << 20}, nil, discard())
	_, err = c.LabelNames(t.Context(), big)
	require.NoError(t, err, "--grpc-server-max-recv-msg-size=8MiB accepts it")
}

func TestGRPCMaxConcurrentStreams(t *testing.T) {
	c, ps := startStore(t, GRPCConfig{MaxConcurrentStreams: 1}, nil, discard())
	ctx, cancel := context.WithCancel(t.Context())
	defer cancel()
	blocking, err := c.Series(ctx, &storepb.SeriesRequest{Limit: 99})
	require.NoError(t, err)
	<-ps.block

	short, cancelShort := context.WithTimeout(t.Context(), 300*time.Millisecond)
	defer cancelShort()
	s, err := c.Series(short, &storepb.SeriesRequest{})
	if err == nil {
		_, err = s.Recv()
	}
	require.Equal(t, codes.DeadlineExceeded, status.Code(err), "a second stream waits while the one slot is taken: %v", err)

	cancel()
	_, _ = blocking.Recv()
	s, err = c.Series(t.Context(), &storepb.SeriesRequest{})
	require.NoError(t, err)
	r, err := s.Recv()
	require.NoError(t, err, "the slot is free again")
	require.Equal(t, "ok", r.GetWarning())
}

// TestGRPCKeepaliveEnforcement pings the server in a loop on a raw HTTP/2
// connection: the server must answer GOAWAY too_many_pings and hang up.
func TestGRPCKeepaliveEnforcement(t *testing.T) {
	srv := runGRPC(t, GRPCConfig{Address: "127.0.0.1:0", GracePeriod: time.Second})
	conn, err := net.Dial("tcp", srv.Addr().String())
	require.NoError(t, err)
	defer conn.Close()
	require.NoError(t, conn.SetDeadline(time.Now().Add(10*time.Second)))

	frame := func(typ byte, payload []byte) []byte {
		h := make([]byte, 9, 9+len(payload))
		h[0], h[1], h[2] = byte(len(payload)>>16), byte(len(payload)>>8), byte(len(payload))
		h[3] = typ // flags 0, stream 0
		return append(h, payload...)
	}
	const (
		typeSettings = 0x4
		typePing     = 0x6
		typeGoAway   = 0x7
	)
	_, err = conn.Write(append([]byte("PRI * HTTP/2.0\r\n\r\nSM\r\n\r\n"), frame(typeSettings, nil)...))
	require.NoError(t, err)
	go func() {
		for i := range 50 {
			if _, err := conn.Write(frame(typePing, binary.BigEndian.AppendUint64(nil, uint64(i)))); err != nil {
				return
			}
			time.Sleep(10 * time.Millisecond)
		}
	}()
	var goAway []byte
	for goAway == nil {
		h := make([]byte, 9)
		_, err := io.ReadFull(conn, h)
		require.NoError(t, err, "connection closed or timed out before a GOAWAY")
		payload := make([]byte, int(h[0])<<16|int(h[1])<<8|int(h[2]))
		_, err = io.ReadFull(conn, payload)
		require.NoError(t, err)
		if h[3] == typeGoAway {
			goAway = payload
		}
	}
	require.GreaterOrEqual(t, len(goAway), 8)
	require.Equal(t, uint32(0xb), binary.BigEndian.Uint32(goAway[4:8]), "ENHANCE_YOUR_CALM")
	require.Contains(t, string(goAway[8:]), "too_many_pings")
}
