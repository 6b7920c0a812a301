package storetest

import (
	"fmt"
	"math"
	"slices"
	"testing"

	"github.com/prometheus/common/model"
	"github.com/prometheus/prometheus/model/labels"
	"github.com/stretchr/testify/require"

	"github.com/strata-io/strata/pkg/storepb"
)

// dataSeries is one series of the data set with its samples decoded once.
type dataSeries struct {
	lset    labels.Labels
	samples []Sample
}

// suite runs the checks against one store; its fields are read-only.
type suite struct {
	client     storepb.StoreClient
	ext        labels.Labels
	data       []dataSeries
	minT, maxT int64 // first and last sample timestamps of the data set
}

func runContract(t *testing.T, setup Setup, opts Options) {
	minT := opts.MinTime
	if minT == 0 {
		minT = DefaultMinTime
	}
	series := Dataset(minT)
	data := make([]dataSeries, 0, len(series))
	for _, s := range series {
		ss, err := SeriesSamples(s)
		require.NoError(t, err)
		data = append(data, dataSeries{lset: s.Labels(), samples: ss})
	}

	for _, tc := range []struct {
		name string
		ext  labels.Labels
	}{
		{name: "no_external_labels", ext: labels.EmptyLabels()},
		{name: "external_labels", ext: labels.FromStrings("region", "eu", "replica", "a")},
	} {
		if tc.ext.IsEmpty() && opts.RequiresExternalLabels {
			continue
		}
		t.Run(tc.name, func(t *testing.T) {
			s := &suite{
				client: setup(t, tc.ext, Dataset(minT)),
				ext:    tc.ext,
				data:   data,
				minT:   minT,
				maxT:   minT + DataDuration,
			}
			t.Run("series", s.testSeries)
			t.Run("series_time_ranges", s.testTimeRanges)
			t.Run("series_matchers", s.testMatchers)
			t.Run("series_skip_chunks", s.testSkipChunks)
			t.Run("series_limit", s.testLimit)
			t.Run("series_batches", s.testBatches)
			t.Run("series_without_replica_labels", s.testWithoutReplicaLabels)
			t.Run("series_invalid_matcher", s.testInvalidMatcher)
			t.Run("series_huge_batch_size", s.testHugeBatchSize)
			t.Run("bad_requests", s.testBadRequests)
			t.Run("label_names", s.testLabelNames)
			t.Run("label_values", s.testLabelValues)
		})
	}
	t.Run("external_label_rules", func(t *testing.T) { testExtLabelRules(t, setup, minT) })
	if opts.Failing != nil {
		t.Run("failing_store", func(t *testing.T) { testFailing(t, opts.Failing(t)) })
	}
}

// allSeries is a matcher set selecting every series with a metric name.
var allSeries = []*labels.Matcher{labels.MustNewMatcher(labels.MatchRegexp, model.MetricNameLabel, ".+")}

// query is one Series call and what it is checked against.
type query struct {
	mint, maxt int64
	matchers   []*labels.Matcher
	without    []string
	skipChunks bool
	limit      int64
	batchSize  int64
	// labelsOnly skips decoding chunks: the check is about which series
	// come back, their samples are checked by other subtests.
	labelsOnly bool
}

func (q query) request(t *testing.T) *storepb.SeriesRequest {
	ms, err := storepb.MatchersToProto(q.matchers...)
	require.NoError(t, err)
	return &storepb.SeriesRequest{
		MinTime:                 q.mint,
		MaxTime:                 q.maxt,
		Matchers:                ms,
		SkipChunks:              q.skipChunks,
		WithoutReplicaLabels:    q.without,
		Limit:                   q.limit,
		ResponseBatchSize:       q.batchSize,
		PartialResponseStrategy: storepb.PartialResponseStrategy_ABORT,
	}
}

// finalLabels is what a store should answer for a series of the data set:
// external labels set (they win), without labels removed.
func (s *suite) finalLabels(lset labels.Labels, without []string) labels.Labels {
	b := labels.NewBuilder(lset)
	s.ext.Range(func(l labels.Label) { b.Set(l.Name, l.Value) })
	b.Del(without...)
	return b.Labels()
}

// matches tells whether a series, with external labels set, is selected by ms.
func (s *suite) matches(lset labels.Labels, ms []*labels.Matcher) bool {
	full := s.finalLabels(lset, nil)
	for _, m := range ms {
		if !m.Matches(full.Get(m.Name)) {
			return false
		}
	}
	return true
}

