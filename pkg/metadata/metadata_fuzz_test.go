package metadata

import (
	"bytes"
	"context"
	"errors"
	"os"
	"path/filepath"
	"testing"

	"github.com/oklog/ulid/v2"
	"github.com/stretchr/testify/require"
	"github.com/thanos-io/objstore"
)

// FuzzRead reads arbitrary bytes as a meta.json: no panic, and a meta that
// Read accepts is valid and survives Marshal and Read unchanged (a second
// Marshal gives the same bytes), so a tool that rewrites a meta.json it can
// read never loses or corrupts it.
func FuzzRead(f *testing.F) {
	for _, name := range []string{"meta.json", "prometheus-meta.json"} {
		b, err := os.ReadFile(filepath.Join("testdata", name))
		require.NoError(f, err)
		f.Add(b)
	}
	// A 5m block written by the compactor, with the Thanos rewrite record
	// and extensions of other tools.
	f.Add([]byte(`{"ulid":"01JC0P2W4X6Y8Z0A2B4C6D8E0F","minTime":1731283200000,"maxTime":1731456000000,` +
		`"stats":{"numSamples":5760,"numSeries":4,"numChunks":8},"compaction":{"level":3,"sources":["01JC0N9Q5ZB9M6V3X1Y2Z3A4B5"],` +
		`"hints":["from-out-of-order"]},"version":1,"thanos":{"labels":{"cluster":"eu-1"},"downsample":{"resolution":300000},` +
		`"source":"compactor","rewrites":[{"sources":["01JC0N9Q5ZB9M6V3X1Y2Z3A4B5"],"deletionsApplied":[{"matchers":"{job=\"a\"}"}]}],` +
		`"extensions":{"n":1.5,"l":[true,null,"x"]},"upload_time":"2024-11-13T02:05:00.123456789+02:00"}}`))
	f.Add([]byte(`{"ulid":"01JC0N9Q5ZB9M6V3X1Y2Z3A4B5","minTime":0,"maxTime":1,"version":1,"thanos":{"version":2}}`))
	f.Add([]byte(`{"ulid":"01JC0N9Q5ZB9M6V3X1Y2Z3A4B5","minTime":5,"maxTime":5,"version":1}`))
	f.Add([]byte(`{"ulid":"not-a-ulid","version":1}`))
	f.Add([]byte(`{"version":1,"thanos":{"labels":{"a":"b"},"downsample":{"resolution":-1}}}`))

	f.Fuzz(func(t *testing.T, data []byte) {
		m, err := Read(bytes.NewReader(data))
		if err != nil {
			require.Nil(t, m)
			return
		}
		require.NoError(t, m.Validate(), "Read returned an invalid meta")
		require.Equal(t, ThanosVersion1, m.Thanos.Version, "Read leaves thanos.version unset")
		ls := m.Thanos.LabelSet()
		require.Equal(t, len(m.Thanos.Labels), ls.Len(), "labels lost by LabelSet")

		b, err := m.Marshal()
		require.NoError(t, err, "a meta.json that reads does not write back")
		m2, err := Read(bytes.NewReader(b))
		require.NoError(t, err, "a written meta.json does not read back:\n%s", b)
		require.Equal(t, m.BlockMeta, m2.BlockMeta)
		require.Equal(t, m.Thanos.Labels, m2.Thanos.Labels)
		require.Equal(t, m.Thanos.Downsample, m2.Thanos.Downsample)
		require.Equal(t, m.Thanos.Files, m2.Thanos.Files)
		require.True(t, m.Thanos.UploadTime.Equal(m2.Thanos.UploadTime), "upload time %s read back as %s", m.Thanos.UploadTime, m2.Thanos.UploadTime)
		b2, err := m2.Marshal()
		require.NoError(t, err)
		require.Equal(t, string(b), string(b2), "meta.json changes each time it is rewritten")
	})
}

// FuzzReadMarker reads arbitrary bytes as each marker of a block through
// ReadMarker: no panic, every failure is ErrMarkerInvalid, and a marker that
// reads is written back by WriteMarker and reads back equal.
func FuzzReadMarker(f *testing.F) {
	f.Add([]byte(`{"id":"01JC0N9Q5ZB9M6V3X1Y2Z3A4B5","version":1,"deletion_time":1731290400,"details":"retention"}`))
	f.Add([]byte(`{"id":"01JC0N9Q5ZB9M6V3X1Y2Z3A4B5","version":1,"no_compact_time":1731290400,"reason":"index-size-exceeding"}`))
	f.Add([]byte("{\n\t\"id\": \"01JC0N9Q5ZB9M6V3X1Y2Z3A4B5\",\n\t\"version\": 1,\n\t\"no_downsample_time\": 1731290400,\n\t\"reason\": \"manual\",\n\t\"details\": \"keep raw\"\n}"))
	f.Add([]byte(`{"id":"01JC0N9Q5ZB9M6V3X1Y2Z3A4B5","version":2,"deletion_time":1731290400}`))
	f.Add([]byte(`{"id":"01JC0K3V2R6D8E9F0G1H2J3K4M","version":1}`))
	f.Add([]byte(`{"id":"01JC0N9Q5ZB9M6V3X1Y2Z3A4B5","version":1,"deletion_time":"yesterday"}`))

	id := ulid.MustParse("01JC0N9Q5ZB9M6V3X1Y2Z3A4B5")
	f.Fuzz(func(t *testing.T, data []byte) {
		ctx := context.Background()
		bkt := objstore.NewInMemBucket()
		for _, empty := range []func() Marker{
			func() Marker { return &DeletionMark{} },
			func() Marker { return &NoCompactMark{} },
			func() Marker { return &NoDownsampleMark{} },
		} {
			m := empty()
			require.NoError(t, bkt.Upload(ctx, MarkerPath(id, m.Filename()), bytes.NewReader(data)))
			if err := ReadMarker(ctx, bkt, id, m); err != nil {
				require.True(t, errors.Is(err, ErrMarkerInvalid), "%s: error %v is not ErrMarkerInvalid", m.Filename(), err)
				continue
			}
			require.Equal(t, id, m.BlockID())
			require.Equal(t, MarkerVersion1, m.MarkerVersion())
			require.NoError(t, WriteMarker(ctx, bkt, m), "%s that reads does not write back", m.Filename())
			m2 := empty()
			require.NoError(t, ReadMarker(ctx, bkt, id, m2))
			require.Equal(t, m, m2)
		}
	})
}
