package tsdbstore

import (
	"context"
	"slices"
	"strings"

	"github.com/prometheus/prometheus/storage"
	"google.golang.org/grpc/codes"
	"google.golang.org/grpc/status"

	"github.com/strata-io/strata/internal/store"
	"github.com/strata-io/strata/pkg/storepb"
)

// LabelNames implements storepb.StoreServer: the sorted, unique label names
// of the series matching the request in [start, end], external label names
// included (when any series matches) and without_replica_labels removed, at
// most limit of them when limit > 0.
func (s *Store) LabelNames(ctx context.Context, req *storepb.LabelNamesRequest) (*storepb.LabelNamesResponse, error) {
	if err := storepb.ValidateLabelNamesRequest(req); err != nil {
		return nil, err
	}
	ms, err := storepb.MatchersFromProto(req.GetMatchers())
	if err != nil {
		return nil, status.Errorf(codes.InvalidArgument, "label names request matchers: %v", err)
	}
	ms, ok := store.SplitMatchers(s.extLabels, ms)
	mint, maxt := storepb.LabelRequestRange(req.GetStart(), req.GetEnd())
	if !ok || mint > maxt {
		return &storepb.LabelNamesResponse{}, nil
	}
	q, err := s.db.ChunkQuerier(mint, maxt)
	if err != nil {
		return nil, status.Errorf(codes.Internal, "open querier for [%d, %d]: %v", mint, maxt, err)
	}
	defer func() {
		if err := q.Close(); err != nil {
			s.logger.Warn("close querier", "err", err)
		}
	}()

	names, warns, err := q.LabelNames(ctx, &storage.LabelHints{}, ms...)
	if err != nil {
		return nil, storepb.StatusError(err)
	}
	names = store.AddExternalNames(cloneStrings(names), s.extLabels)
	names = store.FinishLabelNames(names, req.GetWithoutReplicaLabels(), req.GetLimit())
	return &storepb.LabelNamesResponse{Names: names, Warnings: warningStrings(warns.AsErrors())}, nil
}

// LabelValues implements storepb.StoreServer: the sorted, unique values of
// req.label over the series matching the request in [start, end], at most
// limit of them when limit > 0. For an external label name it is that
// label's value when any series matches; for a name in
// without_replica_labels it is empty.
func (s *Store) LabelValues(ctx context.Context, req *storepb.LabelValuesRequest) (*storepb.LabelValuesResponse, error) {
	if err := storepb.ValidateLabelValuesRequest(req); err != nil {
		return nil, err
	}
	name := req.GetLabel()
	ms, err := storepb.MatchersFromProto(req.GetMatchers())
	if err != nil {
		return nil, status.Errorf(codes.InvalidArgument, "label values request matchers: %v", err)
	}
	ms, ok := store.SplitMatchers(s.extLabels, ms)
	mint, maxt := storepb.LabelRequestRange(req.GetStart(), req.GetEnd())
	if !ok || mint > maxt || slices.Contains(req.GetWithoutReplicaLabels(), name) {
		return &storepb.LabelValuesResponse{}, nil
	}
	q, err := s.db.ChunkQuerier(mint, maxt)
	if err != nil {
		return nil, status.Errorf(codes.Internal, "open querier for [%d, %d]: %v", mint, maxt, err)
	}
	defer func() {
		if err := q.Close(); err != nil {
			s.logger.Warn("close querier", "err", err)
		}
	}()

	if s.extLabels.Has(name) {
		// The value is known; it is served only if some series matches.
		names, warns, err := q.LabelNames(ctx, &storage.LabelHints{Limit: 1}, ms...)
		if err != nil {
			return nil, storepb.StatusError(err)
		}
		resp := &storepb.LabelValuesResponse{Warnings: warningStrings(warns.AsErrors())}
		if len(names) > 0 {
			resp.Values = []string{s.extLabels.Get(name)}
		}
		return resp, nil
	}

	values, warns, err := q.LabelValues(ctx, name, &storage.LabelHints{Limit: int(max(req.GetLimit(), 0))}, ms...)
	if err != nil {
		return nil, storepb.StatusError(err)
	}
	values = store.FinishLabelValues(cloneStrings(values), req.GetLimit())
	return &storepb.LabelValuesResponse{Values: values, Warnings: warningStrings(warns.AsErrors())}, nil
}

func warningStrings(errs []error) []string {
	if len(errs) == 0 {
		return nil
	}
	out := make([]string, 0, len(errs))
	for _, e := range errs {
		out = append(out, e.Error())
	}
	return out
}

// cloneStrings copies strings owned by a querier (they may point into
// memory-mapped index data) so they outlive it.
func cloneStrings(in []string) []string {
	out := make([]string, 0, len(in))
	for _, v := range in {
		out = append(out, strings.Clone(v))
	}
	return out
}
