package testkit

import (
	"testing"

	"github.com/prometheus/prometheus/tsdb/chunkenc"
	"github.com/stretchr/testify/require"
)

func TestXORChunkMeta(t *testing.T) {
	in := []Sample{{Time: 1_700_000_000_000, Value: 1}, {Time: 1_700_000_015_000, Value: 2.5}, {Time: 1_700_000_030_000, Value: 0}}
	m := XORChunkMeta(t, in...)
	require.Equal(t, int64(1_700_000_000_000), m.MinTime)
	require.Equal(t, int64(1_700_000_030_000), m.MaxTime)
	require.Equal(t, chunkenc.EncXOR, m.Chunk.Encoding())
	var got []Sample
	it := m.Chunk.Iterator(nil)
	for it.Next() == chunkenc.ValFloat {
		ts, v := it.At()
		got = append(got, Sample{Time: ts, Value: v})
	}
	require.NoError(t, it.Err())
	require.Equal(t, in, got)
}
