package merge

import (
	"context"
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/alecthomas/units"
	"github.com/oklog/ulid/v2"
	"github.com/prometheus/client_golang/prometheus"
	"github.com/prometheus/client_golang/prometheus/testutil"
	"github.com/prometheus/prometheus/model/labels"
	"github.com/prometheus/prometheus/tsdb"
	"github.com/prometheus/prometheus/tsdb/tsdbutil"
	"github.com/stretchr/testify/require"

	"github.com/strata-io/strata/pkg/metadata"
)

const (
	sec    = int64(1000)
	minute = 60 * sec
	hour   = 60 * minute
)

var stream = map[string]string{"cluster": "eu1"}

// asBlockError finds a *BlockError in err's chain.
func asBlockError(err error) (*BlockError, bool) {
	var be *BlockError
	ok := errors.As(err, &be)
	return be, ok
}

func newMerger(t *testing.T, cfg Config) *Merger {
	t.Helper()
	m, err := New(cfg, nil, nil)
	require.NoError(t, err)
	return m
}

func series(name string, i int) labels.Labels {
	return labels.FromStrings("__name__", name, "i", fmt.Sprint(i))
}

func gauge(i int) func(int64) float64 {
	return func(t int64) float64 { return float64(t)/1000 + float64(i) }
}

func TestMergeVerticalKeepsEverySample(t *testing.T) {
	src, dst := t.TempDir(), t.TempDir()
	var a, b []testSeries
	for i := range 10 {
		a = append(a, testSeries{series("up", i), floats(0, 2*hour, 15*sec, gauge(i))})
	}
	for i := range 5 { // same scrapes as a where they overlap: identical samples
		b = append(b, testSeries{series("up", i), floats(1*hour, 3*hour, 15*sec, gauge(i))})
	}
	for i := 5; i < 10; i++ { // other timestamps: every sample is distinct
		b = append(b, testSeries{series("up", i), floats(1*hour+7*sec, 3*hour, 15*sec, gauge(i))})
	}
	for i := 10; i < 13; i++ { // series only b has
		b = append(b, testSeries{series("up", i), floats(1*hour, 3*hour, 30*sec, gauge(i))})
	}
	dirA, _ := writeBlock(t, src, blockSpec{series: a, ext: stream})
	dirB, _ := writeBlock(t, src, blockSpec{series: b, ext: stream})
	inA, _ := readBlock(t, dirA)
	inB, _ := readBlock(t, dirB)
	want := union(inA, inB)

	meta, err := newMerger(t, Config{}).Merge(context.Background(), []string{dirA, dirB}, dst, labels.FromMap(stream), 0)
	require.NoError(t, err)
	got, _ := readBlock(t, filepath.Join(dst, meta.ULID.String()))
	require.Equal(t, digest(want), digest(got))

	var n int
	for _, ss := range want {
		n += len(ss)
	}
	require.Equal(t, uint64(n), meta.Stats.NumSamples)
	require.Equal(t, uint64(13), meta.Stats.NumSeries)
	// Every shared scrape of series 0-4 is kept once, not twice.
	require.Len(t, got[series("up", 0).String()], int(3*hour/(15*sec)))
}

func TestMergeNonOverlappingConcatenates(t *testing.T) {
	src, dst := t.TempDir(), t.TempDir()
	var a, b []testSeries
	for i := range 4 {
		a = append(a, testSeries{series("req_total", i), floats(0, 2*hour, 30*sec, gauge(i))})
		b = append(b, testSeries{series("req_total", i), floats(2*hour, 4*hour, 30*sec, gauge(i))})
	}
	dirA, metaA := writeBlock(t, src, blockSpec{series: a, ext: stream})
	dirB, metaB := writeBlock(t, src, blockSpec{series: b, ext: stream})
	inA, rawA := readBlock(t, dirA)
	inB, rawB := readBlock(t, dirB)

	meta, err := newMerger(t, Config{}).Merge(context.Background(), []string{dirA, dirB}, dst, labels.FromMap(stream), 0)
	require.NoError(t, err)
	got, raw := readBlock(t, filepath.Join(dst, meta.ULID.String()))
	require.Equal(t, digest(union(inA, inB)), digest(got))
	for k := range rawA {
		require.Equal(t, append(rawA[k], rawB[k]...), raw[k], "chunks of %s are copied, not re-encoded", k)
	}
	require.Equal(t, metaA.Stats.NumChunks+metaB.Stats.NumChunks, meta.Stats.NumChunks)
	require.Equal(t, metaA.MinTime, meta.MinTime)
	require.Equal(t, metaB.MaxTime, meta.MaxTime)
}

