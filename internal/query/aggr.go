package query

import (
	"fmt"
	"math"
	"slices"

	"github.com/prometheus/prometheus/model/histogram"
	"github.com/prometheus/prometheus/tsdb/chunkenc"

	"github.com/strata-io/strata/internal/downsample"
	"github.com/strata-io/strata/pkg/storepb"
)

// newSeriesIterator returns the iterator of one series given its wire chunks
// sorted by min_time. A series made of raw chunks only is read by
// chunksIterator as it always was. A series with aggregate chunks (Raw nil;
// downsampled data) is cut into runs of consecutive raw and aggregate chunks:
// each aggregate run is read as a whole (see aggrRunIterator), each raw run
// by chunksIterator, and the runs are concatenated by segmentsIterator.
// When the counter aggregate is requested (rate, increase, irate, resets),
// raw runs of such a series are read as a counter that never resets as well
// (rawCounterIterator), so that the runs join without a fake reset; rate()
// and increase() are unchanged by this, resets() reads 0.
func newSeriesIterator(refs []chunkRef, aggrs []storepb.Aggr) chunkenc.Iterator {
	if !slices.ContainsFunc(refs, func(r chunkRef) bool { return r.c.GetRaw() == nil }) {
		return newChunksIterator(refs, aggrs)
	}
	counter := slices.Contains(aggrs, storepb.Aggr_COUNTER)
	var segs []segment
	for i := 0; i < len(refs); {
		raw := refs[i].c.GetRaw() != nil
		j := i + 1
		for j < len(refs) && (refs[j].c.GetRaw() != nil) == raw {
			j++
		}
		run := refs[i:j]
		switch {
		case raw && counter:
			segs = append(segs, &rawCounterIterator{it: newChunksIterator(run, aggrs)})
		case raw:
			segs = append(segs, plainSegment{newChunksIterator(run, aggrs)})
		default:
			segs = append(segs, aggrRunIterator(run, aggrs))
		}
		i = j
	}
	return &segmentsIterator{segs: segs, counter: counter, lastT: math.MinInt64}
}

// segment is the iterator of one run of chunks of a series.
type segment interface {
	chunkenc.Iterator
	// lastRaw returns the raw counter value at the end of the segment, once
	// the segment is exhausted; ok is false when it has none.
	lastRaw() (v float64, ok bool)
}

// plainSegment is a segment whose values are not counters.
type plainSegment struct{ chunkenc.Iterator }

func (plainSegment) lastRaw() (float64, bool) { return 0, false }

// aggrRunIterator returns the iterator of a run of aggregate chunks: the
// first of aggrs that every chunk of the run carries decides how they are
// read (counter across chunks with downsample.NewCounterIterator, min or max
// concatenated, sum/count as the per-window average).
func aggrRunIterator(run []chunkRef, aggrs []storepb.Aggr) segment {
	has := func(a storepb.Aggr) bool {
		for _, r := range run {
			c := r.c
			var ok bool
			switch a {
			case storepb.Aggr_COUNTER:
				ok = c.GetCounter() != nil
			case storepb.Aggr_MIN:
				ok = c.GetMin() != nil
			case storepb.Aggr_MAX:
				ok = c.GetMax() != nil
			case storepb.Aggr_SUM, storepb.Aggr_COUNT:
				ok = c.GetSum() != nil && c.GetCount() != nil
			}
			if !ok {
				return false
			}
		}
		return true
	}
	decode := func(get func(*storepb.AggrChunk) *storepb.Chunk) ([]chunkenc.Chunk, error) {
		out := make([]chunkenc.Chunk, 0, len(run))
		for _, r := range run {
			c, err := floatChunk(get(r.c))
			if err != nil {
				return nil, fmt.Errorf("aggregate chunk [%d, %d]: %w", r.c.GetMinTime(), r.c.GetMaxTime(), err)
			}
			out = append(out, c)
		}
		return out, nil
	}
	for _, a := range aggrs {
		if !has(a) {
			continue
		}
		switch a {
		case storepb.Aggr_COUNTER:
			chks, err := decode((*storepb.AggrChunk).GetCounter)
			if err != nil {
				return plainSegment{errIterator{err: err}}
			}
			return &aggrCounterSegment{Iterator: downsample.NewCounterIterator(chks), chks: chks, run: run}
		case storepb.Aggr_MIN, storepb.Aggr_MAX:
			get := (*storepb.AggrChunk).GetMin
			if a == storepb.Aggr_MAX {
				get = (*storepb.AggrChunk).GetMax
			}
			chks, err := decode(get)
			if err != nil {
				return plainSegment{errIterator{err: err}}
			}
			return plainSegment{downsample.NewChunksIterator(chks)}
		case storepb.Aggr_SUM, storepb.Aggr_COUNT:
			sums, err := decode((*storepb.AggrChunk).GetSum)
			if err != nil {
				return plainSegment{errIterator{err: err}}
			}
			counts, err := decode((*storepb.AggrChunk).GetCount)
			if err != nil {
				return plainSegment{errIterator{err: err}}
			}
			return plainSegment{downsample.NewAverageIterator(sums, counts)}
		}
	}
	return plainSegment{errIterator{err: fmt.Errorf("chunks [%d, %d] have neither raw data nor the requested aggregates %v: the store does not serve this resolution, query with max_source_resolution=0s",
		run[0].c.GetMinTime(), run[len(run)-1].c.GetMaxTime(), aggrs)}}
}

