package multitsdb

import (
	"context"
	"net/http"
	"os"
	"path/filepath"
	"testing"
	"time"

	"github.com/prometheus/prometheus/model/exemplar"
	"github.com/prometheus/prometheus/model/histogram"
	"github.com/prometheus/prometheus/model/labels"
	"github.com/prometheus/prometheus/storage"
	"github.com/stretchr/testify/require"
	"go.uber.org/goleak"

	"github.com/strata-io/strata/internal/receive/remotewrite"
	"github.com/strata-io/strata/internal/store/storetest"
	"github.com/strata-io/strata/pkg/infopb"
	"github.com/strata-io/strata/pkg/storepb"
)

func TestMain(m *testing.M) {
	goleak.VerifyTestMain(m)
}

// base is the first sample timestamp of the tests, in ms.
const base int64 = 1_700_000_000_000

func open(t *testing.T, cfg Config) *MultiTSDB {
	t.Helper()
	m, err := New(cfg, nil, nil)
	require.NoError(t, err)
	t.Cleanup(func() { require.NoError(t, m.Close()) })
	return m
}

func floats(name string, ts ...int64) remotewrite.Series {
	s := remotewrite.Series{Labels: labels.FromStrings("__name__", name, "job", "j")}
	for _, x := range ts {
		s.Samples = append(s.Samples, remotewrite.Sample{T: x, V: float64(x-base) / 1000})
	}
	return s
}

func testHist(i int) *histogram.Histogram {
	u := uint64(i)
	return &histogram.Histogram{
		Schema:          0,
		Count:           3 + 2*u,
		Sum:             float64(10 + i),
		ZeroCount:       1,
		ZeroThreshold:   0.001,
		PositiveSpans:   []histogram.Span{{Offset: 0, Length: 2}},
		PositiveBuckets: []int64{1 + int64(i), 0},
	}
}

// result is what a Series call over all series answers, per label set.
type result map[string][]storetest.Sample

func query(t *testing.T, m *MultiTSDB, ms ...*labels.Matcher) result {
	t.Helper()
	if len(ms) == 0 {
		ms = []*labels.Matcher{labels.MustNewMatcher(labels.MatchRegexp, "__name__", ".+")}
	}
	pms, err := storepb.MatchersToProto(ms...)
	require.NoError(t, err)
	got, warns, _, err := storetest.CollectSeries(t.Context(), storepb.ServerAsClient(m.StoreServer()), &storepb.SeriesRequest{
		MinTime: base - 24*3600_000, MaxTime: base + 24*3600_000, Matchers: pms,
		PartialResponseStrategy: storepb.PartialResponseStrategy_ABORT,
	})
	require.NoError(t, err)
	require.Empty(t, warns)
	out := result{}
	for _, s := range got {
		smps, err := storetest.DecodeSeries(s)
		require.NoError(t, err)
		out[storepb.LabelsFromProto(s.GetLabels()).String()] = append(out[storepb.LabelsFromProto(s.GetLabels()).String()], smps...)
	}
	return out
}

func requireSamples(t *testing.T, want, got []storetest.Sample) {
	t.Helper()
	require.Len(t, got, len(want), "got %v", got)
	for i := range want {
		require.True(t, want[i].Equal(got[i]), "sample %d: want %v, got %v", i, want[i], got[i])
	}
}

func wantFloats(s remotewrite.Series) []storetest.Sample {
	var out []storetest.Sample
	for _, x := range s.Samples {
		out = append(out, storetest.Sample{T: x.T, F: x.V})
	}
	return out
}

