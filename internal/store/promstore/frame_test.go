package promstore

import (
	"testing"

	"github.com/prometheus/prometheus/prompb"
	"github.com/stretchr/testify/require"
)

func TestDecodeFrameMatchesPrompb(t *testing.T) {
	in := prompb.ChunkedReadResponse{
		QueryIndex: 3,
		ChunkedSeries: []*prompb.ChunkedSeries{
			{
				Labels: []prompb.Label{{Name: "__name__", Value: "up"}, {Name: "job", Value: "api"}, {Name: "empty", Value: ""}},
				Chunks: []prompb.Chunk{
					{MinTimeMs: 1000, MaxTimeMs: 2000, Type: prompb.Chunk_XOR, Data: []byte{1, 2, 3}},
					{MinTimeMs: -5, MaxTimeMs: 1 << 40, Type: prompb.Chunk_FLOAT_HISTOGRAM, Data: []byte{9}},
				},
			},
			{Labels: []prompb.Label{{Name: "__name__", Value: "x"}}}, // no chunks
		},
	}
	frame, err := in.Marshal()
	require.NoError(t, err)

	got, err := decodeFrame(frame, nil)
	require.NoError(t, err)
	require.Len(t, got, 2)
	for i, want := range in.ChunkedSeries {
		var lbls []prompb.Label
		require.NoError(t, got[i].rangeLabels(func(n, v string) { lbls = append(lbls, prompb.Label{Name: n, Value: v}) }))
		require.Equal(t, want.Labels, lbls)
		require.Len(t, got[i].chunks, len(want.Chunks))
		for j := range want.Chunks {
			require.Equal(t, want.Chunks[j].MinTimeMs, got[i].chunks[j].MinTimeMs)
			require.Equal(t, want.Chunks[j].MaxTimeMs, got[i].chunks[j].MaxTimeMs)
			require.Equal(t, want.Chunks[j].Type, got[i].chunks[j].Type)
			require.Equal(t, want.Chunks[j].Data, got[i].chunks[j].Data)
		}
	}
	require.False(t, sameLabels(&got[0], &got[1]))
	require.True(t, sameLabels(&got[0], &got[0]))

	_, err = decodeFrame(frame[:len(frame)-5], nil) // cuts into the second series
	require.Error(t, err, "a truncated frame is an error, not a silent partial answer")
}

// A remote-read chunk too short for its encoding's header is an error, not
// a panic in Prometheus' decoder (found by FuzzDecodeFrame: a 1-byte XOR2
// chunk).
func TestConvertChunkTruncated(t *testing.T) {
	for _, typ := range []prompb.Chunk_Encoding{prompb.Chunk_XOR2, prompb.Chunk_HISTOGRAM_ST, prompb.Chunk_FLOAT_HISTOGRAM_ST} {
		for n := range 3 {
			c := &prompb.Chunk{Type: typ, MinTimeMs: 0, MaxTimeMs: 10, Data: make([]byte, n)}
			if _, err := convertChunk(c, 0, 10); err == nil {
				t.Fatalf("%s chunk of %d bytes converted, want an error", typ, n)
			}
		}
	}
}