// floatChunk decodes one aggregate of a wire chunk.
func floatChunk(c *storepb.Chunk) (chunkenc.Chunk, error) {
	if c.GetType() != storepb.Chunk_XOR {
		return nil, fmt.Errorf("aggregate encoded as %v, want XOR: upgrade the querier", c.GetType())
	}
	chk, err := storepb.ChunkFromData(chunkenc.EncXOR, c.GetData())
	if err != nil {
		return nil, fmt.Errorf("decode XOR chunk: %w", err)
	}
	return chk, nil
}

// aggrCounterSegment reads the counter aggregates of a run of chunks as one
// counter that never resets, starting at the run's first raw value.
type aggrCounterSegment struct {
	chunkenc.Iterator
	chks []chunkenc.Chunk
	run  []chunkRef
}

// lastRaw returns the repeated raw value that ends the counter section of
// the run's chunk reaching furthest in time (the first of them on ties).
func (s *aggrCounterSegment) lastRaw() (float64, bool) {
	best := -1
	for i, r := range s.run {
		if best < 0 || r.c.GetMaxTime() > s.run[best].c.GetMaxTime() {
			best = i
		}
	}
	if best < 0 {
		return 0, false
	}
	it := s.chks[best].Iterator(nil)
	v, ok := 0.0, false
	for it.Next() == chunkenc.ValFloat {
		_, v = it.At()
		ok = true
	}
	return v, ok && it.Err() == nil
}

// rawCounterIterator yields the float samples of raw chunks as a counter that
// never resets: a value below the previous one counts as a reset and the
// previous value is added to it and every later value, which leaves rate()
// and increase() unchanged. Histograms pass through as they are.
type rawCounterIterator struct {
	it      chunkenc.Iterator
	offset  float64
	prev    float64 // last raw float value
	hasPrev bool
	v       float64
}

func (it *rawCounterIterator) load(vt chunkenc.ValueType) chunkenc.ValueType {
	if vt != chunkenc.ValFloat {
		return vt
	}
	_, v := it.it.At()
	if it.hasPrev && v < it.prev {
		it.offset += it.prev
	}
	it.prev, it.hasPrev = v, true
	it.v = v + it.offset
	return vt
}

func (it *rawCounterIterator) Next() chunkenc.ValueType { return it.load(it.it.Next()) }

// Seek reads every sample up to t: the offset depends on all of them.
func (it *rawCounterIterator) Seek(t int64) chunkenc.ValueType {
	for {
		vt := it.Next()
		if vt == chunkenc.ValNone || it.it.AtT() >= t {
			return vt
		}
	}
}

func (it *rawCounterIterator) At() (int64, float64) { return it.it.AtT(), it.v }
func (it *rawCounterIterator) AtHistogram(h *histogram.Histogram) (int64, *histogram.Histogram) {
	return it.it.AtHistogram(h)
}
func (it *rawCounterIterator) AtFloatHistogram(fh *histogram.FloatHistogram) (int64, *histogram.FloatHistogram) {
	return it.it.AtFloatHistogram(fh)
}
func (it *rawCounterIterator) AtT() int64               { return it.it.AtT() }
func (it *rawCounterIterator) AtST() int64              { return it.it.AtST() }
func (it *rawCounterIterator) Err() error               { return it.it.Err() }
func (it *rawCounterIterator) lastRaw() (float64, bool) { return it.prev, it.hasPrev }

// segmentsIterator concatenates the segments of a series in time order,
// dropping every sample at or before the last one returned.
//
// For counters (counter true) every segment yields a counter that never
// resets, starting at its first raw value; the segments are joined the way
// downsample.NewCounterIterator joins chunks: each segment is shifted so that
// it continues the previous one by the difference of its first raw value and
// the previous segment's last raw value, or by its whole first value when
// that is lower (a reset between the segments). A segment that starts at or
// before the last sample returned (an overlap) instead continues from the
// last returned value at its first sample kept. A segment all of whose
// samples are dropped does not count.
type segmentsIterator struct {
	segs    []segment
	counter bool

	next int     // index of the next segment to open
	cur  segment // nil when none is open

	// Counter state: offset added to the current segment's values.
	offset        float64
	segStarted    bool    // the current segment yielded a float
	segOverlap    bool    // its first sample was at or before lastT
	overlapV      float64 // its last value dropped as overlapped, no offset applied
	lastV         float64 // value of the sample at lastT, offset applied
	haveLastV     bool
	segEmitted    bool // a sample of the current segment was returned
	segCounted    bool // a sample of the current segment was not dropped as overlapped
	havePrev      bool
	prevAdj       float64 // last value of the previous counted segment, offset applied
	prevRaw       float64 // its last raw value
	firstOfSeg    bool    // the position is the first returned sample of a segment
	openedAfterGo bool    // the current segment is not the first one returned

	vt    chunkenc.ValueType
	lastT int64 // timestamp of the last sample returned or skipped by a seek, ms
	v     float64
	done  bool
	err   error
}

