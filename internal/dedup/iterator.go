package dedup

import (
	"math"

	"github.com/prometheus/prometheus/model/histogram"
	"github.com/prometheus/prometheus/tsdb/chunkenc"
)

// defaultInterval is the sample interval assumed (in ms) before any replica
// has shown two consecutive samples.
const defaultInterval = 60_000

// replica is one input iterator with a one-sample lookahead: vt/t describe the
// sample the iterator is positioned at (not yet passed over).
type replica struct {
	it       chunkenc.Iterator
	vt       chunkenc.ValueType // chunkenc.ValNone once exhausted
	t        int64              // timestamp of the sample at the position, ms
	prevT    int64              // timestamp of the last sample passed over, ms
	hasPrev  bool
	interval int64 // prevT minus the sample before it, ms; 0 when unknown

	// Value of the sample at prevT when it was a float; kept only for
	// counters (trackF).
	trackF    bool
	prevF     float64
	prevFloat bool
}

// next passes over the sample at the position.
func (r *replica) next() {
	if r.hasPrev {
		r.interval = r.t - r.prevT
	}
	r.prevT, r.hasPrev = r.t, true
	if r.trackF {
		r.prevFloat = r.vt == chunkenc.ValFloat
		if r.prevFloat {
			_, r.prevF = r.it.At()
		}
	}
	r.vt = r.it.Next()
	if r.vt != chunkenc.ValNone {
		r.t = r.it.AtT()
	}
}

// skipTo passes over every sample at or before t.
func (r *replica) skipTo(t int64) {
	for r.vt != chunkenc.ValNone && r.t <= t {
		r.next()
	}
}

// Iterator deduplicates the samples of replicas of one series, see the package
// documentation for the algorithm. It is not safe for concurrent use; it owns
// the iterators it was given.
type Iterator struct {
	reps      []replica
	isCounter bool

	started  bool
	cur      int // index of the current replica, -1 before the first sample
	vt       chunkenc.ValueType
	lastT    int64 // timestamp of the last emitted sample, ms
	emitted  bool  // a sample has been emitted (lastT is valid)
	switched bool  // the sample at the position is the first after a switch

	lastF     float64 // last emitted float value (offset included)
	lastFloat bool    // the last emitted sample was a float
	curF      float64 // float value at the position (offset included)
	offset    float64 // counter offset added to float values of the current replica
}

// NewSeriesIterator returns an iterator over the deduplicated samples of its,
// the iterators of the replicas of one series. isCounter enables the counter
// offset on replica switches (see package doc). The result owns its.
func NewSeriesIterator(isCounter bool, its ...chunkenc.Iterator) *Iterator {
	it := &Iterator{}
	it.Reset(isCounter, its...)
	return it
}

// Reset reuses the iterator for a new set of replica iterators.
func (it *Iterator) Reset(isCounter bool, its ...chunkenc.Iterator) {
	reps := it.reps[:0]
	for _, i := range its {
		reps = append(reps, replica{it: i, trackF: isCounter})
	}
	*it = Iterator{reps: reps, isCounter: isCounter, cur: -1}
}

// Next implements chunkenc.Iterator.
func (it *Iterator) Next() chunkenc.ValueType {
	if !it.started {
		it.started = true
		for i := range it.reps {
			r := &it.reps[i]
			r.vt = r.it.Next()
			if r.vt != chunkenc.ValNone {
				r.t = r.it.AtT()
			}
		}
		return it.pick(math.MinInt64)
	}
	if it.vt == chunkenc.ValNone {
		return chunkenc.ValNone
	}
	for i := range it.reps {
		it.reps[i].skipTo(it.lastT)
	}
	return it.pick(it.lastT)
}

// Seek implements chunkenc.Iterator: it moves to the first sample at or after
// t (ms) and never moves backwards.
func (it *Iterator) Seek(t int64) chunkenc.ValueType {
	if it.started && it.emitted && (it.vt == chunkenc.ValNone || it.lastT >= t) {
		return it.vt
	}
	if !it.started {
		it.started = true
		for i := range it.reps {
			r := &it.reps[i]
			r.vt = r.it.Seek(t)
			if r.vt != chunkenc.ValNone {
				r.t = r.it.AtT()
			}
		}
		return it.pick(t - 1)
	}
	for i := range it.reps {
		r := &it.reps[i]
		if r.vt == chunkenc.ValNone || r.t >= t {
			continue
		}
		r.prevT, r.hasPrev = r.t, true // interval is kept from before the seek
		r.prevFloat = false
		r.vt = r.it.Seek(t)
		if r.vt != chunkenc.ValNone {
			r.t = r.it.AtT()
		}
	}
	return it.pick(t - 1)
}

