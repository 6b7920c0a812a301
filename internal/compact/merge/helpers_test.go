package merge

import (
	"cmp"
	"context"
	"fmt"
	"log/slog"
	"math"
	"os"
	"path/filepath"
	"slices"
	"testing"

	"github.com/oklog/ulid/v2"
	"github.com/prometheus/prometheus/model/histogram"
	"github.com/prometheus/prometheus/model/labels"
	"github.com/prometheus/prometheus/storage"
	"github.com/prometheus/prometheus/tsdb"
	"github.com/prometheus/prometheus/tsdb/chunkenc"
	"github.com/prometheus/prometheus/tsdb/chunks"
	"github.com/prometheus/prometheus/tsdb/index"
	"github.com/stretchr/testify/require"

	"github.com/strata-io/strata/internal/downsample"
	"github.com/strata-io/strata/internal/testkit"
	"github.com/strata-io/strata/pkg/metadata"
)

// smpl is a test sample (float, histogram or float histogram).
type smpl struct {
	t  int64
	f  float64
	h  *histogram.Histogram
	fh *histogram.FloatHistogram
}

func (s smpl) T() int64                      { return s.t }
func (s smpl) ST() int64                     { return 0 }
func (s smpl) F() float64                    { return s.f }
func (s smpl) H() *histogram.Histogram       { return s.h }
func (s smpl) FH() *histogram.FloatHistogram { return s.fh }
func (s smpl) Type() chunkenc.ValueType {
	switch {
	case s.h != nil:
		return chunkenc.ValHistogram
	case s.fh != nil:
		return chunkenc.ValFloatHistogram
	}
	return chunkenc.ValFloat
}

func (s smpl) Copy() chunks.Sample {
	c := s
	if s.h != nil {
		c.h = s.h.Copy()
	}
	if s.fh != nil {
		c.fh = s.fh.Copy()
	}
	return c
}

// String identifies the sample exactly (NaN bits included); counter reset
// hints of histograms are left out: they depend on chunk boundaries.
func (s smpl) String() string {
	switch {
	case s.h != nil:
		h := s.h.Copy()
		h.CounterResetHint = histogram.UnknownCounterReset
		return fmt.Sprintf("%d h%s", s.t, h.String())
	case s.fh != nil:
		fh := s.fh.Copy()
		fh.CounterResetHint = histogram.UnknownCounterReset
		return fmt.Sprintf("%d fh%s", s.t, fh.String())
	}
	return fmt.Sprintf("%d %x", s.t, math.Float64bits(s.f))
}

// testSeries is one series to write.
type testSeries struct {
	lset    labels.Labels
	samples []smpl
}

// floats returns float samples at from, from+step, ... before to (ms), with
// values f(t).
func floats(from, to, step int64, f func(t int64) float64) []smpl {
	var out []smpl
	for t := from; t < to; t += step {
		out = append(out, smpl{t: t, f: f(t)})
	}
	return out
}

// blockSpec describes a test block: its series, stream labels and level.
type blockSpec struct {
	series     []testSeries
	ext        map[string]string
	level      int
	resolution int64
}

// writeBlock writes a raw block with Prometheus' block writer (tsdb.CreateBlock)
// under parent, adds the thanos section and returns its directory and meta.
func writeBlock(t testing.TB, parent string, spec blockSpec) (string, *metadata.Meta) {
	t.Helper()
	ss := make([]storage.Series, 0, len(spec.series))
	for _, s := range spec.series {
		cs := make([]chunks.Sample, 0, len(s.samples))
		for _, x := range s.samples {
			cs = append(cs, x)
		}
		ss = append(ss, storage.NewListSeries(s.lset, cs))
	}
	dir, meta := testkit.CreateBlock(t, parent, 1<<40, ss...)
	if spec.level > 0 {
		meta.Compaction.Level = spec.level
	}
	finishMeta(t, dir, meta, spec)
	return dir, meta
}

func finishMeta(t testing.TB, dir string, meta *metadata.Meta, spec blockSpec) {
	t.Helper()
	meta.Thanos.Labels = spec.ext
	meta.Thanos.Source = metadata.SidecarSource
	meta.Thanos.Downsample.Resolution = spec.resolution
	var err error
	meta.Thanos.Files, err = metadata.BlockFiles(dir)
	require.NoError(t, err)
	meta.Thanos.SegmentFiles = metadata.SegmentFiles(meta.Thanos.Files)
	require.NoError(t, meta.WriteToDir(dir))
}

