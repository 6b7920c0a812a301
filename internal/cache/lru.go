package cache

import (
	"container/list"
	"context"
	"sync"

	"github.com/prometheus/client_golang/prometheus"
	"github.com/prometheus/client_golang/prometheus/promauto"
)

// DefaultLRUSize is the default size of the in-memory index cache
// (--store.index-cache-size), in bytes.
const DefaultLRUSize = 250 << 20

// LRU is an in-memory Cache that holds at most MaxBytes of keys and values,
// evicting the least recently stored or fetched items first. It copies
// neither keys nor values: Store keeps v as given. Safe for concurrent use.
type LRU struct {
	maxBytes int64

	mu    sync.Mutex
	ll    *list.List // front: most recently used; elements hold *lruItem
	items map[string]*list.Element
	bytes int64

	m *lruMetrics
}

type lruItem struct {
	key string
	v   []byte
}

func (it *lruItem) size() int64 { return int64(len(it.key) + len(it.v)) }

type lruMetrics struct {
	hits, misses, evictions, oversized *prometheus.CounterVec
	bytes, items                       prometheus.Gauge
}

// NewLRU returns an LRU cache of at most maxBytes (len(key)+len(value)
// summed over the items; > 0). reg may be nil. Metrics:
// strata_index_cache_{hits,misses,evictions,oversized_items}_total by item
// kind, strata_index_cache_{bytes,items}.
func NewLRU(maxBytes int64, reg prometheus.Registerer) *LRU {
	f := promauto.With(reg)
	m := &lruMetrics{
		hits:      f.NewCounterVec(prometheus.CounterOpts{Name: "strata_index_cache_hits_total", Help: "Index cache lookups that found the item."}, []string{"kind"}),
		misses:    f.NewCounterVec(prometheus.CounterOpts{Name: "strata_index_cache_misses_total", Help: "Index cache lookups that did not find the item."}, []string{"kind"}),
		evictions: f.NewCounterVec(prometheus.CounterOpts{Name: "strata_index_cache_evictions_total", Help: "Items evicted from the index cache to make room."}, []string{"kind"}),
		oversized: f.NewCounterVec(prometheus.CounterOpts{Name: "strata_index_cache_oversized_items_total", Help: "Items not cached because they are larger than the whole cache."}, []string{"kind"}),
		bytes:     f.NewGauge(prometheus.GaugeOpts{Name: "strata_index_cache_bytes", Help: "Bytes of keys and values held by the index cache."}),
		items:     f.NewGauge(prometheus.GaugeOpts{Name: "strata_index_cache_items", Help: "Items held by the index cache."}),
	}
	for _, k := range kinds {
		m.hits.WithLabelValues(k)
		m.misses.WithLabelValues(k)
		m.evictions.WithLabelValues(k)
	}
	return &LRU{maxBytes: maxBytes, ll: list.New(), items: map[string]*list.Element{}, m: m}
}

// Store implements Cache. An item larger than the whole cache is not
// stored.
func (c *LRU) Store(key string, v []byte) {
	it := &lruItem{key: key, v: v}
	if it.size() > c.maxBytes {
		c.m.oversized.WithLabelValues(kindName(key)).Inc()
		return
	}
	c.mu.Lock()
	defer c.mu.Unlock()
	if e, ok := c.items[key]; ok {
		c.bytes -= e.Value.(*lruItem).size()
		e.Value = it
		c.ll.MoveToFront(e)
	} else {
		c.items[key] = c.ll.PushFront(it)
	}
	c.bytes += it.size()
	for c.bytes > c.maxBytes {
		e := c.ll.Back()
		old := e.Value.(*lruItem)
		c.ll.Remove(e)
		delete(c.items, old.key)
		c.bytes -= old.size()
		c.m.evictions.WithLabelValues(kindName(old.key)).Inc()
	}
	c.m.bytes.Set(float64(c.bytes))
	c.m.items.Set(float64(len(c.items)))
}

// Fetch implements Cache.
func (c *LRU) Fetch(_ context.Context, keys []string) (map[string][]byte, []string) {
	hits := make(map[string][]byte, len(keys))
	var misses []string
	c.mu.Lock()
	defer c.mu.Unlock()
	for _, k := range keys {
		if e, ok := c.items[k]; ok {
			c.ll.MoveToFront(e)
			hits[k] = e.Value.(*lruItem).v
			c.m.hits.WithLabelValues(kindName(k)).Inc()
			continue
		}
		misses = append(misses, k)
		c.m.misses.WithLabelValues(kindName(k)).Inc()
	}
	return hits, misses
}

// Bytes returns the bytes held (keys and values).
func (c *LRU) Bytes() int64 {
	c.mu.Lock()
	defer c.mu.Unlock()
	return c.bytes
}

// Len returns the number of items held.
func (c *LRU) Len() int {
	c.mu.Lock()
	defer c.mu.Unlock()
	return len(c.items)
}