// expected is a series a query may return.
type expected struct {
	lset    labels.Labels // final label set
	inRange []Sample      // samples in [mint, maxt]
}

// expect returns, by final label set, the series of the data set that q
// selects (whatever their samples), and the sorted final label sets of
// those with at least one sample in [q.mint, q.maxt], which a store must
// return. With labels stripped, several series may share a label set: the
// map then holds the last one.
func (s *suite) expect(q query) (map[string]expected, []labels.Labels) {
	all := map[string]expected{}
	var must []labels.Labels
	for _, d := range s.data {
		if !s.matches(d.lset, q.matchers) {
			continue
		}
		lset := s.finalLabels(d.lset, q.without)
		var in []Sample
		for _, smp := range d.samples {
			if smp.T >= q.mint && smp.T <= q.maxt {
				in = append(in, smp)
			}
		}
		all[lset.String()] = expected{lset: lset, inRange: in}
		if len(in) > 0 {
			must = append(must, lset)
		}
	}
	slices.SortStableFunc(must, labels.Compare)
	return all, must
}

// run calls Series for q, checks the answer against the data set and returns
// the series received.
func (s *suite) run(t *testing.T, q query) []*storepb.Series {
	t.Helper()
	got, warns, _, err := CollectSeries(t.Context(), s.client, q.request(t))
	require.NoError(t, err)
	require.Empty(t, warns, "a healthy store sends no warnings")
	s.check(t, q, got)
	return got
}

// check verifies a Series answer: order, label sets, chunk bounds and order,
// and that the samples in [mint, maxt] are exactly the data set's.
func (s *suite) check(t *testing.T, q query, got []*storepb.Series) {
	t.Helper()
	all, must := s.expect(q)
	// Stripping labels other than external ones may make series equal: the
	// store may send them one after the other or merge them, and their
	// samples cannot be told apart.
	dups := slices.ContainsFunc(q.without, func(n string) bool { return !s.ext.Has(n) })

	var (
		prev    labels.Labels
		gotKeys = map[string]bool{}
	)
	for i, gs := range got {
		pl := gs.GetLabels()
		require.True(t, slices.IsSortedFunc(pl, func(a, b *storepb.Label) int { return compareStrings(a.GetName(), b.GetName()) }),
			"labels of series %d not sorted by name: %v", i, pl)
		lset := storepb.LabelsFromProto(pl)
		require.Equal(t, len(pl), lset.Len(), "series %d has a repeated label name: %v", i, pl)
		if i > 0 {
			c := labels.Compare(prev, lset)
			if dups {
				require.LessOrEqual(t, c, 0, "series out of order: %s before %s", prev, lset)
			} else {
				require.Less(t, c, 0, "series out of order or repeated: %s before %s", prev, lset)
			}
		}
		prev = lset
		exp, ok := all[lset.String()]
		require.True(t, ok, "unexpected series %s", lset)
		gotKeys[lset.String()] = true

		if q.skipChunks {
			require.Empty(t, gs.GetChunks(), "skip_chunks set but series %s has chunks", lset)
			continue
		}
		require.NotEmpty(t, gs.GetChunks(), "series %s has no chunks", lset)
		var samples []Sample
		for j, c := range gs.GetChunks() {
			require.LessOrEqual(t, c.GetMinTime(), c.GetMaxTime(), "series %s chunk %d", lset, j)
			require.True(t, c.GetMaxTime() >= q.mint && c.GetMinTime() <= q.maxt,
				"series %s chunk %d [%d, %d] outside the requested [%d, %d]", lset, j, c.GetMinTime(), c.GetMaxTime(), q.mint, q.maxt)
			if j > 0 {
				require.LessOrEqual(t, gs.GetChunks()[j-1].GetMinTime(), c.GetMinTime(), "series %s chunks not sorted by min time", lset)
			}
			if q.labelsOnly {
				continue
			}
			cs, err := DecodeChunk(c.GetRaw())
			require.NoError(t, err, "series %s chunk %d", lset, j)
			require.NotEmpty(t, cs, "series %s chunk %d is empty", lset, j)
			for _, smp := range cs {
				require.True(t, smp.T >= c.GetMinTime() && smp.T <= c.GetMaxTime(),
					"series %s chunk %d [%d, %d] holds a sample at %d", lset, j, c.GetMinTime(), c.GetMaxTime(), smp.T)
			}
			samples = append(samples, cs...)
		}
		if dups || q.labelsOnly {
			continue
		}
		merged, err := MergeSamples(samples)
		require.NoError(t, err, "series %s", lset)
		merged = slices.DeleteFunc(merged, func(smp Sample) bool { return smp.T < q.mint || smp.T > q.maxt })
		requireSamplesEqual(t, exp.inRange, merged, "series %s in [%d, %d]", lset, q.mint, q.maxt)
	}
	for _, m := range must {
		if q.limit > 0 {
			break
		}
		require.True(t, gotKeys[m.String()], "series %s with samples in [%d, %d] missing from the answer", m, q.mint, q.maxt)
	}
}