func TestMergeNativeHistograms(t *testing.T) {
	src, dst := t.TempDir(), t.TempDir()
	hist := func(from, to, step int64) []smpl {
		var out []smpl
		for ts := from; ts < to; ts += step {
			out = append(out, smpl{t: ts, h: tsdbutil.GenerateTestHistogram(ts / step)})
		}
		return out
	}
	fhist := func(from, to, step int64) []smpl {
		var out []smpl
		for ts := from; ts < to; ts += step {
			out = append(out, smpl{t: ts, fh: tsdbutil.GenerateTestFloatHistogram(ts / step)})
		}
		return out
	}
	a := []testSeries{
		{labels.FromStrings("__name__", "lat"), hist(0, 2*hour, 30*sec)},
		{labels.FromStrings("__name__", "lat_f"), fhist(0, 2*hour, 30*sec)},
	}
	b := []testSeries{
		{labels.FromStrings("__name__", "lat"), hist(1*hour, 3*hour, 30*sec)}, // identical where overlapping
		{labels.FromStrings("__name__", "lat_f"), fhist(90*minute, 3*hour, 30*sec)},
		{labels.FromStrings("__name__", "lat_new"), hist(1*hour, 2*hour, 60*sec)},
	}
	dirA, _ := writeBlock(t, src, blockSpec{series: a, ext: stream})
	dirB, _ := writeBlock(t, src, blockSpec{series: b, ext: stream})
	inA, _ := readBlock(t, dirA)
	inB, _ := readBlock(t, dirB)

	meta, err := newMerger(t, Config{}).Merge(context.Background(), []string{dirA, dirB}, dst, labels.FromMap(stream), 0)
	require.NoError(t, err)
	got, _ := readBlock(t, filepath.Join(dst, meta.ULID.String()))
	require.Equal(t, digest(union(inA, inB)), digest(got))
	require.Equal(t, meta.Stats.NumSamples, meta.Stats.NumHistogramSamples)
	require.NotZero(t, meta.Stats.NumHistogramSamples)
}

