package downsample

import (
	"context"
	"crypto/rand"
	"errors"
	"fmt"
	"log/slog"
	"maps"
	"os"
	"path/filepath"
	"slices"
	"time"

	"github.com/oklog/ulid/v2"
	"github.com/prometheus/prometheus/model/labels"
	"github.com/prometheus/prometheus/storage"
	"github.com/prometheus/prometheus/tsdb"
	"github.com/prometheus/prometheus/tsdb/chunkenc"
	"github.com/prometheus/prometheus/tsdb/chunks"
	"github.com/prometheus/prometheus/tsdb/index"

	"github.com/strata-io/strata/pkg/metadata"
)

// ErrUnreadableBlock is wrapped by the errors of BlockDownsampler.Downsample
// that come from the source block's data: a chunk that cannot be read or
// decoded, samples out of order, an aggregate chunk in a raw block. Retrying
// does not help; the caller should mark the block no-downsample (for instance
// with metadata.CorruptBlockReason) and go on with other blocks. Errors that
// do not wrap it (disk full, cancelled context) may succeed on a retry.
var ErrUnreadableBlock = errors.New("source block cannot be downsampled")

// progressEvery is the number of series between two progress log lines.
const progressEvery = 10000

// BlockDownsampler writes downsampled copies of local blocks: raw blocks at
// 5m resolution and 5m blocks at 1h (see doc.go, "Downsampling blocks").
// It holds no state between calls and is safe for concurrent use; each call
// reads one block and writes one new one.
type BlockDownsampler struct {
	logger *slog.Logger
}

// NewBlockDownsampler returns a BlockDownsampler logging to logger (nil: no
// logs).
func NewBlockDownsampler(logger *slog.Logger) *BlockDownsampler {
	if logger == nil {
		logger = slog.New(slog.DiscardHandler)
	}
	return &BlockDownsampler{logger: logger}
}

// Downsample writes under dstParent a block holding the series of the local
// block in srcDir (a directory with meta.json, index and chunks) downsampled
// to resolution ms: 300000 (5m) from a raw block, 3600000 (1h) from a 5m
// block; every other pair is refused with an error naming both resolutions.
//
// The new block's meta.json has a new ULID, the source's min and max time
// (ms, max exclusive), compaction level and sources, parents = [source],
// thanos labels and extensions copied, thanos.downsample.resolution =
// resolution, thanos.source "compactor", files and segment_files filled,
// and stats counting the series, chunks and samples written (a window of
// aggregates counts as one float sample). Series without a sample left (only
// stale markers) are left out; a source with no series gives a valid block
// with no series.
//
// The block is written to dstParent/<ULID>.tmp and renamed to
// dstParent/<ULID> once complete, so dstParent/<ULID> never holds a partial
// block; on error the temporary directory is removed. Series are streamed one
// at a time: memory holds one series' chunks, not the block's. srcDir is only
// read; tombstones in it are not applied (blocks from a bucket have none).
// The context is checked between series. Errors caused by the source's data
// wrap ErrUnreadableBlock.
func (d *BlockDownsampler) Downsample(ctx context.Context, srcDir, dstParent string, resolution int64) (_ *metadata.Meta, err error) {
	start := time.Now()
	src, err := metadata.ReadFromDir(srcDir)
	if err != nil {
		return nil, fmt.Errorf("downsample block in %s: %w", srcDir, err)
	}
	from := src.Thanos.Downsample.Resolution
	if err := checkResolutions(from, resolution); err != nil {
		return nil, fmt.Errorf("downsample block %s: %w", src.ULID, err)
	}

	id := ulid.MustNew(ulid.Now(), rand.Reader)
	final := filepath.Join(dstParent, id.String())
	tmp := final + ".tmp"
	if err := os.MkdirAll(tmp, 0o750); err != nil {
		return nil, fmt.Errorf("downsample block %s: create output directory: %w", src.ULID, err)
	}
	defer func() {
		if err != nil {
			err = errors.Join(err, os.RemoveAll(tmp))
		}
	}()

	w := &blockWriter{logger: d.logger, src: src, srcDir: srcDir, dir: tmp, from: from, to: resolution}
	if err := w.run(ctx); err != nil {
		return nil, fmt.Errorf("downsample block %s to resolution %dms: %w", src.ULID, resolution, err)
	}

	meta := newMeta(src, id, resolution, w.stats)
	files, err := metadata.BlockFiles(tmp)
	if err != nil {
		return nil, fmt.Errorf("downsample block %s: %w", src.ULID, err)
	}
	meta.Thanos.Files = files
	meta.Thanos.SegmentFiles = metadata.SegmentFiles(files)
	if err := meta.WriteToDir(tmp); err != nil {
		return nil, fmt.Errorf("downsample block %s: %w", src.ULID, err)
	}
	if err := os.Rename(tmp, final); err != nil {
		return nil, fmt.Errorf("downsample block %s: %w", src.ULID, err)
	}
	if err := syncDir(dstParent); err != nil {
		// The block is complete; only its durability after a crash is in doubt.
		d.logger.Warn("sync directory of downsampled block", "dir", dstParent, "err", err)
	}
	d.logger.Info("block downsampled", "block", src.ULID, "new_block", id,
		"from", metadata.ResolutionName(from), "to", metadata.ResolutionName(resolution),
		"series", meta.Stats.NumSeries, "chunks", meta.Stats.NumChunks,
		"histogram_series_raw", w.histSeries, "histogram_aggr_chunks_dropped", w.histAggrDropped,
		"empty_series_dropped", w.emptySeries, "duration", time.Since(start))
	if w.histAggrDropped > 0 {
		d.logger.Warn("native histogram aggregate chunks dropped: Strata cannot read this format (written by newer Thanos compactors) to downsample it further", "block", src.ULID, "chunks", w.histAggrDropped)
	}
	return meta, nil
}

