package query

import (
	"errors"
	"io"
	"slices"
	"strings"

	"github.com/prometheus/prometheus/model/labels"
	"github.com/prometheus/prometheus/storage"
	"github.com/prometheus/prometheus/tsdb/chunkenc"
	"github.com/prometheus/prometheus/util/annotations"

	"github.com/strata-io/strata/pkg/storepb"
)

// seriesResponse is the whole answer of one Series call.
type seriesResponse struct {
	series   []*wireSeries // sorted by labels; equal label sets are consecutive
	warnings annotations.Annotations
}

// seriesStream is the receiving end of a Series call.
type seriesStream interface {
	Recv() (*storepb.SeriesResponse, error)
}

// readSeries reads a Series stream to its end. Labels in without (the replica
// labels, when deduplicating) are removed from every series and their values
// kept as the series' replica key; if that or a store breaks the label order,
// the series are sorted again (stably, so the chunks of one source stay in
// order). On error it returns what it read so far with the error.
func readSeries(stream seriesStream, without []string, aggrs []storepb.Aggr) (seriesResponse, error) {
	var (
		out      seriesResponse
		b        = labels.NewScratchBuilder(8)
		unsorted bool
	)
	add := func(s *storepb.Series) {
		lset, replica := labelsFromProto(&b, s.GetLabels(), without)
		ws := &wireSeries{lset: lset, replica: replica, chunks: s.GetChunks(), src: len(out.series), aggrs: aggrs}
		if n := len(out.series); n > 0 && labels.Compare(out.series[n-1].lset, ws.lset) > 0 {
			unsorted = true
		}
		out.series = append(out.series, ws)
	}
	for {
		resp, err := stream.Recv()
		if errors.Is(err, io.EOF) {
			break
		}
		if err != nil {
			return out, err
		}
		switch r := resp.GetResult().(type) {
		case *storepb.SeriesResponse_Series:
			add(r.Series)
		case *storepb.SeriesResponse_Batch:
			for _, s := range r.Batch.GetSeries() {
				add(s)
			}
		case *storepb.SeriesResponse_Warning:
			out.warnings.Add(errors.New(r.Warning))
		}
	}
	if unsorted {
		slices.SortStableFunc(out.series, func(a, b *wireSeries) int { return labels.Compare(a.lset, b.lset) })
	}
	return out, nil
}

// labelsFromProto converts wire labels, dropping the names in without. It
// returns the dropped labels as a key that tells the replicas of one label
// set apart: the value when without has one name, else "name=value" joined
// by 0xff; "" when none was there.
func labelsFromProto(b *labels.ScratchBuilder, in []*storepb.Label, without []string) (labels.Labels, string) {
	b.Reset()
	var key string
	for _, l := range in {
		if slices.Contains(without, l.GetName()) {
			switch {
			case len(without) == 1:
				key = l.GetValue() // the name is implied: no allocation
			case key != "":
				key += "\xff" + l.GetName() + "=" + l.GetValue()
			default:
				key = l.GetName() + "=" + l.GetValue()
			}
			continue
		}
		b.Add(l.GetName(), l.GetValue())
	}
	b.Sort()
	return b.Labels(), key
}

// wireSeries is one Series frame as a storage.Series: its chunks are decoded
// when iterated.
type wireSeries struct {
	lset    labels.Labels
	replica string // the replica labels removed from lset, see labelsFromProto
	chunks  []*storepb.AggrChunk
	src     int
	aggrs   []storepb.Aggr
}

func (s *wireSeries) Labels() labels.Labels { return s.lset }

func (s *wireSeries) Iterator(chunkenc.Iterator) chunkenc.Iterator {
	return newSeriesIterator(sortedRefs(s.chunks, s.src, nil), s.aggrs)
}

// sortedRefs appends the chunks of one source to refs, keeping refs sorted by
// min_time (stable, so each source's own order is kept on ties).
func sortedRefs(chunks []*storepb.AggrChunk, src int, refs []chunkRef) []chunkRef {
	for _, c := range chunks {
		refs = append(refs, chunkRef{c: c, src: src})
	}
	slices.SortStableFunc(refs, func(a, b chunkRef) int {
		switch {
		case a.c.GetMinTime() < b.c.GetMinTime():
			return -1
		case a.c.GetMinTime() > b.c.GetMinTime():
			return 1
		}
		return 0
	})
	return refs
}

// mergedSeries is one label set sent by several sources (stores or replicas
// that were not deduplicated): its samples are the chain merge of all their
// chunks, with duplicate timestamps dropped.
type mergedSeries struct {
	lset   labels.Labels
	copies []*wireSeries
	aggrs  []storepb.Aggr
}

func (s *mergedSeries) Labels() labels.Labels { return s.lset }

