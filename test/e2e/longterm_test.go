package e2e

import (
	"fmt"
	"maps"
	"net/url"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/oklog/ulid/v2"
	"github.com/stretchr/testify/require"

	"github.com/strata-io/strata/internal/cache/cachetest"
	"github.com/strata-io/strata/internal/objstore"
	"github.com/strata-io/strata/internal/objstore/objstoretest"
	"github.com/strata-io/strata/pkg/metadata"
	"github.com/strata-io/strata/test/e2e/e2eutil"
)

const (
	// longTermBlocks is how many 2h blocks of synthetic data Prometheus
	// starts with: 8h, ending 2h to 4h ago.
	longTermBlocks = 4
	// longTermScrape is the sample interval of the synthetic data.
	longTermScrape = 15 * time.Second
	// longTermStep is the step of the range queries compared.
	longTermStep = time.Minute
	// loadFailuresMetric counts blocks the store gateway could not open.
	loadFailuresMetric = "strata_bucket_store_block_load_failures_total"
	// storeSyncsMetric counts the store gateway's bucket syncs.
	storeSyncsMetric = "strata_bucket_store_syncs_total"
)

// longTermQueries are the range queries that must answer the same whatever
// holds the data: a rate over a counter with resets, the raw counter and a
// gauge.
var longTermQueries = []string{
	`rate(e2e_requests_total[5m])`,
	`e2e_requests_total`,
	`e2e_temperature`,
}

// TestLongTermStorage runs Prometheus (eu1, replica 0) on 8h of backfilled
// blocks with a sidecar shipping them to a real S3 server (versitygw), a
// store gateway on that bucket and a querier over the sidecar and the store.
// The querier answers range queries over the 8h exactly as Prometheus does,
// with no series or point twice although sidecar and store both hold the
// data; it still answers the same after Prometheus' retention dropped the
// old blocks, after a store restart, with a corrupt block, with a partial
// upload in the bucket, and with the store's memcached (index cache and
// caching bucket) killed.
func TestLongTermStorage(t *testing.T) {
	t.Parallel()
	lt := newEnv(t, true).longTerm()

	steps := []struct {
		name string
		run  func(*longTermEnv)
	}{
		{"querier over sidecar and store answers as Prometheus", (*longTermEnv).testSameAsPrometheus},
		{"same answer after retention dropped the old blocks", (*longTermEnv).testRetention},
		{"store restart serves the same data", (*longTermEnv).testStoreRestart},
		{"block with a truncated index is skipped", (*longTermEnv).testCorruptBlock},
		{"partial upload is invisible", (*longTermEnv).testPartialUpload},
		{"memcached index cache serves, and its loss does not", (*longTermEnv).testMemcached},
	}
	for _, s := range steps {
		// Each step builds on the state the previous ones left.
		if !t.Run(s.name, func(t *testing.T) { s.run(lt.sub(t)) }) {
			t.FailNow()
		}
	}
}

// longTermEnv is the long-term setup: S3 server, Prometheus with its
// sidecar shipping, store gateway, querier over both.
type longTermEnv struct {
	*env
	ext        map[string]string
	bucket     objstore.Config
	bkt        *objstore.Bucket // the test's own client of the bucket
	prom       *e2eutil.Prometheus
	sidecar    *e2eutil.Strata
	store      *e2eutil.Strata
	memcached  *cachetest.Memcached // the store's index cache
	querier    *e2eutil.Strata
	q, st, pd  *e2eutil.Client // querier, store, Prometheus direct
	start, end time.Time       // the synthetic data, inclusive
	local      map[ulid.ULID]*metadata.Meta

	// before holds the querier's results of the first step, by resultKey
	// (filled by that step; shared by every sub env).
	before map[string]e2eutil.QueryData
}

func (lt *longTermEnv) sub(t *testing.T) *longTermEnv {
	c := *lt
	c.env = lt.env.sub(t)
	return &c
}

