package bucketstore

import (
	"context"
	"fmt"
	"slices"

	"github.com/prometheus/prometheus/model/labels"
	"github.com/prometheus/prometheus/storage"
	"github.com/prometheus/prometheus/tsdb"
	"github.com/prometheus/prometheus/tsdb/chunks"
	"github.com/prometheus/prometheus/tsdb/index"
	"google.golang.org/grpc"
	"google.golang.org/grpc/codes"
	"google.golang.org/grpc/status"

	"github.com/strata-io/strata/internal/store"
	"github.com/strata-io/strata/pkg/storepb"
)

// seriesWindow is how many series have their chunks fetched together: the
// chunk reads of one window are merged per block (see planChunkReads), and
// at most one window of chunk data is held in memory.
const seriesWindow = 1024

// blockSeries is one series of one block selected by a request.
type blockSeries struct {
	lset labels.Labels // final: external labels set, without labels removed
	b    *block
	chks []chunks.Meta // those overlapping the request's range
}

// Series implements storepb.StoreServer. It streams the series of the
// blocks overlapping [min_time, max_time] (ms, inclusive) whose external
// labels do not contradict the matchers, sorted by their final label set
// (external labels set, without_replica_labels removed). Series with equal
// final label sets (the same series in several blocks of a stream, or
// replicas once stripped) are sent as one series with all their chunks,
// sorted by min time. Only chunks overlapping the range are sent.
//
// Downsampled blocks serve requests with max_resolution_window > 0 that
// ask for aggregates: per stream, each part of the range comes from the
// coarsest resolution <= max_resolution_window holding it, gaps from finer
// ones (chooseRanges); a block's chunk is sent when it overlaps a part the
// block serves, so a chunk at the edge of a gap may repeat a little of what
// a coarser chunk summarises. Aggregate chunks carry the requested
// aggregates only; RAW is ignored for them (see resolution.go).
//
// A block that cannot be read fails the call under the ABORT strategy and
// yields a warning frame under WARN.
//
// At most SeriesMaxConcurrency calls run at once; the others wait for a
// slot until their context ends. A call selecting more than
// RequestSeriesLimit series (after the request's own limit) fails with
// ResourceExhausted before sending anything; one reading more than
// RequestSamplesLimit samples fails with ResourceExhausted when the chunks
// that cross the limit are read (series of earlier windows may have been
// sent).
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
	if err := validateAggregates(req.GetAggregates()); err != nil {
		return status.Errorf(codes.InvalidArgument, "series request: %v", err)
	}
	select {
	case s.seriesSlots <- struct{}{}:
		defer func() { <-s.seriesSlots }()
	case <-ctx.Done():
		return status.FromContextError(ctx.Err()).Err()
	}
	maxRes := max(req.GetMaxResolutionWindow(), 0)
	if !wantsAggregates(req.GetAggregates()) {
		maxRes = 0 // the client cannot read downsampled chunks
	}
	blocks, err := s.acquire(func(b *block) bool { return b.overlaps(mint, maxt) && b.resolution() <= maxRes })
	if err != nil {
		return status.Error(codes.Unavailable, err.Error())
	}
	defer releaseAll(blocks)
	ranges := chooseRanges(blocks, mint, maxt)

	abort := storepb.PartialResponseDisabled(req.GetPartialResponseDisabled(), req.GetPartialResponseStrategy())
	// Blocks the last sync could not load: the answer lacks their data.
	warns, err := s.unloadedIssues(mint, maxt, maxRes, ms, abort)
	if err != nil {
		return err
	}
	var all []blockSeries
	// fail handles an error reading a block: the call's error under ABORT,
	// a warning under WARN.
	fail := func(b *block, err error) error {
		if ctxErr := ctx.Err(); ctxErr != nil {
			return status.FromContextError(ctxErr).Err()
		}
		err = fmt.Errorf("block %s: %w", b.meta.ULID, err)
		s.logger.Warn("read block", "block", b.meta.ULID, "err", err)
		if abort {
			return status.Error(codes.Internal, err.Error())
		}
		warns = append(warns, err.Error())
		return nil
	}
	for _, b := range blocks {
		if len(ranges[b]) == 0 {
			continue // covered by coarser blocks
		}
		bs, err := b.selectSeries(ctx, ms, ranges[b], req.GetWithoutReplicaLabels())
		if err != nil {
			if err := fail(b, err); err != nil {
				return err
			}
			continue
		}
		all = append(all, bs...)
	}
	// Stable: blocks were visited by min time, so equal series keep their
	// chunks in time order.
	store.SortSeries(all, func(bs blockSeries) labels.Labels { return bs.lset })

	// groups[i] = [start, end) of all with equal label sets.
	var groups [][2]int
	for i := 0; i < len(all); {
		j := i + 1
		for j < len(all) && labels.Equal(all[i].lset, all[j].lset) {
			j++
		}
		groups = append(groups, [2]int{i, j})
		i = j
	}
	if l := req.GetLimit(); l > 0 && int64(len(groups)) > l {
		groups = groups[:l]
	}
	if l := s.cfg.RequestSeriesLimit; l > 0 && uint64(len(groups)) > l {
		s.m.limited.WithLabelValues("series").Inc()
		return status.Errorf(codes.ResourceExhausted,
			"the request selects %d series, which exceeds --store.limits.request-series=%d: narrow the query or raise the limit", len(groups), l)
	}

	var samples uint64
	w := storepb.NewSeriesWriter(srv, req.GetResponseBatchSize())
	for len(groups) > 0 {
		n := 0
		k := 0
		for k < len(groups) && (k == 0 || n < seriesWindow) {
			n += groups[k][1] - groups[k][0]
			k++
		}
		win := groups[:k]
		groups = groups[k:]
		loaded := map[*block]map[chunks.ChunkRef]rawChunk{}
		if !req.GetSkipChunks() {
			refs := map[*block][]chunks.ChunkRef{}
			for _, g := range win {
				for _, e := range all[g[0]:g[1]] {
					for _, c := range e.chks {
						refs[e.b] = append(refs[e.b], c.Ref)
					}
				}
			}
			for _, b := range blocks {
				if len(refs[b]) == 0 {
					continue
				}
				cs, err := b.loadChunks(ctx, refs[b])
				if err != nil {
					if err := fail(b, err); err != nil {
						return err
					}
					continue
				}
				loaded[b] = cs
			}
			for _, cs := range loaded {
				for _, c := range cs {
					samples += uint64(c.numSamples())
				}
			}
			if l := s.cfg.RequestSamplesLimit; l > 0 && samples > l {
				s.m.limited.WithLabelValues("samples").Inc()
				return status.Errorf(codes.ResourceExhausted,
					"the request selects at least %d samples, which exceeds --store.limits.request-samples=%d: narrow the query or raise the limit", samples, l)
			}
		}
		for _, g := range win {
			out := &storepb.Series{Labels: storepb.LabelsToProto(all[g[0]].lset)}
			if !req.GetSkipChunks() {
				for _, e := range all[g[0]:g[1]] {
					cs, ok := loaded[e.b]
					if !ok {
						continue // block failed, warned above
					}
					for _, m := range e.chks {
						wcs, err := wireChunks(cs[m.Ref], m.MinTime, m.MaxTime, req.GetAggregates())
						if err != nil {
							return status.Errorf(codes.Internal, "block %s, series %s: %v", e.b.meta.ULID, e.lset, err)
						}
						for _, c := range wcs {
							if c.GetMaxTime() >= mint && c.GetMinTime() <= maxt {
								out.Chunks = append(out.Chunks, c)
							}
						}
					}
				}
				if len(out.Chunks) == 0 {
					continue
				}
				slices.SortStableFunc(out.Chunks, func(a, b *storepb.AggrChunk) int { return cmpInt64(a.GetMinTime(), b.GetMinTime()) })
			}
			if err := w.Send(out); err != nil {
				return storepb.StatusError(err)
			}
		}
	}
	if err := w.Flush(); err != nil {
		return storepb.StatusError(err)
	}
	for _, warn := range warns {
		if err := srv.Send(&storepb.SeriesResponse{Result: &storepb.SeriesResponse_Warning{Warning: warn}}); err != nil {
			return storepb.StatusError(err)
		}
	}
	return nil
}

