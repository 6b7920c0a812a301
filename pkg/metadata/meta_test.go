package metadata

import (
	"bytes"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/oklog/ulid/v2"
	"github.com/prometheus/prometheus/tsdb"
	"github.com/stretchr/testify/require"
)

// goldenMeta is the Meta that testdata/meta.json holds.
func goldenMeta() *Meta {
	src1 := ulid.MustParse("01JC0K3V2R6D8E9F0G1H2J3K4M")
	src2 := ulid.MustParse("01JC0MBXA7P5Q6R7S8T9V0W1X2")
	return &Meta{
		BlockMeta: tsdb.BlockMeta{
			ULID:    ulid.MustParse("01JC0N9Q5ZB9M6V3X1Y2Z3A4B5"),
			MinTime: 1731283200000,
			MaxTime: 1731290400000,
			Stats: tsdb.BlockStats{
				NumSamples: 1440000, NumFloatSamples: 1400000, NumHistogramSamples: 40000,
				NumSeries: 12000, NumChunks: 12400,
			},
			Compaction: tsdb.BlockMetaCompaction{
				Level:   2,
				Sources: []ulid.ULID{src1, src2},
				Parents: []tsdb.BlockDesc{
					{ULID: src1, MinTime: 1731283200000, MaxTime: 1731286800000},
					{ULID: src2, MinTime: 1731286800000, MaxTime: 1731290400000},
				},
			},
			Version: 1,
		},
		Thanos: ThanosMeta{
			Version:      1,
			Labels:       map[string]string{"cluster": "eu-1", "replica": "a"},
			Downsample:   ThanosDownsample{Resolution: ResolutionRaw},
			Source:       SidecarSource,
			SegmentFiles: []string{"000001", "000002"},
			Files: []File{
				{RelPath: "chunks/000001", SizeBytes: 536870888},
				{RelPath: "chunks/000002", SizeBytes: 10485760},
				{RelPath: "index", SizeBytes: 4194304, Hash: &ObjectHash{Func: SHA256Func, Value: "9f86d081884c7d659a2feaa0c55ad015a3bf4f1b2b0b822cd15d6c15b0f00a08"}},
				{RelPath: "meta.json"},
			},
			IndexStats: IndexStats{SeriesMaxSize: 2048, ChunkMaxSize: 1024},
			UploadTime: time.Date(2024, 11, 11, 2, 5, 0, 0, time.UTC),
			Extensions: map[string]any{"tenant": "team-a"},
		},
	}
}

func TestMetaGoldenRoundTrip(t *testing.T) {
	golden, err := os.ReadFile("testdata/meta.json")
	require.NoError(t, err)

	t.Run("read", func(t *testing.T) {
		m, err := Read(bytes.NewReader(golden))
		require.NoError(t, err)
		require.Equal(t, goldenMeta(), m)
	})
	t.Run("write", func(t *testing.T) {
		b, err := goldenMeta().Marshal()
		require.NoError(t, err)
		require.Equal(t, string(golden), string(b))
	})
	t.Run("dir", func(t *testing.T) {
		dir := t.TempDir()
		require.NoError(t, goldenMeta().WriteToDir(dir))
		b, err := os.ReadFile(filepath.Join(dir, MetaFilename))
		require.NoError(t, err)
		require.Equal(t, string(golden), string(b))
		m, err := ReadFromDir(dir)
		require.NoError(t, err)
		require.Equal(t, goldenMeta(), m)
		entries, err := os.ReadDir(dir)
		require.NoError(t, err)
		require.Len(t, entries, 1, "no temporary file left behind")
	})
}

// A meta.json written by Prometheus has no thanos section: it must read,
// and gain a thanos section of version 1.
func TestReadPrometheusMeta(t *testing.T) {
	f, err := os.Open("testdata/prometheus-meta.json")
	require.NoError(t, err)
	defer f.Close()
	m, err := Read(f)
	require.NoError(t, err)
	require.Equal(t, 1, m.Compaction.Level)
	require.Equal(t, uint64(120), m.Stats.NumSamples)
	require.Equal(t, ThanosVersion1, m.Thanos.Version)
	require.Empty(t, m.Thanos.Labels)
	require.Equal(t, ResolutionRaw, m.Thanos.Downsample.Resolution)
}

