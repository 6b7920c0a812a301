package cache_test

import (
	"bytes"
	"log/slog"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/oklog/ulid/v2"
	"github.com/prometheus/client_golang/prometheus"
	"github.com/stretchr/testify/require"
	"go.uber.org/goleak"

	"github.com/strata-io/strata/internal/cache"
	"github.com/strata-io/strata/internal/cache/cachetest"
	"github.com/strata-io/strata/internal/testkit"
)

func TestMain(m *testing.M) {
	goleak.VerifyTestMain(m)
}

func newMemcached(t *testing.T, addr string, reg prometheus.Registerer) *cache.Memcached {
	t.Helper()
	return newMemcachedLogging(t, addr, reg, nil)
}

func newMemcachedLogging(t *testing.T, addr string, reg prometheus.Registerer, logger *slog.Logger) *cache.Memcached {
	t.Helper()
	cfg := cache.DefaultMemcachedConfig()
	cfg.Addresses = []string{addr}
	cfg.Timeout = 200 * time.Millisecond
	cfg.MaxItemSize = 1000
	cfg.Backoff = 300 * time.Millisecond
	c, err := cache.NewMemcached(cfg, cache.IndexCacheName, logger, reg)
	require.NoError(t, err)
	t.Cleanup(func() { require.NoError(t, c.Close()) })
	return c
}

// eventuallyHit waits for the asynchronous store of key.
func eventuallyHit(t *testing.T, c cache.Cache, key string, want []byte) {
	t.Helper()
	require.Eventually(t, func() bool {
		hits, _ := c.Fetch(t.Context(), []string{key})
		return string(hits[key]) == string(want)
	}, 5*time.Second, 10*time.Millisecond, "%s stored", key)
}

func TestMemcachedStoreFetch(t *testing.T) {
	mc := cachetest.StartMemcached(t)
	c := newMemcached(t, mc.Addr, nil)
	id := ulid.Make()
	pk, sk := cache.PostingsKey(id, "job", "node"), cache.SeriesKey(id, 7)
	c.Store(pk, []byte("postings"))
	c.Store(sk, []byte("series"))
	eventuallyHit(t, c, pk, []byte("postings"))
	eventuallyHit(t, c, sk, []byte("series"))

	hits, misses := c.Fetch(t.Context(), []string{pk, cache.SeriesKey(id, 8), sk})
	require.Equal(t, map[string][]byte{pk: []byte("postings"), sk: []byte("series")}, hits)
	require.Equal(t, []string{cache.SeriesKey(id, 8)}, misses)

	// Larger than the max item size: not stored.
	big := cache.SeriesKey(id, 9)
	c.Store(big, []byte(strings.Repeat("x", 1001)))
	c.Store(cache.SeriesKey(id, 10), []byte("after"))
	eventuallyHit(t, c, cache.SeriesKey(id, 10), []byte("after"))
	_, misses = c.Fetch(t.Context(), []string{big})
	require.Equal(t, []string{big}, misses)
}

func TestMemcachedDown(t *testing.T) {
	mc := cachetest.StartMemcached(t)
	reg := prometheus.NewRegistry()
	var logs syncBuffer
	c := newMemcachedLogging(t, mc.Addr, reg, slog.New(slog.NewTextHandler(&logs, nil)))
	key := cache.SeriesKey(ulid.Make(), 1)
	c.Store(key, []byte("v"))
	eventuallyHit(t, c, key, []byte("v"))

	mc.Kill()
	for range 20 {
		start := time.Now()
		hits, misses := c.Fetch(t.Context(), []string{key})
		require.Empty(t, hits)
		require.Equal(t, []string{key}, misses, "memcached down: a miss, not an error")
		require.Less(t, time.Since(start), time.Second, "bounded by the timeout")
		c.Store(key, []byte("v")) // dropped or failing, never blocking
	}
	require.Positive(t, errorsTotal(t, reg), "errors counted")
	require.Equal(t, 1, strings.Count(logs.String(), "memcached index cache unavailable"), "logged once, not per query: %s", logs.String())

	// Back up (empty): the cache is used again after the backoff.
	mc.Restart(t)
	key2 := cache.SeriesKey(ulid.Make(), 2)
	require.Eventually(t, func() bool {
		c.Store(key2, []byte("w"))
		hits, _ := c.Fetch(t.Context(), []string{key2})
		return string(hits[key2]) == "w"
	}, 5*time.Second, 50*time.Millisecond, "memcached used again once it is back")
}