// longTerm starts everything and waits until every block is in the bucket,
// the store serves all of them and the querier knows the store's time
// range.
func (e *env) longTerm() *longTermEnv {
	e.t.Helper()
	lt := &longTermEnv{env: e, ext: map[string]string{"cluster": "eu1", "replica": "0"}, before: map[string]e2eutil.QueryData{}}
	lt.bucket = objstoretest.StartS3(e.t)
	bkt, err := objstore.NewBucket(e.ctx, lt.bucket, nil, nil, "")
	require.NoError(e.t, err)
	e.t.Cleanup(func() { _ = bkt.Close() })
	lt.bkt = bkt

	name := "prom-eu1-0"
	dataDir := filepath.Join(e.dir, name, "data")
	lt.start, lt.end = e2eutil.AlignedRange(time.Now(), 2*time.Hour, longTermBlocks, longTermScrape)
	input := filepath.Join(e.dir, "longterm.om")
	require.NoError(e.t, e2eutil.WriteFamilies(input, lt.start, lt.end, longTermScrape,
		e2eutil.Family{Name: "e2e_requests", Counter: true, Series: 3, Value: e2eutil.CounterWithResets(500)},
		e2eutil.Family{Name: "e2e_temperature", Series: 3, Value: e2eutil.Wave(300)},
	))
	require.NoError(e.t, e2eutil.CreateBlocks(e.ctx, bins.Promtool, input, dataDir))
	lt.local = localBlocks(e.t, dataDir)
	require.Len(e.t, lt.local, longTermBlocks, "promtool cuts one block per 2h of input")

	lt.prom = e.shippingPrometheus(name, lt.ext, nil)
	lt.pd = e.client(lt.prom.URL())
	cfg := "--objstore.config=" + marshal(e.t, lt.bucket)
	lt.sidecar = e.strata(e2eutil.NewSidecar(bins.Strata, e.dir, "sidecar-eu1-0", lt.prom.URL(),
		"--tsdb.path="+lt.prom.DataDir(), cfg, "--shipper.interval=1s"), true)
	lt.memcached = cachetest.StartMemcached(e.t)
	lt.store = e.strata(e2eutil.NewStore(bins.Strata, e.dir, "store", cfg, "--sync-block-duration=2s",
		"--index-cache.config=type: MEMCACHED\nconfig:\n  addresses: ["+lt.memcached.Addr+"]",
		// Chunks and metadata cached in the same memcached; short metadata
		// TTLs so that new and deleted blocks are seen within a sync.
		"--store.caching-bucket.config=type: MEMCACHED\nconfig:\n  addresses: ["+lt.memcached.Addr+"]\n"+
			"chunk_subrange_size: 4000\nblocks_iter_ttl: 1s\nmetafile_exists_ttl: 1s\nmetafile_doesnt_exist_ttl: 1s\nmetafile_content_ttl: 1s\n"), true)
	lt.st = e.client(lt.store.URL())
	lt.querier = e.querier("querier", []string{lt.sidecar.GRPCAddr, lt.store.GRPCAddr}, "--endpoint.check-interval=1s")
	lt.q = e.client(lt.querier.URL())

	e.eventually(shipTimeout, "every block's meta.json in the bucket", func() error {
		for id := range lt.local {
			ok, err := bkt.Exists(e.ctx, id.String()+"/"+metadata.MetaFilename)
			if err != nil || !ok {
				return fmt.Errorf("meta.json of %s in the bucket: %v, %v", id, ok, err)
			}
		}
		return nil
	})
	e.eventually(30*time.Second, "the store serves every shipped block", lt.storeServesShipped)
	e.eventually(30*time.Second, "the querier knows the store's blocks", lt.endpointHealthy(lt.store, time.Time{}, func(s e2eutil.StoreStatus) error {
		if s.MinTime > lt.start.UnixMilli() {
			return fmt.Errorf("store's min time %d is after the data's start %d", s.MinTime, lt.start.UnixMilli())
		}
		return nil
	}))
	return lt
}

// testSameAsPrometheus: with dedup off and on, the querier returns every
// series once and each point once, with Prometheus' own values.
func (lt *longTermEnv) testSameAsPrometheus() {
	got := lt.queryAll(lt.q)
	for _, q := range longTermQueries {
		direct, resp, err := lt.pd.QueryRange(lt.ctx, q, lt.start, lt.end, longTermStep, nil)
		require.NoError(lt.t, err)
		require.Empty(lt.t, resp.Warnings)
		require.NotEmpty(lt.t, direct.Result, "Prometheus has data for %s", q)
		for _, dedup := range []bool{false, true} {
			add := maps.Clone(lt.ext)
			if dedup {
				delete(add, "replica")
			}
			require.Empty(lt.t, diffSeries(withLabels(direct, add), got[resultKey(q, dedup)].Sorted()),
				"%s with dedup=%v through the querier (sidecar + store) vs Prometheus direct plus external labels", q, dedup)
		}
	}
	maps.Copy(lt.before, got)
}

