package bucketstore

import (
	"encoding/binary"
	"hash/crc32"
	"testing"

	"github.com/prometheus/prometheus/tsdb/chunkenc"
	"github.com/prometheus/prometheus/tsdb/chunks"
	"github.com/stretchr/testify/require"
)

func ref(seg, off int) chunks.ChunkRef { return chunks.ChunkRef(uint64(seg)<<32 | uint64(off)) }

func TestPlanChunkReads(t *testing.T) {
	const est, gap = 100, 1000
	noSize := func(int) int64 { return 0 }
	for _, tc := range []struct {
		name    string
		refs    []chunks.ChunkRef
		segSize func(int) int64
		want    []chunkRange
	}{
		{
			name: "one_chunk_read_with_the_estimate",
			refs: []chunks.ChunkRef{ref(0, 8)},
			want: []chunkRange{{seg: 0, start: 8, end: 108, offs: []int{8}}},
		},
		{
			name: "adjacent_chunks_end_where_the_next_starts",
			refs: []chunks.ChunkRef{ref(0, 58), ref(0, 8), ref(0, 30)},
			want: []chunkRange{{seg: 0, start: 8, end: 158, offs: []int{8, 30, 58}}},
		},
		{
			name: "gap_at_the_limit_is_read_over",
			refs: []chunks.ChunkRef{ref(0, 8), ref(0, 108+gap)},
			want: []chunkRange{{seg: 0, start: 8, end: 108 + gap + est, offs: []int{8, 108 + gap}}},
		},
		{
			name: "gap_above_the_limit_splits",
			refs: []chunks.ChunkRef{ref(0, 8), ref(0, 108+gap+1)},
			want: []chunkRange{
				{seg: 0, start: 8, end: 108, offs: []int{8}},
				{seg: 0, start: 108 + gap + 1, end: 108 + gap + 1 + est, offs: []int{108 + gap + 1}},
			},
		},
		{
			name: "segments_never_merge",
			refs: []chunks.ChunkRef{ref(1, 8), ref(0, 8)},
			want: []chunkRange{
				{seg: 0, start: 8, end: 108, offs: []int{8}},
				{seg: 1, start: 8, end: 108, offs: []int{8}},
			},
		},
		{
			name:    "capped_at_the_segment_size",
			refs:    []chunks.ChunkRef{ref(0, 8)},
			segSize: func(int) int64 { return 50 },
			want:    []chunkRange{{seg: 0, start: 8, end: 50, offs: []int{8}}},
		},
		{
			name: "duplicates_read_once",
			refs: []chunks.ChunkRef{ref(0, 8), ref(0, 8)},
			want: []chunkRange{{seg: 0, start: 8, end: 108, offs: []int{8}}},
		},
	} {
		t.Run(tc.name, func(t *testing.T) {
			size := tc.segSize
			if size == nil {
				size = noSize
			}
			require.Equal(t, tc.want, planChunkReads(tc.refs, est, gap, size))
		})
	}
}

func encodeChunk(enc chunkenc.Encoding, data []byte) []byte {
	b := binary.AppendUvarint(nil, uint64(len(data)))
	body := append([]byte{byte(enc)}, data...)
	b = append(b, body...)
	return binary.BigEndian.AppendUint32(b, crc32.Checksum(body, castagnoli))
}

func TestParseChunk(t *testing.T) {
	data := []byte{1, 2, 3, 4, 5}
	full := encodeChunk(chunkenc.EncXOR, data)

	c, need, err := parseChunk(append(full, 9, 9, 9))
	require.NoError(t, err)
	require.Zero(t, need)
	require.Equal(t, chunkenc.EncXOR, c.enc)
	require.Equal(t, data, c.data)

	_, need, err = parseChunk(full[:4])
	require.NoError(t, err)
	require.Equal(t, len(full), need, "a short read asks for the chunk's full size")

	bad := append([]byte(nil), full...)
	bad[3] ^= 0xff
	_, _, err = parseChunk(bad)
	require.ErrorContains(t, err, "checksum")
}
