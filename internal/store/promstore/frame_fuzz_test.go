package promstore

import (
	"math"
	"testing"

	"github.com/prometheus/prometheus/model/histogram"
	"github.com/prometheus/prometheus/prompb"
	"github.com/prometheus/prometheus/tsdb/chunkenc"
	"github.com/stretchr/testify/require"

	"github.com/strata-io/strata/internal/store"
)

// seedChunk returns a chunk of enc with a few samples.
func seedChunk(t testing.TB, enc chunkenc.Encoding) prompb.Chunk {
	c, err := chunkenc.NewEmptyChunk(enc)
	require.NoError(t, err)
	app, err := c.Appender()
	require.NoError(t, err)
	for i := range int64(5) {
		ts := 1_700_000_000_000 + i*15_000
		switch c.Encoding() {
		case chunkenc.EncHistogram, chunkenc.EncHistogramST:
			h := &histogram.Histogram{Count: uint64(i + 1), Sum: float64(i), Schema: 0, ZeroThreshold: 0.001,
				PositiveSpans: []histogram.Span{{Offset: 0, Length: 1}}, PositiveBuckets: []int64{i + 1}}
			_, _, app, err = app.AppendHistogram(nil, 0, ts, h, false)
			require.NoError(t, err)
		case chunkenc.EncFloatHistogram, chunkenc.EncFloatHistogramST:
			h := &histogram.FloatHistogram{Count: float64(i + 1), Sum: float64(i), Schema: 0, ZeroThreshold: 0.001,
				PositiveSpans: []histogram.Span{{Offset: 0, Length: 1}}, PositiveBuckets: []float64{float64(i + 1)}}
			_, _, app, err = app.AppendFloatHistogram(nil, 0, ts, h, false)
			require.NoError(t, err)
		default:
			app.Append(0, ts, float64(i*i))
		}
	}
	return prompb.Chunk{MinTimeMs: 1_700_000_000_000, MaxTimeMs: 1_700_000_060_000, Type: prompb.Chunk_Encoding(enc), Data: c.Bytes()}
}

// FuzzDecodeFrame feeds arbitrary remote-read frames (what a broken or
// hostile Prometheus could send the sidecar) through the sidecar's decoding:
// frame, labels, and chunks (the newer encodings are decoded and encoded
// again). It must return errors, never panic.
func FuzzDecodeFrame(f *testing.F) {
	var chks []prompb.Chunk
	for _, enc := range []chunkenc.Encoding{chunkenc.EncXOR, chunkenc.EncHistogram, chunkenc.EncFloatHistogram,
		chunkenc.EncXOR2, chunkenc.EncHistogramST, chunkenc.EncFloatHistogramST} {
		chks = append(chks, seedChunk(f, enc))
	}
	in := prompb.ChunkedReadResponse{ChunkedSeries: []*prompb.ChunkedSeries{
		{Labels: []prompb.Label{{Name: "__name__", Value: "up"}, {Name: "cluster", Value: "x"}, {Name: "job", Value: "api"}}, Chunks: chks[:3]},
		{Labels: []prompb.Label{{Name: "__name__", Value: "up"}, {Name: "job", Value: "web"}}, Chunks: chks[3:]},
	}}
	frame, err := in.Marshal()
	require.NoError(f, err)
	f.Add(frame)
	f.Add(frame[:len(frame)/2])
	f.Add([]byte{0x0a, 0x80})                         // length overflows the frame
	f.Add([]byte{0x0a, 0x04, 0x12, 0x02, 0x18, 0x09}) // chunk with an unknown encoding
	f.Fuzz(func(t *testing.T, frame []byte) {
		raws, err := decodeFrame(frame, nil)
		if err != nil {
			return
		}
		b := store.NewSeriesLabels(extLabels, []string{"replica"})
		for i := range raws {
			if _, err := rawLabels(b, &raws[i]); err != nil {
				continue
			}
			_ = sameLabels(&raws[i], &raws[0])
			for j := range raws[i].chunks {
				out, err := convertChunk(&raws[i].chunks[j], math.MinInt64, math.MaxInt64)
				if err == nil && len(out) == 0 {
					t.Fatalf("chunk %d of series %d converted to nothing without an error", j, i)
				}
			}
		}
	})
}