func requireSamplesEqual(t *testing.T, want, got []Sample, msgAndArgs ...any) {
	t.Helper()
	msg := fmt.Sprintf(msgAndArgs[0].(string), msgAndArgs[1:]...)
	require.Equal(t, len(want), len(got), "%s: sample count (first want %v, first got %v)", msg, first(want), first(got))
	for i := range want {
		require.True(t, want[i].Equal(got[i]), "%s: sample %d: want %s, got %s", msg, i, want[i], got[i])
	}
}

func first(s []Sample) any {
	if len(s) == 0 {
		return nil
	}
	return s[0]
}

func compareStrings(a, b string) int {
	switch {
	case a < b:
		return -1
	case a > b:
		return 1
	}
	return 0
}

// labelSetsOf returns the label sets of series, in order.
func labelSetsOf(series []*storepb.Series) []labels.Labels {
	var out []labels.Labels // nil when empty, as expect returns
	for _, s := range series {
		out = append(out, storepb.LabelsFromProto(s.GetLabels()))
	}
	return out
}

func (s *suite) testSeries(t *testing.T) {
	q := query{mint: s.minT, maxt: s.maxT, matchers: allSeries}
	got := s.run(t, q)
	_, must := s.expect(q)
	require.Equal(t, must, labelSetsOf(got), "every series of the data set, sorted")
	require.Len(t, got, len(s.data))
	for _, gs := range got {
		lset := storepb.LabelsFromProto(gs.GetLabels())
		s.ext.Range(func(l labels.Label) {
			require.Equal(t, l.Value, lset.Get(l.Name), "external label %s of series %s", l.Name, lset)
		})
	}
}

func (s *suite) testTimeRanges(t *testing.T) {
	hour := int64(3600_000)
	for _, tc := range []struct {
		name       string
		mint, maxt int64
		none       bool // no series at all may be returned
	}{
		{name: "unbounded", mint: math.MinInt64, maxt: math.MaxInt64},
		{name: "second_hour_bounds_on_samples", mint: s.minT + hour, maxt: s.minT + 2*hour},
		{name: "first_sample_only", mint: s.minT, maxt: s.minT},
		{name: "last_sample_only", mint: s.maxT, maxt: s.maxT},
		{name: "bounds_between_samples", mint: s.minT + hour + 1, maxt: s.minT + 2*hour - 1},
		{name: "last_hour", mint: s.minT + 2*hour, maxt: s.maxT},
		{name: "inside_one_scrape_interval", mint: s.minT + hour + 1, maxt: s.minT + hour + ScrapeInterval - 1},
		{name: "before_data", mint: s.minT - hour, maxt: s.minT - 1, none: true},
		{name: "after_data", mint: s.maxT + 1, maxt: s.maxT + hour, none: true},
	} {
		t.Run(tc.name, func(t *testing.T) {
			got := s.run(t, query{mint: tc.mint, maxt: tc.maxt, matchers: allSeries})
			if tc.none {
				require.Empty(t, labelSetsOf(got))
			}
		})
	}
}

// matcherCase is a named matcher list; the expectation is computed from the
// data set.
type matcherCase struct {
	name string
	ms   []*labels.Matcher
	want int // expected number of series, -1: not asserted beyond the data set
}

func m(t labels.MatchType, name, value string) *labels.Matcher {
	return labels.MustNewMatcher(t, name, value)
}

