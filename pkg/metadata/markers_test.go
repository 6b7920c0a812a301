package metadata

import (
	"context"
	"io"
	"strings"
	"testing"
	"time"

	"github.com/oklog/ulid/v2"
	"github.com/stretchr/testify/require"
	"github.com/thanos-io/objstore"
)

func TestMarkersRoundTrip(t *testing.T) {
	ctx := context.Background()
	id := ulid.MustParse("01JC0N9Q5ZB9M6V3X1Y2Z3A4B5")
	at := time.Unix(1731290400, 0)
	for _, tc := range []struct {
		name   string
		marker Marker
		empty  Marker
		file   string
		json   string
	}{
		{
			name:   "deletion",
			marker: NewDeletionMark(id, at, "retention"),
			empty:  &DeletionMark{},
			file:   "deletion-mark.json",
			json:   `{"id":"01JC0N9Q5ZB9M6V3X1Y2Z3A4B5","version":1,"deletion_time":1731290400,"details":"retention"}`,
		},
		{
			name:   "no-compact",
			marker: NewNoCompactMark(id, at, IndexSizeExceedingReason, ""),
			empty:  &NoCompactMark{},
			file:   "no-compact-mark.json",
			json:   `{"id":"01JC0N9Q5ZB9M6V3X1Y2Z3A4B5","version":1,"no_compact_time":1731290400,"reason":"index-size-exceeding"}`,
		},
		{
			name:   "no-downsample",
			marker: NewNoDownsampleMark(id, at, ManualReason, "keep raw"),
			empty:  &NoDownsampleMark{},
			file:   "no-downsample-mark.json",
			json:   `{"id":"01JC0N9Q5ZB9M6V3X1Y2Z3A4B5","version":1,"no_downsample_time":1731290400,"reason":"manual","details":"keep raw"}`,
		},
	} {
		t.Run(tc.name, func(t *testing.T) {
			bkt := objstore.NewInMemBucket()
			require.ErrorIs(t, ReadMarker(ctx, bkt, id, tc.empty), ErrMarkerNotFound)

			require.NoError(t, WriteMarker(ctx, bkt, tc.marker))
			rc, err := bkt.Get(ctx, id.String()+"/"+tc.file)
			require.NoError(t, err)
			raw, err := io.ReadAll(rc)
			require.NoError(t, err)
			require.NoError(t, rc.Close())
			require.JSONEq(t, tc.json, string(raw))

			require.NoError(t, ReadMarker(ctx, bkt, id, tc.empty))
			require.Equal(t, tc.marker, tc.empty)

			// A marker written by another tool, in the same format, reads too.
			require.NoError(t, bkt.Upload(ctx, id.String()+"/"+tc.file, strings.NewReader(tc.json)))
			require.NoError(t, ReadMarker(ctx, bkt, id, tc.empty))
			require.Equal(t, tc.marker, tc.empty)
		})
	}
}

func TestReadMarkerInvalid(t *testing.T) {
	ctx := context.Background()
	id := ulid.MustParse("01JC0N9Q5ZB9M6V3X1Y2Z3A4B5")
	for _, tc := range []struct {
		name, json, wantErr string
	}{
		{"bad json", `{"id":`, "marker invalid"},
		{"version 2", `{"id":"01JC0N9Q5ZB9M6V3X1Y2Z3A4B5","version":2,"deletion_time":1}`, "version 2, want 1"},
		{"no version", `{"id":"01JC0N9Q5ZB9M6V3X1Y2Z3A4B5","deletion_time":1}`, "version 0, want 1"},
		{"other block", `{"id":"01JC0K3V2R6D8E9F0G1H2J3K4M","version":1,"deletion_time":1}`, "holds id 01JC0K3V2R6D8E9F0G1H2J3K4M"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			bkt := objstore.NewInMemBucket()
			require.NoError(t, bkt.Upload(ctx, MarkerPath(id, DeletionMarkFilename), strings.NewReader(tc.json)))
			err := ReadMarker(ctx, bkt, id, &DeletionMark{})
			require.ErrorIs(t, err, ErrMarkerInvalid)
			require.ErrorContains(t, err, tc.wantErr)
			require.NotErrorIs(t, err, ErrMarkerNotFound)
		})
	}
}

func TestWriteMarkerRejects(t *testing.T) {
	ctx := context.Background()
	bkt := objstore.NewInMemBucket()
	require.ErrorContains(t, WriteMarker(ctx, bkt, &DeletionMark{Version: 1}), "has no block id")
	require.ErrorContains(t, WriteMarker(ctx, bkt, &NoCompactMark{ID: ulid.MustParse("01JC0N9Q5ZB9M6V3X1Y2Z3A4B5")}), "has version 0, want 1")
	require.Empty(t, bkt.Objects())
}
