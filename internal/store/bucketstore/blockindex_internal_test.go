package bucketstore

import (
	"testing"

	"github.com/stretchr/testify/require"
)

func TestMergeByteRanges(t *testing.T) {
	for _, tc := range []struct {
		name     string
		in       []byteRange
		gap      int64
		wantGets []byteRange
		wantPart []int
	}{
		{name: "one", in: []byteRange{{10, 20}}, gap: 5, wantGets: []byteRange{{10, 20}}, wantPart: []int{0}},
		{name: "adjacent", in: []byteRange{{0, 10}, {10, 20}}, gap: 0, wantGets: []byteRange{{0, 20}}, wantPart: []int{0, 0}},
		{name: "within gap", in: []byteRange{{0, 10}, {15, 20}}, gap: 5, wantGets: []byteRange{{0, 20}}, wantPart: []int{0, 0}},
		{name: "beyond gap", in: []byteRange{{0, 10}, {16, 20}}, gap: 5, wantGets: []byteRange{{0, 10}, {16, 20}}, wantPart: []int{0, 1}},
		{name: "overlapping guesses", in: []byteRange{{0, 100}, {16, 116}, {32, 132}, {1000, 1100}}, gap: 10,
			wantGets: []byteRange{{0, 132}, {1000, 1100}}, wantPart: []int{0, 0, 0, 1}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			gets, part := merge(tc.in, tc.gap)
			require.Equal(t, tc.wantGets, gets)
			require.Equal(t, tc.wantPart, part)
		})
	}
}

func TestSeriesEntry(t *testing.T) {
	// length 3, "abc", CRC32-Castagnoli of "abc".
	ok := []byte{3, 'a', 'b', 'c', 0x36, 0x4b, 0x3f, 0xb7}
	e, err := seriesEntry(append(ok, 0, 0, 0))
	require.NoError(t, err)
	require.Equal(t, "abc", string(e))
	_, err = seriesEntry(ok[:6])
	require.ErrorIs(t, err, errShortEntry)
	_, err = seriesEntry(nil)
	require.ErrorIs(t, err, errShortEntry)
	bad := append([]byte{}, ok...)
	bad[2] = 'x'
	_, err = seriesEntry(bad)
	require.ErrorContains(t, err, "checksum")
}
