package cache

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"sync"
	"sync/atomic"
	"time"

	"github.com/bradfitz/gomemcache/memcache"
	"github.com/prometheus/client_golang/prometheus"
	"github.com/prometheus/client_golang/prometheus/promauto"
)

// MemcachedConfig configures a Memcached cache.
type MemcachedConfig struct {
	// Addresses are the memcached servers (host:port); keys are spread
	// over them by hash.
	Addresses []string
	// Timeout bounds each memcached operation (dial, read, write).
	Timeout time.Duration
	// MaxItemSize is the largest value stored, in bytes; larger ones are
	// skipped (memcached's default item size limit is 1 MiB).
	MaxItemSize int
	// MaxAsyncConcurrency is how many goroutines write items;
	// MaxAsyncBufferSize how many items wait for them. Items that find the
	// buffer full are dropped.
	MaxAsyncConcurrency, MaxAsyncBufferSize int
	// MaxIdleConns is the number of idle connections kept per server.
	MaxIdleConns int
	// Backoff is how long the cache is bypassed (every lookup a miss, every
	// store dropped) after an operation failed, so that queries do not
	// wait for the timeout of a server that is down.
	Backoff time.Duration
}

// DefaultMemcachedConfig returns a configuration without addresses: a
// 500ms timeout, 1 MiB items, 4 writers, a 10000 items write buffer, 100
// idle connections and a 1s backoff.
func DefaultMemcachedConfig() MemcachedConfig {
	return MemcachedConfig{
		Timeout:             500 * time.Millisecond,
		MaxItemSize:         1 << 20,
		MaxAsyncConcurrency: 4,
		MaxAsyncBufferSize:  10000,
		MaxIdleConns:        100,
		Backoff:             time.Second,
	}
}

// Validate reports a configuration the cache cannot run with.
func (c MemcachedConfig) Validate() error {
	switch {
	case len(c.Addresses) == 0:
		return errors.New("memcached index cache: no address, set at least one host:port")
	case c.Timeout <= 0:
		return fmt.Errorf("memcached index cache: timeout must be positive, got %s", c.Timeout)
	case c.MaxItemSize <= 0:
		return fmt.Errorf("memcached index cache: max item size must be positive, got %d", c.MaxItemSize)
	case c.MaxAsyncConcurrency <= 0 || c.MaxAsyncBufferSize <= 0:
		return fmt.Errorf("memcached index cache: async concurrency (%d) and buffer size (%d) must be positive", c.MaxAsyncConcurrency, c.MaxAsyncBufferSize)
	case c.Backoff < 0:
		return fmt.Errorf("memcached index cache: backoff must not be negative, got %s", c.Backoff)
	}
	return nil
}

// errorLogInterval is the least time between two logs of memcached errors;
// the errors in between are only counted.
const errorLogInterval = 5 * time.Second

// Memcached is a Cache over memcached servers. It never fails a caller:
// when memcached is down or slow, lookups miss (after at most Timeout, then
// immediately for Backoff) and stores are dropped; errors are counted in
// strata_index_cache_memcached_errors_total and logged at most every 5s.
// Stores are written asynchronously. Safe for concurrent use; call Close
// when done.
type Memcached struct {
	cfg    MemcachedConfig
	client *memcache.Client
	logger *slog.Logger

	queue chan *memcache.Item
	wg    sync.WaitGroup
	once  sync.Once

	downUntil atomic.Int64 // unix ns until which memcached is bypassed
	lastLog   atomic.Int64 // unix ns of the last error log

	hits, misses, errs, dropped *prometheus.CounterVec
}

