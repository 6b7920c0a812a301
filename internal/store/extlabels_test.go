package store_test

import (
	"fmt"
	"slices"
	"testing"

	"github.com/prometheus/prometheus/model/labels"
	"github.com/stretchr/testify/require"

	"github.com/strata-io/strata/internal/store"
)

func TestSplitMatchers(t *testing.T) {
	ext := labels.FromStrings("region", "eu", "replica", "a")
	m := labels.MustNewMatcher
	job := m(labels.MatchEqual, "job", "api")
	for _, tc := range []struct {
		name string
		ms   []*labels.Matcher
		rest []*labels.Matcher
		ok   bool
	}{
		{name: "none", ms: nil, rest: []*labels.Matcher{}, ok: true},
		{name: "series_only", ms: []*labels.Matcher{job}, rest: []*labels.Matcher{job}, ok: true},
		{name: "eq", ms: []*labels.Matcher{m(labels.MatchEqual, "region", "eu"), job}, rest: []*labels.Matcher{job}, ok: true},
		{name: "eq_other_excludes", ms: []*labels.Matcher{job, m(labels.MatchEqual, "region", "us")}},
		{name: "neq", ms: []*labels.Matcher{m(labels.MatchNotEqual, "region", "us"), job}, rest: []*labels.Matcher{job}, ok: true},
		{name: "neq_own_excludes", ms: []*labels.Matcher{m(labels.MatchNotEqual, "region", "eu")}},
		{name: "re", ms: []*labels.Matcher{m(labels.MatchRegexp, "replica", "a|b")}, rest: []*labels.Matcher{}, ok: true},
		{name: "re_excludes", ms: []*labels.Matcher{m(labels.MatchRegexp, "replica", "b|c")}},
		{name: "nre_excludes", ms: []*labels.Matcher{m(labels.MatchNotRegexp, "replica", "a")}},
		{name: "eq_empty_excludes", ms: []*labels.Matcher{m(labels.MatchEqual, "region", "")}},
		// Not an external label: absent from ext is no reason to exclude.
		{name: "other_eq_empty", ms: []*labels.Matcher{m(labels.MatchEqual, "zone", "")}, rest: []*labels.Matcher{m(labels.MatchEqual, "zone", "")}, ok: true},
	} {
		t.Run(tc.name, func(t *testing.T) {
			rest, ok := store.SplitMatchers(ext, tc.ms)
			require.Equal(t, tc.ok, ok)
			if tc.ok {
				require.Equal(t, tc.rest, rest)
			}
		})
	}
}

func TestSeriesLabels(t *testing.T) {
	ext := labels.FromStrings("region", "eu", "replica", "a")
	for _, tc := range []struct {
		name    string
		ext     labels.Labels
		without []string
		in      labels.Labels
		want    labels.Labels
	}{
		{name: "nothing_to_do", ext: labels.EmptyLabels(), in: labels.FromStrings("__name__", "up", "job", "api"), want: labels.FromStrings("__name__", "up", "job", "api")},
		{name: "ext_added", ext: ext, in: labels.FromStrings("__name__", "up", "zone", "z1"), want: labels.FromStrings("__name__", "up", "region", "eu", "replica", "a", "zone", "z1")},
		// A federated series keeps the region it was scraped with in the
		// storage; the store serves its own external labels.
		{name: "ext_wins_collision", ext: ext, in: labels.FromStrings("__name__", "up", "region", "us", "replica", "b"), want: labels.FromStrings("__name__", "up", "region", "eu", "replica", "a")},
		{name: "without_ext", ext: ext, without: []string{"replica"}, in: labels.FromStrings("__name__", "up", "replica", "b"), want: labels.FromStrings("__name__", "up", "region", "eu")},
		{name: "without_series_label", ext: labels.EmptyLabels(), without: []string{"instance", "no_such_label"}, in: labels.FromStrings("__name__", "up", "instance", "h:1", "job", "api"), want: labels.FromStrings("__name__", "up", "job", "api")},
		{name: "without_everything", ext: ext, without: []string{"__name__", "region", "replica"}, in: labels.FromStrings("__name__", "up"), want: labels.EmptyLabels()},
	} {
		t.Run(tc.name, func(t *testing.T) {
			b := store.NewSeriesLabels(tc.ext, tc.without)
			require.Equal(t, tc.ext.IsEmpty() && len(tc.without) == 0, b.Unchanged())
			require.Equal(t, tc.want, b.Apply(tc.in))

			// Added one by one, in reverse order: the same set.
			b.Reset()
			var ls []labels.Label
			tc.in.Range(func(l labels.Label) { ls = append(ls, l) })
			for i := len(ls) - 1; i >= 0; i-- {
				b.Add(ls[i].Name, ls[i].Value)
			}
			require.Equal(t, tc.want, b.Labels())
		})
	}
}