// testRetention restarts Prometheus with a 1h retention, which deletes
// every block ending 1h or more before its newest block ends (Prometheus
// counts retention from its newest block, not from now): only the newest
// block stays. The querier's answer is unchanged: the store serves the rest.
func (lt *longTermEnv) testRetention() {
	require.NoError(lt.t, lt.prom.Process.Stop(30*time.Second), "Prometheus exits cleanly on SIGTERM")
	lt.prom.Retain = "1h"
	lt.restartPrometheus(lt.prom)
	restarted := time.Now()

	newest := slices.MaxFunc(slices.Collect(maps.Values(lt.local)), func(a, b *metadata.Meta) int {
		return int(a.MinTime - b.MinTime)
	})
	kept := localBlocks(lt.t, lt.prom.DataDir())
	require.Equal(lt.t, []ulid.ULID{newest.ULID}, slices.Collect(maps.Keys(kept)),
		"Prometheus keeps only its newest block")

	q := `e2e_temperature`
	direct, _, err := lt.pd.QueryRange(lt.ctx, q, lt.start, lt.end, longTermStep, nil)
	require.NoError(lt.t, err)
	require.Empty(lt.t, diffSeries(withLabels(since(lt.before[resultKey(q, true)], newest.MinTime), map[string]string{"cluster": ""}),
		withLabels(direct, nil)),
		"Prometheus direct answers %s from %s on only", q, time.UnixMilli(newest.MinTime).UTC())

	side := lt.client(lt.sidecar.URL())
	lt.eventually(30*time.Second, "the sidecar ready again", func() error {
		if code, err := side.Status(lt.ctx, "/-/ready"); err != nil || code != 200 {
			return fmt.Errorf("sidecar /-/ready: %d, %v", code, err)
		}
		return nil
	})
	lt.eventually(30*time.Second, "the querier sees the sidecar healthy", lt.endpointHealthy(lt.sidecar, restarted, nil))
	lt.requireSameAsBefore("after Prometheus dropped its old blocks")
}

// testStoreRestart stops the store with SIGTERM and starts it again on
// the same addresses and bucket: once ready it serves every block and the
// querier answers as before.
func (lt *longTermEnv) testStoreRestart() {
	require.NoError(lt.t, lt.store.Process.Stop(20*time.Second), "the store exits cleanly on SIGTERM")
	restarted := time.Now()
	require.NoError(lt.t, lt.store.Restart(lt.ctx), "restart the store on its addresses")
	require.NoError(lt.t, lt.storeServesShipped(), "the store serves every block as soon as it is ready")
	lt.eventually(30*time.Second, "the querier sees the restarted store healthy", lt.endpointHealthy(lt.store, restarted, nil))
	lt.requireSameAsBefore("after a store restart")
}

