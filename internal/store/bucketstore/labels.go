package bucketstore

import (
	"context"
	"fmt"
	"math"
	"slices"
	"strings"

	"github.com/prometheus/prometheus/model/labels"
	"github.com/prometheus/prometheus/storage"
	"github.com/prometheus/prometheus/tsdb/chunks"
	"google.golang.org/grpc/codes"
	"google.golang.org/grpc/status"

	"github.com/strata-io/strata/internal/store"
	"github.com/strata-io/strata/pkg/storepb"
)

// labelCall gathers what the blocks of a label request answer: per block
// results or, for a block that cannot be read, an error (the call's error
// under ABORT, a warning under WARN).
type labelCall struct {
	s     *Store
	ctx   context.Context
	abort bool
	warns []string
}

func (c *labelCall) fail(b *block, err error) error {
	if ctxErr := c.ctx.Err(); ctxErr != nil {
		return status.FromContextError(ctxErr).Err()
	}
	err = fmt.Errorf("block %s: %w", b.meta.ULID, err)
	c.s.logger.Warn("read block", "block", b.meta.ULID, "err", err)
	if c.abort {
		return status.Error(codes.Internal, err.Error())
	}
	c.warns = append(c.warns, err.Error())
	return nil
}

// LabelNames implements storepb.StoreServer: the sorted, unique label names
// of the series matching the request in the blocks overlapping [start, end]
// (block granularity), the blocks' external label names included, without
// the without_replica_labels, at most limit of them when limit > 0.
func (s *Store) LabelNames(ctx context.Context, req *storepb.LabelNamesRequest) (*storepb.LabelNamesResponse, error) {
	if err := storepb.ValidateLabelNamesRequest(req); err != nil {
		return nil, err
	}
	ms, err := storepb.MatchersFromProto(req.GetMatchers())
	if err != nil {
		return nil, status.Errorf(codes.InvalidArgument, "label names request matchers: %v", err)
	}
	mint, maxt := storepb.LabelRequestRange(req.GetStart(), req.GetEnd())
	blocks, err := s.acquire(func(b *block) bool { return b.overlaps(mint, maxt) })
	if err != nil {
		return nil, status.Error(codes.Unavailable, err.Error())
	}
	defer releaseAll(blocks)
	c := &labelCall{s: s, ctx: ctx, abort: storepb.PartialResponseDisabled(req.GetPartialResponseDisabled(), req.GetPartialResponseStrategy())}
	if c.warns, err = s.unloadedIssues(mint, maxt, math.MaxInt64, ms, c.abort); err != nil {
		return nil, err
	}

	var names []string
	for _, b := range blocks {
		rest, ok := store.SplitMatchers(b.ext, ms)
		if !ok {
			continue
		}
		var got []string
		err := func() (err error) {
			if len(rest) == 0 {
				got, err = b.ir.LabelNames(ctx)
				return err
			}
			p, err := b.postings(ctx, rest)
			if err != nil {
				return err
			}
			got, err = b.ir.LabelNamesFor(ctx, p)
			return err
		}()
		if err != nil {
			if err := c.fail(b, err); err != nil {
				return nil, err
			}
			continue
		}
		cloned := make([]string, 0, len(got)+b.ext.Len())
		for _, n := range got {
			cloned = append(cloned, strings.Clone(n))
		}
		names = append(names, store.AddExternalNames(cloned, b.ext)...)
	}
	names = store.FinishLabelNames(names, req.GetWithoutReplicaLabels(), req.GetLimit())
	return &storepb.LabelNamesResponse{Names: names, Warnings: c.warns}, nil
}

// LabelValues implements storepb.StoreServer: the sorted, unique, non-empty
// values of the label over the series matching the request in the blocks
// overlapping [start, end], at most limit of them when limit > 0. For a
// block's external label it is the label's value when a series of the block
// matches; for a name in without_replica_labels it is empty.
func (s *Store) LabelValues(ctx context.Context, req *storepb.LabelValuesRequest) (*storepb.LabelValuesResponse, error) {
	if err := storepb.ValidateLabelValuesRequest(req); err != nil {
		return nil, err
	}
	name := req.GetLabel()
	ms, err := storepb.MatchersFromProto(req.GetMatchers())
	if err != nil {
		return nil, status.Errorf(codes.InvalidArgument, "label values request matchers: %v", err)
	}
	if slices.Contains(req.GetWithoutReplicaLabels(), name) {
		return &storepb.LabelValuesResponse{}, nil
	}
	mint, maxt := storepb.LabelRequestRange(req.GetStart(), req.GetEnd())
	blocks, err := s.acquire(func(b *block) bool { return b.overlaps(mint, maxt) })
	if err != nil {
		return nil, status.Error(codes.Unavailable, err.Error())
	}
	defer releaseAll(blocks)
	c := &labelCall{s: s, ctx: ctx, abort: storepb.PartialResponseDisabled(req.GetPartialResponseDisabled(), req.GetPartialResponseStrategy())}
	if c.warns, err = s.unloadedIssues(mint, maxt, math.MaxInt64, ms, c.abort); err != nil {
		return nil, err
	}

	var values []string
	for _, b := range blocks {
		rest, ok := store.SplitMatchers(b.ext, ms)
		if !ok {
			continue
		}
		got, err := b.labelValues(ctx, name, rest)
		if err != nil {
			if err := c.fail(b, err); err != nil {
				return nil, err
			}
			continue
		}
		values = append(values, got...)
	}
	values = store.FinishLabelValues(values, req.GetLimit())
	return &storepb.LabelValuesResponse{Values: values, Warnings: c.warns}, nil
}

// labelValues returns the values of name over the block's series matching
// ms (matchers on external labels removed), copied out of the index.
func (b *block) labelValues(ctx context.Context, name string, ms []*labels.Matcher) (out []string, err error) {
	err = func() error {
		if b.ext.Has(name) {
			// Known value, served when some series matches.
			p, err := b.postings(ctx, ms)
			if err != nil {
				return err
			}
			if p.Next() {
				out = []string{b.ext.Get(name)}
			}
			return p.Err()
		}
		if len(ms) == 0 {
			vs, err := b.ir.SortedLabelValues(ctx, name, nil)
			for _, v := range vs {
				out = append(out, strings.Clone(v))
			}
			return err
		}
		// Intersect the matchers with "name is set" and read the value
		// from each selected series.
		ms = append(slices.Clone(ms), labels.MustNewMatcher(labels.MatchNotEqual, name, ""))
		p, err := b.postings(ctx, ms)
		if err != nil {
			return err
		}
		seen := map[string]struct{}{}
		return b.forEachSeries(ctx, p, func(_ storage.SeriesRef, lset labels.Labels, _ []chunks.Meta) error {
			v := lset.Get(name)
			if _, ok := seen[v]; !ok {
				seen[v] = struct{}{}
				out = append(out, strings.Clone(v))
			}
			return nil
		})
	}()
	return out, err
}
