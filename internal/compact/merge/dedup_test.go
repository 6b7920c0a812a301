package merge

import (
	"context"
	"log/slog"
	"path/filepath"
	"slices"
	"testing"

	"github.com/prometheus/prometheus/model/labels"
	"github.com/prometheus/prometheus/storage"
	"github.com/prometheus/prometheus/tsdb"
	"github.com/prometheus/prometheus/tsdb/chunks"
	"github.com/prometheus/prometheus/tsdb/tsdbutil"
	"github.com/prometheus/prometheus/util/annotations"
	"github.com/stretchr/testify/require"

	"github.com/strata-io/strata/internal/dedup"
	"github.com/strata-io/strata/internal/query/hatest"
)

var (
	replicaA = map[string]string{"cluster": "eu1", "replica": "a"}
	replicaB = map[string]string{"cluster": "eu1", "replica": "b"}
)

// selectAll queries every series of the blocks in dirs like a store does
// (one series per label set, the blocks' samples chain-merged) and returns
// them sorted by labels.
func selectAll(t *testing.T, dirs ...string) []storage.Series {
	t.Helper()
	var qs []storage.Querier
	for _, d := range dirs {
		b, err := tsdb.OpenBlock(slog.New(slog.DiscardHandler), d, nil, nil)
		require.NoError(t, err)
		t.Cleanup(func() { require.NoError(t, b.Close()) })
		q, err := tsdb.NewBlockQuerier(b, b.MinTime(), b.MaxTime())
		require.NoError(t, err)
		qs = append(qs, q)
	}
	q := storage.NewMergeQuerier(qs, nil, storage.ChainedSeriesMerge)
	defer q.Close()
	set := q.Select(context.Background(), true, nil, labels.MustNewMatcher(labels.MatchRegexp, "__name__", ".+"))
	var out []storage.Series
	for set.Next() {
		s := set.At()
		out = append(out, storage.NewListSeries(s.Labels(), toSamples(expand(t, s.Iterator(nil)))))
	}
	require.NoError(t, set.Err())
	return out
}

func toSamples(ss []smpl) []chunks.Sample {
	out := make([]chunks.Sample, 0, len(ss))
	for _, s := range ss {
		out = append(out, s)
	}
	return out
}

// sliceSet is a storage.SeriesSet over a slice.
type sliceSet struct {
	ss  []storage.Series
	cur int
}

func (s *sliceSet) Next() bool                        { s.cur++; return s.cur <= len(s.ss) }
func (s *sliceSet) At() storage.Series                { return s.ss[s.cur-1] }
func (s *sliceSet) Err() error                        { return nil }
func (s *sliceSet) Warnings() annotations.Annotations { return nil }

// onlineDedup is what the querier answers over the replicas: each replica's
// series (replica labels removed) next to each other, replica a first, through
// internal/dedup's series set as a plain selector reads gauges and as
// rate() reads counters.
func onlineDedup(t *testing.T, replicas ...[]storage.Series) map[string][]smpl {
	t.Helper()
	var all []storage.Series
	for _, r := range replicas {
		all = append(all, r...)
	}
	slices.SortStableFunc(all, func(a, b storage.Series) int { return labels.Compare(a.Labels(), b.Labels()) })
	out := map[string][]smpl{}
	for _, isCounter := range []bool{false, true} {
		set := dedup.NewSeriesSet(&sliceSet{ss: all}, isCounter)
		for set.Next() {
			s := set.At()
			if isCounterSeries(s.Labels()) == isCounter {
				out[s.Labels().String()] = expand(t, s.Iterator(nil))
			}
		}
		require.NoError(t, set.Err())
	}
	return out
}

func seriesMap(t *testing.T, ss []storage.Series) map[string][]smpl {
	out := map[string][]smpl{}
	for _, s := range ss {
		out[s.Labels().String()] = expand(t, s.Iterator(nil))
	}
	return out
}