// syncBuffer is a bytes.Buffer safe for concurrent writes (logs come from
// the cache's writers too).
type syncBuffer struct {
	mu sync.Mutex
	b  bytes.Buffer
}

func (b *syncBuffer) Write(p []byte) (int, error) {
	b.mu.Lock()
	defer b.mu.Unlock()
	return b.b.Write(p)
}

func (b *syncBuffer) String() string {
	b.mu.Lock()
	defer b.mu.Unlock()
	return b.b.String()
}

// errorsTotal returns the sum of strata_index_cache_memcached_errors_total.
func errorsTotal(t *testing.T, reg *prometheus.Registry) float64 {
	t.Helper()
	var sum float64
	mfs, err := reg.Gather()
	require.NoError(t, err)
	for _, mf := range mfs {
		if mf.GetName() == "strata_index_cache_memcached_errors_total" {
			for _, m := range mf.GetMetric() {
				sum += m.GetCounter().GetValue()
			}
		}
	}
	return sum
}

func TestMemcachedNeverReachable(t *testing.T) {
	c := newMemcached(t, testkit.ClosedAddr(t), nil)
	hits, misses := c.Fetch(t.Context(), []string{"S:x:1", "S:x:2"})
	require.Empty(t, hits)
	require.Equal(t, []string{"S:x:1", "S:x:2"}, misses)
}

func TestMemcachedConfigValidate(t *testing.T) {
	cfg := cache.DefaultMemcachedConfig()
	require.ErrorContains(t, cfg.Validate(), "no address")
	cfg.Addresses = []string{"127.0.0.1:11211"}
	require.NoError(t, cfg.Validate())
	cfg.Timeout = 0
	require.ErrorContains(t, cfg.Validate(), "timeout must be positive")
}

// TestMemcachedBatches: a lookup of more keys than max_get_multi_batch_size
// is split into batches and still returns every item.
func TestMemcachedBatches(t *testing.T) {
	mc := cachetest.StartMemcached(t)
	cfg := cache.DefaultMemcachedConfig()
	cfg.Addresses = []string{mc.Addr}
	cfg.MaxGetMultiBatchSize = 3
	cfg.MaxGetMultiConcurrency = 2
	c, err := cache.NewMemcached(cfg, "batch_test", nil, nil)
	require.NoError(t, err)
	t.Cleanup(func() { require.NoError(t, c.Close()) })
	id := ulid.Make()
	var keys []string
	for i := range 10 {
		k := cache.SeriesKey(id, uint64(i))
		keys = append(keys, k)
		c.Store(k, []byte{byte(i)})
	}
	eventuallyHit(t, c, keys[9], []byte{9})
	require.Eventually(t, func() bool {
		hits, misses := c.Fetch(t.Context(), append(keys, "S:missing:1"))
		return len(hits) == 10 && len(misses) == 1
	}, 5*time.Second, 10*time.Millisecond)
}

// TestMemcachedTTL: an item stored with a TTL is gone after it.
func TestMemcachedTTL(t *testing.T) {
	mc := cachetest.StartMemcached(t)
	c := newMemcached(t, mc.Addr, nil)
	c.StoreWithTTL("S:ttl:1", []byte("v"), time.Second)
	eventuallyHit(t, c, "S:ttl:1", []byte("v"))
	require.Eventually(t, func() bool {
		_, misses := c.Fetch(t.Context(), []string{"S:ttl:1"})
		return len(misses) == 1
	}, 5*time.Second, 100*time.Millisecond, "expired")
}