func TestMergeMeta(t *testing.T) {
	src, dst := t.TempDir(), t.TempDir()
	one := []testSeries{{series("up", 1), floats(0, 2*hour, 15*sec, gauge(1))}}
	two := []testSeries{{series("up", 1), floats(2*hour, 4*hour, 15*sec, gauge(1))}}
	dirA, metaA := writeBlock(t, src, blockSpec{series: one, ext: map[string]string{"cluster": "eu1", "replica": "a"}})
	dirB, metaB := writeBlock(t, src, blockSpec{series: two, ext: map[string]string{"cluster": "eu1", "replica": "a"}, level: 2})
	// B is itself a compaction of two blocks.
	older := ulid.MustNew(1, nil)
	metaB.Compaction.Sources = []ulid.ULID{older, metaB.ULID}
	require.NoError(t, metaB.WriteToDir(dirB))
	before := map[string][]byte{}
	for _, d := range []string{dirA, dirB} {
		b, err := os.ReadFile(filepath.Join(d, metadata.MetaFilename))
		require.NoError(t, err)
		before[d] = b
	}

	ext := labels.FromStrings("cluster", "eu1")
	meta, err := newMerger(t, Config{}).Merge(context.Background(), []string{dirA, dirB}, dst, ext, 0)
	require.NoError(t, err)
	dir := filepath.Join(dst, meta.ULID.String())
	onDisk, err := metadata.ReadFromDir(dir)
	require.NoError(t, err)
	require.Equal(t, meta, onDisk, "the returned meta is the meta.json on disk")

	require.Equal(t, 3, meta.Compaction.Level, "level is max(source levels)+1")
	require.ElementsMatch(t, []ulid.ULID{metaA.ULID, metaB.ULID, older}, meta.Compaction.Sources)
	require.Equal(t, []tsdb.BlockDesc{
		{ULID: metaA.ULID, MinTime: metaA.MinTime, MaxTime: metaA.MaxTime},
		{ULID: metaB.ULID, MinTime: metaB.MinTime, MaxTime: metaB.MaxTime},
	}, meta.Compaction.Parents)
	require.Equal(t, metaA.MinTime, meta.MinTime)
	require.Equal(t, metaB.MaxTime, meta.MaxTime)
	require.Equal(t, map[string]string{"cluster": "eu1"}, meta.Thanos.Labels)
	require.Equal(t, metadata.CompactorSource, meta.Thanos.Source)
	require.Equal(t, int64(0), meta.Thanos.Downsample.Resolution)
	require.Equal(t, []string{"000001"}, meta.Thanos.SegmentFiles)

	var names []string
	for _, f := range meta.Thanos.Files {
		names = append(names, f.RelPath)
		if f.RelPath == metadata.MetaFilename {
			require.Zero(t, f.SizeBytes)
			continue
		}
		fi, err := os.Stat(filepath.Join(dir, filepath.FromSlash(f.RelPath)))
		require.NoError(t, err)
		require.Equal(t, fi.Size(), f.SizeBytes, f.RelPath)
	}
	require.Equal(t, []string{"chunks/000001", "index", "meta.json"}, names)

	for d, b := range before {
		after, err := os.ReadFile(filepath.Join(d, metadata.MetaFilename))
		require.NoError(t, err)
		require.Equal(t, string(b), string(after), "source meta.json is left as it was")
	}
}

func TestMergeEmptyWritesNoBlock(t *testing.T) {
	src, dst := t.TempDir(), t.TempDir()
	// Series without chunks (all deleted): nothing to write.
	empty := []chunkSeries{{lset: series("up", 1)}}
	dirA, metaA := writeChunkBlock(t, src, empty, 0, 2*hour, blockSpec{ext: stream})
	dirB, metaB := writeChunkBlock(t, src, empty, 2*hour, 4*hour, blockSpec{ext: stream})

	meta, err := newMerger(t, Config{}).Merge(context.Background(), []string{dirA, dirB}, dst, labels.FromMap(stream), 0)
	require.NoError(t, err)
	require.Zero(t, meta.Stats.NumSamples)
	require.Equal(t, metaA.MinTime, meta.MinTime)
	require.Equal(t, metaB.MaxTime, meta.MaxTime)
	require.Equal(t, 2, meta.Compaction.Level)
	entries, err := os.ReadDir(dst)
	require.NoError(t, err)
	require.Empty(t, entries, "no block directory for an empty result")
	for _, d := range []string{dirA, dirB} {
		m, err := metadata.ReadFromDir(d)
		require.NoError(t, err)
		require.Equal(t, stream, m.Thanos.Labels, "the compactor's deletable mark must not drop the thanos section")
	}
}

func TestMergeIndexSizeLimit(t *testing.T) {
	src := t.TempDir()
	var small, large []testSeries
	for i := range 3 {
		small = append(small, testSeries{series("up", i), floats(0, hour, 15*sec, gauge(i))})
	}
	for i := range 50 {
		large = append(large, testSeries{series("up", i), floats(hour, 2*hour, 15*sec, gauge(i))})
	}
	dirS, _ := writeBlock(t, src, blockSpec{series: small, ext: stream})
	dirL, metaL := writeBlock(t, src, blockSpec{series: large, ext: stream})
	size := func(d string) int64 {
		fi, err := os.Stat(filepath.Join(d, metadata.IndexFilename))
		require.NoError(t, err)
		return fi.Size()
	}
	total := size(dirS) + size(dirL)

	for _, tc := range []struct {
		name  string
		limit int64
		fail  bool
	}{
		{"no limit", 0, false},
		{"at the limit", total, false},
		{"over the limit", total - 1, true},
	} {
		t.Run(tc.name, func(t *testing.T) {
			dst := t.TempDir()
			_, err := newMerger(t, Config{IndexSizeLimit: units.Base2Bytes(tc.limit)}).Merge(context.Background(), []string{dirS, dirL}, dst, labels.FromMap(stream), 0)
			if !tc.fail {
				require.NoError(t, err)
				return
			}
			be, ok := asBlockError(err)
			require.True(t, ok, "error %v is a BlockError", err)
			require.Equal(t, metadata.IndexSizeExceedingReason, be.NoCompactReason())
			require.Equal(t, metaL.ULID, be.Block(), "the largest input is blamed")
			require.Contains(t, err.Error(), "over the limit")
			entries, err := os.ReadDir(dst)
			require.NoError(t, err)
			require.Empty(t, entries)
		})
	}
}