func TestMergeDedupPenaltyEqualsOnlineDedup(t *testing.T) {
	src, dst := t.TempDir(), t.TempDir()
	counter := func(rate float64) func(int64) float64 {
		return func(ts int64) float64 { return rate * float64(ts) / 1000 }
	}
	// withGap drops the samples in [from, to).
	withGap := func(ss []smpl, from, to int64) []smpl {
		return slices.DeleteFunc(slices.Clone(ss), func(s smpl) bool { return s.t >= from && s.t < to })
	}
	hist := func(from, to, step int64) []smpl {
		var out []smpl
		for ts := from; ts < to; ts += step {
			out = append(out, smpl{t: ts, h: tsdbutil.GenerateTestHistogram(ts / step)})
		}
		return out
	}
	reqs := labels.FromStrings("__name__", "http_requests_total", "code", "200")
	errs := labels.FromStrings("__name__", "http_requests_total", "code", "500")
	lat := labels.FromStrings("__name__", "latency")
	onlyB := labels.FromStrings("__name__", "only_b")

	// Replica a scrapes at :00, :15, ... and was down 40m-60m; two 2h blocks.
	a1 := []testSeries{
		{reqs, withGap(floats(0, 2*hour, 15*sec, counter(10)), 40*minute, 60*minute)},
		{errs, withGap(floats(0, 2*hour, 15*sec, counter(1)), 40*minute, 60*minute)},
		{lat, withGap(hist(0, 2*hour, 30*sec), 40*minute, 60*minute)},
	}
	a2 := []testSeries{
		{reqs, floats(2*hour, 4*hour, 15*sec, counter(10))},
		{errs, floats(2*hour, 4*hour, 15*sec, counter(1))},
		{lat, hist(2*hour, 4*hour, 30*sec)},
	}
	// Replica b scrapes 5s later with slightly different values (its own
	// view of the counter) and missed 3h-3h10m; one 4h block.
	b1 := []testSeries{
		{reqs, withGap(floats(5*sec, 4*hour, 15*sec, counter(10.1)), 3*hour, 3*hour+10*minute)},
		{errs, floats(5*sec, 4*hour, 15*sec, counter(1.1))},
		{lat, hist(10*sec, 4*hour, 30*sec)},
		{onlyB, floats(5*sec, hour, 15*sec, counter(2))},
	}
	dirA1, _ := writeBlock(t, src, blockSpec{series: a1, ext: replicaA})
	dirA2, _ := writeBlock(t, src, blockSpec{series: a2, ext: replicaA})
	dirB1, _ := writeBlock(t, src, blockSpec{series: b1, ext: replicaB})

	want := onlineDedup(t, selectAll(t, dirA1, dirA2), selectAll(t, dirB1))

	ext := labels.FromStrings("cluster", "eu1")
	// The order of the sources must not matter.
	meta, err := newMerger(t, Config{Mode: DedupPenalty}).Merge(context.Background(), []string{dirB1, dirA1, dirA2}, dst, ext, 0)
	require.NoError(t, err)
	got := seriesMap(t, selectAll(t, filepath.Join(dst, meta.ULID.String())))
	require.Equal(t, digest(want), digest(got), "querying the merged block = online dedup over the originals")

	// What a user sees: the gap of replica a is filled from b (b scrapes at
	// :05, :20, ...), and outside of gaps there is one copy, not two.
	var inGap, total int
	for _, s := range got[reqs.String()] {
		if s.t >= 40*minute && s.t < 60*minute {
			inGap++
			require.Equal(t, 5*sec, s.t%(15*sec), "gap samples come from replica b")
		}
		total++
	}
	require.Equal(t, int(20*minute/(15*sec)), inGap)
	require.InDelta(t, int(4*hour/(15*sec)), total, 3)
	require.Len(t, got[onlyB.String()], len(b1[3].samples))
	require.NotEmpty(t, got[lat.String()])
	for _, ss := range got {
		for i := 1; i < len(ss); i++ {
			require.Less(t, ss[i-1].t, ss[i].t)
		}
	}
	require.Equal(t, map[string]string{"cluster": "eu1"}, meta.Thanos.Labels)

	// Chunks are re-encoded with at most 120 samples.
	_, raw := readBlock(t, filepath.Join(dst, meta.ULID.String()))
	require.NotEmpty(t, raw)
	b, err := tsdb.OpenBlock(slog.New(slog.DiscardHandler), filepath.Join(dst, meta.ULID.String()), nil, nil)
	require.NoError(t, err)
	defer b.Close()
	require.LessOrEqual(t, float64(b.Meta().Stats.NumSamples)/float64(b.Meta().Stats.NumChunks), 120.0)
}