func TestAppendAndQuery(t *testing.T) {
	m := open(t, Config{Dir: t.TempDir(), ExternalLabels: labels.FromStrings("cluster", "c1"), MaxExemplars: 100})
	fl := floats("up", base, base+15_000, base+30_000)
	fl.Exemplars = []exemplar.Exemplar{{Labels: labels.FromStrings("trace_id", "abc"), Value: 1, Ts: base + 15_000, HasTs: true}}
	hs := remotewrite.Series{Labels: labels.FromStrings("__name__", "lat", "job", "j")}
	fhs := remotewrite.Series{Labels: labels.FromStrings("__name__", "flat", "job", "j")}
	var wantH, wantFH []storetest.Sample
	for i := range 4 {
		ts := base + int64(i)*15_000
		hs.Histograms = append(hs.Histograms, remotewrite.Histogram{T: ts, H: testHist(i)})
		wantH = append(wantH, storetest.Sample{T: ts, H: testHist(i)})
		fh := testHist(i).ToFloat(nil)
		fhs.Histograms = append(fhs.Histograms, remotewrite.Histogram{T: ts, FH: fh})
		wantFH = append(wantFH, storetest.Sample{T: ts, FH: fh})
	}
	stats, err := m.Append(t.Context(), "team-a", []remotewrite.Series{fl, hs, fhs})
	require.NoError(t, err)
	require.Equal(t, WriteStats{Samples: 3, Histograms: 8, Exemplars: 1}, stats)

	got := query(t, m)
	require.Len(t, got, 3)
	requireSamples(t, wantFloats(fl), got[`{__name__="up", cluster="c1", job="j", tenant_id="team-a"}`])
	requireSamples(t, wantH, got[`{__name__="lat", cluster="c1", job="j", tenant_id="team-a"}`])
	requireSamples(t, wantFH, got[`{__name__="flat", cluster="c1", job="j", tenant_id="team-a"}`])

	// The exemplar is in the tenant's TSDB.
	eq, err := m.TenantDB("team-a").ExemplarQuerier(t.Context())
	require.NoError(t, err)
	ex, err := eq.Select(base, base+60_000, []*labels.Matcher{labels.MustNewMatcher(labels.MatchEqual, "__name__", "up")})
	require.NoError(t, err)
	require.Len(t, ex, 1)
	require.Len(t, ex[0].Exemplars, 1)
	require.Equal(t, "abc", ex[0].Exemplars[0].Labels.Get("trace_id"))
}

func TestExemplarsDiscardedByDefault(t *testing.T) {
	m := open(t, Config{Dir: t.TempDir()})
	fl := floats("up", base)
	fl.Exemplars = []exemplar.Exemplar{{Labels: labels.FromStrings("trace_id", "abc"), Value: 1, Ts: base, HasTs: true}}
	stats, err := m.Append(t.Context(), "a", []remotewrite.Series{fl})
	require.NoError(t, err)
	require.Equal(t, WriteStats{Samples: 1, ExemplarsDropped: 1}, stats)
}

func TestTenantsIsolated(t *testing.T) {
	m := open(t, Config{Dir: t.TempDir(), ExternalLabels: labels.FromStrings("replica", "r1")})
	a, b := floats("up", base, base+15_000), floats("up", base+30_000)
	_, err := m.Append(t.Context(), "a", []remotewrite.Series{a})
	require.NoError(t, err)
	_, err = m.Append(t.Context(), "b", []remotewrite.Series{b})
	require.NoError(t, err)
	require.Equal(t, []string{"a", "b"}, m.Tenants())
	require.DirExists(t, filepath.Join(m.cfg.Dir, "a"))
	require.DirExists(t, filepath.Join(m.cfg.Dir, "b"))

	got := query(t, m)
	require.Len(t, got, 2)
	requireSamples(t, wantFloats(a), got[`{__name__="up", job="j", replica="r1", tenant_id="a"}`])
	requireSamples(t, wantFloats(b), got[`{__name__="up", job="j", replica="r1", tenant_id="b"}`])

	got = query(t, m, labels.MustNewMatcher(labels.MatchEqual, "tenant_id", "b"))
	require.Len(t, got, 1)
	requireSamples(t, wantFloats(b), got[`{__name__="up", job="j", replica="r1", tenant_id="b"}`])

	info, err := m.StoreServer().Info(t.Context(), &infopb.InfoRequest{})
	require.NoError(t, err)
	require.Equal(t, "receive", info.GetComponentType())
	require.Equal(t, []labels.Labels{
		labels.FromStrings("replica", "r1", "tenant_id", "a"),
		labels.FromStrings("replica", "r1", "tenant_id", "b"),
	}, storepb.LabelSetsFromProto(info.GetLabelSets()))
	require.Equal(t, base, info.GetStore().GetMinTime())
	require.Len(t, info.GetStore().GetTsdbInfos(), 2)

	names, err := m.StoreServer().LabelValues(t.Context(), &storepb.LabelValuesRequest{Label: "tenant_id", Start: base, End: base + 60_000})
	require.NoError(t, err)
	require.Equal(t, []string{"a", "b"}, names.GetValues())
}