func TestSortSeries(t *testing.T) {
	type series struct {
		lset labels.Labels
		id   int
	}
	// In storage order, before external labels are set.
	stored := []labels.Labels{
		labels.FromStrings("a", "1"),
		labels.FromStrings("a", "1", "aa", "1"),
		labels.FromStrings("a", "1", "instance", "h2", "job", "x"),
		labels.FromStrings("a", "1", "instance", "h1", "job", "y"),
	}
	b := store.NewSeriesLabels(labels.FromStrings("cluster", "x"), []string{"instance"})
	var got []series
	for i, l := range stored {
		got = append(got, series{lset: b.Apply(l), id: i})
	}
	// Two series that differ in a label removed: equal, kept in their order.
	got = append(got, series{lset: b.Apply(labels.FromStrings("a", "1", "instance", "h0", "job", "x")), id: 4})
	store.SortSeries(got, func(s series) labels.Labels { return s.lset })
	var ids []int
	for _, s := range got {
		ids = append(ids, s.id)
	}
	require.Equal(t, []int{1, 0, 2, 4, 3}, ids, "sorted by served labels, stable")
}

// BenchmarkSeriesLabels measures the per-series labels work of a Series call.
func BenchmarkSeriesLabels(b *testing.B) {
	in := make([]labels.Labels, 1000)
	for i := range in {
		in[i] = labels.FromStrings("__name__", "http_requests_total", "code", "200", "instance", fmt.Sprintf("host-%d:9090", i), "job", "api", "method", "GET")
	}
	for _, bc := range []struct {
		name    string
		ext     labels.Labels
		without []string
	}{
		{name: "no_ext", ext: labels.EmptyLabels()},
		{name: "ext", ext: labels.FromStrings("cluster", "c1", "replica", "r0")},
		{name: "ext_without_replica", ext: labels.FromStrings("cluster", "c1", "replica", "r0"), without: []string{"replica"}},
	} {
		b.Run(bc.name, func(b *testing.B) {
			sl := store.NewSeriesLabels(bc.ext, bc.without)
			out := make([]labels.Labels, len(in))
			b.ReportAllocs()
			for b.Loop() {
				for i, l := range in {
					out[i] = sl.Apply(l)
				}
				store.SortSeries(out, func(l labels.Labels) labels.Labels { return l })
			}
		})
	}
}

func TestFinishLabelNamesAndValues(t *testing.T) {
	ext := labels.FromStrings("region", "eu", "replica", "a")
	if got := store.AddExternalNames(nil, ext); len(got) != 0 {
		t.Errorf("external names without any matching series: %v, want none", got)
	}
	names := store.AddExternalNames([]string{"job", "", "__name__", "job"}, ext)
	if got, want := store.FinishLabelNames(names, []string{"replica"}, 0), []string{"__name__", "job", "region"}; !slices.Equal(got, want) {
		t.Errorf("label names = %v, want %v", got, want)
	}
	if got, want := store.FinishLabelNames([]string{"c", "b", "a"}, nil, 2), []string{"a", "b"}; !slices.Equal(got, want) {
		t.Errorf("label names with limit 2 = %v, want %v", got, want)
	}
	if got, want := store.FinishLabelValues([]string{"web", "", "api", "web"}, 0), []string{"api", "web"}; !slices.Equal(got, want) {
		t.Errorf("label values = %v, want %v", got, want)
	}
}
