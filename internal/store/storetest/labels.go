package storetest

import (
	"slices"
	"testing"

	"github.com/prometheus/common/model"
	"github.com/prometheus/prometheus/model/labels"
	"github.com/stretchr/testify/require"

	"github.com/strata-io/strata/pkg/storepb"
)

// expectNames returns the sorted, unique label names of the series selected
// by ms, external labels included, without labels removed.
func (s *suite) expectNames(ms []*labels.Matcher, without []string) []string {
	var out []string
	for _, d := range s.data {
		if !s.matches(d.lset, ms) {
			continue
		}
		s.finalLabels(d.lset, without).Range(func(l labels.Label) { out = append(out, l.Name) })
	}
	slices.Sort(out)
	return slices.Compact(out)
}

// expectValues returns the sorted, unique values of name over the series
// selected by ms, external labels included.
func (s *suite) expectValues(name string, ms []*labels.Matcher) []string {
	var out []string
	for _, d := range s.data {
		if !s.matches(d.lset, ms) {
			continue
		}
		if v := s.finalLabels(d.lset, nil).Get(name); v != "" {
			out = append(out, v)
		}
	}
	slices.Sort(out)
	return slices.Compact(out)
}

func matchersProto(t *testing.T, ms []*labels.Matcher) []*storepb.LabelMatcher {
	out, err := storepb.MatchersToProto(ms...)
	require.NoError(t, err)
	return out
}

func (s *suite) testLabelNames(t *testing.T) {
	name := model.MetricNameLabel
	for _, tc := range []struct {
		name    string
		ms      []*labels.Matcher
		without []string
	}{
		{name: "no_matchers"},
		{name: "metric", ms: []*labels.Matcher{m(labels.MatchEqual, name, "up")}},
		{name: "regex", ms: []*labels.Matcher{m(labels.MatchRegexp, name, "build_info|scrape_info")}},
		{name: "label_absent", ms: []*labels.Matcher{m(labels.MatchRegexp, name, ".+"), m(labels.MatchEqual, "path", "")}},
		{name: "no_such_metric", ms: []*labels.Matcher{m(labels.MatchEqual, name, "no_such_metric")}},
		{name: "external_label_matcher", ms: []*labels.Matcher{m(labels.MatchEqual, "region", "eu"), m(labels.MatchEqual, name, "up")}},
		{name: "external_label_mismatch", ms: []*labels.Matcher{m(labels.MatchEqual, "region", "us"), m(labels.MatchEqual, name, "up")}},
		{name: "without_replica_labels", ms: []*labels.Matcher{m(labels.MatchEqual, name, "up")}, without: []string{"replica", "instance"}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			resp, err := s.client.LabelNames(t.Context(), &storepb.LabelNamesRequest{
				Start:                   s.minT,
				End:                     s.maxT,
				Matchers:                matchersProto(t, tc.ms),
				WithoutReplicaLabels:    tc.without,
				PartialResponseStrategy: storepb.PartialResponseStrategy_ABORT,
			})
			require.NoError(t, err)
			require.Empty(t, resp.GetWarnings())
			want := s.expectNames(tc.ms, tc.without)
			if len(want) == 0 {
				require.Empty(t, resp.GetNames())
				return
			}
			require.Equal(t, want, resp.GetNames(), "sorted, unique, external labels included")
		})
	}
	t.Run("limit", func(t *testing.T) {
		resp, err := s.client.LabelNames(t.Context(), &storepb.LabelNamesRequest{Start: s.minT, End: s.maxT, Limit: 3})
		require.NoError(t, err)
		require.NotEmpty(t, resp.GetNames())
		require.LessOrEqual(t, len(resp.GetNames()), 3)
		require.True(t, slices.IsSorted(resp.GetNames()))
		all := s.expectNames(nil, nil)
		for _, n := range resp.GetNames() {
			require.Contains(t, all, n)
		}
	})
}