func (s *suite) testMatchers(t *testing.T) {
	const (
		eq  = labels.MatchEqual
		neq = labels.MatchNotEqual
		re  = labels.MatchRegexp
		nre = labels.MatchNotRegexp
	)
	name := model.MetricNameLabel
	cases := []matcherCase{
		{"eq", []*labels.Matcher{m(eq, name, "up")}, 20},
		{"eq_no_such_metric", []*labels.Matcher{m(eq, name, "no_such_metric")}, 0},
		{"neq", []*labels.Matcher{m(eq, name, "http_requests_total"), m(neq, "code", "200")}, 80},
		{"re", []*labels.Matcher{m(re, name, "http_.*"), m(re, "job", "api|web")}, 121},
		{"re_is_anchored", []*labels.Matcher{m(re, name, "http_requests"), m(re, "job", "ap")}, 0},
		{"re_case_insensitive", []*labels.Matcher{m(re, "job", "(?i)NODE")}, 60},
		{"re_case_sensitive", []*labels.Matcher{m(re, "job", "NODE")}, 0},
		{"nre", []*labels.Matcher{m(eq, name, "http_requests_total"), m(nre, "method", "GET|PUT")}, 60},
		{"re_alternation_and_class", []*labels.Matcher{m(eq, "job", "api"), m(re, "instance", "host-[0-2]:9090")}, 22},
		{"eq_empty_selects_absent", []*labels.Matcher{m(re, name, ".+"), m(eq, "path", "")}, 144},
		{"neq_empty_selects_present", []*labels.Matcher{m(re, name, ".+"), m(neq, "path", "")}, 60},
		{"re_empty_selects_absent", []*labels.Matcher{m(re, name, ".+"), m(re, "path", "")}, 144},
		{"re_dot_plus_selects_present", []*labels.Matcher{m(re, "path", ".+")}, 60},
		{"nre_empty_selects_present", []*labels.Matcher{m(re, name, ".+"), m(nre, "path", "")}, 60},
		{"re_empty_or_value", []*labels.Matcher{m(re, name, ".+"), m(re, "path", "|/GET")}, 174},
		{"absent_instance", []*labels.Matcher{m(re, name, ".+"), m(eq, "instance", "")}, 3},
		{"absent_label_eq_empty_matches_all", []*labels.Matcher{m(re, name, ".+"), m(eq, "no_such_label", "")}, len(s.data)},
		{"absent_label_re_dot_star_matches_all", []*labels.Matcher{m(re, name, ".+"), m(re, "no_such_label", ".*")}, len(s.data)},
		{"absent_label_neq_value_matches_all", []*labels.Matcher{m(re, name, ".+"), m(neq, "no_such_label", "x")}, len(s.data)},
		{"absent_label_re_dot_plus_matches_none", []*labels.Matcher{m(re, name, ".+"), m(re, "no_such_label", ".+")}, 0},
		{"contradiction", []*labels.Matcher{m(eq, name, "up"), m(neq, name, "up")}, 0},
		{"several_on_one_label", []*labels.Matcher{m(re, name, "http_requests_total|up"), m(re, "instance", "host-1.*"), m(nre, "instance", ".*:9091"), m(neq, name, "up")}, 12},
		{"name_only_build_info", []*labels.Matcher{m(eq, name, "build_info")}, 2},
	}
	if s.ext.IsEmpty() {
		cases = append(cases,
			matcherCase{"absent_region_eq_empty", []*labels.Matcher{m(eq, name, "up"), m(eq, "region", "")}, 20},
			matcherCase{"absent_region_eq_value", []*labels.Matcher{m(eq, name, "up"), m(eq, "region", "eu")}, 0},
		)
	} else {
		cases = append(cases,
			matcherCase{"external_eq", []*labels.Matcher{m(eq, name, "up"), m(eq, "region", "eu")}, 20},
			matcherCase{"external_eq_other", []*labels.Matcher{m(eq, name, "up"), m(eq, "region", "us")}, 0},
			matcherCase{"external_neq", []*labels.Matcher{m(eq, name, "up"), m(neq, "region", "eu")}, 0},
			matcherCase{"external_neq_other", []*labels.Matcher{m(eq, name, "up"), m(neq, "region", "us")}, 20},
			matcherCase{"external_re", []*labels.Matcher{m(eq, name, "up"), m(re, "region", "e.*"), m(re, "replica", ".+")}, 20},
			matcherCase{"external_nre", []*labels.Matcher{m(eq, name, "up"), m(nre, "replica", "a|b")}, 0},
			matcherCase{"external_eq_empty", []*labels.Matcher{m(eq, name, "up"), m(eq, "region", "")}, 0},
			matcherCase{"external_neq_empty", []*labels.Matcher{m(eq, name, "up"), m(neq, "region", "")}, 20},
			matcherCase{"external_and_job", []*labels.Matcher{m(eq, "region", "eu"), m(eq, "job", "node")}, 60},
			// {region="eu"} is valid PromQL: nothing is left for the backend.
			matcherCase{"external_only", []*labels.Matcher{m(eq, "region", "eu")}, len(s.data)},
			matcherCase{"external_only_mismatch", []*labels.Matcher{m(re, "replica", "b|c")}, 0},
		)
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			q := query{mint: s.minT, maxt: s.maxT, matchers: tc.ms, labelsOnly: true}
			got := s.run(t, q)
			_, must := s.expect(q)
			require.Equal(t, must, labelSetsOf(got))
			if tc.want >= 0 {
				require.Len(t, got, tc.want, "the data set has %d such series", tc.want)
			}
		})
	}
}

