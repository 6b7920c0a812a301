package merge

import (
	"bytes"
	"cmp"
	"context"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"math"
	"slices"
	"strings"

	"github.com/oklog/ulid/v2"
	"github.com/prometheus/common/model"
	"github.com/prometheus/prometheus/model/histogram"
	"github.com/prometheus/prometheus/model/labels"
	"github.com/prometheus/prometheus/storage"
	"github.com/prometheus/prometheus/tsdb"
	"github.com/prometheus/prometheus/tsdb/chunkenc"
	"github.com/prometheus/prometheus/tsdb/chunks"
	"github.com/prometheus/prometheus/tsdb/index"

	"github.com/strata-io/strata/internal/dedup"
	"github.com/strata-io/strata/pkg/metadata"
)

// populator is the tsdb.BlockPopulator of a merge: it merges the series of
// the source blocks according to the mode and resolution and writes them.
// It is used for one compaction only.
type populator struct {
	mode       Mode
	resolution int64
	// replicas maps each source block to its replica number (DedupPenalty).
	replicas map[ulid.ULID]int
}

var _ tsdb.BlockPopulator = (*populator)(nil)

// PopulateBlock implements tsdb.BlockPopulator: it writes into indexw and
// chunkw the union of blocks' series in [meta.MinTime, meta.MaxTime) and
// fills meta.Stats. The compactor's merge function is not used.
func (p *populator) PopulateBlock(ctx context.Context, metrics *tsdb.CompactorMetrics, logger *slog.Logger,
	chunkPool chunkenc.Pool, _ storage.VerticalChunkSeriesMergeFunc, blocks []tsdb.BlockReader, meta *tsdb.BlockMeta,
	indexw tsdb.IndexWriter, chunkw tsdb.ChunkWriter, postingsFunc tsdb.IndexReaderPostingsFunc,
) (err error) {
	if len(blocks) == 0 {
		return errors.New("no blocks to merge")
	}
	var closers []io.Closer
	defer func() {
		for _, c := range closers {
			if cerr := c.Close(); cerr != nil {
				err = errors.Join(err, fmt.Errorf("close block reader: %w", cerr))
			}
		}
		metrics.PopulatingBlocks.Set(0)
	}()
	metrics.PopulatingBlocks.Set(1)

	var (
		sets    = make([]storage.ChunkSeriesSet, 0, len(blocks))
		ids     = make([]ulid.ULID, 0, len(blocks))
		symbols index.StringIter
	)
	for i, b := range blocks {
		if err := ctx.Err(); err != nil {
			return err
		}
		id := b.Meta().ULID
		indexr, err := b.Index()
		if err != nil {
			return fmt.Errorf("open index of block %s: %w", id, err)
		}
		closers = append(closers, indexr)
		chunkr, err := b.Chunks()
		if err != nil {
			return fmt.Errorf("open chunks of block %s: %w", id, err)
		}
		closers = append(closers, chunkr)
		tombsr, err := b.Tombstones()
		if err != nil {
			return fmt.Errorf("open tombstones of block %s: %w", id, err)
		}
		closers = append(closers, tombsr)

		// Aggregate chunks cannot be iterated, so they must never be
		// trimmed; they lie within their block's range anyway.
		set := tsdb.NewBlockChunkSeriesSet(id, indexr, chunkr, tombsr, postingsFunc(ctx, indexr),
			meta.MinTime, meta.MaxTime-1, p.resolution > 0)
		sets = append(sets, &taggedSet{ChunkSeriesSet: set, tag: i})
		ids = append(ids, id)
		if i == 0 {
			symbols = indexr.Symbols()
		} else {
			symbols = tsdb.NewMergedStringIter(symbols, indexr.Symbols())
		}
	}
	for symbols.Next() {
		if err := indexw.AddSymbol(symbols.At()); err != nil {
			return fmt.Errorf("add symbol: %w", err)
		}
	}
	if err := symbols.Err(); err != nil {
		return fmt.Errorf("read symbols: %w", err)
	}

	set := p.mergeSets(sets, ids)
	var (
		ref  storage.SeriesRef
		chks []chunks.Meta
		it   chunks.Iterator
	)
	for set.Next() {
		if err := ctx.Err(); err != nil {
			return err
		}
		s := set.At()
		it = s.Iterator(it)
		chks = chks[:0]
		for it.Next() {
			chks = append(chks, it.At())
		}
		if err := it.Err(); err != nil {
			return fmt.Errorf("merge series %s: %w", s.Labels(), err)
		}
		if len(chks) == 0 {
			continue // every sample deleted by tombstones
		}
		if err := chunkw.WriteChunks(chks...); err != nil {
			return fmt.Errorf("write chunks: %w", err)
		}
		if err := indexw.AddSeries(ref, s.Labels(), chks...); err != nil {
			return fmt.Errorf("add series: %w", err)
		}
		meta.Stats.NumSeries++
		meta.Stats.NumChunks += uint64(len(chks))
		for _, c := range chks {
			n := uint64(c.Chunk.NumSamples())
			meta.Stats.NumSamples += n
			switch c.Chunk.Encoding() {
			case chunkenc.EncXOR, chunkenc.EncXOR2:
				meta.Stats.NumFloatSamples += n
			case chunkenc.EncHistogram, chunkenc.EncFloatHistogram, chunkenc.EncHistogramST, chunkenc.EncFloatHistogramST:
				meta.Stats.NumHistogramSamples += n
			}
			if err := chunkPool.Put(c.Chunk); err != nil {
				return fmt.Errorf("put chunk: %w", err)
			}
		}
		ref++
	}
	if err := set.Err(); err != nil {
		return fmt.Errorf("read series: %w", err)
	}
	logger.Debug("populated merged block", "block", meta.ULID, "series", meta.Stats.NumSeries)
	return nil
}

