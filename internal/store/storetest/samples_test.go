package storetest

import (
	"math"
	"testing"

	"github.com/prometheus/prometheus/model/histogram"
	"github.com/prometheus/prometheus/model/labels"
	"github.com/stretchr/testify/require"

	"github.com/strata-io/strata/pkg/storepb"
)

func TestSampleEqual(t *testing.T) {
	h := testHistogram(3)
	hReset := h.Copy()
	hReset.CounterResetHint = histogram.NotCounterReset
	for _, tc := range []struct {
		name string
		a, b Sample
		want bool
	}{
		{"same_float", Sample{T: 1, F: 2}, Sample{T: 1, F: 2}, true},
		{"other_time", Sample{T: 1, F: 2}, Sample{T: 2, F: 2}, false},
		{"nan_equals_same_nan", Sample{T: 1, F: math.NaN()}, Sample{T: 1, F: math.NaN()}, true},
		{"histogram_reset_hint_ignored", Sample{T: 1, H: h}, Sample{T: 1, H: hReset}, true},
		{"histogram_vs_float", Sample{T: 1, H: h}, Sample{T: 1}, false},
		{"histogram_vs_other", Sample{T: 1, H: h}, Sample{T: 1, H: testHistogram(4)}, false},
	} {
		t.Run(tc.name, func(t *testing.T) {
			require.Equal(t, tc.want, tc.a.Equal(tc.b))
		})
	}
}

func TestMergeSamples(t *testing.T) {
	got, err := MergeSamples([]Sample{{T: 3, F: 3}, {T: 1, F: 1}, {T: 3, F: 3}, {T: 2, F: 2}})
	require.NoError(t, err)
	require.Equal(t, []Sample{{T: 1, F: 1}, {T: 2, F: 2}, {T: 3, F: 3}}, got)

	_, err = MergeSamples([]Sample{{T: 1, F: 1}, {T: 1, F: 2}})
	require.ErrorContains(t, err, "two different samples at 1")
}

func TestDataset(t *testing.T) {
	series := Dataset(DefaultMinTime)
	require.Len(t, series, 204)
	var hist int
	for i, s := range series {
		if i > 0 {
			require.Negative(t, labels.Compare(series[i-1].Labels(), s.Labels()), "sorted, unique")
		}
		ss, err := SeriesSamples(s)
		require.NoError(t, err)
		require.NotEmpty(t, ss)
		if ss[0].H != nil {
			hist++
		}
	}
	require.Equal(t, 1, hist, "one native histogram series")
}

func TestDecodeChunkRejectsBadInput(t *testing.T) {
	_, err := DecodeChunk(nil)
	require.Error(t, err)
	_, err = DecodeChunk(&storepb.Chunk{Type: storepb.Chunk_Encoding(7), Data: []byte{0, 0}})
	require.ErrorContains(t, err, "unknown encoding")
	_, err = DecodeSeries(&storepb.Series{Chunks: []*storepb.AggrChunk{{MinTime: 1, MaxTime: 2}}})
	require.ErrorContains(t, err, "no raw data")
}