// postings returns the postings of the series of the block matching ms
// (matchers on external label names already removed); no matcher selects
// every series.
func (b *block) postings(ctx context.Context, ms []*labels.Matcher) (index.Postings, error) {
	if len(ms) == 0 {
		// `""=""` selects every series (the all-postings key).
		ms = []*labels.Matcher{labels.MustNewMatcher(labels.MatchEqual, "", "")}
	}
	return tsdb.PostingsForMatchers(ctx, b.index(), ms...)
}

// selectSeries returns the series of the block matching ms with at least
// one chunk overlapping one of ranges (ms, inclusive), with their final
// labels and those chunks.
func (b *block) selectSeries(ctx context.Context, ms []*labels.Matcher, ranges []timeRange, without []string) ([]blockSeries, error) {
	rest, ok := store.SplitMatchers(b.ext, ms)
	if !ok {
		return nil, nil
	}
	p, err := b.postings(ctx, rest)
	if err != nil {
		return nil, err
	}
	var (
		out   []blockSeries
		final = store.NewSeriesLabels(b.ext, without)
	)
	err = b.forEachSeries(ctx, p, func(_ storage.SeriesRef, lset labels.Labels, metas []chunks.Meta) error {
		var keep []chunks.Meta
		for _, m := range metas {
			if overlapsAny(ranges, m.MinTime, m.MaxTime) {
				keep = append(keep, m)
			}
		}
		if len(keep) > 0 {
			out = append(out, blockSeries{lset: final.Apply(lset), b: b, chks: keep})
		}
		return nil
	})
	if err != nil {
		return nil, err
	}
	return out, ctx.Err()
}
