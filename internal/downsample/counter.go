package downsample

import (
	"fmt"
	"math"

	"github.com/prometheus/prometheus/tsdb/chunkenc"
)

// counterIterator reads the counter sections of a series' chunks and yields
// one monotonic counter, see NewCounterIterator.
type counterIterator struct {
	floatIterator
	chks []chunkenc.Chunk
	next int // index of the next chunk to open
	cur  chunkenc.Iterator

	// offset is added to the stored values of the current chunk; openOffset
	// is its value before the chunk was opened.
	offset, openOffset float64
	// openT is the last yielded timestamp when the chunk was opened (if
	// openOK): a chunk that ends at or before it adds nothing.
	openT  int64
	openOK bool
	// Per chunk: timestamp of the last stored sample, the first stored value
	// at that timestamp (the adjusted value) and the last stored value (the
	// repeated raw value once the chunk is exhausted).
	chkStarted      bool
	chkT            int64
	chkAdj, chkLast float64
	// The previous chunk's adjusted and raw last values, once one ended.
	havePrev         bool
	prevAdj, prevRaw float64

	// One stored sample read ahead (value already adjusted).
	peeked    bool
	peekT     int64
	peekV     float64
	peekFirst bool

	t   int64
	v   float64
	ok  bool // a sample was yielded
	err error
}

// NewCounterIterator returns an iterator over the counter aggregate of a
// series, given the counter sections of its chunks in time order (for a
// store: AggrChunk.Get(AggrCounter) of each chunk; for a querier: the
// counter field of each storepb.AggrChunk).
//
// The yielded values are monotonic except where the raw counter could not be
// observed to reset, start at the first raw value of the series and grow by
// the same increase as the raw data (a reset counts the value after it, as in
// PromQL), so rate() and increase() over them approximate the raw answer and
// never see a reset. Per chunk the first sample at each timestamp is yielded
// once, so the repeated raw last value that ends a chunk is not yielded; it
// is compared with the next chunk's first raw value to detect a reset between
// chunks. A chunk's first raw sample is yielded when it starts the series or
// follows a gap: when it is further from the previous yielded sample than
// from the chunk's next sample. Otherwise it would sit a scrape interval after
// the previous chunk's last window and make the spacing of samples irregular,
// which PromQL's extrapolation in rate() handles badly over short ranges.
// Samples whose timestamp is not after the previous one are dropped, and a
// chunk all of whose samples are dropped does not count (a fully overlapped
// chunk of the same data cannot fake a reset). Partly overlapping chunks
// should be merged or deduplicated by the caller first.
func NewCounterIterator(chks []chunkenc.Chunk) chunkenc.Iterator {
	return &counterIterator{chks: chks, t: math.MinInt64}
}

func (it *counterIterator) Next() chunkenc.ValueType {
	if it.err != nil {
		return chunkenc.ValNone
	}
	for {
		t, v, first, ok := it.read()
		if !ok {
			return chunkenc.ValNone
		}
		if it.ok && t <= it.t {
			continue
		}
		if first && it.ok {
			// Look at the chunk's next sample to tell a chunk that continues
			// the previous one from one that follows a gap.
			nt, nv, nfirst, nok := it.read()
			if nok {
				it.peeked, it.peekT, it.peekV, it.peekFirst = true, nt, nv, nfirst
				if !nfirst && t-it.t <= nt-t {
					continue
				}
			} else if it.err != nil {
				return chunkenc.ValNone
			}
		}
		it.t, it.v, it.ok = t, v, true
		return chunkenc.ValFloat
	}
}

// read returns the next stored sample with the offset of its chunk applied
// and whether it is the first of its chunk.
func (it *counterIterator) read() (t int64, v float64, first, ok bool) {
	if it.peeked {
		it.peeked = false
		return it.peekT, it.peekV, it.peekFirst, true
	}
	for it.err == nil {
		if it.cur == nil {
			if it.next >= len(it.chks) {
				return 0, 0, false, false
			}
			it.cur = it.chks[it.next].Iterator(nil)
			it.next++
			it.chkStarted = false
			it.openOffset, it.openT, it.openOK = it.offset, it.t, it.ok
		}
		switch vt := it.cur.Next(); vt {
		case chunkenc.ValNone:
			if err := it.cur.Err(); err != nil {
				it.err = fmt.Errorf("counter aggregate: %w", err)
				break
			}
			it.cur = nil
			switch {
			case !it.chkStarted:
			case it.openOK && it.chkT <= it.openT:
				// Every sample of the chunk was already covered by an
				// earlier chunk: ignore it as if it were not there.
				it.offset = it.openOffset
			default:
				it.havePrev, it.prevAdj, it.prevRaw = true, it.chkAdj+it.offset, it.chkLast
			}
			continue
		case chunkenc.ValFloat:
		default:
			it.err = fmt.Errorf("counter aggregate holds a %s sample, want floats", vt)
			continue
		}
		t, v := it.cur.At()
		first := !it.chkStarted
		if first {
			// The raw first value of the chunk's range.
			if it.havePrev {
				// Continue from the previous chunk's last value; if the raw
				// value dropped, the counter reset in between and the whole
				// new value is increase.
				it.offset = it.prevAdj - it.prevRaw
				if v < it.prevRaw {
					it.offset += it.prevRaw
				}
			}
			it.chkStarted, it.chkT, it.chkAdj = true, t, v
		} else if t != it.chkT {
			it.chkT, it.chkAdj = t, v
		}
		it.chkLast = v
		return t, v + it.offset, first, true
	}
	return 0, 0, false, false
}

func (it *counterIterator) Seek(t int64) chunkenc.ValueType {
	if it.ok && it.t >= t {
		return chunkenc.ValFloat
	}
	for {
		if vt := it.Next(); vt == chunkenc.ValNone || it.t >= t {
			return vt
		}
	}
}

func (it *counterIterator) At() (int64, float64) { return it.t, it.v }
func (it *counterIterator) AtT() int64           { return it.t }
func (it *counterIterator) Err() error           { return it.err }
