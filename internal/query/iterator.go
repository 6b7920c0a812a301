package query

import (
	"fmt"
	"math"

	"github.com/prometheus/prometheus/model/histogram"
	"github.com/prometheus/prometheus/tsdb/chunkenc"

	"github.com/strata-io/strata/pkg/storepb"
)

// chunkRef is one wire chunk and the index of the frame (source) it came in.
type chunkRef struct {
	c   *storepb.AggrChunk
	src int
}

// chunksIterator iterates the samples of a list of raw wire chunks sorted by
// min_time, possibly from several sources. Runs of chunks whose time ranges
// overlap are merged with a mergeIterator; every sample at or before the last
// one returned is dropped, so timestamps strictly increase.
type chunksIterator struct {
	chunks []chunkRef
	aggrs  []storepb.Aggr

	next     int                // index of the first chunk not opened yet
	cur      chunkenc.Iterator  // iterator of the current run, nil when none
	curMaxT  int64              // max_time of the current run, ms
	curSrc   int                // source of the current run, -1 when mixed
	prevSrc  int                // source of the previous run
	vt       chunkenc.ValueType // type at the position
	done     bool               // exhausted or failed
	lastT    int64              // timestamp at the position, ms
	runFirst bool               // the position is the first sample of a run
	err      error
}

func newChunksIterator(chunks []chunkRef, aggrs []storepb.Aggr) *chunksIterator {
	return &chunksIterator{chunks: chunks, aggrs: aggrs, lastT: math.MinInt64, curSrc: -1, prevSrc: -1}
}

// openRun opens the next run of overlapping chunks; it returns false when no
// chunk is left.
func (it *chunksIterator) openRun() bool {
	if it.next >= len(it.chunks) {
		return false
	}
	it.prevSrc = it.curSrc
	i := it.next
	j := i
	maxT := it.chunks[i].c.GetMaxTime()
	for j+1 < len(it.chunks) && it.chunks[j+1].c.GetMinTime() <= maxT {
		j++
		maxT = max(maxT, it.chunks[j].c.GetMaxTime())
	}
	it.next = j + 1
	it.curMaxT = maxT
	if i == j {
		it.cur = decodeChunk(it.chunks[i].c, it.aggrs)
		it.curSrc = it.chunks[i].src
		return true
	}
	its := make([]chunkenc.Iterator, 0, j-i+1)
	for k := i; k <= j; k++ {
		its = append(its, decodeChunk(it.chunks[k].c, it.aggrs))
	}
	it.cur = newMergeIterator(its)
	it.curSrc = -1
	return true
}

// advance moves to the first sample after the last one returned (and, when
// seek, at or after seekT), opening further runs as needed.
func (it *chunksIterator) advance(seek bool, seekT int64) chunkenc.ValueType {
	opened := false
	for {
		if it.cur == nil {
			if !it.openRun() {
				it.done, it.vt = true, chunkenc.ValNone
				return it.vt
			}
			opened = true
		}
		if seek && it.curMaxT < seekT {
			it.cur = nil // the whole run is before seekT
			continue
		}
		var vt chunkenc.ValueType
		if seek {
			vt = it.cur.Seek(seekT)
		} else {
			vt = it.cur.Next()
		}
		for vt != chunkenc.ValNone && it.cur.AtT() <= it.lastT {
			vt = it.cur.Next()
		}
		if vt != chunkenc.ValNone {
			it.vt, it.lastT, it.runFirst = vt, it.cur.AtT(), opened
			return vt
		}
		if err := it.cur.Err(); err != nil {
			it.err, it.done, it.vt = err, true, chunkenc.ValNone
			return it.vt
		}
		it.cur = nil
	}
}

func (it *chunksIterator) Next() chunkenc.ValueType {
	if it.done {
		return chunkenc.ValNone
	}
	return it.advance(false, 0)
}

func (it *chunksIterator) Seek(t int64) chunkenc.ValueType {
	if it.done {
		return chunkenc.ValNone
	}
	if it.vt != chunkenc.ValNone && it.lastT >= t {
		return it.vt
	}
	return it.advance(true, t)
}

func (it *chunksIterator) At() (int64, float64) { return it.cur.At() }

// fixHint makes the first histogram of a run coming from another source than
// the previous run say "unknown" instead of "not a reset": the chunk header
// that said so was written relative to another chunk.
func (it *chunksIterator) fixHint(h *histogram.CounterResetHint) {
	if it.runFirst && it.prevSrc >= 0 && it.curSrc != it.prevSrc && *h == histogram.NotCounterReset {
		*h = histogram.UnknownCounterReset
	}
}

func (it *chunksIterator) AtHistogram(h *histogram.Histogram) (int64, *histogram.Histogram) {
	t, h := it.cur.AtHistogram(h)
	it.fixHint(&h.CounterResetHint)
	return t, h
}

func (it *chunksIterator) AtFloatHistogram(fh *histogram.FloatHistogram) (int64, *histogram.FloatHistogram) {
	t, fh := it.cur.AtFloatHistogram(fh)
	it.fixHint(&fh.CounterResetHint)
	return t, fh
}

func (it *chunksIterator) AtT() int64  { return it.lastT }
func (it *chunksIterator) AtST() int64 { return it.cur.AtST() }
func (it *chunksIterator) Err() error  { return it.err }

// decodeChunk returns an iterator over the raw data of one wire chunk.
// Aggregate chunks (downsampled data) never reach it: newSeriesIterator reads
// them a run at a time.
func decodeChunk(c *storepb.AggrChunk, _ []storepb.Aggr) chunkenc.Iterator {
	if raw := c.GetRaw(); raw != nil {
		return chunkIterator(raw)
	}
	return errIterator{err: fmt.Errorf("chunk [%d, %d] has no raw data", c.GetMinTime(), c.GetMaxTime())}
}

// chunkIterator decodes one wire chunk with chunkenc.
func chunkIterator(c *storepb.Chunk) chunkenc.Iterator {
	var enc chunkenc.Encoding
	switch c.GetType() {
	case storepb.Chunk_XOR:
		enc = chunkenc.EncXOR
	case storepb.Chunk_HISTOGRAM:
		enc = chunkenc.EncHistogram
	case storepb.Chunk_FLOAT_HISTOGRAM:
		enc = chunkenc.EncFloatHistogram
	default:
		return errIterator{err: fmt.Errorf("chunk encoding %v is not supported: upgrade the querier", c.GetType())}
	}
	chk, err := storepb.ChunkFromData(enc, c.GetData())
	if err != nil {
		return errIterator{err: fmt.Errorf("decode %v chunk: %w", c.GetType(), err)}
	}
	return storepb.SafeIterator(chk)
}

// errIterator has no samples and returns err.
type errIterator struct{ err error }

func (errIterator) Next() chunkenc.ValueType      { return chunkenc.ValNone }
func (errIterator) Seek(int64) chunkenc.ValueType { return chunkenc.ValNone }
func (errIterator) At() (int64, float64)          { return 0, 0 }
func (errIterator) AtHistogram(*histogram.Histogram) (int64, *histogram.Histogram) {
	return 0, nil
}
func (errIterator) AtFloatHistogram(*histogram.FloatHistogram) (int64, *histogram.FloatHistogram) {
	return 0, nil
}
func (errIterator) AtT() int64   { return 0 }
func (errIterator) AtST() int64  { return 0 }
func (e errIterator) Err() error { return e.err }