// mergeSets merges the blocks' series sets (tagged with their block index)
// into one set according to the resolution and the mode.
func (p *populator) mergeSets(sets []storage.ChunkSeriesSet, ids []ulid.ULID) storage.ChunkSeriesSet {
	switch {
	case p.resolution > 0:
		return storage.NewMergeChunkSeriesSet(sets, 0, aggrMerger(ids))
	case p.mode == DedupPenalty:
		var groups [][]storage.ChunkSeriesSet
		for i, s := range sets {
			g := p.replicas[ids[i]]
			for len(groups) <= g {
				groups = append(groups, nil)
			}
			groups[g] = append(groups[g], s)
		}
		replicas := make([]storage.ChunkSeriesSet, 0, len(groups))
		for g, gs := range groups {
			if len(gs) > 0 {
				replicas = append(replicas, &taggedSet{ChunkSeriesSet: storage.NewMergeChunkSeriesSet(gs, 0, chainMerge), tag: g})
			}
		}
		return storage.NewMergeChunkSeriesSet(replicas, 0, penaltyMerge)
	default:
		return storage.NewMergeChunkSeriesSet(sets, 0, chainMerge)
	}
}

// taggedSet tags each series of a set with a number: the index of its block
// or its replica, so that merge functions know where a series comes from.
type taggedSet struct {
	storage.ChunkSeriesSet
	tag int
}

func (s *taggedSet) At() storage.ChunkSeries {
	return &taggedSeries{ChunkSeries: s.ChunkSeriesSet.At(), tag: s.tag}
}

type taggedSeries struct {
	storage.ChunkSeries
	tag int
}

// tagOf returns the tag of a series from a taggedSet (0 for any other).
func tagOf(s storage.ChunkSeries) int {
	if t, ok := s.(*taggedSeries); ok {
		return t.tag
	}
	return 0
}

// penaltyMerge merges the replicas of one series (tagged with their replica
// number) with the querier's penalty dedup iterator and re-encodes the result
// into chunks of at most 120 samples. Counters (isCounterSeries) get the
// iterator's counter offset, so that a switch to a replica that counts less
// does not read as a reset.
func penaltyMerge(series ...storage.ChunkSeries) storage.ChunkSeries {
	reps := slices.Clone(series)
	isCounter := isCounterSeries(reps[0].Labels())
	slices.SortStableFunc(reps, func(a, b storage.ChunkSeries) int { return cmp.Compare(tagOf(a), tagOf(b)) })
	return storage.NewSeriesToChunkEncoder(&storage.SeriesEntry{
		Lset: reps[0].Labels(),
		SampleIteratorFn: func(chunkenc.Iterator) chunkenc.Iterator {
			its := make([]chunkenc.Iterator, 0, len(reps))
			for _, s := range reps {
				chks, err := storage.ExpandChunks(s.Iterator(nil))
				if err != nil {
					return errIterator{err: err}
				}
				iterables := make([]chunkenc.Iterable, 0, len(chks))
				for _, c := range chks {
					iterables = append(iterables, c.Chunk)
				}
				its = append(its, storage.ChainSampleIteratorFromIterables(nil, iterables))
			}
			return dedup.NewSeriesIterator(isCounter, its...)
		},
	})
}