func (s *suite) testLabelValues(t *testing.T) {
	name := model.MetricNameLabel
	for _, tc := range []struct {
		name    string
		label   string
		ms      []*labels.Matcher
		without []string
	}{
		{name: "job", label: "job"},
		{name: "metric_names", label: name},
		{name: "with_matcher", label: name, ms: []*labels.Matcher{m(labels.MatchEqual, "job", "node")}},
		{name: "regex_matcher", label: "instance", ms: []*labels.Matcher{m(labels.MatchRegexp, "instance", "node-[12].*")}},
		{name: "label_on_some_series", label: "path"},
		{name: "label_absent_from_selected", label: "instance", ms: []*labels.Matcher{m(labels.MatchEqual, name, "scrape_info")}},
		{name: "no_such_label", label: "no_such_label"},
		{name: "external_label", label: "region"},
		{name: "external_label_with_matcher", label: "region", ms: []*labels.Matcher{m(labels.MatchEqual, name, "up")}},
		{name: "external_label_no_series", label: "region", ms: []*labels.Matcher{m(labels.MatchEqual, name, "no_such_metric")}},
		{name: "external_label_mismatch", label: "job", ms: []*labels.Matcher{m(labels.MatchEqual, "region", "us")}},
		{name: "external_label_match", label: "job", ms: []*labels.Matcher{m(labels.MatchRegexp, "region", "eu|")}},
		{name: "without_replica_labels", label: "replica", without: []string{"replica"}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			resp, err := s.client.LabelValues(t.Context(), &storepb.LabelValuesRequest{
				Label:                   tc.label,
				Start:                   s.minT,
				End:                     s.maxT,
				Matchers:                matchersProto(t, tc.ms),
				WithoutReplicaLabels:    tc.without,
				PartialResponseStrategy: storepb.PartialResponseStrategy_ABORT,
			})
			require.NoError(t, err)
			require.Empty(t, resp.GetWarnings())
			var want []string
			if !slices.Contains(tc.without, tc.label) {
				want = s.expectValues(tc.label, tc.ms)
			}
			if len(want) == 0 {
				require.Empty(t, resp.GetValues())
				return
			}
			require.Equal(t, want, resp.GetValues(), "sorted, unique")
		})
	}
	t.Run("limit", func(t *testing.T) {
		resp, err := s.client.LabelValues(t.Context(), &storepb.LabelValuesRequest{Label: "instance", Start: s.minT, End: s.maxT, Limit: 2})
		require.NoError(t, err)
		require.NotEmpty(t, resp.GetValues())
		require.LessOrEqual(t, len(resp.GetValues()), 2)
		require.True(t, slices.IsSorted(resp.GetValues()))
		all := s.expectValues("instance", nil)
		for _, v := range resp.GetValues() {
			require.Contains(t, all, v)
		}
	})
}

// testFailing checks that a store whose backend is down reports it: a
// warning frame or an error under WARN, an error under ABORT.
func testFailing(t *testing.T, c storepb.StoreClient) {
	all, err := storepb.MatchersToProto(allSeries...)
	require.NoError(t, err)
	for _, strategy := range []storepb.PartialResponseStrategy{storepb.PartialResponseStrategy_WARN, storepb.PartialResponseStrategy_ABORT} {
		abort := strategy == storepb.PartialResponseStrategy_ABORT
		t.Run("series_"+strategy.String(), func(t *testing.T) {
			_, warns, _, err := CollectSeries(t.Context(), c, &storepb.SeriesRequest{
				MinTime: 0, MaxTime: 1 << 50, Matchers: all, PartialResponseStrategy: strategy,
			})
			if abort {
				require.Error(t, err, "ABORT: the stream fails")
				return
			}
			require.True(t, err != nil || len(warns) > 0, "WARN: a warning frame or an error")
		})
		t.Run("label_names_"+strategy.String(), func(t *testing.T) {
			resp, err := c.LabelNames(t.Context(), &storepb.LabelNamesRequest{Start: 0, End: 1 << 50, PartialResponseStrategy: strategy})
			if abort {
				require.Error(t, err, "ABORT: the call fails")
				return
			}
			require.True(t, err != nil || len(resp.GetWarnings()) > 0, "WARN: a warning or an error")
		})
		t.Run("label_values_"+strategy.String(), func(t *testing.T) {
			resp, err := c.LabelValues(t.Context(), &storepb.LabelValuesRequest{Label: "job", Start: 0, End: 1 << 50, PartialResponseStrategy: strategy})
			if abort {
				require.Error(t, err, "ABORT: the call fails")
				return
			}
			require.True(t, err != nil || len(resp.GetWarnings()) > 0, "WARN: a warning or an error")
		})
	}
}