func TestRestartReplaysWAL(t *testing.T) {
	dir := t.TempDir()
	m, err := New(Config{Dir: dir}, nil, nil)
	require.NoError(t, err)
	s := floats("up", base, base+15_000, base+30_000)
	_, err = m.Append(t.Context(), "a", []remotewrite.Series{s})
	require.NoError(t, err)
	require.NoError(t, m.Close())
	require.NoError(t, m.Close(), "second Close")
	_, err = m.Append(t.Context(), "a", []remotewrite.Series{s})
	require.ErrorIs(t, err, ErrClosed)
	require.Equal(t, http.StatusServiceUnavailable, ErrorStatus(err))

	m = open(t, Config{Dir: dir})
	require.Equal(t, []string{"a"}, m.Tenants(), "tenant opened at start")
	got := query(t, m)
	requireSamples(t, wantFloats(s), got[`{__name__="up", job="j", tenant_id="a"}`])
}

func TestRetriedWriteSucceeds(t *testing.T) {
	m := open(t, Config{Dir: t.TempDir()})
	fl := floats("up", base, base+15_000, base+30_000)
	hs := remotewrite.Series{Labels: labels.FromStrings("__name__", "lat")}
	for i := range 3 {
		hs.Histograms = append(hs.Histograms, remotewrite.Histogram{T: base + int64(i)*15_000, H: testHist(i)})
	}
	req := []remotewrite.Series{fl, hs}
	_, err := m.Append(t.Context(), "a", req)
	require.NoError(t, err)

	stats, err := m.Append(t.Context(), "a", req)
	require.NoError(t, err, "a retried write is a success")
	require.Equal(t, http.StatusOK, ErrorStatus(err))
	// The newest sample of each series is accepted by the TSDB as it is;
	// the older ones are found stored.
	require.Equal(t, WriteStats{Samples: 3, Histograms: 3, Duplicates: 4}, stats)

	// Even once the samples are in a block.
	require.NoError(t, m.Flush("a"))
	stats, err = m.Append(t.Context(), "a", req)
	require.NoError(t, err)
	require.Equal(t, WriteStats{Samples: 3, Histograms: 3, Duplicates: 6}, stats)

	got := query(t, m)
	requireSamples(t, wantFloats(fl), got[`{__name__="up", job="j", tenant_id="a"}`])
	require.Len(t, got[`{__name__="lat", tenant_id="a"}`], 3)
}

func TestConflictingSamples(t *testing.T) {
	m := open(t, Config{Dir: t.TempDir()})
	_, err := m.Append(t.Context(), "a", []remotewrite.Series{floats("up", base, base+15_000, base+30_000)})
	require.NoError(t, err)

	changed := floats("up", base+15_000, base+30_000, base+45_000)
	changed.Samples[0].V = 42 // out of order and a different value
	changed.Samples[1].V = 43 // newest stored timestamp, different value
	other := floats("other", base+30_000)
	stats, err := m.Append(t.Context(), "a", []remotewrite.Series{changed, other})
	require.ErrorIs(t, err, ErrConflict)
	require.ErrorIs(t, err, storage.ErrOutOfOrderSample)
	require.ErrorIs(t, err, storage.ErrDuplicateSampleForTimestamp)
	require.Equal(t, http.StatusConflict, ErrorStatus(err))
	var cerr *ConflictError
	require.ErrorAs(t, err, &cerr)
	require.Equal(t, 2, cerr.Conflicts)
	require.Equal(t, base+15_000, cerr.First[0].T)
	require.Equal(t, 0, cerr.First[0].Series)
	require.Contains(t, err.Error(), `tenant "a": 2 samples refused`)
	require.Equal(t, WriteStats{Samples: 2, Conflicts: 2}, stats, "the rest of the request is stored")

	got := query(t, m)
	require.Len(t, got[`{__name__="up", job="j", tenant_id="a"}`], 4)
	require.Len(t, got[`{__name__="other", job="j", tenant_id="a"}`], 1)
}

