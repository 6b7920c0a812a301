package storepb_test

import (
	"testing"

	"github.com/prometheus/prometheus/model/labels"
	"github.com/prometheus/prometheus/tsdb/chunkenc"
	"github.com/stretchr/testify/require"
	"google.golang.org/protobuf/proto"

	"github.com/strata-io/strata/pkg/storepb"
)

// seriesResponse returns a series frame with 100 XOR chunks of 120 samples
// each, as a store sends for a day of 15s data of one series.
func seriesResponse(tb testing.TB) *storepb.SeriesResponse {
	s := &storepb.Series{Labels: storepb.LabelsToProto(labels.FromStrings(
		"__name__", "http_requests_total", "cluster", "eu-1", "code", "200", "instance", "host-1:9090", "job", "api", "replica", "a"))}
	t := int64(1_700_000_000_000)
	for range 100 {
		c := chunkenc.NewXORChunk()
		app, err := c.Appender()
		require.NoError(tb, err)
		mint := t
		for j := range 120 {
			app.Append(0, t, float64(j*j))
			t += 15_000
		}
		s.Chunks = append(s.Chunks, &storepb.AggrChunk{
			MinTime: mint, MaxTime: t - 15_000,
			Raw: &storepb.Chunk{Type: storepb.Chunk_XOR, Data: c.Bytes()},
		})
	}
	return &storepb.SeriesResponse{Result: &storepb.SeriesResponse_Series{Series: s}}
}

func BenchmarkSeriesResponseMarshal(b *testing.B) {
	r := seriesResponse(b)
	b.ReportAllocs()
	for b.Loop() {
		data, err := proto.Marshal(r)
		if err != nil {
			b.Fatal(err)
		}
		b.SetBytes(int64(len(data)))
	}
}

func BenchmarkSeriesResponseUnmarshal(b *testing.B) {
	data, err := proto.Marshal(seriesResponse(b))
	require.NoError(b, err)
	b.SetBytes(int64(len(data)))
	b.ReportAllocs()
	for b.Loop() {
		var r storepb.SeriesResponse
		if err := proto.Unmarshal(data, &r); err != nil {
			b.Fatal(err)
		}
	}
}

// TestSeriesResponseRoundTrip checks that the benchmarked frame survives
// the wire unchanged, so the benchmarks measure a correct path.
func TestSeriesResponseRoundTrip(t *testing.T) {
	r := seriesResponse(t)
	data, err := proto.Marshal(r)
	require.NoError(t, err)
	var got storepb.SeriesResponse
	require.NoError(t, proto.Unmarshal(data, &got))
	require.True(t, proto.Equal(r, &got))
	require.Len(t, got.GetSeries().GetChunks(), 100)
}

// BenchmarkSeriesResponseCodec measures the gRPC codec the servers and
// clients use (vtprotobuf), next to the reflection-based benchmarks above.
func BenchmarkSeriesResponseCodec(b *testing.B) {
	r := seriesResponse(b)
	c := storepb.Codec{}
	b.Run("marshal", func(b *testing.B) {
		b.ReportAllocs()
		for b.Loop() {
			out, err := c.Marshal(r)
			if err != nil {
				b.Fatal(err)
			}
			b.SetBytes(int64(out.Len()))
			out.Free()
		}
	})
	b.Run("unmarshal", func(b *testing.B) {
		out, err := c.Marshal(r)
		require.NoError(b, err)
		data := out.Materialize()
		b.SetBytes(int64(len(data)))
		b.ReportAllocs()
		for b.Loop() {
			var got storepb.SeriesResponse
			if err := got.UnmarshalVT(data); err != nil {
				b.Fatal(err)
			}
		}
	})
}