// testCorruptBlock uploads a copy of a block, under a new ULID, whose
// index is cut in half: the store logs an error naming it, counts it in
// strata_bucket_store_block_load_failures_total, does not list it, and
// keeps answering from the other blocks with a warning naming it (an error
// with partial_response=false); once it is deleted, the warning is gone.
func (lt *longTermEnv) testCorruptBlock() {
	before, _, err := lt.st.Metric(lt.ctx, loadFailuresMetric)
	require.NoError(lt.t, err)
	require.Zero(lt.t, before, "no block failed to load so far")

	id, dir := lt.copyBlock("corrupt")
	index := filepath.Join(dir, metadata.IndexFilename)
	info, err := os.Stat(index)
	require.NoError(lt.t, err)
	require.NoError(lt.t, os.Truncate(index, info.Size()/2))
	m, err := metadata.ReadFromDir(dir)
	require.NoError(lt.t, err)
	m.Thanos.Files, m.Thanos.UploadTime = nil, time.Time{}
	require.NoError(lt.t, metadata.Upload(lt.ctx, nil, lt.bkt, dir, m), "upload the corrupt block")

	lt.eventually(30*time.Second, loadFailuresMetric+" > 0", func() error {
		v, _, err := lt.st.Metric(lt.ctx, loadFailuresMetric)
		if err == nil && v <= 0 {
			err = fmt.Errorf("%s = %v", loadFailuresMetric, v)
		}
		return err
	})
	var logged []string
	for line := range strings.Lines(lt.store.Process.Logs()) {
		if strings.Contains(line, id.String()) && strings.Contains(line, "level=ERROR") {
			logged = append(logged, line)
		}
	}
	require.NotEmpty(lt.t, logged, "the store logs an error naming block %s", id)
	require.Contains(lt.t, logged[0], "index", "the error says the index is the problem")
	require.NoError(lt.t, lt.storeServesShipped(), "the corrupt block is not listed")

	// Queries over its range say the block could not be loaded (the data
	// may be incomplete), and fail with partial_response=false.
	for _, q := range longTermQueries {
		d, resp, err := lt.q.QueryRange(lt.ctx, q, lt.start, lt.end, longTermStep, nil)
		require.NoError(lt.t, err)
		require.NoError(lt.t, resp.Err())
		require.NotEmpty(lt.t, d.Result)
		require.True(lt.t, slices.ContainsFunc(resp.Warnings, func(w string) bool { return strings.Contains(w, id.String()) }),
			"%s: a warning names the block that could not be loaded: %q", q, resp.Warnings)
		_, resp, err = lt.q.QueryRange(lt.ctx, q, lt.start, lt.end, longTermStep, url.Values{"partial_response": {"false"}})
		require.Error(lt.t, err, "%s with partial_response=false over an unloadable block", q)
		require.Equal(lt.t, "error", resp.Status)
		require.Contains(lt.t, resp.Error, id.String())
	}

	// Deleted, it is forgotten: the answers are those of before, no warning.
	require.NoError(lt.t, metadata.Delete(lt.ctx, nil, lt.bkt, id))
	lt.eventually(30*time.Second, "no warning once the corrupt block is deleted", func() error {
		_, resp, err := lt.q.QueryRange(lt.ctx, longTermQueries[0], lt.start, lt.end, longTermStep, nil)
		if err == nil && len(resp.Warnings) > 0 {
			err = fmt.Errorf("warnings: %q", resp.Warnings)
		}
		return err
	})
	lt.requireSameAsBefore("with the corrupt block deleted")
}

// testPartialUpload puts the chunks and the index of a block, but no
// meta.json, in the bucket: after two more syncs the store lists only the
// shipped blocks and the querier answers as before.
func (lt *longTermEnv) testPartialUpload() {
	id, dir := lt.copyBlock("partial")
	for _, rel := range []string{metadata.ChunksDirname + "/000001", metadata.IndexFilename} {
		f, err := os.Open(filepath.Join(dir, filepath.FromSlash(rel)))
		require.NoError(lt.t, err)
		err = lt.bkt.Upload(lt.ctx, id.String()+"/"+rel, f)
		_ = f.Close()
		require.NoError(lt.t, err, "upload %s of the partial block", rel)
	}
	syncs, _, err := lt.st.Metric(lt.ctx, storeSyncsMetric)
	require.NoError(lt.t, err)
	lt.eventually(30*time.Second, "two more store syncs", func() error {
		v, _, err := lt.st.Metric(lt.ctx, storeSyncsMetric)
		if err == nil && v < syncs+2 {
			err = fmt.Errorf("%s = %v, want %v", storeSyncsMetric, v, syncs+2)
		}
		return err
	})
	require.NoError(lt.t, lt.storeServesShipped(), "the partial block %s is not listed", id)
	for line := range strings.Lines(lt.store.Process.Logs()) {
		require.False(lt.t, strings.Contains(line, id.String()) && strings.Contains(line, "level=ERROR"),
			"a partial upload is not an error: %s", line)
	}
	lt.requireSameAsBefore("with a partial upload in the bucket")
}

// testMemcached: the store's index cache is a real memcached. Repeating
// the queries hits it (postings and series entries come from memcached);
// with memcached killed, the store answers the same, counting errors.
func (lt *longTermEnv) testMemcached() {
	const hits, errs = "strata_index_cache_memcached_hits_total", "strata_index_cache_memcached_errors_total"
	h0, _, err := lt.st.Metric(lt.ctx, hits)
	require.NoError(lt.t, err)
	lt.requireSameAsBefore("with the index cache warm")
	h1, _, err := lt.st.Metric(lt.ctx, hits)
	require.NoError(lt.t, err)
	require.Greater(lt.t, h1, h0, "repeated queries read index entries from memcached")
	c, _, err := lt.st.Metric(lt.ctx, "strata_caching_bucket_cache_memcached_hits_total")
	require.NoError(lt.t, err)
	require.Positive(lt.t, c, "the caching bucket reads chunks and metadata from memcached")

	lt.memcached.Kill()
	lt.requireSameAsBefore("with memcached down")
	e, _, err := lt.st.Metric(lt.ctx, errs)
	require.NoError(lt.t, err)
	require.Positive(lt.t, e, "the store counts the failed memcached calls")
}

