package query

import (
	"errors"
	"io"
	"slices"

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

// readSeries reads a Series stream to its end. Labels in without are removed
// from every series (the stores should have done it already); if that or a
// store breaks the label order, the series are sorted again (stably, so the
// chunks of one source stay in order). On error it returns what it read so
// far with the error.
func readSeries(stream seriesStream, without []string, aggrs []storepb.Aggr) (seriesResponse, error) {
	var (
		out      seriesResponse
		b        = labels.NewScratchBuilder(8)
		unsorted bool
	)
	add := func(s *storepb.Series) {
		ws := &wireSeries{lset: labelsFromProto(&b, s.GetLabels(), without), chunks: s.GetChunks(), src: len(out.series), aggrs: aggrs}
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

// labelsFromProto converts wire labels, dropping the names in without.
func labelsFromProto(b *labels.ScratchBuilder, in []*storepb.Label, without []string) labels.Labels {
	b.Reset()
	for _, l := range in {
		if slices.Contains(without, l.GetName()) {
			continue
		}
		b.Add(l.GetName(), l.GetValue())
	}
	b.Sort()
	return b.Labels()
}

// wireSeries is one Series frame as a storage.Series: its chunks are decoded
// when iterated.
type wireSeries struct {
	lset   labels.Labels
	chunks []*storepb.AggrChunk
	src    int
	aggrs  []storepb.Aggr
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

// listSeriesSet yields the series of a list as they are (one per frame).
type listSeriesSet struct {
	series   []*wireSeries
	warnings annotations.Annotations
	cur      storage.Series
}

func (s *listSeriesSet) Next() bool {
	if len(s.series) == 0 {
		return false
	}
	s.cur, s.series = s.series[0], s.series[1:]
	return true
}

func (s *listSeriesSet) At() storage.Series                { return s.cur }
func (s *listSeriesSet) Err() error                        { return nil }
func (s *listSeriesSet) Warnings() annotations.Annotations { return s.warnings }

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
