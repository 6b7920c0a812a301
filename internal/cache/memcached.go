package cache

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"maps"
	"slices"
	"strings"
	"sync"
	"sync/atomic"
	"time"

	"github.com/alecthomas/units"
	"github.com/bradfitz/gomemcache/memcache"
	"github.com/prometheus/client_golang/prometheus"
	"github.com/prometheus/client_golang/prometheus/promauto"
)

// MemcachedConfig configures a Memcached cache (`type: MEMCACHED`; the
// yaml keys are Thanos').
type MemcachedConfig struct {
	// Addresses are the memcached servers (host:port); keys are spread
	// over them by hash. Host names are resolved again every
	// DNSProviderUpdateInterval; DNS service discovery prefixes (dns+,
	// dnssrv+) are not supported.
	Addresses []string `yaml:"addresses"`
	// Timeout bounds each memcached operation (dial, read, write).
	Timeout time.Duration `yaml:"timeout"`
	// MaxIdleConns is the number of idle connections kept per server.
	MaxIdleConns int `yaml:"max_idle_connections"`
	// MaxAsyncConcurrency is how many goroutines write items;
	// MaxAsyncBufferSize how many items wait for them. Items that find the
	// buffer full are dropped.
	MaxAsyncConcurrency int `yaml:"max_async_concurrency"`
	MaxAsyncBufferSize  int `yaml:"max_async_buffer_size"`
	// MaxGetMultiConcurrency bounds the lookups (batches) running at once
	// over the whole cache; 0: no bound.
	MaxGetMultiConcurrency int `yaml:"max_get_multi_concurrency"`
	// MaxGetMultiBatchSize splits a lookup of more keys into batches of
	// this many, fetched concurrently; 0: one batch.
	MaxGetMultiBatchSize int `yaml:"max_get_multi_batch_size"`
	// MaxItemSize is the largest value stored, in bytes; larger ones are
	// skipped (memcached's default item size limit, -I, is 1MiB). 0: no
	// limit.
	MaxItemSize units.Base2Bytes `yaml:"max_item_size"`
	// DNSProviderUpdateInterval is how often the addresses are resolved
	// again; 0: only at start.
	DNSProviderUpdateInterval time.Duration `yaml:"dns_provider_update_interval"`
	// AutoDiscovery (ElastiCache's cluster discovery) is not supported:
	// Validate rejects true.
	AutoDiscovery bool `yaml:"auto_discovery"`
	// Backoff is how long the cache is bypassed (every lookup a miss, every
	// store dropped) after an operation failed, so that queries do not
	// wait for the timeout of a server that is down. Not in the YAML.
	Backoff time.Duration `yaml:"-"`
}

// DefaultMemcachedConfig returns Thanos' defaults, without addresses: a
// 500ms timeout, 100 idle connections, 20 writers, a 10000 items write
// buffer, 100 concurrent lookups in one batch, 1MiB items, addresses
// resolved every 10s; and a 1s backoff.
func DefaultMemcachedConfig() MemcachedConfig {
	return MemcachedConfig{
		Timeout:                   500 * time.Millisecond,
		MaxIdleConns:              100,
		MaxAsyncConcurrency:       20,
		MaxAsyncBufferSize:        10000,
		MaxGetMultiConcurrency:    100,
		MaxItemSize:               1 << 20,
		DNSProviderUpdateInterval: 10 * time.Second,
		Backoff:                   time.Second,
	}
}

// Validate reports a configuration the cache cannot run with.
func (c MemcachedConfig) Validate() error {
	switch {
	case len(c.Addresses) == 0:
		return errors.New("memcached cache: no address, set at least one host:port in addresses")
	case c.Timeout <= 0:
		return fmt.Errorf("memcached cache: timeout must be positive, got %s", c.Timeout)
	case c.MaxItemSize < 0:
		return fmt.Errorf("memcached cache: max_item_size must not be negative, got %s", c.MaxItemSize)
	case c.MaxAsyncConcurrency <= 0 || c.MaxAsyncBufferSize <= 0:
		return fmt.Errorf("memcached cache: max_async_concurrency (%d) and max_async_buffer_size (%d) must be positive", c.MaxAsyncConcurrency, c.MaxAsyncBufferSize)
	case c.MaxGetMultiConcurrency < 0 || c.MaxGetMultiBatchSize < 0:
		return fmt.Errorf("memcached cache: max_get_multi_concurrency (%d) and max_get_multi_batch_size (%d) must not be negative", c.MaxGetMultiConcurrency, c.MaxGetMultiBatchSize)
	case c.DNSProviderUpdateInterval < 0:
		return fmt.Errorf("memcached cache: dns_provider_update_interval must not be negative, got %s", c.DNSProviderUpdateInterval)
	case c.AutoDiscovery:
		return errors.New("memcached cache: auto_discovery is not supported: list the servers in addresses")
	case c.Backoff < 0:
		return fmt.Errorf("memcached cache: backoff must not be negative, got %s", c.Backoff)
	}
	for _, a := range c.Addresses {
		if i := strings.Index(a, "+"); i > 0 && strings.HasPrefix(a[:i], "dns") {
			return fmt.Errorf("memcached cache: address %q: DNS service discovery (%s+) is not supported: give host:port (host names are resolved again every dns_provider_update_interval)", a, a[:i])
		}
	}
	return nil
}