// checkResolutions refuses every pair but raw->5m and 5m->1h.
func checkResolutions(from, to int64) error {
	switch {
	case from == ResolutionRaw && to == Resolution5m, from == Resolution5m && to == Resolution1h:
		return nil
	case from == Resolution1h:
		return fmt.Errorf("block has resolution %s (%dms), the coarsest there is; it cannot be downsampled further", metadata.ResolutionName(from), from)
	}
	want := Resolution5m
	if from == Resolution5m {
		want = Resolution1h
	}
	return fmt.Errorf("cannot downsample a block of resolution %s (%dms) to %s (%dms): only raw (0) -> 5m (%d) and 5m (%d) -> 1h (%d) are supported; ask for %dms",
		metadata.ResolutionName(from), from, metadata.ResolutionName(to), to, Resolution5m, Resolution5m, Resolution1h, want)
}

// newMeta returns the meta.json of the downsampled copy id of src.
func newMeta(src *metadata.Meta, id ulid.ULID, resolution int64, stats tsdb.BlockStats) *metadata.Meta {
	m := &metadata.Meta{BlockMeta: tsdb.BlockMeta{
		ULID:    id,
		MinTime: src.MinTime,
		MaxTime: src.MaxTime,
		Stats:   stats,
		Version: metadata.TSDBVersion1,
		Compaction: tsdb.BlockMetaCompaction{
			Level:   src.Compaction.Level,
			Sources: slices.Clone(src.Compaction.Sources),
			Parents: []tsdb.BlockDesc{{ULID: src.ULID, MinTime: src.MinTime, MaxTime: src.MaxTime}},
		},
	}}
	if len(m.Compaction.Sources) == 0 {
		// A block Prometheus wrote lists itself as its source; one that
		// lists nothing is its own source too.
		m.Compaction.Sources = []ulid.ULID{src.ULID}
	}
	m.Thanos = metadata.ThanosMeta{
		Version:    metadata.ThanosVersion1,
		Labels:     maps.Clone(src.Thanos.Labels),
		Downsample: metadata.ThanosDownsample{Resolution: resolution},
		Source:     metadata.CompactorSource,
		Extensions: src.Thanos.Extensions,
		Rewrites:   slices.Clone(src.Thanos.Rewrites),
	}
	if m.Thanos.Labels == nil {
		m.Thanos.Labels = map[string]string{}
	}
	return m
}

// syncDir fsyncs a directory so that a rename in it survives a crash.
func syncDir(dir string) error {
	f, err := os.Open(dir)
	if err != nil {
		return err
	}
	return errors.Join(f.Sync(), f.Close())
}

// blockWriter downsamples the series of one block into a new block
// directory. It is used once, by one goroutine.
type blockWriter struct {
	logger   *slog.Logger
	src      *metadata.Meta
	srcDir   string
	dir      string
	from, to int64 // resolutions, ms

	cr *chunks.Reader

	stats                                    tsdb.BlockStats
	histSeries, histAggrDropped, emptySeries int
}