// copyBlock downloads the oldest shipped block into a new local block
// directory named by a new ULID and returns both; meta.json there carries
// the new ULID.
func (lt *longTermEnv) copyBlock(what string) (ulid.ULID, string) {
	lt.t.Helper()
	src := slices.MinFunc(slices.Collect(maps.Values(lt.local)), func(a, b *metadata.Meta) int {
		return int(a.MinTime - b.MinTime)
	})
	id := ulid.Make()
	dir := filepath.Join(lt.dir, what, id.String())
	require.NoError(lt.t, metadata.Download(lt.ctx, nil, lt.bkt, src.ULID, dir))
	m, err := metadata.ReadFromDir(dir)
	require.NoError(lt.t, err)
	m.ULID = id
	m.Compaction.Sources = []ulid.ULID{id}
	require.NoError(lt.t, m.WriteToDir(dir))
	return id, dir
}

// storeServesShipped checks that the store's /api/v1/blocks lists exactly
// the blocks the sidecar shipped, with their time ranges and external
// labels.
func (lt *longTermEnv) storeServesShipped() error {
	blocks, err := lt.st.Blocks(lt.ctx)
	if err != nil {
		return err
	}
	got := map[string]e2eutil.StoreBlock{}
	for _, b := range blocks {
		got[b.ULID] = b
	}
	want := map[string]e2eutil.StoreBlock{}
	for id, m := range lt.local {
		want[id.String()] = e2eutil.StoreBlock{
			ULID: id.String(), MinTime: m.MinTime, MaxTime: m.MaxTime, Labels: lt.ext,
			NumSeries: m.Stats.NumSeries, NumSamples: m.Stats.NumSamples,
		}
	}
	if !maps.EqualFunc(got, want, func(a, b e2eutil.StoreBlock) bool {
		return a.ULID == b.ULID && a.MinTime == b.MinTime && a.MaxTime == b.MaxTime && maps.Equal(a.Labels, b.Labels) &&
			a.Resolution == b.Resolution && a.NumSeries == b.NumSeries && a.NumSamples == b.NumSamples
	}) {
		return fmt.Errorf("/api/v1/blocks of the store lists %+v, want the shipped blocks %+v", blocks, slices.Collect(maps.Values(want)))
	}
	return nil
}

// endpointHealthy returns a check that the querier's /api/v1/stores shows
// s checked after `after`, without error, with the external labels as its
// only label set, and passing extra (when not nil).
func (lt *longTermEnv) endpointHealthy(s *e2eutil.Strata, after time.Time, extra func(e2eutil.StoreStatus) error) func() error {
	return func() error {
		stores, err := lt.q.Stores(lt.ctx)
		if err != nil {
			return err
		}
		for _, group := range stores {
			for _, st := range group {
				if st.Name != s.GRPCAddr {
					continue
				}
				checked, err := time.Parse(time.RFC3339Nano, st.LastCheck)
				if err != nil {
					return fmt.Errorf("lastCheck %q of %s: %w", st.LastCheck, s.Name, err)
				}
				if !checked.After(after) {
					return fmt.Errorf("%s last checked at %s, not after %s", s.Name, checked, after)
				}
				if st.LastError != nil && *st.LastError != "" {
					return fmt.Errorf("%s: %s", s.Name, *st.LastError)
				}
				if want := []map[string]string{lt.ext}; !slices.EqualFunc(st.LabelSets, want, maps.Equal) {
					return fmt.Errorf("%s has label sets %v, want %v", s.Name, st.LabelSets, want)
				}
				if extra != nil {
					return extra(st)
				}
				return nil
			}
		}
		return fmt.Errorf("%s (%s) not among the querier's stores: %+v", s.Name, s.GRPCAddr, stores)
	}
}