// NewMemcached returns a cache over the servers of cfg. It does not
// connect: an unreachable server makes the cache miss, not this call fail.
// A nil logger discards logs; reg may be nil.
func NewMemcached(cfg MemcachedConfig, logger *slog.Logger, reg prometheus.Registerer) (*Memcached, error) {
	if err := cfg.Validate(); err != nil {
		return nil, err
	}
	if logger == nil {
		logger = slog.New(slog.DiscardHandler)
	}
	var sl memcache.ServerList
	if err := sl.SetServers(cfg.Addresses...); err != nil {
		return nil, fmt.Errorf("memcached index cache: addresses %v: %w", cfg.Addresses, err)
	}
	client := memcache.NewFromSelector(&sl)
	client.Timeout = cfg.Timeout
	client.MaxIdleConns = cfg.MaxIdleConns
	f := promauto.With(reg)
	c := &Memcached{
		cfg:     cfg,
		client:  client,
		logger:  logger,
		queue:   make(chan *memcache.Item, cfg.MaxAsyncBufferSize),
		hits:    f.NewCounterVec(prometheus.CounterOpts{Name: "strata_index_cache_memcached_hits_total", Help: "Memcached index cache lookups that found the item."}, []string{"kind"}),
		misses:  f.NewCounterVec(prometheus.CounterOpts{Name: "strata_index_cache_memcached_misses_total", Help: "Memcached index cache lookups that did not find the item (memcached errors included)."}, []string{"kind"}),
		errs:    f.NewCounterVec(prometheus.CounterOpts{Name: "strata_index_cache_memcached_errors_total", Help: "Memcached operations that failed (the cache then misses)."}, []string{"op"}),
		dropped: f.NewCounterVec(prometheus.CounterOpts{Name: "strata_index_cache_memcached_dropped_items_total", Help: "Items not stored: too large, write buffer full or memcached down."}, []string{"reason"}),
	}
	for _, k := range kinds {
		c.hits.WithLabelValues(k)
		c.misses.WithLabelValues(k)
	}
	for range cfg.MaxAsyncConcurrency {
		c.wg.Go(c.writer)
	}
	return c, nil
}

func (c *Memcached) writer() {
	for it := range c.queue {
		if c.down() {
			c.dropped.WithLabelValues("down").Inc()
			continue
		}
		if err := c.client.Set(it); err != nil {
			c.fail("set", err)
		}
	}
}

// down tells whether memcached is bypassed after a recent error.
func (c *Memcached) down() bool { return time.Now().UnixNano() < c.downUntil.Load() }

// fail records a failed operation: counted, logged at most every
// errorLogInterval, and memcached bypassed for Backoff.
func (c *Memcached) fail(op string, err error) {
	c.errs.WithLabelValues(op).Inc()
	now := time.Now()
	c.downUntil.Store(now.Add(c.cfg.Backoff).UnixNano())
	last := c.lastLog.Load()
	if now.UnixNano()-last >= int64(errorLogInterval) && c.lastLog.CompareAndSwap(last, now.UnixNano()) {
		c.logger.Warn("memcached index cache unavailable, serving without it", "op", op, "err", err, "backoff", c.cfg.Backoff)
	}
}

// Store implements Cache: it queues the item for writing and returns.
func (c *Memcached) Store(key string, v []byte) {
	if len(v) > c.cfg.MaxItemSize {
		c.dropped.WithLabelValues("too_large").Inc()
		return
	}
	select {
	case c.queue <- &memcache.Item{Key: key, Value: v}:
	default:
		c.dropped.WithLabelValues("buffer_full").Inc()
	}
}

// Fetch implements Cache. It waits at most about Timeout for memcached
// (the client's timeouts), or until ctx ends.
func (c *Memcached) Fetch(ctx context.Context, keys []string) (map[string][]byte, []string) {
	if len(keys) == 0 {
		return nil, nil
	}
	var items map[string]*memcache.Item
	if !c.down() && ctx.Err() == nil {
		var err error
		items, err = c.client.GetMulti(keys)
		if err != nil {
			c.fail("get", err)
			items = nil
		}
	}
	hits := make(map[string][]byte, len(items))
	var misses []string
	for _, k := range keys {
		if it, ok := items[k]; ok {
			hits[k] = it.Value
			c.hits.WithLabelValues(kindName(k)).Inc()
			continue
		}
		misses = append(misses, k)
		c.misses.WithLabelValues(kindName(k)).Inc()
	}
	return hits, misses
}

// Close stops the writers (dropping queued items) and closes the idle
// connections. The cache must not be used after.
func (c *Memcached) Close() error {
	c.once.Do(func() {
		// Drop what is queued: memcached may be down, and a best-effort
		// cache must not hold up a shutdown.
		c.downUntil.Store(time.Now().Add(time.Hour).UnixNano())
		close(c.queue)
	})
	c.wg.Wait()
	return c.client.Close()
}
