package dedup

import (
	"github.com/prometheus/prometheus/model/labels"
	"github.com/prometheus/prometheus/storage"
	"github.com/prometheus/prometheus/tsdb/chunkenc"
	"github.com/prometheus/prometheus/util/annotations"
)

// counterFuncs are the PromQL functions that read their input as a counter.
var counterFuncs = map[string]struct{}{
	"rate": {}, "increase": {}, "irate": {}, "resets": {},
}

// IsCounterFunc tells whether the PromQL function name (storage.SelectHints.Func)
// reads its input as a counter, which is what NewSeriesSet's isCounter wants.
func IsCounterFunc(name string) bool {
	_, ok := counterFuncs[name]
	return ok
}

// seriesSet groups consecutive replicas of the wrapped set.
type seriesSet struct {
	set       storage.SeriesSet
	isCounter bool

	peek    storage.Series // first series of the next group, nil when none
	hasPeek bool
	cur     storage.Series
}

// NewSeriesSet wraps a SeriesSet whose consecutive series with equal labels are
// replicas of one series, and yields one deduplicated series per label set, in
// the order of the input. isCounter marks the query as reading counters (see
// IsCounterFunc) so that replica switches never make a value go back. The
// series of set must stay valid after set.Next (each is kept until its group
// is complete). The result is not safe for concurrent use.
func NewSeriesSet(set storage.SeriesSet, isCounter bool) storage.SeriesSet {
	s := &seriesSet{set: set, isCounter: isCounter}
	s.hasPeek = set.Next()
	if s.hasPeek {
		s.peek = set.At()
	}
	return s
}

// Next implements storage.SeriesSet.
func (s *seriesSet) Next() bool {
	if !s.hasPeek {
		return false
	}
	first := s.peek
	lset := first.Labels()
	var group []storage.Series
	for {
		s.hasPeek = s.set.Next()
		if !s.hasPeek {
			s.peek = nil
			break
		}
		s.peek = s.set.At()
		if !labels.Equal(lset, s.peek.Labels()) {
			break
		}
		if group == nil {
			group = append(group, first)
		}
		group = append(group, s.peek)
	}
	if group == nil {
		s.cur = first
		return true
	}
	s.cur = &series{lset: lset, replicas: group, isCounter: s.isCounter}
	return true
}

// At implements storage.SeriesSet.
func (s *seriesSet) At() storage.Series { return s.cur }

// Err implements storage.SeriesSet.
func (s *seriesSet) Err() error { return s.set.Err() }

// Warnings implements storage.SeriesSet.
func (s *seriesSet) Warnings() annotations.Annotations { return s.set.Warnings() }

// series is one label set backed by several replicas.
type series struct {
	lset      labels.Labels
	replicas  []storage.Series
	isCounter bool
}

func (s *series) Labels() labels.Labels { return s.lset }

func (s *series) Iterator(reuse chunkenc.Iterator) chunkenc.Iterator {
	its := make([]chunkenc.Iterator, 0, len(s.replicas))
	old, _ := reuse.(*Iterator)
	for i, r := range s.replicas {
		var prev chunkenc.Iterator
		if old != nil && i < len(old.reps) {
			prev = old.reps[i].it
		}
		its = append(its, r.Iterator(prev))
	}
	if old != nil {
		old.Reset(s.isCounter, its...)
		return old
	}
	return NewSeriesIterator(s.isCounter, its...)
}
