package storepb

import (
	"context"
	"errors"
	"io"
	"testing"
	"time"

	"github.com/prometheus/prometheus/model/labels"
	"github.com/stretchr/testify/require"
	"go.uber.org/goleak"
	"google.golang.org/grpc"
	"google.golang.org/protobuf/proto"
)

func TestMain(m *testing.M) {
	goleak.VerifyTestMain(m)
}

func TestMatchersRoundTrip(t *testing.T) {
	for _, tc := range []struct {
		typ  labels.MatchType
		wire LabelMatcher_Type
	}{
		{labels.MatchEqual, LabelMatcher_EQ},
		{labels.MatchNotEqual, LabelMatcher_NEQ},
		{labels.MatchRegexp, LabelMatcher_RE},
		{labels.MatchNotRegexp, LabelMatcher_NRE},
	} {
		t.Run(tc.typ.String(), func(t *testing.T) {
			m := labels.MustNewMatcher(tc.typ, "job", "api.*")
			pm, err := MatchersToProto(m)
			require.NoError(t, err)
			require.Equal(t, tc.wire, pm[0].Type)
			back, err := MatchersFromProto(pm)
			require.NoError(t, err)
			require.Equal(t, m.String(), back[0].String())
			// The converted matcher keeps the semantics, including empty values.
			require.Equal(t, m.Matches(""), back[0].Matches(""))
			require.Equal(t, m.Matches("api-1"), back[0].Matches("api-1"))
		})
	}
}

func TestMatchersFromProtoErrors(t *testing.T) {
	_, err := MatchersFromProto([]*LabelMatcher{{Type: LabelMatcher_RE, Name: "job", Value: "("}})
	require.ErrorContains(t, err, "matcher job")
	_, err = MatchersFromProto([]*LabelMatcher{{Type: 42, Name: "job"}})
	require.ErrorContains(t, err, "unknown matcher type 42")
}

func TestLabelsRoundTripAndCompare(t *testing.T) {
	lset := labels.FromStrings("__name__", "up", "job", "api", "zone", "a")
	require.Equal(t, lset, LabelsFromProto(LabelsToProto(lset)))
	// Unsorted wire labels come out sorted.
	require.Equal(t, lset, LabelsFromProto([]*Label{{Name: "zone", Value: "a"}, {Name: "__name__", Value: "up"}, {Name: "job", Value: "api"}}))

	sets := []labels.Labels{
		labels.FromStrings("a", "1"),
		labels.FromStrings("a", "1", "b", "1"),
		labels.FromStrings("a", "2"),
		labels.FromStrings("b", "0"),
	}
	for i := range sets {
		for j := range sets {
			want := labels.Compare(sets[i], sets[j])
			got := CompareLabels(LabelsToProto(sets[i]), LabelsToProto(sets[j]))
			require.Equal(t, sign(want), sign(got), "%s vs %s", sets[i], sets[j])
		}
	}
}

func sign(x int) int {
	switch {
	case x < 0:
		return -1
	case x > 0:
		return 1
	}
	return 0
}

// streamServer sends n series, or fails after them with err.
type streamServer struct {
	UnimplementedStoreServer
	n   int
	err error
}

func (s *streamServer) Series(_ *SeriesRequest, srv grpc.ServerStreamingServer[SeriesResponse]) error {
	for i := 0; i < s.n; i++ {
		if err := srv.Send(&SeriesResponse{Result: &SeriesResponse_Series{Series: &Series{Labels: []*Label{{Name: "i", Value: string(rune('a' + i%26))}}}}}); err != nil {
			return err
		}
	}
	return s.err
}

func TestServerAsClient(t *testing.T) {
	t.Run("reads every frame then EOF", func(t *testing.T) {
		c := ServerAsClient(&streamServer{n: 100})
		st, err := c.Series(context.Background(), &SeriesRequest{})
		require.NoError(t, err)
		n := 0
		for {
			_, err := st.Recv()
			if errors.Is(err, io.EOF) {
				break
			}
			require.NoError(t, err)
			n++
		}
		require.Equal(t, 100, n)
	})
	t.Run("server error reaches the client", func(t *testing.T) {
		c := ServerAsClient(&streamServer{n: 3, err: errors.New("disk on fire")})
		st, err := c.Series(context.Background(), &SeriesRequest{})
		require.NoError(t, err)
		for i := 0; i < 3; i++ {
			_, err := st.Recv()
			require.NoError(t, err)
		}
		_, err = st.Recv()
		require.EqualError(t, err, "disk on fire")
	})
	t.Run("cancel mid-stream ends the server goroutine", func(t *testing.T) {
		ctx, cancel := context.WithCancel(context.Background())
		c := ServerAsClient(&streamServer{n: 10000})
		st, err := c.Series(ctx, &SeriesRequest{})
		require.NoError(t, err)
		_, err = st.Recv()
		require.NoError(t, err)
		cancel()
		require.Eventually(t, func() bool {
			_, err := st.Recv()
			return errors.Is(err, context.Canceled)
		}, 5*time.Second, time.Millisecond)
		// goleak in TestMain checks that the server goroutine is gone.
	})
}

func TestCodecWireCompatible(t *testing.T) {
	big := &SeriesResponse{Result: &SeriesResponse_Batch{Batch: &SeriesBatch{}}}
	for i := 0; i < 500; i++ {
		big.GetBatch().Series = append(big.GetBatch().Series, &Series{
			Labels: []*Label{{Name: "__name__", Value: "up"}, {Name: "i", Value: string(rune('a' + i%26))}},
			Chunks: []*AggrChunk{{MinTime: int64(i), MaxTime: int64(i + 10), Raw: &Chunk{Type: Chunk_XOR, Data: []byte{0, 1, 2, 3, byte(i)}}}},
		})
	}
	small := &SeriesRequest{MinTime: 1, MaxTime: 2, Matchers: []*LabelMatcher{{Type: LabelMatcher_RE, Name: "job", Value: "a.*"}}}
	for name, msg := range map[string]proto.Message{"pooled": big, "small": small} {
		t.Run(name, func(t *testing.T) {
			c := Codec{}
			out, err := c.Marshal(msg)
			require.NoError(t, err)
			defer out.Free()
			// Same bytes as the reflection-based encoder: nothing changes on the wire.
			want, err := proto.MarshalOptions{Deterministic: true}.Marshal(msg)
			require.NoError(t, err)
			require.Equal(t, want, out.Materialize())

			back := msg.ProtoReflect().New().Interface()
			require.NoError(t, c.Unmarshal(out, back))
			require.True(t, proto.Equal(msg, back))
		})
	}
	require.Equal(t, "proto", Codec{}.Name())
}
