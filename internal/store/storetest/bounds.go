package storetest

import (
	"io"
	"runtime"
	"strings"
	"testing"

	"github.com/stretchr/testify/require"
	"google.golang.org/grpc/codes"
	"google.golang.org/grpc/status"

	"github.com/strata-io/strata/pkg/storepb"
)

// testHugeBatchSize sends response_batch_size=1e12: the store must answer
// with batch frames of at most storepb.MaxResponseBatchSize series, the same
// series as unbatched, without allocating anything near the asked size.
func (s *suite) testHugeBatchSize(t *testing.T) {
	q := query{mint: s.minT, maxt: s.maxT, matchers: allSeries, labelsOnly: true}
	want := labelSetsOf(s.run(t, q))
	require.NotEmpty(t, want)

	q.batchSize = 1e12
	var before, after runtime.MemStats
	runtime.ReadMemStats(&before)
	got := s.recvBatches(t, q.request(t), storepb.MaxResponseBatchSize)
	runtime.ReadMemStats(&after)
	// The whole answer is a few MiB; a buffer sized by the request would be
	// 8 TB (the process dies) and one sized by the bound is 8 KiB.
	require.Less(t, after.TotalAlloc-before.TotalAlloc, uint64(512<<20), "memory allocated to answer response_batch_size=1e12")
	require.Equal(t, want, labelSetsOf(got), "the answer equals the unbatched one")
}

// testBadRequests checks that requests breaking the bounds of
// storepb.ValidateSeriesRequest (and its label siblings) are refused with
// InvalidArgument and a message saying what to fix, before any work.
func (s *suite) testBadRequests(t *testing.T) {
	all := matchersProto(t, allSeries)
	many := make([]*storepb.LabelMatcher, storepb.MaxMatchers+1)
	for i := range many {
		many[i] = &storepb.LabelMatcher{Type: storepb.LabelMatcher_NEQ, Name: "job", Value: "x"}
	}
	longRe := []*storepb.LabelMatcher{{Type: storepb.LabelMatcher_RE, Name: "job", Value: strings.Repeat("a|", storepb.MaxRegexpLength/2) + "b"}}
	invalidRe := append(all[:len(all):len(all)], &storepb.LabelMatcher{Type: storepb.LabelMatcher_RE, Name: "job", Value: "(unclosed"})
	abort := storepb.PartialResponseStrategy_ABORT

	series := func(r *storepb.SeriesRequest) error {
		r.PartialResponseStrategy = abort
		_, _, _, err := CollectSeries(t.Context(), s.client, r)
		return err
	}
	names := func(r *storepb.LabelNamesRequest) error {
		r.PartialResponseStrategy = abort
		_, err := s.client.LabelNames(t.Context(), r)
		return err
	}
	values := func(r *storepb.LabelValuesRequest) error {
		r.PartialResponseStrategy = abort
		_, err := s.client.LabelValues(t.Context(), r)
		return err
	}
	for _, tc := range []struct {
		name    string
		err     error
		wantMsg string
	}{
		{name: "series_inverted_range", err: series(&storepb.SeriesRequest{MinTime: s.maxT, MaxTime: s.minT, Matchers: all}), wantMsg: "is after max_time"},
		{name: "series_too_many_matchers", err: series(&storepb.SeriesRequest{MinTime: s.minT, MaxTime: s.maxT, Matchers: many}), wantMsg: "matchers, more than"},
		{name: "series_long_regexp", err: series(&storepb.SeriesRequest{MinTime: s.minT, MaxTime: s.maxT, Matchers: longRe}), wantMsg: "bytes long"},
		{name: "series_invalid_regexp", err: series(&storepb.SeriesRequest{MinTime: s.minT, MaxTime: s.maxT, Matchers: invalidRe}), wantMsg: "unclosed"},
		{name: "series_unknown_matcher_type", err: series(&storepb.SeriesRequest{MinTime: s.minT, MaxTime: s.maxT, Matchers: []*storepb.LabelMatcher{{Type: 7, Name: "job"}}}), wantMsg: "unknown type 7"},
		// TSDB fails on ""="" next to another matcher (Internal before).
		{name: "series_empty_matcher_name", err: series(&storepb.SeriesRequest{MinTime: s.minT, MaxTime: s.maxT, Matchers: append(all[:len(all):len(all)], &storepb.LabelMatcher{})}), wantMsg: "empty label name"},
		{name: "series_shard_out_of_range", err: series(&storepb.SeriesRequest{MinTime: s.minT, MaxTime: s.maxT, Matchers: all, ShardInfo: &storepb.ShardInfo{ShardIndex: 4, TotalShards: 2}}), wantMsg: "shard_index 4"},
		{name: "label_names_inverted_range", err: names(&storepb.LabelNamesRequest{Start: s.maxT, End: s.minT}), wantMsg: "is after end"},
		{name: "label_names_too_many_matchers", err: names(&storepb.LabelNamesRequest{Matchers: many}), wantMsg: "matchers, more than"},
		{name: "label_values_no_label", err: values(&storepb.LabelValuesRequest{}), wantMsg: "label name is empty"},
		{name: "label_values_long_regexp", err: values(&storepb.LabelValuesRequest{Label: "job", Matchers: longRe}), wantMsg: "bytes long"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			require.Error(t, tc.err)
			require.Equal(t, codes.InvalidArgument, status.Code(tc.err), "bad input is the client's to fix: %v", tc.err)
			require.ErrorContains(t, tc.err, tc.wantMsg)
		})
	}
}

// recvBatches sends a Series request that asks for batch frames and returns
// the series of every frame, requiring only non-empty batch frames of at
// most maxBatch series.
func (s *suite) recvBatches(t *testing.T, req *storepb.SeriesRequest, maxBatch int) []*storepb.Series {
	t.Helper()
	stream, err := s.client.Series(t.Context(), req)
	require.NoError(t, err)
	var got []*storepb.Series
	for {
		r, err := stream.Recv()
		if err != nil {
			require.ErrorIs(t, err, io.EOF)
			return got
		}
		if b := r.GetBatch(); b != nil {
			require.NotEmpty(t, b.GetSeries(), "empty batch frame")
			require.LessOrEqual(t, len(b.GetSeries()), maxBatch, "batch frame above the bound (response_batch_size or the server's)")
			got = append(got, b.GetSeries()...)
			continue
		}
		require.Nil(t, r.GetSeries(), "series frame although response_batch_size is set")
	}
}