// queryAll runs every long-term query over the data's range through c with
// dedup off and on, and requires no warning, no series twice and strictly
// increasing timestamps in every series.
func (lt *longTermEnv) queryAll(c *e2eutil.Client) map[string]e2eutil.QueryData {
	lt.t.Helper()
	out := map[string]e2eutil.QueryData{}
	for _, q := range longTermQueries {
		for _, dedup := range []bool{false, true} {
			key := resultKey(q, dedup)
			d, resp, err := c.QueryRange(lt.ctx, q, lt.start, lt.end, longTermStep, url.Values{"dedup": {fmt.Sprint(dedup)}})
			require.NoError(lt.t, err, key)
			require.Empty(lt.t, resp.Warnings, "%s: no endpoint failed", key)
			require.NotEmpty(lt.t, d.Result, key)
			seen := map[string]bool{}
			for _, s := range d.Result {
				require.False(lt.t, seen[s.Key()], "%s: series %s appears twice", key, s.Key())
				seen[s.Key()] = true
				for i := 1; i < len(s.Values); i++ {
					require.Less(lt.t, s.Values[i-1].T, s.Values[i].T, "%s: points of %s in order, none twice", key, s.Key())
				}
			}
			out[key] = d
		}
	}
	return out
}

// requireSameAsBefore requires the querier's results to equal those of
// the first step.
func (lt *longTermEnv) requireSameAsBefore(when string) {
	lt.t.Helper()
	require.Len(lt.t, lt.before, 2*len(longTermQueries), "the first step recorded the results")
	got := lt.queryAll(lt.q)
	for _, key := range slices.Sorted(maps.Keys(lt.before)) {
		require.Empty(lt.t, diffSeries(lt.before[key].Sorted(), got[key].Sorted()), "%s %s: same result as before", key, when)
	}
}

func resultKey(q string, dedup bool) string { return fmt.Sprintf("%s dedup=%v", q, dedup) }

// withLabels returns d's series sorted, with the labels of add set on each
// (an empty value removes the label).
func withLabels(d e2eutil.QueryData, add map[string]string) []e2eutil.Series {
	out := make([]e2eutil.Series, 0, len(d.Result))
	for _, s := range d.Result {
		m := maps.Clone(s.Metric)
		for k, v := range add {
			if v == "" {
				delete(m, k)
			} else {
				m[k] = v
			}
		}
		s.Metric = m
		out = append(out, s)
	}
	return e2eutil.QueryData{Result: out}.Sorted()
}

// since returns d with only the points at or after tMs (ms), dropping
// series left empty.
func since(d e2eutil.QueryData, tMs int64) e2eutil.QueryData {
	var out e2eutil.QueryData
	for _, s := range d.Result {
		i, _ := slices.BinarySearchFunc(s.Values, tMs, func(p e2eutil.Point, t int64) int { return int(p.T - t) })
		if i < len(s.Values) {
			s.Values = s.Values[i:]
			out.Result = append(out.Result, s)
		}
	}
	return out
}

// diffSeries describes the first differences between two sorted results
// (at most a few lines), or returns "" when they are equal.
func diffSeries(want, got []e2eutil.Series) string {
	var b strings.Builder
	report := func(format string, args ...any) bool {
		fmt.Fprintf(&b, format+"\n", args...)
		return strings.Count(b.String(), "\n") < 5
	}
	wantByKey := map[string]e2eutil.Series{}
	for _, s := range want {
		wantByKey[s.Key()] = s
	}
	gotByKey := map[string]e2eutil.Series{}
	for _, s := range got {
		gotByKey[s.Key()] = s
	}
	for _, k := range slices.Sorted(maps.Keys(wantByKey)) {
		if _, ok := gotByKey[k]; !ok && !report("missing series %s", k) {
			return b.String()
		}
	}
	for _, k := range slices.Sorted(maps.Keys(gotByKey)) {
		if _, ok := wantByKey[k]; !ok && !report("unexpected series %s (%d points)", k, len(gotByKey[k].Values)) {
			return b.String()
		}
	}
	for _, k := range slices.Sorted(maps.Keys(wantByKey)) {
		w, g := wantByKey[k].Values, gotByKey[k].Values
		if _, ok := gotByKey[k]; !ok || slices.Equal(w, g) {
			continue
		}
		msg := fmt.Sprintf("series %s: %d points, want %d", k, len(g), len(w))
		for i := range min(len(w), len(g)) {
			if w[i] != g[i] {
				msg += fmt.Sprintf("; first difference at point %d: %+v, want %+v", i, g[i], w[i])
				break
			}
		}
		if !report("%s", msg) {
			return b.String()
		}
	}
	return b.String()
}
