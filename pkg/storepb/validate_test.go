package storepb

import (
	"runtime"
	"strings"
	"testing"

	"github.com/stretchr/testify/require"
	"google.golang.org/grpc"
	"google.golang.org/grpc/codes"
	"google.golang.org/grpc/status"
	"google.golang.org/protobuf/types/known/anypb"
)

// recordingStream is the server end of a Series call that keeps the frames.
type recordingStream struct {
	grpc.ServerStream
	frames []*SeriesResponse
}

func (s *recordingStream) Send(r *SeriesResponse) error {
	s.frames = append(s.frames, r)
	return nil
}

func TestSeriesWriterBoundsBatchSize(t *testing.T) {
	for _, tc := range []struct {
		name      string
		requested int64
		wantBatch int // 0: single frames
	}{
		{name: "unset", requested: 0, wantBatch: 0},
		{name: "negative", requested: -5, wantBatch: 0},
		{name: "small", requested: 7, wantBatch: 7},
		{name: "at_bound", requested: MaxResponseBatchSize, wantBatch: MaxResponseBatchSize},
		{name: "1e12", requested: 1e12, wantBatch: MaxResponseBatchSize},
		{name: "max_int64", requested: 1<<63 - 1, wantBatch: MaxResponseBatchSize},
	} {
		t.Run(tc.name, func(t *testing.T) {
			const n = 2500
			srv := &recordingStream{}
			var before, after runtime.MemStats
			runtime.ReadMemStats(&before)
			w := NewSeriesWriter(srv, tc.requested)
			for i := range n {
				require.NoError(t, w.Send(&Series{Labels: []*Label{{Name: "i", Value: string(rune('a' + i%26))}}}))
			}
			require.NoError(t, w.Flush())
			runtime.ReadMemStats(&after)
			require.Less(t, after.TotalAlloc-before.TotalAlloc, uint64(4<<20),
				"writing %d small series with response_batch_size=%d allocates a few hundred KiB, not the requested size", n, tc.requested)
			require.LessOrEqual(t, cap(w.batch), MaxResponseBatchSize, "the batch buffer is bounded")

			got := 0
			for _, f := range srv.frames {
				if tc.wantBatch == 0 {
					require.NotNil(t, f.GetSeries(), "single series frames when no batch is asked for")
					got++
					continue
				}
				b := f.GetBatch().GetSeries()
				require.NotEmpty(t, b)
				require.LessOrEqual(t, len(b), tc.wantBatch)
				got += len(b)
			}
			require.Equal(t, n, got, "every series is sent")
			if tc.wantBatch > 0 {
				require.Len(t, srv.frames, (n+tc.wantBatch-1)/tc.wantBatch, "full batches of the bounded size")
			}
		})
	}
}

