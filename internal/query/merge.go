package query

import (
	"github.com/prometheus/prometheus/model/histogram"
	"github.com/prometheus/prometheus/tsdb/chunkenc"
)

// mergeIterator merges a few time-ordered iterators whose ranges overlap
// (copies of one series from several sources) in time order. When several
// have a sample at the same timestamp, the first iterator's wins and the
// others are dropped. A linear scan beats a heap for the handful of copies
// seen in practice. It is not safe for concurrent use.
type mergeIterator struct {
	its  []chunkenc.Iterator
	vts  []chunkenc.ValueType // type at each iterator's position
	ts   []int64              // timestamp at each iterator's position
	cur  int                  // iterator at the position, -1 before start / at end
	prev int                  // iterator of the previous sample, -1 if none
	t    int64
	init bool
}

func newMergeIterator(its []chunkenc.Iterator) *mergeIterator {
	return &mergeIterator{its: its, vts: make([]chunkenc.ValueType, len(its)), ts: make([]int64, len(its)), cur: -1, prev: -1}
}

// pick positions on the earliest sample of all iterators.
func (m *mergeIterator) pick() chunkenc.ValueType {
	m.prev, m.cur = m.cur, -1
	for i, vt := range m.vts {
		if vt != chunkenc.ValNone && (m.cur < 0 || m.ts[i] < m.ts[m.cur]) {
			m.cur = i
		}
	}
	if m.cur < 0 {
		return chunkenc.ValNone
	}
	m.t = m.ts[m.cur]
	return m.vts[m.cur]
}

func (m *mergeIterator) load(i int, vt chunkenc.ValueType) {
	m.vts[i] = vt
	if vt != chunkenc.ValNone {
		m.ts[i] = m.its[i].AtT()
	}
}

func (m *mergeIterator) Next() chunkenc.ValueType {
	if !m.init {
		m.init = true
		for i, it := range m.its {
			m.load(i, it.Next())
		}
		return m.pick()
	}
	if m.cur < 0 {
		return chunkenc.ValNone
	}
	for i, it := range m.its {
		for m.vts[i] != chunkenc.ValNone && m.ts[i] <= m.t {
			m.load(i, it.Next())
		}
	}
	return m.pick()
}

func (m *mergeIterator) Seek(t int64) chunkenc.ValueType {
	if m.init && (m.cur < 0 || m.t >= t) {
		if m.cur < 0 {
			return chunkenc.ValNone
		}
		return m.vts[m.cur]
	}
	m.init = true
	for i, it := range m.its {
		if m.vts[i] == chunkenc.ValNone && m.cur >= 0 {
			continue
		}
		m.load(i, it.Seek(t))
	}
	return m.pick()
}

func (m *mergeIterator) At() (int64, float64) { return m.its[m.cur].At() }

func (m *mergeIterator) AtHistogram(h *histogram.Histogram) (int64, *histogram.Histogram) {
	t, h := m.its[m.cur].AtHistogram(h)
	if m.prev != m.cur && h.CounterResetHint == histogram.NotCounterReset {
		h.CounterResetHint = histogram.UnknownCounterReset
	}
	return t, h
}

func (m *mergeIterator) AtFloatHistogram(fh *histogram.FloatHistogram) (int64, *histogram.FloatHistogram) {
	t, fh := m.its[m.cur].AtFloatHistogram(fh)
	if m.prev != m.cur && fh.CounterResetHint == histogram.NotCounterReset {
		fh.CounterResetHint = histogram.UnknownCounterReset
	}
	return t, fh
}

func (m *mergeIterator) AtT() int64  { return m.t }
func (m *mergeIterator) AtST() int64 { return m.its[m.cur].AtST() }

func (m *mergeIterator) Err() error {
	for _, it := range m.its {
		if err := it.Err(); err != nil {
			return err
		}
	}
	return nil
}