// errorLogInterval is the least time between two logs of memcached errors;
// the errors in between are only counted.
const errorLogInterval = 5 * time.Second

// Memcached is a Cache over memcached servers. It never fails a caller:
// when memcached is down or slow, lookups miss (after at most Timeout, then
// immediately for Backoff) and stores are dropped; errors are counted in
// strata_<name>_memcached_errors_total and logged at most every 5s.
// Stores are written asynchronously. Safe for concurrent use; call Close
// when done.
type Memcached struct {
	cfg    MemcachedConfig
	name   string
	sl     *memcache.ServerList
	client *memcache.Client
	logger *slog.Logger

	queue chan *memcache.Item
	// getSlots holds a token per running GetMulti
	// (MaxGetMultiConcurrency); nil: no bound.
	getSlots chan struct{}
	wg       sync.WaitGroup
	once     sync.Once
	stop     chan struct{} // closed by Close: stops the address refresh

	downUntil atomic.Int64 // unix ns until which memcached is bypassed
	lastLog   atomic.Int64 // unix ns of the last error log

	hits, misses, errs, dropped *prometheus.CounterVec
}

// NewMemcached returns a cache over the servers of cfg. It does not
// connect: an unreachable server makes the cache miss, not this call fail.
// name prefixes the metrics (IndexCacheName for the index cache:
// strata_index_cache_memcached_hits_total, ...). A nil logger discards
// logs; reg may be nil.
func NewMemcached(cfg MemcachedConfig, name string, logger *slog.Logger, reg prometheus.Registerer) (*Memcached, error) {
	if err := cfg.Validate(); err != nil {
		return nil, err
	}
	if logger == nil {
		logger = slog.New(slog.DiscardHandler)
	}
	sl := &memcache.ServerList{}
	if err := sl.SetServers(cfg.Addresses...); err != nil {
		return nil, fmt.Errorf("memcached cache: addresses %v: %w", cfg.Addresses, err)
	}
	client := memcache.NewFromSelector(sl)
	client.Timeout = cfg.Timeout
	client.MaxIdleConns = cfg.MaxIdleConns
	f := promauto.With(reg)
	p := "strata_" + name + "_memcached_"
	c := &Memcached{
		cfg:     cfg,
		name:    strings.ReplaceAll(name, "_", " "),
		sl:      sl,
		client:  client,
		logger:  logger,
		queue:   make(chan *memcache.Item, cfg.MaxAsyncBufferSize),
		stop:    make(chan struct{}),
		hits:    f.NewCounterVec(prometheus.CounterOpts{Name: p + "hits_total", Help: "Memcached lookups that found the item."}, []string{"kind"}),
		misses:  f.NewCounterVec(prometheus.CounterOpts{Name: p + "misses_total", Help: "Memcached lookups that did not find the item (memcached errors included)."}, []string{"kind"}),
		errs:    f.NewCounterVec(prometheus.CounterOpts{Name: p + "errors_total", Help: "Memcached operations that failed (the cache then misses)."}, []string{"op"}),
		dropped: f.NewCounterVec(prometheus.CounterOpts{Name: p + "dropped_items_total", Help: "Items not stored: too large, write buffer full or memcached down."}, []string{"reason"}),
	}
	if cfg.MaxGetMultiConcurrency > 0 {
		c.getSlots = make(chan struct{}, cfg.MaxGetMultiConcurrency)
	}
	for _, k := range kinds {
		c.hits.WithLabelValues(k)
		c.misses.WithLabelValues(k)
	}
	for range cfg.MaxAsyncConcurrency {
		c.wg.Go(c.writer)
	}
	if cfg.DNSProviderUpdateInterval > 0 {
		c.wg.Go(c.refreshAddresses)
	}
	return c, nil
}