func TestValidateRequests(t *testing.T) {
	re := func(v string) *LabelMatcher { return &LabelMatcher{Type: LabelMatcher_RE, Name: "job", Value: v} }
	many := func(n int) []*LabelMatcher {
		ms := make([]*LabelMatcher, n)
		for i := range ms {
			ms[i] = &LabelMatcher{Name: "a", Value: "b"}
		}
		return ms
	}
	names := func(n int) []string { return strings.Split(strings.Repeat("x,", n-1)+"x", ",") }
	for _, tc := range []struct {
		name    string
		err     error
		wantErr string // "" means valid
	}{
		{name: "series_ok", err: ValidateSeriesRequest(&SeriesRequest{MinTime: 1, MaxTime: 2, Matchers: many(3), ResponseBatchSize: 1e12})},
		{name: "series_point", err: ValidateSeriesRequest(&SeriesRequest{MinTime: 5, MaxTime: 5})},
		{name: "series_inverted_range", err: ValidateSeriesRequest(&SeriesRequest{MinTime: 10, MaxTime: 5}), wantErr: "min_time 10 is after max_time 5"},
		{name: "series_too_many_matchers", err: ValidateSeriesRequest(&SeriesRequest{Matchers: many(MaxMatchers + 1)}), wantErr: "1001 matchers, more than the 1000 allowed"},
		{name: "series_max_matchers", err: ValidateSeriesRequest(&SeriesRequest{Matchers: many(MaxMatchers)})},
		{name: "series_long_regexp", err: ValidateSeriesRequest(&SeriesRequest{Matchers: []*LabelMatcher{re(strings.Repeat("a", MaxRegexpLength+1))}}), wantErr: "regular expression of matcher \"job\" is 131073 bytes long"},
		{name: "series_long_equal_value", err: ValidateSeriesRequest(&SeriesRequest{Matchers: []*LabelMatcher{{Name: "job", Value: strings.Repeat("a", MaxRegexpLength+1)}}})},
		{name: "series_unknown_matcher_type", err: ValidateSeriesRequest(&SeriesRequest{Matchers: []*LabelMatcher{{Type: 9, Name: "job"}}}), wantErr: "unknown type 9 of matcher \"job\""},
		{name: "series_empty_matcher_name", err: ValidateSeriesRequest(&SeriesRequest{Matchers: []*LabelMatcher{{Name: "job", Value: "a"}, {Name: "", Value: ""}}}), wantErr: "matcher EQ \"\" has an empty label name"},
		{name: "label_values_empty_matcher_name", err: ValidateLabelValuesRequest(&LabelValuesRequest{Label: "job", Matchers: []*LabelMatcher{{Type: LabelMatcher_RE, Name: "", Value: ".*"}}}), wantErr: "empty label name"},
		{name: "series_many_without", err: ValidateSeriesRequest(&SeriesRequest{WithoutReplicaLabels: names(MaxLabelNames + 1)}), wantErr: "1001 without_replica_labels"},
		{name: "series_big_hints", err: ValidateSeriesRequest(&SeriesRequest{Hints: &anypb.Any{Value: make([]byte, MaxHintsSize+1)}}), wantErr: "hints of 1048577 bytes"},
		{name: "series_many_aggregates", err: ValidateSeriesRequest(&SeriesRequest{Aggregates: make([]Aggr, 7)}), wantErr: "7 aggregates"},
		{name: "series_shard_ok", err: ValidateSeriesRequest(&SeriesRequest{ShardInfo: &ShardInfo{ShardIndex: 2, TotalShards: 3, By: true, Labels: []string{"job"}}})},
		{name: "series_shard_index_out_of_range", err: ValidateSeriesRequest(&SeriesRequest{ShardInfo: &ShardInfo{ShardIndex: 3, TotalShards: 3}}), wantErr: "shard_info.shard_index 3 is not in [0, total_shards=3)"},
		{name: "series_negative_shards", err: ValidateSeriesRequest(&SeriesRequest{ShardInfo: &ShardInfo{ShardIndex: 0, TotalShards: -1}}), wantErr: "shard_index 0 is not in [0, total_shards=-1)"},
		{name: "series_many_shard_labels", err: ValidateSeriesRequest(&SeriesRequest{ShardInfo: &ShardInfo{TotalShards: 2, Labels: names(MaxLabelNames + 1)}}), wantErr: "shard_info.labels"},
		{name: "series_many_grouping_labels", err: ValidateSeriesRequest(&SeriesRequest{QueryHints: &QueryHints{Grouping: &Grouping{Labels: names(MaxLabelNames + 1)}}}), wantErr: "query_hints.grouping.labels"},
		{name: "label_names_ok", err: ValidateLabelNamesRequest(&LabelNamesRequest{Start: 1, End: 2})},
		{name: "label_names_all_data", err: ValidateLabelNamesRequest(&LabelNamesRequest{})},
		{name: "label_names_inverted", err: ValidateLabelNamesRequest(&LabelNamesRequest{Start: 3, End: 2}), wantErr: "start 3 is after end 2"},
		{name: "label_names_too_many_matchers", err: ValidateLabelNamesRequest(&LabelNamesRequest{Matchers: many(MaxMatchers + 1)}), wantErr: "label names request: 1001 matchers"},
		{name: "label_values_ok", err: ValidateLabelValuesRequest(&LabelValuesRequest{Label: "job"})},
		{name: "label_values_no_label", err: ValidateLabelValuesRequest(&LabelValuesRequest{}), wantErr: "label name is empty"},
		{name: "label_values_inverted", err: ValidateLabelValuesRequest(&LabelValuesRequest{Label: "job", Start: 3, End: 2}), wantErr: "start 3 is after end 2"},
		{name: "label_values_long_regexp", err: ValidateLabelValuesRequest(&LabelValuesRequest{Label: "job", Matchers: []*LabelMatcher{re(strings.Repeat("a", MaxRegexpLength+1))}}), wantErr: "label values request: regular expression"},
		{name: "label_values_big_hints", err: ValidateLabelValuesRequest(&LabelValuesRequest{Label: "job", Hints: &anypb.Any{TypeUrl: strings.Repeat("t", MaxHintsSize+1)}}), wantErr: "hints of"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			if tc.wantErr == "" {
				require.NoError(t, tc.err)
				return
			}
			require.Error(t, tc.err)
			require.Equal(t, codes.InvalidArgument, status.Code(tc.err), "bad input is the client's to fix: %v", tc.err)
			require.ErrorContains(t, tc.err, tc.wantErr)
		})
	}
}
