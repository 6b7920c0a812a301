package promstore

import (
	"context"
	"net/url"
	"slices"
	"strconv"

	"github.com/prometheus/common/model"
	"github.com/prometheus/prometheus/model/labels"
	"google.golang.org/grpc/codes"
	"google.golang.org/grpc/status"

	"github.com/strata-io/strata/internal/store"
	"github.com/strata-io/strata/pkg/metadatapb"
	"github.com/strata-io/strata/pkg/storepb"
)

// LabelNames implements storepb.StoreServer: the label names of the series
// matching the request between start and end (ms, inclusive), external label
// names included, without_replica_labels excluded; sorted, unique, at most
// limit when limit > 0.
func (s *Store) LabelNames(ctx context.Context, req *storepb.LabelNamesRequest) (*storepb.LabelNamesResponse, error) {
	if err := storepb.ValidateLabelNamesRequest(req); err != nil {
		return nil, err
	}
	ms, err := storepb.MatchersFromProto(req.GetMatchers())
	if err != nil {
		return nil, status.Error(codes.InvalidArgument, err.Error())
	}
	ext, err := s.knownExtLabels()
	if err != nil {
		return nil, err
	}
	rest, ok := store.SplitMatchers(ext, ms)
	if !ok {
		return &storepb.LabelNamesResponse{}, nil
	}
	names, err := s.labelNames(ctx, rest, req.GetStart(), req.GetEnd())
	if err != nil {
		return nil, err
	}
	names = store.AddExternalNames(names, ext)
	return &storepb.LabelNamesResponse{Names: store.FinishLabelNames(names, req.GetWithoutReplicaLabels(), req.GetLimit())}, nil
}

// labelNames asks Prometheus for the label names of series matching ms.
func (s *Store) labelNames(ctx context.Context, ms []*labels.Matcher, start, end int64) ([]string, error) {
	ctx, cancel := context.WithTimeout(ctx, s.cfg.APITimeout)
	defer cancel()
	params := url.Values{}
	if len(ms) > 0 {
		params.Set("match[]", selector(ms))
	}
	timeParams(params, start, end)
	var names []string
	if err := s.get(ctx, "labels", "/api/v1/labels", params, &names); err != nil {
		return nil, err
	}
	return names, nil
}

// LabelValues implements storepb.StoreServer: the values of the label of the
// series matching the request between start and end (ms, inclusive); sorted,
// unique, at most limit when limit > 0. For an external label it answers its
// value when the matchers allow it; for a label in without_replica_labels,
// nothing.
func (s *Store) LabelValues(ctx context.Context, req *storepb.LabelValuesRequest) (*storepb.LabelValuesResponse, error) {
	if err := storepb.ValidateLabelValuesRequest(req); err != nil {
		return nil, err
	}
	name := req.GetLabel()
	ms, err := storepb.MatchersFromProto(req.GetMatchers())
	if err != nil {
		return nil, status.Error(codes.InvalidArgument, err.Error())
	}
	ext, err := s.knownExtLabels()
	if err != nil {
		return nil, err
	}
	rest, ok := store.SplitMatchers(ext, ms)
	if !ok || slices.Contains(req.GetWithoutReplicaLabels(), name) {
		return &storepb.LabelValuesResponse{}, nil
	}
	if ext.Has(name) {
		if len(rest) > 0 {
			// The value is served only if some series match the other matchers.
			names, err := s.labelNames(ctx, rest, req.GetStart(), req.GetEnd())
			if err != nil {
				return nil, err
			}
			if len(names) == 0 {
				return &storepb.LabelValuesResponse{}, nil
			}
		}
		return &storepb.LabelValuesResponse{Values: []string{ext.Get(name)}}, nil
	}

	// Names outside the legacy character set go in the path U__-escaped, as
	// Prometheus' API expects.
	ctx, cancel := context.WithTimeout(ctx, s.cfg.APITimeout)
	defer cancel()
	params := url.Values{}
	if len(rest) > 0 {
		params.Set("match[]", selector(rest))
	}
	timeParams(params, req.GetStart(), req.GetEnd())
	var values []string
	if err := s.get(ctx, "label_values", "/api/v1/label/"+url.PathEscape(model.EscapeName(name, model.ValueEncodingEscaping))+"/values", params, &values); err != nil {
		return nil, err
	}
	return &storepb.LabelValuesResponse{Values: store.FinishLabelValues(values, req.GetLimit())}, nil
}

// metaEntry is one metadata entry of Prometheus' /api/v1/metadata.
type metaEntry struct {
	Type string `json:"type"`
	Help string `json:"help"`
	Unit string `json:"unit"`
}

// MetricMetadata implements metadatapb.MetadataServer from Prometheus'
// /api/v1/metadata: one frame with the metadata of metric (all metrics when
// empty), at most limit metrics when limit > 0.
func (s *Store) MetricMetadata(req *metadatapb.MetricMetadataRequest, srv metadatapb.Metadata_MetricMetadataServer) error {
	ctx, cancel := context.WithTimeout(srv.Context(), s.cfg.APITimeout)
	defer cancel()
	params := url.Values{}
	if m := req.GetMetric(); m != "" {
		params.Set("metric", m)
	}
	if l := req.GetLimit(); l > 0 {
		params.Set("limit", strconv.Itoa(int(l)))
	}
	var data map[string][]metaEntry
	if err := s.get(ctx, "metadata", "/api/v1/metadata", params, &data); err != nil {
		return err
	}
	md := &metadatapb.MetricMetadata{Metadata: make(map[string]*metadatapb.MetricMetadataEntry, len(data))}
	for metric, entries := range data {
		e := &metadatapb.MetricMetadataEntry{Metas: make([]*metadatapb.Meta, 0, len(entries))}
		for _, m := range entries {
			e.Metas = append(e.Metas, &metadatapb.Meta{Type: m.Type, Help: m.Help, Unit: m.Unit})
		}
		md.Metadata[metric] = e
	}
	return srv.Send(&metadatapb.MetricMetadataResponse{Result: &metadatapb.MetricMetadataResponse_Metadata{Metadata: md}})
}