func (s *mergedSeries) Iterator(chunkenc.Iterator) chunkenc.Iterator {
	var refs []chunkRef
	for _, c := range s.copies {
		for _, chk := range c.chunks {
			refs = append(refs, chunkRef{c: chk, src: c.src})
		}
	}
	return newSeriesIterator(sortedRefs(nil, 0, refs), s.aggrs)
}

// mergeSeriesSet yields one series per label set of a sorted list, merging
// consecutive equal ones.
type mergeSeriesSet struct {
	series   []*wireSeries
	warnings annotations.Annotations
	aggrs    []storepb.Aggr
	cur      storage.Series
}

func (s *mergeSeriesSet) Next() bool {
	if len(s.series) == 0 {
		return false
	}
	n := 1
	for n < len(s.series) && labels.Equal(s.series[0].lset, s.series[n].lset) {
		n++
	}
	if n == 1 {
		s.cur = s.series[0]
	} else {
		s.cur = &mergedSeries{lset: s.series[0].lset, copies: s.series[:n], aggrs: s.aggrs}
	}
	s.series = s.series[n:]
	return true
}

func (s *mergeSeriesSet) At() storage.Series                { return s.cur }
func (s *mergeSeriesSet) Err() error                        { return nil }
func (s *mergeSeriesSet) Warnings() annotations.Annotations { return s.warnings }

// replicaSeriesSet is the input of dedup.NewSeriesSet: for each label set of
// a sorted list (replica labels removed), one series per replica, next to
// each other. Frames of one replica (equal replica keys: the same series
// served by several stores, e.g. a sidecar and a store gateway) are merged
// as copies; frames that had no replica label stay apart, each one a replica
// of its own. Replicas of a label set come in replica-key order. It yields
// at most limit label sets (0: all).
//
// This is what keeps the replicas of a series apart when one endpoint serves
// them all (a store gateway over the bucket both replicas upload to): the
// querier asks the stores for the replica labels and strips them itself, so
// the stores never merge two replicas into one frame.
type replicaSeriesSet struct {
	series   []*wireSeries
	warnings annotations.Annotations
	aggrs    []storepb.Aggr
	limit    int

	groups  int              // label sets yielded
	pending []storage.Series // replicas of the current label set not yielded yet
	buf     []storage.Series // backing array of pending, reused
	cur     storage.Series
}

func (s *replicaSeriesSet) Next() bool {
	if len(s.pending) > 0 {
		s.cur, s.pending = s.pending[0], s.pending[1:]
		return true
	}
	if len(s.series) == 0 || (s.limit > 0 && s.groups >= s.limit) {
		return false
	}
	s.groups++
	n := 1
	for n < len(s.series) && labels.Equal(s.series[0].lset, s.series[n].lset) {
		n++
	}
	group := s.series[:n]
	s.series = s.series[n:]
	if n == 1 {
		s.cur = group[0]
		return true
	}
	slices.SortStableFunc(group, func(a, b *wireSeries) int { return strings.Compare(a.replica, b.replica) })
	s.pending = s.buf[:0]
	for i := 0; i < n; {
		j := i + 1
		if group[i].replica != "" {
			for j < n && group[j].replica == group[i].replica {
				j++
			}
		}
		if j == i+1 {
			s.pending = append(s.pending, group[i])
		} else {
			s.pending = append(s.pending, &mergedSeries{lset: group[i].lset, copies: group[i:j], aggrs: s.aggrs})
		}
		i = j
	}
	s.buf = s.pending
	s.cur, s.pending = s.pending[0], s.pending[1:]
	return true
}

func (s *replicaSeriesSet) At() storage.Series                { return s.cur }
func (s *replicaSeriesSet) Err() error                        { return nil }
func (s *replicaSeriesSet) Warnings() annotations.Annotations { return s.warnings }

// errSeriesSet is an empty set that failed, keeping the warnings received
// before the failure.
type errSeriesSet struct {
	err      error
	warnings annotations.Annotations
}

func (errSeriesSet) Next() bool                           { return false }
func (errSeriesSet) At() storage.Series                   { return nil }
func (s *errSeriesSet) Err() error                        { return s.err }
func (s *errSeriesSet) Warnings() annotations.Annotations { return s.warnings }

// lazySeriesSet is a SeriesSet being fetched in the background; every method
// waits for the fetch to end.
type lazySeriesSet struct {
	done chan struct{}
	set  storage.SeriesSet // set before done is closed
}

func (s *lazySeriesSet) Next() bool {
	<-s.done
	return s.set.Next()
}

func (s *lazySeriesSet) At() storage.Series {
	<-s.done
	return s.set.At()
}

func (s *lazySeriesSet) Err() error {
	<-s.done
	return s.set.Err()
}

func (s *lazySeriesSet) Warnings() annotations.Annotations {
	<-s.done
	return s.set.Warnings()
}
