package cache_test

import (
	"os"
	"path/filepath"
	"testing"
	"time"

	"github.com/alecthomas/kingpin/v2"
	"github.com/stretchr/testify/require"

	"github.com/strata-io/strata/internal/cache"
)

func TestParseBackend(t *testing.T) {
	for _, tc := range []struct {
		name, yaml string
		want       func(*cache.BackendConfig)
		wantErr    string
	}{
		{name: "empty", yaml: "", want: func(c *cache.BackendConfig) { *c = cache.BackendConfig{} }},
		{name: "in-memory defaults", yaml: "type: IN-MEMORY", want: func(c *cache.BackendConfig) {
			c.Type, c.InMemory = cache.TypeInMemory, cache.InMemoryConfig{MaxSize: 250 << 20, MaxItemSize: 125 << 20}
		}},
		{name: "in-memory, any case, units", yaml: "type: in-memory\nconfig:\n  max_size: 1GB\n  max_item_size: 1MiB", want: func(c *cache.BackendConfig) {
			c.Type, c.InMemory = cache.TypeInMemory, cache.InMemoryConfig{MaxSize: 1 << 30, MaxItemSize: 1 << 20}
		}},
		{name: "memcached, every upstream key", yaml: `
type: MEMCACHED
config:
  addresses: [127.0.0.1:11211, memcached:11211]
  timeout: 300ms
  max_idle_connections: 50
  max_async_concurrency: 10
  max_async_buffer_size: 1000
  max_get_multi_concurrency: 20
  max_get_multi_batch_size: 100
  max_item_size: 16MiB
  dns_provider_update_interval: 30s
  auto_discovery: false
`, want: func(c *cache.BackendConfig) {
			c.Type = cache.TypeMemcached
			c.Memcached = cache.DefaultMemcachedConfig()
			m := &c.Memcached
			m.Addresses = []string{"127.0.0.1:11211", "memcached:11211"}
			m.Timeout, m.MaxIdleConns, m.MaxAsyncConcurrency, m.MaxAsyncBufferSize = 300*time.Millisecond, 50, 10, 1000
			m.MaxGetMultiConcurrency, m.MaxGetMultiBatchSize, m.MaxItemSize, m.DNSProviderUpdateInterval = 20, 100, 16<<20, 30*time.Second
		}},
		{name: "memcached defaults", yaml: "type: memcached\nconfig:\n  addresses: ['127.0.0.1:11211']", want: func(c *cache.BackendConfig) {
			c.Type = cache.TypeMemcached
			c.Memcached = cache.DefaultMemcachedConfig()
			c.Memcached.Addresses = []string{"127.0.0.1:11211"}
		}},
		{name: "unknown type", yaml: "type: REDIS", wantErr: `unknown cache type "REDIS": supported types are IN-MEMORY, MEMCACHED`},
		{name: "no type", yaml: "config: {}", wantErr: "no `type:`"},
		{name: "unknown config key", yaml: "type: IN-MEMORY\nconfig:\n  size: 1GB", wantErr: "field size not found"},
		{name: "unknown top-level key", yaml: "type: IN-MEMORY\nchunk_subrange_size: 10", wantErr: "unknown keys chunk_subrange_size in cache config"},
		{name: "memcached without address", yaml: "type: MEMCACHED", wantErr: "no address"},
		{name: "dns discovery", yaml: "type: MEMCACHED\nconfig:\n  addresses: [dnssrv+_memcached._tcp.cache]", wantErr: "DNS service discovery (dnssrv+) is not supported"},
		{name: "auto discovery", yaml: "type: MEMCACHED\nconfig:\n  addresses: [a:1]\n  auto_discovery: true", wantErr: "auto_discovery is not supported"},
		{name: "bad size", yaml: "type: IN-MEMORY\nconfig:\n  max_size: lots", wantErr: "max_size"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			got, err := cache.ParseBackend([]byte(tc.yaml), nil)
			if tc.wantErr != "" {
				require.ErrorContains(t, err, tc.wantErr)
				return
			}
			require.NoError(t, err)
			var want cache.BackendConfig
			tc.want(&want)
			require.Equal(t, want, got)
		})
	}
}