func (it *segmentsIterator) open() bool {
	if it.next >= len(it.segs) {
		return false
	}
	it.cur = it.segs[it.next]
	it.next++
	it.segStarted, it.segEmitted, it.segCounted = false, false, false
	it.openedAfterGo = it.vt != chunkenc.ValNone
	return true
}

// closeSeg ends the current segment, remembering its last values for the
// next one when it counted.
func (it *segmentsIterator) closeSeg() {
	if it.counter && it.segStarted && it.segCounted && it.haveLastV {
		if raw, ok := it.cur.lastRaw(); ok {
			it.havePrev, it.prevAdj, it.prevRaw = true, it.lastV, raw
		}
	}
	it.cur = nil
}

// adjust returns the value v of the current segment's float sample at t with
// the segment's offset applied, or false when the sample overlaps what was
// already returned and is dropped.
func (it *segmentsIterator) adjust(t int64, v float64) (float64, bool) {
	if !it.segStarted {
		it.segStarted = true
		it.segOverlap = t <= it.lastT
		it.offset = 0
		if it.havePrev && !it.segOverlap {
			it.offset = it.prevAdj - it.prevRaw
			if v < it.prevRaw {
				it.offset += it.prevRaw
			}
		}
	}
	if t <= it.lastT {
		it.overlapV = v
		return 0, false
	}
	if it.segOverlap && !it.segCounted && it.haveLastV {
		// The segment started inside the previous one: continue from the
		// last value returned, taking the segment's value at about the same
		// time as equal to it.
		it.offset = it.lastV - it.overlapV
	}
	return v + it.offset, true
}

func (it *segmentsIterator) advance(seek bool, seekT int64) chunkenc.ValueType {
	var ok bool
	for {
		if it.cur == nil && !it.open() {
			it.done, it.vt = true, chunkenc.ValNone
			return it.vt
		}
		var vt chunkenc.ValueType
		if seek && !it.counter {
			vt = it.cur.Seek(seekT)
		} else {
			vt = it.cur.Next()
		}
		for ; vt != chunkenc.ValNone; vt = it.cur.Next() {
			t := it.cur.AtT()
			var v float64
			if vt == chunkenc.ValFloat {
				_, v = it.cur.At()
				if it.counter {
					if v, ok = it.adjust(t, v); !ok {
						continue
					}
				}
			}
			if t <= it.lastT {
				continue
			}
			// A sample skipped by a seek still moves the position: the
			// counter state depends on it.
			it.lastT, it.segCounted = t, true
			if vt == chunkenc.ValFloat && it.counter {
				it.lastV, it.haveLastV = v, true
			}
			if seek && t < seekT {
				continue
			}
			it.firstOfSeg = !it.segEmitted
			it.segEmitted = true
			it.vt, it.v = vt, v
			return vt
		}
		if err := it.cur.Err(); err != nil {
			it.err, it.done, it.vt = err, true, chunkenc.ValNone
			return it.vt
		}
		it.closeSeg()
	}
}

func (it *segmentsIterator) Next() chunkenc.ValueType {
	if it.done {
		return chunkenc.ValNone
	}
	return it.advance(false, 0)
}

func (it *segmentsIterator) Seek(t int64) chunkenc.ValueType {
	if it.done {
		return chunkenc.ValNone
	}
	if it.vt != chunkenc.ValNone && it.lastT >= t {
		return it.vt
	}
	return it.advance(true, t)
}

func (it *segmentsIterator) At() (int64, float64) { return it.lastT, it.v }

// fixHint makes the first histogram of a segment after another one say
// "unknown" instead of "not a reset".
func (it *segmentsIterator) fixHint(h *histogram.CounterResetHint) {
	if it.firstOfSeg && it.openedAfterGo && *h == histogram.NotCounterReset {
		*h = histogram.UnknownCounterReset
	}
}

func (it *segmentsIterator) AtHistogram(h *histogram.Histogram) (int64, *histogram.Histogram) {
	t, h := it.cur.AtHistogram(h)
	if h != nil {
		it.fixHint(&h.CounterResetHint)
	}
	return t, h
}

func (it *segmentsIterator) AtFloatHistogram(fh *histogram.FloatHistogram) (int64, *histogram.FloatHistogram) {
	t, fh := it.cur.AtFloatHistogram(fh)
	if fh != nil {
		it.fixHint(&fh.CounterResetHint)
	}
	return t, fh
}

func (it *segmentsIterator) AtT() int64 { return it.lastT }
func (it *segmentsIterator) AtST() int64 {
	if it.cur == nil {
		return 0
	}
	return it.cur.AtST()
}
func (it *segmentsIterator) Err() error { return it.err }
