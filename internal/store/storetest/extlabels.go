package storetest

import (
	"testing"

	"github.com/prometheus/common/model"
	"github.com/prometheus/prometheus/model/labels"
	"github.com/prometheus/prometheus/storage"
	"github.com/stretchr/testify/require"

	"github.com/strata-io/strata/pkg/storepb"
)

// extRulesLabels are the external labels of the store in testExtLabelRules.
var extRulesLabels = []string{"region", "eu", "replica", "a"}

// extRulesDataset is a small data set whose series collide with the
// external labels {region="eu", replica="a"} (federated series that kept
// the labels of where they were scraped) and whose order changes once
// external labels are set or without_replica_labels removed. Sorted.
func extRulesDataset(minT int64) []storage.Series {
	var samples []Sample
	for ts := minT; ts <= minT+DataDuration; ts += 15 * 60_000 {
		samples = append(samples, Sample{T: ts, F: float64(ts-minT) / 1000})
	}
	var out []storage.Series
	for _, kv := range [][]string{
		{"__name__", "fed_up", "instance", "h1", "job", "federate", "region", "us", "replica", "b"},
		{"__name__", "fed_up", "instance", "h2", "job", "federate", "region", "us"},
		{"__name__", "m", "a", "1"},
		{"__name__", "m", "a", "1", "aa", "1"},
		{"__name__", "order", "cpu", "0", "instance", "n1"},
		{"__name__", "order", "cpu", "1", "instance", "n0"},
	} {
		out = append(out, NewSeries(labels.FromStrings(kv...), samples))
	}
	return out
}

// testExtLabelRules checks the external-label rules of the StoreAPI on
// series built to break them: matchers on external label names are
// evaluated against the external labels (and exclude the whole store when
// they do not match), external labels win over series labels of the same
// name, and series are sorted by their served labels, which may not be the
// order of the storage.
func testExtLabelRules(t *testing.T, setup Setup, minT int64) {
	c := setup(t, labels.FromStrings(extRulesLabels...), extRulesDataset(minT))
	maxT := minT + DataDuration
	ls := func(kv ...string) labels.Labels { return labels.FromStrings(append(kv, extRulesLabels...)...) }
	fedH1 := ls("__name__", "fed_up", "instance", "h1", "job", "federate")
	fedH2 := ls("__name__", "fed_up", "instance", "h2", "job", "federate")
	mA := ls("__name__", "m", "a", "1")
	mAA := ls("__name__", "m", "a", "1", "aa", "1")
	ordN1 := ls("__name__", "order", "cpu", "0", "instance", "n1")
	ordN0 := ls("__name__", "order", "cpu", "1", "instance", "n0")
	// {a="1"} < {a="1",aa="1"} in the storage; with region set, aa < region.
	all := []labels.Labels{fedH1, fedH2, mAA, mA, ordN1, ordN0}

	series := func(t *testing.T, ms []*labels.Matcher, without []string, skipChunks bool) []labels.Labels {
		t.Helper()
		req := &storepb.SeriesRequest{
			MinTime: minT, MaxTime: maxT, Matchers: matchersProto(t, ms),
			WithoutReplicaLabels: without, SkipChunks: skipChunks,
			PartialResponseStrategy: storepb.PartialResponseStrategy_ABORT,
		}
		got, warns, _, err := CollectSeries(t.Context(), c, req)
		require.NoError(t, err)
		require.Empty(t, warns)
		for _, s := range got {
			if !skipChunks {
				require.NotEmpty(t, s.GetChunks(), "series %v", s.GetLabels())
			}
		}
		return labelSetsOf(got)
	}
	name := m(labels.MatchRegexp, model.MetricNameLabel, ".+")
	without := func(want []labels.Labels, names ...string) []labels.Labels {
		var out []labels.Labels
		for _, l := range want {
			out = append(out, labels.NewBuilder(l).Del(names...).Labels())
		}
		return out
	}

	for _, tc := range []struct {
		name    string
		ms      []*labels.Matcher
		without []string
		want    []labels.Labels
	}{
		{name: "all_sorted_ext_wins", ms: []*labels.Matcher{name}, want: all},
		{name: "ext_eq", ms: []*labels.Matcher{m(labels.MatchEqual, "region", "eu")}, want: all},
		// The stored region="us" of the federated series is not served:
		// it does not match either.
		{name: "ext_eq_stored_value", ms: []*labels.Matcher{name, m(labels.MatchEqual, "region", "us")}},
		{name: "ext_neq_excludes_store", ms: []*labels.Matcher{name, m(labels.MatchNotEqual, "region", "eu")}},
		{name: "ext_neq_other", ms: []*labels.Matcher{m(labels.MatchEqual, model.MetricNameLabel, "fed_up"), m(labels.MatchNotEqual, "region", "us")}, want: []labels.Labels{fedH1, fedH2}},
		{name: "ext_re", ms: []*labels.Matcher{m(labels.MatchEqual, model.MetricNameLabel, "m"), m(labels.MatchRegexp, "replica", "a|b")}, want: []labels.Labels{mAA, mA}},
		{name: "ext_re_excludes_store", ms: []*labels.Matcher{name, m(labels.MatchRegexp, "replica", "b")}},
		{name: "ext_nre_excludes_store", ms: []*labels.Matcher{name, m(labels.MatchNotRegexp, "replica", "a")}},
		// Stripping an external label does not bring back the series'
		// own label of that name.
		{name: "without_ext", ms: []*labels.Matcher{name}, without: []string{"replica"}, want: without(all, "replica")},
		// cpu decides the storage order; without it, instance does.
		{name: "without_reorders", ms: []*labels.Matcher{m(labels.MatchEqual, model.MetricNameLabel, "order")}, without: []string{"cpu"}, want: without([]labels.Labels{ordN0, ordN1}, "cpu")},
		{name: "without_ext_and_series_label", ms: []*labels.Matcher{m(labels.MatchEqual, "region", "eu")}, without: []string{"region", "cpu"},
			want: without([]labels.Labels{fedH1, fedH2, mAA, mA, ordN0, ordN1}, "region", "cpu")},
	} {
		t.Run(tc.name, func(t *testing.T) {
			require.Equal(t, tc.want, series(t, tc.ms, tc.without, false))
			require.Equal(t, tc.want, series(t, tc.ms, tc.without, true), "skip_chunks")
		})
	}

	t.Run("label_values", func(t *testing.T) {
		for _, n := range []string{"region", "replica"} {
			resp, err := c.LabelValues(t.Context(), &storepb.LabelValuesRequest{
				Label: n, Start: minT, End: maxT, Matchers: matchersProto(t, []*labels.Matcher{m(labels.MatchEqual, model.MetricNameLabel, "fed_up")}),
				PartialResponseStrategy: storepb.PartialResponseStrategy_ABORT,
			})
			require.NoError(t, err)
			require.Equal(t, []string{labels.FromStrings(extRulesLabels...).Get(n)}, resp.GetValues(), "the external value only, not the stored one")
		}
	})
}
