package testkit

import (
	"cmp"
	"context"
	"fmt"
	"log/slog"
	"path/filepath"
	"slices"
	"sort"
	"strings"
	"testing"

	"github.com/oklog/ulid/v2"
	"github.com/prometheus/prometheus/model/labels"
	"github.com/prometheus/prometheus/storage"
	"github.com/prometheus/prometheus/tsdb"
	"github.com/prometheus/prometheus/tsdb/chunks"
	"github.com/prometheus/prometheus/tsdb/index"
	"github.com/thanos-io/objstore"

	"github.com/strata-io/strata/pkg/metadata"
)

// CreateBlock writes series into a new block under parent with Prometheus'
// block writer (tsdb.CreateBlock; chunkRange as there, 0 for its default)
// and returns the block's directory and its meta.json (no thanos section).
func CreateBlock(t testing.TB, parent string, chunkRange int64, series ...storage.Series) (string, *metadata.Meta) {
	t.Helper()
	dir, err := tsdb.CreateBlock(series, parent, chunkRange, slog.New(slog.DiscardHandler))
	if err != nil {
		t.Fatalf("create block: %v", err)
	}
	meta, err := metadata.ReadFromDir(dir)
	if err != nil {
		t.Fatalf("read meta of the new block: %v", err)
	}
	return dir, meta
}

// ChunkSeries is a series given as ready chunks, for WriteChunks.
type ChunkSeries struct {
	Labels labels.Labels
	Chunks []chunks.Meta
}

// WriteChunks writes the chunks/ folder and the index of a block into dir
// from ready chunks, with Prometheus' chunks and index writers and without
// any check of the chunks' order or encoding: the way to write downsampled
// (aggregate), out-of-order and broken blocks. It sorts series by labels in
// place and returns the block's stats; meta.json is the caller's.
func WriteChunks(t testing.TB, dir string, series []ChunkSeries) tsdb.BlockStats {
	t.Helper()
	check := func(what string, err error) {
		t.Helper()
		if err != nil {
			t.Fatalf("%s: %v", what, err)
		}
	}
	cw, err := chunks.NewWriter(filepath.Join(dir, metadata.ChunksDirname))
	check("chunks writer", err)
	sort.Slice(series, func(i, j int) bool { return labels.Compare(series[i].Labels, series[j].Labels) < 0 })
	var (
		syms  []string
		stats tsdb.BlockStats
	)
	for _, s := range series {
		if len(s.Chunks) > 0 {
			check("write chunks", cw.WriteChunks(s.Chunks...))
		}
		s.Labels.Range(func(l labels.Label) { syms = append(syms, l.Name, l.Value) })
		stats.NumSeries++
		stats.NumChunks += uint64(len(s.Chunks))
		for _, c := range s.Chunks {
			stats.NumSamples += uint64(c.Chunk.NumSamples())
		}
	}
	check("close chunks writer", cw.Close())

	iw, err := index.NewWriter(context.Background(), filepath.Join(dir, metadata.IndexFilename))
	check("index writer", err)
	slices.Sort(syms)
	for _, s := range slices.Compact(syms) {
		check("add symbol", iw.AddSymbol(s))
	}
	for i, s := range series {
		check("add series", iw.AddSeries(storage.SeriesRef(i), s.Labels, s.Chunks...))
	}
	check("close index writer", iw.Close())
	return stats
}

// BucketMetas reads the meta.json of every block of bkt, in time order;
// any other top-level object fails t.
func BucketMetas(t testing.TB, bkt objstore.BucketReader) []*metadata.Meta {
	t.Helper()
	ctx := context.Background()
	var out []*metadata.Meta
	if err := bkt.Iter(ctx, "", func(name string) error {
		id, err := ulid.ParseStrict(strings.TrimSuffix(name, "/"))
		if err != nil {
			return fmt.Errorf("unexpected top-level object %q", name)
		}
		m, err := metadata.ReadFromBucket(ctx, bkt, id)
		if err != nil {
			return err
		}
		out = append(out, m)
		return nil
	}); err != nil {
		t.Fatalf("read the metas of the bucket: %v", err)
	}
	slices.SortFunc(out, func(a, b *metadata.Meta) int { return cmp.Compare(a.MinTime, b.MinTime) })
	return out
}