func TestOutOfOrderWindow(t *testing.T) {
	late := floats("up", base+60_000)
	late.Samples[0].V = 7

	m := open(t, Config{Dir: t.TempDir()})
	_, err := m.Append(t.Context(), "a", []remotewrite.Series{floats("up", base+120_000)})
	require.NoError(t, err)
	_, err = m.Append(t.Context(), "a", []remotewrite.Series{late})
	require.ErrorIs(t, err, ErrConflict)
	require.ErrorIs(t, err, storage.ErrOutOfOrderSample)

	m = open(t, Config{Dir: t.TempDir(), OutOfOrderWindow: 10 * time.Minute})
	_, err = m.Append(t.Context(), "a", []remotewrite.Series{floats("up", base+120_000)})
	require.NoError(t, err)
	stats, err := m.Append(t.Context(), "a", []remotewrite.Series{late})
	require.NoError(t, err, "inside the window")
	require.Equal(t, 1, stats.Samples)
	requireSamples(t, []storetest.Sample{{T: base + 60_000, F: 7}, {T: base + 120_000, F: 120}},
		query(t, m)[`{__name__="up", job="j", tenant_id="a"}`])

	tooOld := floats("up", base-3600_000)
	_, err = m.Append(t.Context(), "a", []remotewrite.Series{tooOld})
	require.ErrorIs(t, err, ErrConflict, "outside the window")
	require.ErrorIs(t, err, storage.ErrTooOldSample)
}

func TestInvalidTenant(t *testing.T) {
	dir := t.TempDir()
	m := open(t, Config{Dir: dir})
	for _, name := range []string{"", ".", "..", "a/b", `a\b`, "../x", "bad\xff"} {
		_, err := m.Append(t.Context(), name, []remotewrite.Series{floats("up", base)})
		require.ErrorIs(t, err, ErrInvalidTenant, "tenant %q", name)
		require.Equal(t, http.StatusBadRequest, ErrorStatus(err))
	}
	entries, err := os.ReadDir(dir)
	require.NoError(t, err)
	require.Empty(t, entries)
	require.ErrorIs(t, m.Flush("a/b"), ErrInvalidTenant)
}

func TestConfigValidate(t *testing.T) {
	require.ErrorContains(t, Config{}.Validate(), "--tsdb.path")
	require.ErrorContains(t, Config{Dir: "d", ExternalLabels: labels.FromStrings("tenant_id", "x")}.Validate(), "--label")
	require.ErrorContains(t, Config{Dir: "d", OutOfOrderWindow: -time.Second}.Validate(), "--tsdb.out-of-order.time-window")
	require.NoError(t, Config{Dir: "d", TenantLabel: "t", ExternalLabels: labels.FromStrings("tenant_id", "x")}.Validate())
}

