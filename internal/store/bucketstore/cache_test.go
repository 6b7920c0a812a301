package bucketstore_test

import (
	"testing"
	"time"

	"github.com/prometheus/common/model"
	"github.com/prometheus/prometheus/model/labels"
	"github.com/stretchr/testify/require"

	"github.com/strata-io/strata/internal/cache"
	"github.com/strata-io/strata/internal/cache/cachetest"
	"github.com/strata-io/strata/internal/store/bucketstore"
	"github.com/strata-io/strata/internal/store/storetest"
	"github.com/strata-io/strata/pkg/storepb"
)

// newMemcachedCache returns a memcached index cache over addr with short
// timeouts, closed at cleanup (after the stores, which are created later).
func newMemcachedCache(t *testing.T, addr string) *cache.Memcached {
	t.Helper()
	cfg := cache.DefaultMemcachedConfig()
	cfg.Addresses = []string{addr}
	cfg.Timeout = 200 * time.Millisecond
	cfg.Backoff = 500 * time.Millisecond
	c, err := cache.NewMemcached(cfg, cache.IndexCacheName, nil, nil)
	require.NoError(t, err)
	t.Cleanup(func() { require.NoError(t, c.Close()) })
	return c
}

// cacheQuery is a dashboard-like request: a regexp over metric names and a
// negative matcher, so that several postings lists and many series entries
// are read.
func cacheQuery(t *testing.T) *storepb.SeriesRequest {
	t.Helper()
	ms, err := storepb.MatchersToProto(
		labels.MustNewMatcher(labels.MatchRegexp, model.MetricNameLabel, "metric_0[0-4]|metric_4.*"),
		labels.MustNewMatcher(labels.MatchNotEqual, "instance", "host-000000:9100"),
		labels.MustNewMatcher(labels.MatchEqual, "job", "node"),
	)
	require.NoError(t, err)
	return &storepb.SeriesRequest{MinTime: minTime, MaxTime: maxTime, Matchers: ms, PartialResponseStrategy: storepb.PartialResponseStrategy_ABORT}
}

// queryCountingIndexGets runs req on a store freshly synced over bkt
// (closed after) and returns the series and the ranged GETs of the index
// the query made (the block's opening not counted).
func queryCountingIndexGets(t *testing.T, bkt *countingBucket, c cache.Cache, req *storepb.SeriesRequest) ([]*storepb.Series, int) {
	t.Helper()
	cfg := testConfig()
	cfg.IndexCache = c
	s := newStore(t, cfg, bkt)
	defer func() { require.NoError(t, s.Close()) }()
	bkt.reset()
	got, warns, _, err := storetest.CollectSeries(t.Context(), storepb.ServerAsClient(s), req)
	require.NoError(t, err)
	require.Empty(t, warns)
	_, ranges := bkt.count("/index")
	return got, ranges
}

func TestIndexCacheSavesIndexReads(t *testing.T) {
	bkt := oneBlockBucket(t, 5000)
	req := cacheQuery(t)

	// Without a cache, every fresh store (a restart, a replica) reads the
	// same index pages again.
	want, first := queryCountingIndexGets(t, bkt, nil, req)
	require.Equal(t, 15*5000/50-1, len(want), "15 metrics of 100 series, one instance excluded")
	require.Greater(t, first, 1, "the query reads postings and series pages")
	_, again := queryCountingIndexGets(t, bkt, nil, req)
	require.Equal(t, first, again)

	// With a shared cache, the second identical query reads none.
	lru := cache.NewLRU(cache.DefaultInMemoryConfig(), cache.IndexCacheName, nil)
	got, cold := queryCountingIndexGets(t, bkt, lru, req)
	require.Equal(t, want, got)
	require.Equal(t, first, cold, "a cold cache costs the same GETs")
	require.Positive(t, lru.Len())
	got, warm := queryCountingIndexGets(t, bkt, lru, req)
	require.Equal(t, want, got, "same answer from the cache")
	require.Zero(t, warm, "postings and series entries all come from the cache")
}

func TestIndexCacheTooSmallStillCorrect(t *testing.T) {
	bkt := oneBlockBucket(t, 2000)
	req := cacheQuery(t)
	want, _ := queryCountingIndexGets(t, bkt, nil, req)
	lru := cache.NewLRU(cache.InMemoryConfig{MaxSize: 2 << 10}, cache.IndexCacheName, nil) // a few entries: constant eviction
	for range 2 {
		got, _ := queryCountingIndexGets(t, bkt, lru, req)
		require.Equal(t, want, got)
		require.LessOrEqual(t, lru.Bytes(), int64(2<<10))
	}
}

func TestMemcachedIndexCacheDown(t *testing.T) {
	mc := cachetest.StartMemcached(t)
	bkt := oneBlockBucket(t, 2000)
	c := newMemcachedCache(t, mc.Addr)
	req := cacheQuery(t)

	want, cold := queryCountingIndexGets(t, bkt, c, req)
	require.NotEmpty(t, want)
	require.Positive(t, cold)
	// Stores are asynchronous: wait until a fresh store is served by
	// memcached alone.
	require.Eventually(t, func() bool {
		got, gets := queryCountingIndexGets(t, bkt, c, req)
		require.Equal(t, want, got)
		return gets == 0
	}, 10*time.Second, 50*time.Millisecond, "memcached serves the index entries")

	mc.Kill()
	for range 3 {
		start := time.Now()
		got, gets := queryCountingIndexGets(t, bkt, c, req)
		require.Equal(t, want, got, "memcached down: same answer, from the bucket")
		require.Equal(t, cold, gets)
		require.Less(t, time.Since(start), 5*time.Second)
	}
}

// Compile-time check that both caches fit the store's config.
var _ = bucketstore.Config{IndexCache: cache.NewLRU(cache.InMemoryConfig{MaxSize: 1}, cache.IndexCacheName, nil)}
