package bucketstore

import (
	"testing"

	"github.com/oklog/ulid/v2"
	"github.com/prometheus/prometheus/model/labels"
	"github.com/prometheus/prometheus/tsdb"
	"github.com/prometheus/prometheus/tsdb/chunkenc"
	"github.com/stretchr/testify/require"

	"github.com/strata-io/strata/internal/downsample"
	"github.com/strata-io/strata/pkg/metadata"
	"github.com/strata-io/strata/pkg/storepb"
)

func TestSubtractRanges(t *testing.T) {
	for _, tc := range []struct {
		name    string
		r       timeRange
		covered []timeRange
		want    []timeRange
	}{
		{"nothing_covered", timeRange{0, 99}, nil, []timeRange{{0, 99}}},
		{"all_covered", timeRange{10, 20}, []timeRange{{0, 99}}, nil},
		{"covered_before_and_after", timeRange{0, 99}, []timeRange{{-10, 9}, {90, 200}}, []timeRange{{10, 89}}},
		{"hole_in_the_middle", timeRange{0, 99}, []timeRange{{20, 29}, {50, 59}}, []timeRange{{0, 19}, {30, 49}, {60, 99}}},
		{"covered_elsewhere", timeRange{0, 9}, []timeRange{{-50, -1}, {10, 20}}, []timeRange{{0, 9}}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			require.Equal(t, tc.want, subtractRanges(tc.r, tc.covered))
		})
	}
}

func TestChooseRanges(t *testing.T) {
	eu, us := labels.FromStrings("region", "eu"), labels.FromStrings("region", "us")
	blk := func(ext labels.Labels, mint, maxt, res int64) *block {
		m := &metadata.Meta{BlockMeta: tsdb.BlockMeta{ULID: ulid.Make(), MinTime: mint, MaxTime: maxt}}
		m.Thanos.Downsample.Resolution = res
		return &block{meta: m, ext: ext}
	}
	var (
		raw1  = blk(eu, 0, 1000, 0)     // [0, 999]
		raw2  = blk(eu, 1000, 2000, 0)  // [1000, 1999]
		fiveM = blk(eu, 0, 1500, 300)   // [0, 1499]
		oneH  = blk(eu, 200, 600, 3600) // [200, 599]
		rawUS = blk(us, 0, 2000, 0)     // another stream: never covered by eu's blocks
	)
	got := chooseRanges([]*block{raw1, raw2, fiveM, oneH, rawUS}, 100, 1899)
	require.Equal(t, map[*block][]timeRange{
		oneH:  {{200, 599}},
		fiveM: {{100, 199}, {600, 1499}},
		raw2:  {{1500, 1899}},
		rawUS: {{100, 1899}},
	}, got, "coarsest first, gaps from finer resolutions, raw1 fully covered")
}

func TestAggrWireChunk(t *testing.T) {
	mk := func(enc chunkenc.Encoding, vals ...float64) chunkenc.Chunk {
		c, err := chunkenc.NewEmptyChunk(enc)
		require.NoError(t, err)
		app, err := c.Appender()
		require.NoError(t, err)
		for i, v := range vals {
			app.Append(0, int64(i+1)*1000, v)
		}
		return c
	}
	data, err := downsample.EncodeAggrChunk([downsample.NumAggrTypes]chunkenc.Chunk{
		mk(chunkenc.EncXOR2, 20, 20), // count, in XOR2
		mk(chunkenc.EncXOR, 5, 7),    // sum
		nil, nil, nil,                // min, max, counter absent
	})
	require.NoError(t, err)

	got, err := aggrWireChunk(downsample.AggrChunk(data), 1000, 2000,
		[]storepb.Aggr{storepb.Aggr_RAW, storepb.Aggr_COUNT, storepb.Aggr_SUM, storepb.Aggr_MIN})
	require.NoError(t, err)
	require.Equal(t, int64(1000), got.GetMinTime())
	require.Equal(t, int64(2000), got.GetMaxTime())
	require.Nil(t, got.GetRaw(), "RAW has no meaning for an aggregate chunk")
	require.Nil(t, got.GetMin(), "min is absent from the chunk")
	require.Nil(t, got.GetMax(), "max not requested")
	for _, tc := range []struct {
		name string
		c    *storepb.Chunk
		want []float64
	}{
		{"count_reencoded_from_xor2", got.GetCount(), []float64{20, 20}},
		{"sum", got.GetSum(), []float64{5, 7}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			require.NotNil(t, tc.c)
			require.Equal(t, storepb.Chunk_XOR, tc.c.GetType())
			c, err := chunkenc.FromData(chunkenc.EncXOR, tc.c.GetData())
			require.NoError(t, err)
			var vals []float64
			it := c.Iterator(nil)
			for it.Next() != chunkenc.ValNone {
				_, v := it.At()
				vals = append(vals, v)
			}
			require.NoError(t, it.Err())
			require.Equal(t, tc.want, vals)
		})
	}
}