// run reads every series of the source in index order and writes its
// downsampled chunks and index entry.
func (w *blockWriter) run(ctx context.Context) (err error) {
	ir, err := index.NewFileReader(filepath.Join(w.srcDir, metadata.IndexFilename), index.DecodePostingsRaw)
	if err != nil {
		return fmt.Errorf("open index: %w: %w", ErrUnreadableBlock, err)
	}
	defer func() { err = errors.Join(err, ir.Close()) }()
	w.cr, err = chunks.NewDirReader(filepath.Join(w.srcDir, metadata.ChunksDirname), NewPool())
	if err != nil {
		return fmt.Errorf("open chunks: %w: %w", ErrUnreadableBlock, err)
	}
	defer func() { err = errors.Join(err, w.cr.Close()) }()

	cw, err := chunks.NewWriter(filepath.Join(w.dir, metadata.ChunksDirname))
	if err != nil {
		return fmt.Errorf("create chunk writer: %w", err)
	}
	cwOpen := true
	defer func() {
		if cwOpen {
			err = errors.Join(err, cw.Close())
		}
	}()
	iw, err := index.NewWriter(ctx, filepath.Join(w.dir, metadata.IndexFilename))
	if err != nil {
		return fmt.Errorf("create index writer: %w", err)
	}
	iwOpen := true
	defer func() {
		if iwOpen {
			err = errors.Join(err, iw.Close())
		}
	}()

	// Every symbol of the source, sorted as the writer needs: a superset of
	// what the written series use, which the index format allows.
	syms := ir.Symbols()
	for syms.Next() {
		if err := iw.AddSymbol(syms.At()); err != nil {
			return fmt.Errorf("add symbol: %w", err)
		}
	}
	if err := syms.Err(); err != nil {
		return fmt.Errorf("read symbols: %w: %w", ErrUnreadableBlock, err)
	}

	name, value := index.AllPostingsKey()
	postings, err := ir.Postings(ctx, name, value)
	if err != nil {
		return fmt.Errorf("read postings: %w: %w", ErrUnreadableBlock, err)
	}
	var (
		builder labels.ScratchBuilder
		in      []chunks.Meta
		ref     storage.SeriesRef
		done    int
	)
	for postings.Next() {
		if err := ctx.Err(); err != nil {
			return err
		}
		if err := ir.Series(postings.At(), &builder, &in); err != nil {
			return fmt.Errorf("read series %d: %w: %w", postings.At(), ErrUnreadableBlock, err)
		}
		lset := builder.Labels()
		out, err := w.series(in)
		if err != nil {
			return fmt.Errorf("series %s: %w", lset, err)
		}
		done++
		if done%progressEvery == 0 {
			w.logger.Info("downsampling block", "block", w.src.ULID, "series_done", done, "series_total", w.src.Stats.NumSeries)
		}
		if len(out) == 0 {
			w.emptySeries++
			continue
		}
		if err := cw.WriteChunks(out...); err != nil {
			return fmt.Errorf("write chunks of series %s: %w", lset, err)
		}
		ref++
		if err := iw.AddSeries(ref, lset, out...); err != nil {
			return fmt.Errorf("add series %s to index: %w", lset, err)
		}
		w.count(out)
	}
	if err := postings.Err(); err != nil {
		return fmt.Errorf("iterate series: %w: %w", ErrUnreadableBlock, err)
	}
	cwOpen = false
	if err := cw.Close(); err != nil {
		return fmt.Errorf("close chunk writer: %w", err)
	}
	iwOpen = false
	if err := iw.Close(); err != nil {
		return fmt.Errorf("close index writer: %w", err)
	}
	return nil
}

// count adds the chunks of one written series to the stats.
func (w *blockWriter) count(out []chunks.Meta) {
	w.stats.NumSeries++
	w.stats.NumChunks += uint64(len(out))
	hist := false
	for _, c := range out {
		n := uint64(c.Chunk.NumSamples())
		w.stats.NumSamples += n
		if isHistogram(c.Chunk.Encoding()) {
			w.stats.NumHistogramSamples += n
			hist = true
		} else {
			w.stats.NumFloatSamples += n
		}
	}
	if hist {
		w.histSeries++
	}
}

// chunkKind classifies the chunks of a source series.
type chunkKind int

const (
	kindFloat     chunkKind = iota // raw float chunk (XOR, XOR2)
	kindHistogram                  // raw native histogram chunk: kept as is
	kindAggr                       // aggregate chunk with float sections
	kindHistAggr                   // aggregate chunk with histogram sections (newer Thanos): dropped
)

