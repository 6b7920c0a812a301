package storepb

import (
	"fmt"

	"google.golang.org/grpc/codes"
	"google.golang.org/grpc/status"
	"google.golang.org/protobuf/types/known/anypb"
)

// Bounds on what a client may ask of a StoreAPI server. Every StoreAPI
// server of Strata checks its requests with ValidateSeriesRequest,
// ValidateLabelNamesRequest or ValidateLabelValuesRequest before doing any
// work, and sizes its batch frames with ResponseBatchSize, so that no
// request, however crafted, makes a store allocate or compute without bound.
const (
	// MaxResponseBatchSize is the most series one batch frame holds; a
	// larger response_batch_size is lowered to it (the answer stays
	// correct, in more frames).
	MaxResponseBatchSize = 1000
	// MaxMatchers is the most label matchers one request may carry.
	MaxMatchers = 1000
	// MaxRegexpLength is the longest regular expression (in bytes) a =~ or
	// !~ matcher may carry; compiling one costs memory in proportion.
	// Grafana multi-value variables make long alternations: 128 KiB holds
	// a couple of thousand pod names.
	MaxRegexpLength = 128 << 10
	// MaxLabelNames is the most label names one list of a request
	// (without_replica_labels, shard_info.labels, query_hints grouping and
	// projection labels) may hold.
	MaxLabelNames = 1000
	// MaxHintsSize is the largest opaque hints message (bytes) a request
	// may carry.
	MaxHintsSize = 1 << 20
)

// ResponseBatchSize is the number of series per batch frame to answer a
// request's response_batch_size with: 0 (one series per frame) for zero or
// a negative value, at most MaxResponseBatchSize.
func ResponseBatchSize(requested int64) int {
	return int(min(max(requested, 0), MaxResponseBatchSize))
}

// invalid is the error of a request that breaks a bound: InvalidArgument,
// naming the request and what to change.
func invalid(req, format string, args ...any) error {
	return status.Errorf(codes.InvalidArgument, "%s request: %s", req, fmt.Sprintf(format, args...))
}

// ValidateSeriesRequest checks the bounds of a Series request: its time
// range, matchers (count, regexp length, type, a label name), label lists, hints and shard info. It returns nil or an
// InvalidArgument status error saying what to fix. A too large
// response_batch_size is not an error: see ResponseBatchSize.
func ValidateSeriesRequest(req *SeriesRequest) error {
	const name = "series"
	if req.GetMinTime() > req.GetMaxTime() {
		return invalid(name, "min_time %d is after max_time %d: send min_time <= max_time", req.GetMinTime(), req.GetMaxTime())
	}
	if err := validateMatchers(name, req.GetMatchers()); err != nil {
		return err
	}
	if err := validateNames(name, "without_replica_labels", req.GetWithoutReplicaLabels()); err != nil {
		return err
	}
	if err := validateHints(name, req.GetHints()); err != nil {
		return err
	}
	if n := len(req.GetAggregates()); n > len(Aggr_name) {
		return invalid(name, "%d aggregates, more than the %d kinds there are: ask for each at most once", n, len(Aggr_name))
	}
	if qh := req.GetQueryHints(); qh != nil {
		if err := validateNames(name, "query_hints.grouping.labels", qh.GetGrouping().GetLabels()); err != nil {
			return err
		}
		if err := validateNames(name, "query_hints.projection_labels", qh.GetProjectionLabels()); err != nil {
			return err
		}
	}
	if si := req.GetShardInfo(); si != nil {
		total, idx := si.GetTotalShards(), si.GetShardIndex()
		if total < 0 || idx < 0 || (total > 0 && idx >= total) {
			return invalid(name, "shard_info.shard_index %d is not in [0, total_shards=%d)", idx, total)
		}
		if err := validateNames(name, "shard_info.labels", si.GetLabels()); err != nil {
			return err
		}
	}
	return nil
}

// ValidateLabelNamesRequest checks the bounds of a LabelNames request: its
// time range, matchers, label list and hints. It returns nil or an
// InvalidArgument status error saying what to fix.
func ValidateLabelNamesRequest(req *LabelNamesRequest) error {
	return validateLabelRequest("label names", req.GetStart(), req.GetEnd(), req.GetMatchers(), req.GetWithoutReplicaLabels(), req.GetHints())
}

// ValidateLabelValuesRequest checks the bounds of a LabelValues request: a
// label name is set, and the time range, matchers, label list and hints.
// It returns nil or an InvalidArgument status error saying what to fix.
func ValidateLabelValuesRequest(req *LabelValuesRequest) error {
	const name = "label values"
	if req.GetLabel() == "" {
		return invalid(name, "label name is empty: set the label to list the values of")
	}
	return validateLabelRequest(name, req.GetStart(), req.GetEnd(), req.GetMatchers(), req.GetWithoutReplicaLabels(), req.GetHints())
}

// validateLabelRequest checks what LabelNames and LabelValues requests
// share: the time range, matchers, label list and hints.
func validateLabelRequest(name string, start, end int64, ms []*LabelMatcher, without []string, hints *anypb.Any) error {
	if err := validateLabelRange(name, start, end); err != nil {
		return err
	}
	if err := validateMatchers(name, ms); err != nil {
		return err
	}
	if err := validateNames(name, "without_replica_labels", without); err != nil {
		return err
	}
	return validateHints(name, hints)
}

func validateLabelRange(req string, start, end int64) error {
	if mint, maxt := LabelRequestRange(start, end); mint > maxt {
		return invalid(req, "start %d is after end %d: send start <= end, or both 0 for all data", start, end)
	}
	return nil
}

func validateMatchers(req string, ms []*LabelMatcher) error {
	if len(ms) > MaxMatchers {
		return invalid(req, "%d matchers, more than the %d allowed: narrow the selector", len(ms), MaxMatchers)
	}
	for _, m := range ms {
		// PromQL cannot write one, and TSDB fails on ""="" next to other
		// matchers ("unexpected all postings").
		if m.GetName() == "" {
			return invalid(req, "matcher %s %.64q has an empty label name: name the label to match", m.GetType(), m.GetValue())
		}
		switch m.GetType() {
		case LabelMatcher_EQ, LabelMatcher_NEQ:
		case LabelMatcher_RE, LabelMatcher_NRE:
			if n := len(m.GetValue()); n > MaxRegexpLength {
				return invalid(req, "regular expression of matcher %.64q is %d bytes long, more than the %d allowed", m.GetName(), n, MaxRegexpLength)
			}
		default:
			return invalid(req, "unknown type %d of matcher %.64q: use EQ, NEQ, RE or NRE", m.GetType(), m.GetName())
		}
	}
	return nil
}

func validateNames(req, field string, names []string) error {
	if len(names) > MaxLabelNames {
		return invalid(req, "%d %s, more than the %d allowed", len(names), field, MaxLabelNames)
	}
	return nil
}

func validateHints(req string, h *anypb.Any) error {
	if n := len(h.GetValue()) + len(h.GetTypeUrl()); n > MaxHintsSize {
		return invalid(req, "hints of %d bytes, more than the %d allowed", n, MaxHintsSize)
	}
	return nil
}
