package cache_test

import (
	"fmt"
	"strings"
	"testing"

	"github.com/oklog/ulid/v2"
	"github.com/prometheus/client_golang/prometheus"
	"github.com/prometheus/client_golang/prometheus/testutil"
	"github.com/stretchr/testify/require"

	"github.com/strata-io/strata/internal/cache"
	"github.com/strata-io/strata/internal/testkit"
)

func TestLRUSizeBoundAndEviction(t *testing.T) {
	reg := prometheus.NewRegistry()
	c := cache.NewLRU(cache.InMemoryConfig{MaxSize: 100}, cache.IndexCacheName, reg)
	ctx := t.Context()
	val := func(n int) []byte { return []byte(strings.Repeat("v", n)) }

	// Items of 2+18 = 20 bytes: five fit.
	for i := range 5 {
		c.Store(fmt.Sprintf("k%d", i), val(18))
	}
	require.Equal(t, int64(100), c.Bytes())
	require.Equal(t, 5, c.Len())

	// Touch k0 so that k1 is the least recently used, then add one more.
	hits, misses := c.Fetch(ctx, []string{"k0"})
	require.Len(t, hits, 1)
	require.Empty(t, misses)
	c.Store("k5", val(18))
	require.LessOrEqual(t, c.Bytes(), int64(100), "never above the bound")
	hits, misses = c.Fetch(ctx, []string{"k0", "k1", "k5"})
	require.Equal(t, map[string][]byte{"k0": val(18), "k5": val(18)}, hits)
	require.Equal(t, []string{"k1"}, misses, "the least recently used item went")

	// A large item evicts as many as needed.
	c.Store("big", val(77)) // 80 bytes
	require.LessOrEqual(t, c.Bytes(), int64(100))
	require.Equal(t, 2, c.Len(), "big and one 20-byte item")

	// Replacing an item accounts for the new size.
	c.Store("big", val(7))
	require.Equal(t, int64(30), c.Bytes())

	// An item larger than the cache is not stored and evicts nothing.
	c.Store("huge", val(200))
	require.Equal(t, int64(30), c.Bytes())
	_, misses = c.Fetch(ctx, []string{"huge"})
	require.Equal(t, []string{"huge"}, misses)

	require.Equal(t, float64(30), testkit.MetricValue(t, reg, "strata_index_cache_bytes"))
	require.Equal(t, 1, testutil.CollectAndCount(reg, "strata_index_cache_oversized_items_total"))
	evictions, err := testutil.GatherAndCount(reg, "strata_index_cache_evictions_total")
	require.NoError(t, err)
	require.Equal(t, 3, evictions, "one series per kind")
}

func TestLRUMetricsByKind(t *testing.T) {
	reg := prometheus.NewRegistry()
	c := cache.NewLRU(cache.InMemoryConfig{MaxSize: 1 << 20}, cache.IndexCacheName, reg)
	id := ulid.Make()
	pk, sk := cache.PostingsKey(id, "job", "node"), cache.SeriesKey(id, 42)
	c.Store(pk, []byte{1})
	c.Fetch(t.Context(), []string{pk, sk})
	require.NoError(t, testutil.GatherAndCompare(reg, strings.NewReader(`
# HELP strata_index_cache_hits_total Cache lookups that found the item.
# TYPE strata_index_cache_hits_total counter
strata_index_cache_hits_total{kind="other"} 0
strata_index_cache_hits_total{kind="postings"} 1
strata_index_cache_hits_total{kind="series"} 0
# HELP strata_index_cache_misses_total Cache lookups that did not find the item.
# TYPE strata_index_cache_misses_total counter
strata_index_cache_misses_total{kind="other"} 0
strata_index_cache_misses_total{kind="postings"} 0
strata_index_cache_misses_total{kind="series"} 1
`), "strata_index_cache_hits_total", "strata_index_cache_misses_total"))
}

func TestKeys(t *testing.T) {
	id := ulid.MustParse("01HZY2Z8Q6V9J8M6B4C2N0P1RS")
	pk := cache.PostingsKey(id, "path", strings.Repeat("a very long value with spaces\n", 100))
	require.True(t, strings.HasPrefix(pk, "P:01HZY2Z8Q6V9J8M6B4C2N0P1RS:"))
	require.Len(t, pk, 72, "fixed length whatever the label value")
	require.NotContains(t, pk, " ")
	require.NotEqual(t, cache.PostingsKey(id, "a", "bc"), cache.PostingsKey(id, "ab", "c"), "name and value are separated")
	require.NotEqual(t, pk, cache.PostingsKey(ulid.Make(), "path", strings.Repeat("a very long value with spaces\n", 100)), "per block")
	require.Equal(t, "S:01HZY2Z8Q6V9J8M6B4C2N0P1RS:12345", cache.SeriesKey(id, 12345))
}

func TestLRUMaxItemSize(t *testing.T) {
	c := cache.NewLRU(cache.InMemoryConfig{MaxSize: 1000, MaxItemSize: 10}, "test_cache", nil)
	c.Store("k1", []byte("12345678"))  // 10 bytes: stored
	c.Store("k2", []byte("123456789")) // 11 bytes: skipped
	hits, misses := c.Fetch(t.Context(), []string{"k1", "k2"})
	require.Equal(t, map[string][]byte{"k1": []byte("12345678")}, hits)
	require.Equal(t, []string{"k2"}, misses)
}
