package downsample

import (
	"fmt"
	"math"

	"github.com/prometheus/prometheus/model/histogram"
	"github.com/prometheus/prometheus/tsdb/chunkenc"
)

// floatIterator implements the histogram and ST parts of chunkenc.Iterator
// for iterators that only ever yield floats.
type floatIterator struct{}

func (floatIterator) AtHistogram(*histogram.Histogram) (int64, *histogram.Histogram) {
	return math.MinInt64, nil
}

func (floatIterator) AtFloatHistogram(*histogram.FloatHistogram) (int64, *histogram.FloatHistogram) {
	return math.MinInt64, nil
}

func (floatIterator) AtST() int64 { return 0 }

// errIterator yields no sample and reports err.
type errIterator struct {
	floatIterator
	err error
}

func (errIterator) Next() chunkenc.ValueType      { return chunkenc.ValNone }
func (errIterator) Seek(int64) chunkenc.ValueType { return chunkenc.ValNone }
func (errIterator) At() (int64, float64)          { return math.MinInt64, 0 }
func (errIterator) AtT() int64                    { return math.MinInt64 }
func (it errIterator) Err() error                 { return it.err }

// NewAggrIterator returns an iterator over the stored samples of aggregate t
// of c. For AggrCounter these are the stored samples as written (first raw
// sample, per-window values, repeated last raw value); PromQL needs
// NewCounterIterator instead. An absent or corrupt section yields an iterator
// whose Err wraps ErrAbsent or ErrCorrupt.
func NewAggrIterator(c AggrChunk, t AggrType) chunkenc.Iterator {
	chk, err := c.Get(t)
	if err != nil {
		return errIterator{err: err}
	}
	return chk.Iterator(nil)
}

// chunksIterator concatenates the float samples of chunks in time order,
// dropping every sample whose timestamp is not after the previous one.
type chunksIterator struct {
	floatIterator
	chks []chunkenc.Chunk
	next int // index of the next chunk to open
	cur  chunkenc.Iterator
	t    int64
	v    float64
	ok   bool // a sample was yielded
	err  error
}

// NewChunksIterator returns an iterator over the float samples of chks, which
// must be ordered by time (for example one aggregate of a series' chunks, as
// returned by AggrChunk.Get). A sample whose timestamp is not after the
// previous sample's is dropped, so overlapping or repeated samples appear once.
// The iterator yields ValFloat only; a histogram sample ends it with an error.
func NewChunksIterator(chks []chunkenc.Chunk) chunkenc.Iterator {
	return &chunksIterator{chks: chks, t: math.MinInt64}
}

func (it *chunksIterator) Next() chunkenc.ValueType {
	if it.err != nil {
		return chunkenc.ValNone
	}
	for {
		if it.cur == nil {
			if it.next >= len(it.chks) {
				return chunkenc.ValNone
			}
			it.cur = it.chks[it.next].Iterator(nil)
			it.next++
		}
		switch vt := it.cur.Next(); vt {
		case chunkenc.ValNone:
			if err := it.cur.Err(); err != nil {
				it.err = err
				return chunkenc.ValNone
			}
			it.cur = nil
			continue
		case chunkenc.ValFloat:
		default:
			it.err = fmt.Errorf("aggregate chunk holds a %s sample, want floats", vt)
			return chunkenc.ValNone
		}
		t, v := it.cur.At()
		if it.ok && t <= it.t {
			continue
		}
		it.t, it.v, it.ok = t, v, true
		return chunkenc.ValFloat
	}
}

func (it *chunksIterator) Seek(t int64) chunkenc.ValueType {
	if it.ok && it.t >= t {
		return chunkenc.ValFloat
	}
	for {
		if vt := it.Next(); vt == chunkenc.ValNone || it.t >= t {
			return vt
		}
	}
}

func (it *chunksIterator) At() (int64, float64) { return it.t, it.v }
func (it *chunksIterator) AtT() int64           { return it.t }
func (it *chunksIterator) Err() error           { return it.err }

// averageIterator yields sum/count per window.
type averageIterator struct {
	floatIterator
	sum, count chunkenc.Iterator
	t          int64
	v          float64
	ok         bool
	err        error
}

// NewAverageIterator returns an iterator over the per-window average
// (sum / count) of a series, given the sum and count sections of its chunks
// in time order (sums[i] and counts[i] from the same AggrChunk). Sum and count
// must have equal timestamps; a mismatch ends the iterator with an error.
//
// avg_over_time over these averages equals the raw avg_over_time only when
// every window holds the same number of raw samples; the exact form is
// sum_over_time(sum) / sum_over_time(count).
func NewAverageIterator(sums, counts []chunkenc.Chunk) chunkenc.Iterator {
	if len(sums) != len(counts) {
		return errIterator{err: fmt.Errorf("average needs one count chunk per sum chunk, got %d sum and %d count chunks", len(sums), len(counts))}
	}
	return &averageIterator{sum: NewChunksIterator(sums), count: NewChunksIterator(counts), t: math.MinInt64}
}

func (it *averageIterator) Next() chunkenc.ValueType {
	if it.err != nil {
		return chunkenc.ValNone
	}
	st, ct := it.sum.Next(), it.count.Next()
	if st == chunkenc.ValNone || ct == chunkenc.ValNone {
		if err := it.sum.Err(); err != nil {
			it.err = fmt.Errorf("sum aggregate: %w", err)
		} else if err := it.count.Err(); err != nil {
			it.err = fmt.Errorf("count aggregate: %w", err)
		} else if st != ct {
			it.err = fmt.Errorf("sum and count aggregates hold different numbers of samples after t=%d", it.t)
		}
		return chunkenc.ValNone
	}
	t, s := it.sum.At()
	tc, c := it.count.At()
	if t != tc {
		it.err = fmt.Errorf("sum sample at t=%d and count sample at t=%d disagree; the chunk is corrupt", t, tc)
		return chunkenc.ValNone
	}
	it.t, it.v, it.ok = t, s/c, true
	return chunkenc.ValFloat
}

func (it *averageIterator) Seek(t int64) chunkenc.ValueType {
	if it.ok && it.t >= t {
		return chunkenc.ValFloat
	}
	for {
		if vt := it.Next(); vt == chunkenc.ValNone || it.t >= t {
			return vt
		}
	}
}

func (it *averageIterator) At() (int64, float64) { return it.t, it.v }
func (it *averageIterator) AtT() int64           { return it.t }
func (it *averageIterator) Err() error           { return it.err }