func (s *suite) testSkipChunks(t *testing.T) {
	hour := int64(3600_000)
	for _, tc := range []struct {
		name       string
		mint, maxt int64
	}{
		{name: "all_data", mint: s.minT, maxt: s.maxT},
		{name: "last_hour", mint: s.minT + 2*hour + ScrapeInterval, maxt: s.maxT},
	} {
		t.Run(tc.name, func(t *testing.T) {
			q := query{mint: tc.mint, maxt: tc.maxt, matchers: allSeries, skipChunks: true}
			got := s.run(t, q)
			_, must := s.expect(q)
			require.Equal(t, must, labelSetsOf(got), "the series with samples in range, labels only")
		})
	}
}

func (s *suite) testLimit(t *testing.T) {
	q := query{mint: s.minT, maxt: s.maxT, matchers: allSeries, limit: 5}
	got := s.run(t, q)
	require.NotEmpty(t, got)
	require.LessOrEqual(t, len(got), 5, "limit 5")

	q.matchers = []*labels.Matcher{m(labels.MatchEqual, model.MetricNameLabel, "build_info")}
	got = s.run(t, q)
	require.Len(t, got, 2, "limit above the number of series")
}

func (s *suite) testBatches(t *testing.T) {
	q := query{mint: s.minT, maxt: s.maxT, matchers: []*labels.Matcher{m(labels.MatchEqual, model.MetricNameLabel, "up")}}
	want := labelSetsOf(s.run(t, q))

	q.batchSize = 7
	got := s.recvBatches(t, q.request(t), 7)
	s.check(t, q, got)
	require.Equal(t, want, labelSetsOf(got), "batched answer equals the unbatched one")
}

func (s *suite) testWithoutReplicaLabels(t *testing.T) {
	type tc struct {
		name    string
		without []string
	}
	cases := []tc{
		{name: "series_label", without: []string{"instance"}},
		{name: "absent_label", without: []string{"no_such_label"}},
	}
	if !s.ext.IsEmpty() {
		cases = append(cases,
			tc{name: "external_label", without: []string{"replica"}},
			tc{name: "external_and_series_label", without: []string{"replica", "job"}},
		)
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			q := query{mint: s.minT, maxt: s.maxT, matchers: allSeries, without: c.without}
			got := s.run(t, q)
			_, must := s.expect(q)
			for _, lset := range labelSetsOf(got) {
				for _, n := range c.without {
					require.False(t, lset.Has(n), "series %s still has %s", lset, n)
				}
			}
			require.Equal(t, slices.CompactFunc(must, labels.Equal), slices.CompactFunc(labelSetsOf(got), labels.Equal),
				"the distinct label sets after stripping")
		})
	}
}

func (s *suite) testInvalidMatcher(t *testing.T) {
	req := (query{mint: s.minT, maxt: s.maxT, matchers: allSeries}).request(t)
	req.Matchers = append(req.Matchers, &storepb.LabelMatcher{Type: storepb.LabelMatcher_RE, Name: "job", Value: "(unclosed"})
	_, _, _, err := CollectSeries(t.Context(), s.client, req)
	require.Error(t, err, "an invalid regular expression fails the request under ABORT")
}