// refreshAddresses resolves the addresses again every
// DNSProviderUpdateInterval until Close; a failure keeps the previous
// servers.
func (c *Memcached) refreshAddresses() {
	t := time.NewTicker(c.cfg.DNSProviderUpdateInterval)
	defer t.Stop()
	for {
		select {
		case <-c.stop:
			return
		case <-t.C:
			if err := c.sl.SetServers(c.cfg.Addresses...); err != nil {
				c.fail("resolve", err)
			}
		}
	}
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
		c.logger.Warn("memcached "+c.name+" unavailable, serving without it", "op", op, "err", err, "backoff", c.cfg.Backoff)
	}
}

// Store implements Cache: it queues the item for writing and returns.
func (c *Memcached) Store(key string, v []byte) { c.StoreWithTTL(key, v, 0) }

// maxRelativeExpiration is the longest expiration memcached takes as
// relative to now: longer ones are read as a unix time.
const maxRelativeExpiration = 30 * 24 * time.Hour

// StoreWithTTL is Store with an expiration: memcached drops the item after
// ttl (rounded up to the second; 0: never).
func (c *Memcached) StoreWithTTL(key string, v []byte, ttl time.Duration) {
	if c.cfg.MaxItemSize > 0 && len(v) > int(c.cfg.MaxItemSize) {
		c.dropped.WithLabelValues("too_large").Inc()
		return
	}
	var exp int32
	switch secs := int32((ttl + time.Second - 1) / time.Second); {
	case ttl <= 0:
	case ttl > maxRelativeExpiration:
		exp = int32(time.Now().Add(ttl).Unix())
	default:
		exp = secs
	}
	select {
	case c.queue <- &memcache.Item{Key: key, Value: v, Expiration: exp}:
	default:
		c.dropped.WithLabelValues("buffer_full").Inc()
	}
}

// Fetch implements Cache. It waits at most about Timeout for memcached
// (the client's timeouts), or until ctx ends. Keys are fetched in batches
// of MaxGetMultiBatchSize, at most MaxGetMultiConcurrency batches at once
// over the whole cache.
func (c *Memcached) Fetch(ctx context.Context, keys []string) (map[string][]byte, []string) {
	if len(keys) == 0 {
		return nil, nil
	}
	var items map[string]*memcache.Item
	if !c.down() && ctx.Err() == nil {
		items = c.getMulti(ctx, keys)
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

// getMulti fetches keys, in batches; a batch that fails is missing from
// the result.
func (c *Memcached) getMulti(ctx context.Context, keys []string) map[string]*memcache.Item {
	size := c.cfg.MaxGetMultiBatchSize
	if size <= 0 || size >= len(keys) {
		return c.getBatch(ctx, keys)
	}
	var (
		mu  sync.Mutex
		wg  sync.WaitGroup
		all = make(map[string]*memcache.Item, len(keys))
	)
	for batch := range slices.Chunk(keys, size) {
		wg.Go(func() {
			items := c.getBatch(ctx, batch)
			mu.Lock()
			defer mu.Unlock()
			maps.Copy(all, items)
		})
	}
	wg.Wait()
	return all
}

// getBatch runs one GetMulti once a slot is free (or returns nothing when
// ctx ends first).
func (c *Memcached) getBatch(ctx context.Context, keys []string) map[string]*memcache.Item {
	if c.getSlots != nil {
		select {
		case c.getSlots <- struct{}{}:
			defer func() { <-c.getSlots }()
		case <-ctx.Done():
			return nil
		}
	}
	items, err := c.client.GetMulti(keys)
	if err != nil {
		c.fail("get", err)
		return nil
	}
	return items
}

// Close stops the writers (dropping queued items) and closes the idle
// connections. The cache must not be used after.
func (c *Memcached) Close() error {
	c.once.Do(func() {
		// Drop what is queued: memcached may be down, and a best-effort
		// cache must not hold up a shutdown.
		c.downUntil.Store(time.Now().Add(time.Hour).UnixNano())
		close(c.queue)
		close(c.stop)
	})
	c.wg.Wait()
	return c.client.Close()
}