// chunkSeries is a series given as ready chunks (possibly aggregate or out of
// order), for writeChunkBlock.
type chunkSeries struct {
	lset labels.Labels
	chks []chunks.Meta
}

// writeChunkBlock writes a block from ready chunks with index.Writer and
// chunks.Writer, without any validation of the chunks' order: the way to make
// downsampled and broken blocks. mint/maxt are the block's range (ms, maxt
// exclusive).
func writeChunkBlock(t *testing.T, parent string, series []chunkSeries, mint, maxt int64, spec blockSpec) (string, *metadata.Meta) {
	t.Helper()
	id := ulid.Make()
	dir := filepath.Join(parent, id.String())
	require.NoError(t, os.MkdirAll(dir, 0o777))

	kit := make([]testkit.ChunkSeries, 0, len(series))
	for _, s := range series {
		kit = append(kit, testkit.ChunkSeries{Labels: s.lset, Chunks: s.chks})
	}
	stats := testkit.WriteChunks(t, dir, kit)

	level := max(spec.level, 1)
	meta := &metadata.Meta{BlockMeta: tsdb.BlockMeta{
		ULID: id, MinTime: mint, MaxTime: maxt, Version: metadata.TSDBVersion1, Stats: stats,
		Compaction: tsdb.BlockMetaCompaction{Level: level, Sources: []ulid.ULID{id}},
	}}
	finishMeta(t, dir, meta, spec)
	return dir, meta
}

// readBlock returns every sample of every series of the block in dir, keyed
// by the series' labels, and the raw chunks (bytes) per series.
func readBlock(t *testing.T, dir string) (map[string][]smpl, map[string][][]byte) {
	t.Helper()
	b, err := tsdb.OpenBlock(slog.New(slog.DiscardHandler), dir, downsample.NewPool(), nil)
	require.NoError(t, err)
	defer b.Close()
	ir, err := b.Index()
	require.NoError(t, err)
	defer ir.Close()
	cr, err := b.Chunks()
	require.NoError(t, err)
	defer cr.Close()

	samples := map[string][]smpl{}
	raw := map[string][][]byte{}
	k, v := index.AllPostingsKey()
	p, err := ir.Postings(context.Background(), k, v)
	require.NoError(t, err)
	var (
		sb   labels.ScratchBuilder
		chks []chunks.Meta
	)
	for p.Next() {
		require.NoError(t, ir.Series(p.At(), &sb, &chks))
		key := sb.Labels().String()
		for _, m := range chks {
			c, _, err := cr.ChunkOrIterable(m)
			require.NoError(t, err)
			raw[key] = append(raw[key], slices.Clone(c.Bytes()))
			if c.Encoding() == downsample.ChunkEncAggr {
				continue
			}
			samples[key] = append(samples[key], expand(t, c.Iterator(nil))...)
		}
	}
	require.NoError(t, p.Err())
	return samples, raw
}

// expand reads every sample of it.
func expand(t *testing.T, it chunkenc.Iterator) []smpl {
	t.Helper()
	var out []smpl
	for vt := it.Next(); vt != chunkenc.ValNone; vt = it.Next() {
		switch vt {
		case chunkenc.ValFloat:
			ts, f := it.At()
			out = append(out, smpl{t: ts, f: f})
		case chunkenc.ValHistogram:
			ts, h := it.AtHistogram(nil)
			out = append(out, smpl{t: ts, h: h})
		case chunkenc.ValFloatHistogram:
			ts, fh := it.AtFloatHistogram(nil)
			out = append(out, smpl{t: ts, fh: fh})
		}
	}
	require.NoError(t, it.Err())
	return out
}

// digest turns series samples into comparable strings.
func digest(m map[string][]smpl) map[string][]string {
	out := make(map[string][]string, len(m))
	for k, ss := range m {
		for _, s := range ss {
			out[k] = append(out[k], s.String())
		}
	}
	return out
}

// union merges sample lists per series: sorted by time, one sample per
// timestamp (inputs agree at equal timestamps in these tests).
func union(ms ...map[string][]smpl) map[string][]smpl {
	out := map[string][]smpl{}
	for _, m := range ms {
		for k, ss := range m {
			out[k] = append(out[k], ss...)
		}
	}
	for k, ss := range out {
		slices.SortStableFunc(ss, func(a, b smpl) int { return cmp.Compare(a.t, b.t) })
		out[k] = slices.CompactFunc(ss, func(a, b smpl) bool { return a.t == b.t })
	}
	return out
}