func TestMergeDedupExactKeepsOneCopy(t *testing.T) {
	src, dst := t.TempDir(), t.TempDir()
	var a, b []testSeries
	for i := range 5 {
		s := testSeries{series("up", i), floats(0, 2*hour, 15*sec, gauge(i))}
		a = append(a, s)
		b = append(b, s)
	}
	// b has one sample more in series 4 and a series a lacks.
	b[4].samples = append(slices.Clone(b[4].samples), smpl{t: 2*hour - sec, f: 42})
	b = append(b, testSeries{series("up", 9), floats(0, hour, 15*sec, gauge(9))})
	dirA, metaA := writeBlock(t, src, blockSpec{series: a, ext: replicaA})
	dirB, _ := writeBlock(t, src, blockSpec{series: b, ext: replicaB})
	inA, rawA := readBlock(t, dirA)
	inB, _ := readBlock(t, dirB)

	meta, err := newMerger(t, Config{Mode: DedupExact}).Merge(context.Background(), []string{dirA, dirB}, dst, labels.FromStrings("cluster", "eu1"), 0)
	require.NoError(t, err)
	got, raw := readBlock(t, filepath.Join(dst, meta.ULID.String()))
	want := union(inA, inB)
	require.Equal(t, digest(want), digest(got))
	require.Equal(t, metaA.Stats.NumSamples+1+uint64(hour/(15*sec)), meta.Stats.NumSamples, "one copy of each identical sample")
	for i := range 4 {
		k := series("up", i).String()
		require.Equal(t, rawA[k], raw[k], "identical chunks of %s are kept once, as they are", k)
	}
}

// blockQueryable reads the blocks in dirs as one store would.
func blockQueryable(t *testing.T, dirs ...string) storage.Queryable {
	t.Helper()
	var bs []*tsdb.Block
	for _, d := range dirs {
		b, err := tsdb.OpenBlock(slog.New(slog.DiscardHandler), d, nil, nil)
		require.NoError(t, err)
		t.Cleanup(func() { require.NoError(t, b.Close()) })
		bs = append(bs, b)
	}
	return storage.QueryableFunc(func(mint, maxt int64) (storage.Querier, error) {
		var qs []storage.Querier
		for _, b := range bs {
			q, err := tsdb.NewBlockQuerier(b, mint, maxt)
			if err != nil {
				return nil, err
			}
			qs = append(qs, q)
		}
		return storage.NewMergeQuerier(qs, nil, storage.ChainedSeriesMerge), nil
	})
}

// TestMergeDedupPenaltyHAPairCounters compacts the 2h blocks of an HA pair
// (replica 1 scrapes 7s later, counts 1,000 less; replica 0 down for 20
// minutes) and reads rate/increase from the merged block as from the online
// dedup: the switch to the lower replica must not read as a counter reset.
func TestMergeDedupPenaltyHAPairCounters(t *testing.T) {
	src, dst := t.TempDir(), t.TempDir()
	const start = int64(1_700_006_400_000) // a 2h boundary
	var dirs []string
	for i, ext := range []map[string]string{replicaA, replicaB} {
		first, second := hatest.Split(hatest.Replica(start, i, false), start+2*hour)
		for _, part := range [][]storage.Series{first, second} {
			var ts []testSeries
			for _, s := range part {
				ts = append(ts, testSeries{lset: s.Labels(), samples: expand(t, s.Iterator(nil))})
			}
			dir, _ := writeBlock(t, src, blockSpec{series: ts, ext: ext})
			dirs = append(dirs, dir)
		}
	}
	meta, err := newMerger(t, Config{Mode: DedupPenalty}).Merge(context.Background(), dirs, dst, labels.FromStrings("cluster", "eu1"), 0)
	require.NoError(t, err)
	hatest.Check(t, blockQueryable(t, filepath.Join(dst, meta.ULID.String())), start)
}

func TestIsCounterSeries(t *testing.T) {
	for _, tc := range []struct {
		lset labels.Labels
		want bool
	}{
		{labels.FromStrings("__name__", "http_requests_total"), true},
		{labels.FromStrings("__name__", "http_request_duration_seconds_bucket", "le", "0.1"), true},
		{labels.FromStrings("__name__", "http_request_duration_seconds_count"), true},
		{labels.FromStrings("__name__", "http_request_duration_seconds_sum"), true},
		{labels.FromStrings("__name__", "process_resident_memory_bytes"), false},
		{labels.FromStrings("__name__", "up"), false},
		{labels.FromStrings("__name__", "jobs_running_total", "__type__", "gauge"), false},
		{labels.FromStrings("__name__", "requests", "__type__", "counter"), true},
	} {
		require.Equal(t, tc.want, isCounterSeries(tc.lset), tc.lset.String())
	}
}