// series returns the downsampled chunks of one series given its source
// chunk metas (refs and times from the index). The returned metas have
// Chunk set and Ref zero; they alias the source's mmapped bytes for chunks
// kept as they are, so they must be written before the reader closes.
func (w *blockWriter) series(in []chunks.Meta) ([]chunks.Meta, error) {
	kinds := make([]chunkKind, 0, len(in))
	src := in[:0]
	for _, m := range in {
		c, _, err := w.cr.ChunkOrIterable(m)
		if err != nil {
			return nil, fmt.Errorf("read chunk %d [%d, %d]: %w: %w", m.Ref, m.MinTime, m.MaxTime, ErrUnreadableBlock, err)
		}
		if c == nil {
			return nil, fmt.Errorf("read chunk %d [%d, %d]: %w: no chunk data", m.Ref, m.MinTime, m.MaxTime, ErrUnreadableBlock)
		}
		k := kindOf(c)
		switch {
		case (k == kindAggr || k == kindHistAggr) && w.from == ResolutionRaw:
			return nil, fmt.Errorf("chunk %d [%d, %d]: %w: a raw block (resolution 0 in meta.json) holds an aggregate chunk; fix thanos.downsample.resolution of the block", m.Ref, m.MinTime, m.MaxTime, ErrUnreadableBlock)
		case k == kindHistAggr:
			w.histAggrDropped++
			continue
		case k == kindFloat && c.NumSamples() == 0:
			// Empty float chunks carry nothing; some writers leave them.
			continue
		}
		m.Chunk = c
		src = append(src, m)
		kinds = append(kinds, k)
	}

	// Runs of consecutive chunks that are aggregated together, and runs of
	// histogram chunks kept as they are.
	var out []chunks.Meta
	for i := 0; i < len(src); {
		hist := kinds[i] == kindHistogram
		j := i + 1
		for j < len(src) && (kinds[j] == kindHistogram) == hist {
			j++
		}
		run, runKinds := src[i:j], kinds[i:j]
		i = j
		if hist {
			for _, m := range run {
				out = append(out, chunks.Meta{MinTime: m.MinTime, MaxTime: m.MaxTime, Chunk: m.Chunk})
			}
			continue
		}
		var (
			metas []chunks.Meta
			err   error
		)
		if w.from == ResolutionRaw {
			metas, err = Downsample(rawFloatIterator(run), w.to)
		} else {
			metas, err = w.downsampleAggr(run, runKinds)
		}
		if err != nil {
			return nil, fmt.Errorf("%w: %w", ErrUnreadableBlock, err)
		}
		out = append(out, metas...)
	}
	return out, nil
}

// downsampleAggr downsamples a run of aggregate chunks, and of raw float
// chunks found among them (first aggregated at the source resolution), to
// the target resolution.
func (w *blockWriter) downsampleAggr(run []chunks.Meta, kinds []chunkKind) ([]chunks.Meta, error) {
	aggrs := make([]AggrChunk, 0, len(run))
	for i := 0; i < len(run); {
		if kinds[i] == kindAggr {
			aggrs = append(aggrs, *run[i].Chunk.(*AggrChunk))
			i++
			continue
		}
		j := i + 1
		for j < len(run) && kinds[j] == kindFloat {
			j++
		}
		metas, err := Downsample(rawFloatIterator(run[i:j]), w.from)
		if err != nil {
			return nil, fmt.Errorf("raw chunks in a %s block: %w", metadata.ResolutionName(w.from), err)
		}
		for _, m := range metas {
			aggrs = append(aggrs, *m.Chunk.(*AggrChunk))
		}
		i = j
	}
	return Aggr(aggrs, w.to)
}

// kindOf classifies a chunk read with NewPool.
func kindOf(c chunkenc.Chunk) chunkKind {
	switch e := c.Encoding(); {
	case e == ChunkEncAggr:
		ac := *c.(*AggrChunk)
		for _, t := range AllAggrTypes {
			if enc, _, err := ac.section(t); err == nil && isHistogram(enc) {
				return kindHistAggr
			}
		}
		return kindAggr
	case isHistogram(e):
		return kindHistogram
	}
	return kindFloat
}

// isHistogram reports whether e is a native histogram chunk encoding.
func isHistogram(e chunkenc.Encoding) bool {
	switch e {
	case chunkenc.EncHistogram, chunkenc.EncFloatHistogram, chunkenc.EncHistogramST, chunkenc.EncFloatHistogramST:
		return true
	}
	return false
}

// rawFloatIterator returns an iterator over the samples of raw float chunks
// in time order; overlapping chunks are merged and repeated timestamps yield
// one sample.
func rawFloatIterator(run []chunks.Meta) chunkenc.Iterator {
	if len(run) == 1 {
		return run[0].Chunk.Iterator(nil)
	}
	its := make([]chunkenc.Iterator, len(run))
	for i, m := range run {
		its[i] = m.Chunk.Iterator(nil)
	}
	return storage.ChainSampleIteratorFromIterators(nil, its)
}