// penalty is how far (ms) after the last emitted sample the current replica's
// next sample may be before it counts as a gap.
func (it *Iterator) penalty() int64 {
	if iv := it.reps[it.cur].interval; iv > 0 {
		return 2 * iv
	}
	var best int64
	for i := range it.reps {
		if iv := it.reps[i].interval; iv > 0 && (best == 0 || iv < best) {
			best = iv
		}
	}
	if best == 0 {
		best = defaultInterval
	}
	return 2 * best
}

// pick chooses the replica whose sample comes next after `after` and
// positions the iterator on it.
func (it *Iterator) pick(after int64) chunkenc.ValueType {
	earliest := -1
	for i := range it.reps {
		r := &it.reps[i]
		if r.vt == chunkenc.ValNone {
			continue
		}
		if earliest < 0 || r.t < it.reps[earliest].t {
			earliest = i
		}
	}
	if earliest < 0 {
		it.vt = chunkenc.ValNone
		return it.vt
	}
	prev := it.cur
	switch {
	case it.cur < 0 || it.reps[it.cur].vt == chunkenc.ValNone:
		it.cur = earliest
	case earliest != it.cur && it.reps[earliest].t < it.reps[it.cur].t &&
		it.reps[it.cur].t-after > it.penalty():
		it.cur = earliest
	}
	it.switched = prev >= 0 && prev != it.cur

	r := &it.reps[it.cur]
	prevT := it.lastT
	it.vt = r.vt
	it.lastT = r.t
	it.emitted = true
	if it.vt == chunkenc.ValFloat {
		_, f := r.it.At()
		if it.isCounter {
			switch {
			case it.switched && it.lastFloat:
				it.offset = it.switchOffset(r, prevT, f)
			case !it.switched && r.prevFloat && f < r.prevF:
				it.offset = 0 // genuine reset inside the replica: let it show
			}
			f += it.offset
		}
		it.curF = f
		it.lastF, it.lastFloat = f, true
	} else {
		it.lastFloat = false
	}
	return it.vt
}

// switchOffset returns the counter offset for replica r, just switched to,
// whose raw value at the position is f; lastT is the previous emitted
// timestamp (value it.lastF). It estimates r's value at lastT by linear
// interpolation between r's previous sample and f, and maps that estimate to
// it.lastF, so the output continues the counter's slope instead of losing or
// adding the replicas' lag. When r has no usable previous sample, it only
// prevents a drop. If r itself dropped (a reset in r), the reset shows.
func (it *Iterator) switchOffset(r *replica, lastT int64, f float64) float64 {
	if !r.hasPrev || !r.prevFloat || r.prevT > lastT || r.t <= r.prevT {
		return max(0, it.lastF-f)
	}
	if f < r.prevF {
		return 0
	}
	est := r.prevF + (f-r.prevF)*float64(lastT-r.prevT)/float64(r.t-r.prevT)
	return it.lastF - est
}

// At implements chunkenc.Iterator. For counters the value includes the switch
// offset.
func (it *Iterator) At() (int64, float64) { return it.lastT, it.curF }

// AtHistogram implements chunkenc.Iterator.
func (it *Iterator) AtHistogram(h *histogram.Histogram) (int64, *histogram.Histogram) {
	t, h := it.reps[it.cur].it.AtHistogram(h)
	if it.switched && h.CounterResetHint != histogram.GaugeType {
		h.CounterResetHint = histogram.UnknownCounterReset
	}
	return t, h
}

// AtFloatHistogram implements chunkenc.Iterator.
func (it *Iterator) AtFloatHistogram(fh *histogram.FloatHistogram) (int64, *histogram.FloatHistogram) {
	t, fh := it.reps[it.cur].it.AtFloatHistogram(fh)
	if it.switched && fh.CounterResetHint != histogram.GaugeType {
		fh.CounterResetHint = histogram.UnknownCounterReset
	}
	return t, fh
}

// AtT implements chunkenc.Iterator.
func (it *Iterator) AtT() int64 { return it.lastT }

// AtST implements chunkenc.Iterator; it is the start timestamp reported by the
// replica the current sample comes from.
func (it *Iterator) AtST() int64 {
	if it.cur < 0 {
		return 0
	}
	return it.reps[it.cur].it.AtST()
}

// Err implements chunkenc.Iterator: the first error of any replica.
func (it *Iterator) Err() error {
	for i := range it.reps {
		if err := it.reps[i].it.Err(); err != nil {
			return err
		}
	}
	return nil
}