func TestReadUnknownFieldsIgnored(t *testing.T) {
	in := `{"ulid":"01JC0N9Q5ZB9M6V3X1Y2Z3A4B5","minTime":0,"maxTime":10,"version":1,"future":true,
		"thanos":{"labels":{"a":"b"},"downsample":{"resolution":300000},"source":"receive","new_key":[1]}}`
	m, err := Read(strings.NewReader(in))
	require.NoError(t, err)
	require.Equal(t, Resolution5m, m.Thanos.Downsample.Resolution)
	require.Equal(t, ReceiveSource, m.Thanos.Source)
	require.Equal(t, map[string]string{"a": "b"}, m.Thanos.Labels)
}

func TestReadInvalid(t *testing.T) {
	for _, tc := range []struct {
		name, in, wantErr string
	}{
		{"not json", `{"ulid":`, "decode meta.json"},
		{"bad ulid", `{"ulid":"nope","minTime":0,"maxTime":1,"version":1}`, "decode meta.json"},
		{"no ulid", `{"minTime":0,"maxTime":1,"version":1}`, "has no ulid"},
		{"version 2", `{"ulid":"01JC0N9Q5ZB9M6V3X1Y2Z3A4B5","minTime":0,"maxTime":1,"version":2}`, "version 2, want 1"},
		{"no version", `{"ulid":"01JC0N9Q5ZB9M6V3X1Y2Z3A4B5","minTime":0,"maxTime":1}`, "version 0, want 1"},
		{"empty range", `{"ulid":"01JC0N9Q5ZB9M6V3X1Y2Z3A4B5","minTime":5,"maxTime":5,"version":1}`, "minTime 5 is not before maxTime 5"},
		{"inverted range", `{"ulid":"01JC0N9Q5ZB9M6V3X1Y2Z3A4B5","minTime":9,"maxTime":5,"version":1}`, "minTime 9 is not before maxTime 5"},
		{"thanos version", `{"ulid":"01JC0N9Q5ZB9M6V3X1Y2Z3A4B5","minTime":0,"maxTime":1,"version":1,"thanos":{"version":3}}`, "thanos.version is 3, want 1"},
		{"resolution", `{"ulid":"01JC0N9Q5ZB9M6V3X1Y2Z3A4B5","minTime":0,"maxTime":1,"version":1,"thanos":{"downsample":{"resolution":60000}}}`, "resolution 60000 ms is not 0, 300000 or 3600000"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			_, err := Read(strings.NewReader(tc.in))
			require.ErrorContains(t, err, tc.wantErr)
			require.ErrorIs(t, err, ErrMetaCorrupt, "told apart from a failed read")
		})
	}
}

func TestReadFromDirMissing(t *testing.T) {
	_, err := ReadFromDir(t.TempDir())
	require.ErrorIs(t, err, ErrMetaNotFound)
}

func TestWriteToDirReplaces(t *testing.T) {
	dir := t.TempDir()
	m := goldenMeta()
	require.NoError(t, m.WriteToDir(dir))
	m.Thanos.Source = CompactorSource
	m.Compaction.Level = 3
	require.NoError(t, m.WriteToDir(dir))
	got, err := ReadFromDir(dir)
	require.NoError(t, err)
	require.Equal(t, CompactorSource, got.Thanos.Source)
	require.Equal(t, 3, got.Compaction.Level)
}

// Thanos' record of rewrites is not in the spec but must survive a read and
// a write.
func TestRewritesPreserved(t *testing.T) {
	in := `{"ulid":"01JC0N9Q5ZB9M6V3X1Y2Z3A4B5","minTime":0,"maxTime":10,"version":1,
		"thanos":{"labels":{"a":"b"},"downsample":{"resolution":0},"source":"bucket.rewrite",
		"rewrites":[{"sources":["01JC0K3V2R6D8E9F0G1H2J3K4M"],"deletions_applied":[{"matchers":"{a=\"b\"}"}]}]}}`
	m, err := Read(strings.NewReader(in))
	require.NoError(t, err)
	b, err := m.Marshal()
	require.NoError(t, err)
	require.Contains(t, string(b), `"rewrites": [`)
	again, err := Read(bytes.NewReader(b))
	require.NoError(t, err)
	require.JSONEq(t, `[{"sources":["01JC0K3V2R6D8E9F0G1H2J3K4M"],"deletions_applied":[{"matchers":"{a=\"b\"}"}]}]`, string(again.Thanos.Rewrites))
}