func TestMergeMetrics(t *testing.T) {
	src, dst := t.TempDir(), t.TempDir()
	a := []testSeries{{series("up", 1), floats(0, hour, 15*sec, gauge(1))}, {series("up", 2), floats(0, hour, 15*sec, gauge(2))}}
	dirA, _ := writeBlock(t, src, blockSpec{series: a, ext: stream})
	reg := prometheus.NewPedanticRegistry()
	m, err := New(Config{}, nil, reg)
	require.NoError(t, err)
	_, err = m.Merge(context.Background(), []string{dirA}, dst, labels.FromMap(stream), 0)
	require.NoError(t, err)
	require.NoError(t, testutil.GatherAndCompare(reg, strings.NewReader(`
# HELP strata_compact_merge_samples_total Samples written into merged blocks.
# TYPE strata_compact_merge_samples_total counter
strata_compact_merge_samples_total 480
# HELP strata_compact_merge_series_total Series written into merged blocks.
# TYPE strata_compact_merge_series_total counter
strata_compact_merge_series_total 2
`), "strata_compact_merge_samples_total", "strata_compact_merge_series_total"))
	require.Equal(t, 1, testutil.CollectAndCount(reg, "strata_compact_merge_duration_seconds"))
}

func TestMergeRefusesMixedResolutions(t *testing.T) {
	src, dst := t.TempDir(), t.TempDir()
	dirA, _ := writeBlock(t, src, blockSpec{series: []testSeries{{series("up", 1), floats(0, hour, 15*sec, gauge(1))}}, ext: stream})
	_, err := newMerger(t, Config{}).Merge(context.Background(), []string{dirA}, dst, labels.FromMap(stream), metadata.Resolution5m)
	require.ErrorContains(t, err, "resolution 0 ms, want 300000 ms")
	_, ok := asBlockError(err)
	require.False(t, ok, "a caller's mistake is not the block's fault")
}

func TestMergeCanceled(t *testing.T) {
	src, dst := t.TempDir(), t.TempDir()
	dirA, _ := writeBlock(t, src, blockSpec{series: []testSeries{{series("up", 1), floats(0, hour, 15*sec, gauge(1))}}, ext: stream})
	ctx, cancel := context.WithCancel(context.Background())
	cancel()
	_, err := newMerger(t, Config{}).Merge(ctx, []string{dirA}, dst, labels.FromMap(stream), 0)
	require.ErrorIs(t, err, context.Canceled)
	entries, err := os.ReadDir(dst)
	require.NoError(t, err)
	require.Empty(t, entries, "a canceled merge leaves nothing behind")
}

func TestParseMode(t *testing.T) {
	for _, tc := range []struct {
		in   string
		want Mode
	}{{"", Vertical}, {"vertical", Vertical}, {"penalty", DedupPenalty}, {"exact", DedupExact}} {
		got, err := ParseMode(tc.in)
		require.NoError(t, err)
		require.Equal(t, tc.want, got)
		if tc.in != "" {
			require.Equal(t, tc.in, got.String())
		}
	}
	_, err := ParseMode("chain")
	require.ErrorContains(t, err, "use penalty or exact")
	_, err = New(Config{IndexSizeLimit: -1}, nil, nil)
	require.Error(t, err)
}
