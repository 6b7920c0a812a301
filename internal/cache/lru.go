package cache

import (
	"container/list"
	"context"
	"sync"

	"github.com/prometheus/client_golang/prometheus"
	"github.com/prometheus/client_golang/prometheus/promauto"
)

// DefaultLRUSize is the default size of the in-memory index cache
// (--index-cache-size), in bytes.
const DefaultLRUSize = 250 << 20

// LRU is an in-memory Cache that holds at most MaxSize bytes of keys and
// values, evicting the least recently stored or fetched items first. It
// copies neither keys nor values: Store keeps v as given. Safe for
// concurrent use.
type LRU struct {
	maxBytes, maxItem int64

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

// NewLRU returns an LRU cache of at most cfg.MaxSize bytes (len(key) +
// len(value) summed over the items; > 0), skipping items over
// cfg.MaxItemSize (when > 0). name prefixes the metrics (IndexCacheName
// for the index cache); reg may be nil. Metrics:
// strata_<name>_{hits,misses,evictions,oversized_items}_total by item
// kind, strata_<name>_{bytes,items}.
func NewLRU(cfg InMemoryConfig, name string, reg prometheus.Registerer) *LRU {
	f := promauto.With(reg)
	p := "strata_" + name + "_"
	m := &lruMetrics{
		hits:      f.NewCounterVec(prometheus.CounterOpts{Name: p + "hits_total", Help: "Cache lookups that found the item."}, []string{"kind"}),
		misses:    f.NewCounterVec(prometheus.CounterOpts{Name: p + "misses_total", Help: "Cache lookups that did not find the item."}, []string{"kind"}),
		evictions: f.NewCounterVec(prometheus.CounterOpts{Name: p + "evictions_total", Help: "Items evicted from the cache to make room."}, []string{"kind"}),
		oversized: f.NewCounterVec(prometheus.CounterOpts{Name: p + "oversized_items_total", Help: "Items not cached because they are larger than the max item size or the whole cache."}, []string{"kind"}),
		bytes:     f.NewGauge(prometheus.GaugeOpts{Name: p + "bytes", Help: "Bytes of keys and values held by the cache."}),
		items:     f.NewGauge(prometheus.GaugeOpts{Name: p + "items", Help: "Items held by the cache."}),
	}
	for _, k := range kinds {
		m.hits.WithLabelValues(k)
		m.misses.WithLabelValues(k)
		m.evictions.WithLabelValues(k)
	}
	maxItem := int64(cfg.MaxItemSize)
	if maxItem <= 0 || maxItem > int64(cfg.MaxSize) {
		maxItem = int64(cfg.MaxSize)
	}
	return &LRU{maxBytes: int64(cfg.MaxSize), maxItem: maxItem, ll: list.New(), items: map[string]*list.Element{}, m: m}
}

// IndexCacheName names the metrics of the store gateway's index cache:
// strata_index_cache_hits_total, ...
const IndexCacheName = "index_cache"

// Close implements Backend; it does nothing.
func (c *LRU) Close() error { return nil }

// Store implements Cache. An item larger than the max item size or the
// whole cache is not stored.
func (c *LRU) Store(key string, v []byte) {
	it := &lruItem{key: key, v: v}
	if it.size() > c.maxItem {
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