func TestIdleTenantClosedAndFlushed(t *testing.T) {
	dir := t.TempDir()
	m := open(t, Config{Dir: dir, IdleTimeout: time.Hour})
	now := time.Unix(1_800_000_000, 0)
	m.now = func() time.Time { return now }
	first := floats("up", base, base+15_000)
	_, err := m.Append(t.Context(), "a", []remotewrite.Series{first})
	require.NoError(t, err)
	_, err = m.Append(t.Context(), "b", []remotewrite.Series{first})
	require.NoError(t, err)

	now = now.Add(59 * time.Minute)
	_, err = m.Append(t.Context(), "b", []remotewrite.Series{floats("up", base+30_000)})
	require.NoError(t, err)
	require.NoError(t, m.CloseIdle())
	require.Equal(t, []string{"a", "b"}, m.Tenants(), "nobody idle for an hour yet")

	now = now.Add(time.Minute)
	require.NoError(t, m.CloseIdle())
	require.Equal(t, []string{"b"}, m.Tenants(), "a closed")
	require.Nil(t, m.TenantDB("a"))
	blocks, err := filepath.Glob(filepath.Join(dir, "a", "*", "meta.json"))
	require.NoError(t, err)
	require.Len(t, blocks, 1, "head cut into a block")

	// The next write opens it again, with the block.
	_, err = m.Append(t.Context(), "a", []remotewrite.Series{floats("up", base+30_000)})
	require.NoError(t, err)
	require.Len(t, m.TenantDB("a").Blocks(), 1)
	requireSamples(t, wantFloats(floats("up", base, base+15_000, base+30_000)),
		query(t, m)[`{__name__="up", job="j", tenant_id="a"}`])
}

func TestConcurrentAppendQueryAndIdleClose(t *testing.T) {
	m := open(t, Config{Dir: t.TempDir(), IdleTimeout: time.Nanosecond})
	done := make(chan struct{})
	errs := make(chan error, 3)
	go func() {
		defer close(done)
		for i := range 50 {
			if _, err := m.Append(context.Background(), "a", []remotewrite.Series{floats("up", base+int64(i)*1000)}); err != nil {
				errs <- err
				return
			}
		}
	}()
	for {
		select {
		case <-done:
			close(errs)
			for err := range errs {
				require.NoError(t, err)
			}
			// Whatever was closed in between, every sample is there.
			require.NoError(t, m.CloseIdle())
			_, err := m.Append(t.Context(), "a", nil)
			require.NoError(t, err)
			require.Len(t, query(t, m)[`{__name__="up", job="j", tenant_id="a"}`], 50)
			return
		default:
			require.NoError(t, m.CloseIdle())
			query(t, m)
		}
	}
}

// A WAL whose last segment was torn (a crash in the middle of a write:
// its tail is garbage) is repaired when the tenant opens again: the
// records before the tear are replayed, the tenant takes writes, and
// nothing fails.
func TestTornWALRepaired(t *testing.T) {
	dir := t.TempDir()
	m, err := New(Config{Dir: dir}, nil, nil)
	require.NoError(t, err)
	first := floats("up", base, base+15_000)
	_, err = m.Append(t.Context(), "a", []remotewrite.Series{first})
	require.NoError(t, err)
	_, err = m.Append(t.Context(), "a", []remotewrite.Series{floats("up", base+30_000)})
	require.NoError(t, err)
	require.NoError(t, m.Close())

	segs, err := filepath.Glob(filepath.Join(dir, "a", "wal", "0*"))
	require.NoError(t, err)
	require.NotEmpty(t, segs)
	last := segs[len(segs)-1]
	st, err := os.Stat(last)
	require.NoError(t, err)
	// Keep the first records, then garbage where the last one was.
	require.NoError(t, os.Truncate(last, st.Size()-10))
	f, err := os.OpenFile(last, os.O_WRONLY|os.O_APPEND, 0)
	require.NoError(t, err)
	_, err = f.Write([]byte{0xde, 0xad, 0xbe, 0xef, 0x01, 0x02, 0x03, 0x04, 0x05, 0x06, 0x07, 0x08})
	require.NoError(t, err)
	require.NoError(t, f.Close())

	m = open(t, Config{Dir: dir})
	got := query(t, m)
	requireSamples(t, wantFloats(first), got[`{__name__="up", job="j", tenant_id="a"}`][:2])
	next := floats("up", base+45_000)
	_, err = m.Append(t.Context(), "a", []remotewrite.Series{next})
	require.NoError(t, err, "the repaired tenant takes writes")
}
