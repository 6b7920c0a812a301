package tsdbstore

import (
	"fmt"

	"github.com/prometheus/prometheus/model/labels"
	"github.com/prometheus/prometheus/storage"
	"github.com/prometheus/prometheus/tsdb/chunks"
	"google.golang.org/grpc"
	"google.golang.org/grpc/codes"
	"google.golang.org/grpc/status"

	"github.com/strata-io/strata/internal/store"
	"github.com/strata-io/strata/pkg/storepb"
)

// Series implements storepb.StoreServer. It streams the series matching the
// request, sorted by their final label set (external labels set,
// without_replica_labels removed), each with its chunks overlapping
// [min_time, max_time] (ms, inclusive) sorted by min time. Series equal after
// stripping are sent one after the other, not merged.
func (s *Store) Series(req *storepb.SeriesRequest, srv grpc.ServerStreamingServer[storepb.SeriesResponse]) error {
	if err := storepb.ValidateSeriesRequest(req); err != nil {
		return err
	}
	ctx := srv.Context()
	mint, maxt := req.GetMinTime(), req.GetMaxTime()
	ms, err := storepb.MatchersFromProto(req.GetMatchers())
	if err != nil {
		return status.Errorf(codes.InvalidArgument, "series request matchers: %v", err)
	}
	ms, ok := store.SplitMatchers(s.extLabels, ms)
	if !ok {
		return nil
	}
	if len(ms) == 0 {
		// Select every series: the empty label name is absent from all of
		// them, so `""=""` matches all (tsdb special-cases this matcher).
		ms = append(ms, labels.MustNewMatcher(labels.MatchEqual, "", ""))
	}

	q, err := s.db.ChunkQuerier(mint, maxt)
	if err != nil {
		return status.Errorf(codes.Internal, "open querier for [%d, %d]: %v", mint, maxt, err)
	}
	defer func() {
		if err := q.Close(); err != nil {
			s.logger.Warn("close querier", "err", err)
		}
	}()

	// Setting external labels or removing labels can change the order of
	// series: then the series are re-sorted by their final labels before
	// any is sent.
	final := store.NewSeriesLabels(s.extLabels, req.GetWithoutReplicaLabels())
	resort := !final.Unchanged()
	limit := int(max(req.GetLimit(), 0))

	// Whole chunks: trimming them at the range would re-encode the first
	// histogram chunk and lose its counter-reset hint.
	hints := &storage.SelectHints{Start: mint, End: maxt, DisableTrimming: true}
	if req.GetSkipChunks() {
		hints.Func = "series" // the storage may skip reading chunks
	}
	if !resort {
		hints.Limit = limit
	}
	set := q.Select(ctx, true, hints, ms...)

	w := storepb.NewSeriesWriter(srv, req.GetResponseBatchSize())
	conv := chunkConverter{mint: mint, maxt: maxt}
	var (
		it   chunks.Iterator
		sent int
	)
	emit := func(lset labels.Labels, cs storage.ChunkSeries) (bool, error) {
		out := &storepb.Series{Labels: storepb.LabelsToProto(lset)}
		if !req.GetSkipChunks() {
			it = cs.Iterator(it)
			var err error
			if out.Chunks, err = conv.convert(it); err != nil {
				return false, fmt.Errorf("read chunks of series %s: %w", lset, err)
			}
			if len(out.Chunks) == 0 {
				return true, nil
			}
		}
		if err := w.Send(out); err != nil {
			return false, err
		}
		sent++
		return limit == 0 || sent < limit, nil
	}

	if !resort {
		for set.Next() {
			cs := set.At()
			more, err := emit(cs.Labels(), cs)
			if err != nil {
				return storepb.StatusError(err)
			}
			if !more {
				break
			}
		}
	} else {
		type pending struct {
			lset labels.Labels
			cs   storage.ChunkSeries
		}
		var all []pending
		for set.Next() {
			cs := set.At()
			all = append(all, pending{lset: final.Apply(cs.Labels()), cs: cs})
		}
		store.SortSeries(all, func(p pending) labels.Labels { return p.lset })
		for _, p := range all {
			more, err := emit(p.lset, p.cs)
			if err != nil {
				return storepb.StatusError(err)
			}
			if !more {
				break
			}
		}
	}
	if err := set.Err(); err != nil {
		return status.Errorf(codes.Internal, "select series: %v", err)
	}
	if err := w.Flush(); err != nil {
		return storepb.StatusError(err)
	}
	for _, warn := range set.Warnings().AsErrors() {
		if err := srv.Send(&storepb.SeriesResponse{Result: &storepb.SeriesResponse_Warning{Warning: warn.Error()}}); err != nil {
			return storepb.StatusError(err)
		}
	}
	return nil
}