func TestParseBackendExtraKeys(t *testing.T) {
	var extra struct {
		Size int `yaml:"chunk_subrange_size"`
	}
	cfg, err := cache.ParseBackend([]byte("type: IN-MEMORY\nchunk_subrange_size: 10"), &extra)
	require.NoError(t, err)
	require.Equal(t, cache.TypeInMemory, cfg.Type)
	require.Equal(t, 10, extra.Size)
	_, err = cache.ParseBackend([]byte("type: IN-MEMORY\nchunk_subrange: 10"), &extra)
	require.ErrorContains(t, err, "field chunk_subrange not found")
}

// parseIndexCacheFlags registers the index cache flags on a fresh app and
// parses args.
func parseIndexCacheFlags(t *testing.T, args ...string) *cache.IndexCacheFlags {
	t.Helper()
	app := kingpin.New("strata", "")
	cmd := app.Command("store", "")
	var f cache.IndexCacheFlags
	f.RegisterFlags(cmd)
	_, err := app.Parse(append([]string{"store"}, args...))
	require.NoError(t, err)
	return &f
}

func TestIndexCacheFlags(t *testing.T) {
	cfg, err := parseIndexCacheFlags(t).Load()
	require.NoError(t, err)
	require.Equal(t, cache.BackendConfig{Type: cache.TypeInMemory, InMemory: cache.DefaultInMemoryConfig()}, cfg, "250MB in memory by default")

	cfg, err = parseIndexCacheFlags(t, "--index-cache-size=1GB").Load()
	require.NoError(t, err)
	require.Equal(t, int64(1<<30), int64(cfg.InMemory.MaxSize))

	cfg, err = parseIndexCacheFlags(t, "--index-cache-size=0").Load()
	require.NoError(t, err)
	require.Empty(t, cfg.Type, "size 0: no index cache")

	mc := "type: MEMCACHED\nconfig:\n  addresses: [127.0.0.1:11211]"
	cfg, err = parseIndexCacheFlags(t, "--index-cache-size=1GB", "--index-cache.config="+mc).Load()
	require.NoError(t, err)
	require.Equal(t, cache.TypeMemcached, cfg.Type, "the config wins over --index-cache-size")

	file := filepath.Join(t.TempDir(), "cache.yml")
	require.NoError(t, os.WriteFile(file, []byte(mc), 0o600))
	cfg, err = parseIndexCacheFlags(t, "--index-cache.config-file="+file).Load()
	require.NoError(t, err)
	require.Equal(t, []string{"127.0.0.1:11211"}, cfg.Memcached.Addresses)

	_, err = parseIndexCacheFlags(t, "--index-cache.config-file="+file, "--index-cache.config="+mc).Load()
	require.ErrorContains(t, err, "--index-cache.config-file and --index-cache.config are mutually exclusive")
	_, err = parseIndexCacheFlags(t, "--index-cache.config-file="+file+".missing").Load()
	require.ErrorContains(t, err, "read --index-cache.config-file")
	_, err = parseIndexCacheFlags(t, "--index-cache.config=type: redis").Load()
	require.ErrorContains(t, err, "check --index-cache.config(-file): unknown cache type")
	_, err = parseIndexCacheFlags(t, "--index-cache.config=config: {}").Load()
	require.ErrorContains(t, err, "no `type:`")
}

func TestNewBackend(t *testing.T) {
	c, err := cache.New(cache.BackendConfig{}, "x", nil, nil)
	require.NoError(t, err)
	require.Nil(t, c, "no type: no cache")
	c, err = cache.New(cache.BackendConfig{Type: cache.TypeInMemory, InMemory: cache.DefaultInMemoryConfig()}, "x", nil, nil)
	require.NoError(t, err)
	require.IsType(t, &cache.LRU{}, c)
	require.NoError(t, c.Close())
	_, err = cache.New(cache.BackendConfig{Type: cache.TypeMemcached, Memcached: cache.DefaultMemcachedConfig()}, "x", nil, nil)
	require.ErrorContains(t, err, "no address")
}