// isCounterSeries tells whether a series holds a counter, which blocks do
// not record: its __type__ label says so (Prometheus' type-and-unit-labels
// feature), or else its name ends as counters' names do (_total, and the
// _count, _sum and _bucket series of classic histograms and summaries).
func isCounterSeries(lset labels.Labels) bool {
	switch lset.Get("__type__") {
	case "counter":
		return true
	case "gauge", "gaugehistogram", "info", "stateset":
		return false
	}
	name := lset.Get(model.MetricNameLabel)
	for _, suffix := range []string{"_total", "_count", "_sum", "_bucket"} {
		if strings.HasSuffix(name, suffix) {
			return true
		}
	}
	return false
}

// aggrMerger returns the merge function of downsampled series: chunks are
// copied in time order, byte-identical chunks kept once, and any other
// overlap fails with a BlockError naming the block of the later chunk. ids
// maps block index (series tag) to ULID.
func aggrMerger(ids []ulid.ULID) storage.VerticalChunkSeriesMergeFunc {
	type blockChunk struct {
		chunks.Meta
		block int
	}
	return func(series ...storage.ChunkSeries) storage.ChunkSeries {
		lset := series[0].Labels()
		return &storage.ChunkSeriesEntry{
			Lset: lset,
			ChunkIteratorFn: func(chunks.Iterator) chunks.Iterator {
				var all []blockChunk
				for _, s := range series {
					chks, err := storage.ExpandChunks(s.Iterator(nil))
					if err != nil {
						return errChunkIterator{err: err}
					}
					for _, c := range chks {
						all = append(all, blockChunk{Meta: c, block: tagOf(s)})
					}
				}
				slices.SortStableFunc(all, func(a, b blockChunk) int {
					return cmpChunkTime(a.MinTime, a.MaxTime, b.MinTime, b.MaxTime)
				})
				out := make([]chunks.Meta, 0, len(all))
				for i := range all {
					c := &all[i]
					if len(out) > 0 {
						prev := &out[len(out)-1]
						if c.MinTime <= prev.MaxTime {
							if c.MinTime == prev.MinTime && c.MaxTime == prev.MaxTime && bytes.Equal(c.Chunk.Bytes(), prev.Chunk.Bytes()) {
								continue
							}
							return errChunkIterator{err: &BlockError{
								ID:     ids[c.block],
								Reason: metadata.DownsampleVerticalCompactionReason,
								Err: fmt.Errorf("series %s: aggregate chunk [%d, %d] overlaps chunk [%d, %d] with different data; overlapping downsampled blocks cannot be merged, compact their raw blocks instead",
									lset, c.MinTime, c.MaxTime, prev.MinTime, prev.MaxTime),
							}}
						}
					}
					out = append(out, c.Meta)
				}
				return storage.NewListChunkSeriesIterator(out...)
			},
		}
	}
}

// errIterator is a sample iterator that only reports err.
type errIterator struct{ err error }

func (errIterator) Next() chunkenc.ValueType      { return chunkenc.ValNone }
func (errIterator) Seek(int64) chunkenc.ValueType { return chunkenc.ValNone }
func (errIterator) At() (int64, float64)          { return math.MinInt64, 0 }
func (errIterator) AtHistogram(*histogram.Histogram) (int64, *histogram.Histogram) {
	return math.MinInt64, nil
}

func (errIterator) AtFloatHistogram(*histogram.FloatHistogram) (int64, *histogram.FloatHistogram) {
	return math.MinInt64, nil
}
func (errIterator) AtT() int64   { return math.MinInt64 }
func (errIterator) AtST() int64  { return 0 }
func (e errIterator) Err() error { return e.err }

// errChunkIterator is a chunk iterator that only reports err.
type errChunkIterator struct{ err error }

func (errChunkIterator) Next() bool      { return false }
func (errChunkIterator) At() chunks.Meta { return chunks.Meta{} }
func (e errChunkIterator) Err() error    { return e.err }
