package cachingbucket

import (
	"os"
	"path/filepath"
	"testing"
	"time"

	"github.com/alecthomas/kingpin/v2"
	"github.com/stretchr/testify/require"

	"github.com/strata-io/strata/internal/cache"
)

func TestParse(t *testing.T) {
	cfg, err := Parse([]byte(`
type: memcached
config:
  addresses: [127.0.0.1:11211]
  timeout: 500ms
  max_idle_connections: 100
  max_async_concurrency: 20
  max_async_buffer_size: 10000
  max_item_size: 1MiB
  max_get_multi_concurrency: 100
  max_get_multi_batch_size: 0
  dns_provider_update_interval: 10s
chunk_subrange_size: 8000
max_chunks_get_range_requests: 5
chunk_object_attrs_ttl: 12h
chunk_subrange_ttl: 6h
blocks_iter_ttl: 1m
metafile_exists_ttl: 1h
metafile_doesnt_exist_ttl: 5m
metafile_content_ttl: 3h
metafile_max_size: 2MiB
`))
	require.NoError(t, err)
	mc := cache.DefaultMemcachedConfig()
	mc.Addresses = []string{"127.0.0.1:11211"}
	require.Equal(t, Config{
		Backend:                   cache.BackendConfig{Type: cache.TypeMemcached, Memcached: mc},
		ChunkSubrangeSize:         8000,
		MaxChunksGetRangeRequests: 5,
		ChunkObjectAttrsTTL:       12 * time.Hour,
		ChunkSubrangeTTL:          6 * time.Hour,
		BlocksIterTTL:             time.Minute,
		MetafileExistsTTL:         time.Hour,
		MetafileDoesntExistTTL:    5 * time.Minute,
		MetafileContentTTL:        3 * time.Hour,
		MetafileMaxSize:           2 << 20,
	}, cfg)

	cfg, err = Parse([]byte("type: IN-MEMORY"))
	require.NoError(t, err)
	want := DefaultConfig()
	want.Backend = cache.BackendConfig{Type: cache.TypeInMemory, InMemory: cache.DefaultInMemoryConfig()}
	require.Equal(t, want, cfg, "Thanos' defaults")
	require.Equal(t, int64(16000), cfg.ChunkSubrangeSize)

	for yaml, wantErr := range map[string]string{
		"":                                   "no cache `type:`",
		"type: REDIS":                        `unknown cache type "REDIS": supported types are IN-MEMORY, MEMCACHED`,
		"type: IN-MEMORY\nchunk_subrange: 1": "field chunk_subrange not found",
		"type: IN-MEMORY\nchunk_subrange_size: 0": "chunk_subrange_size must be positive",
		"type: IN-MEMORY\nblocks_iter_ttl: -1m":   "blocks_iter_ttl must not be negative",
		"type: MEMCACHED":                         "no address",
	} {
		_, err := Parse([]byte(yaml))
		require.ErrorContains(t, err, wantErr, "%q", yaml)
	}
}

func TestFlags(t *testing.T) {
	load := func(args ...string) (Config, bool, error) {
		app := kingpin.New("strata", "")
		cmd := app.Command("store", "")
		var f Flags
		f.RegisterFlags(cmd)
		_, err := app.Parse(append([]string{"store"}, args...))
		require.NoError(t, err)
		return f.Load()
	}
	_, ok, err := load()
	require.NoError(t, err)
	require.False(t, ok, "no flag: no caching bucket")

	cfg, ok, err := load("--store.caching-bucket.config=type: IN-MEMORY")
	require.NoError(t, err)
	require.True(t, ok)
	require.Equal(t, cache.TypeInMemory, cfg.Backend.Type)

	file := filepath.Join(t.TempDir(), "cb.yml")
	require.NoError(t, os.WriteFile(file, []byte("type: IN-MEMORY\nchunk_subrange_size: 100"), 0o600))
	cfg, ok, err = load("--store.caching-bucket.config-file=" + file)
	require.NoError(t, err)
	require.True(t, ok)
	require.Equal(t, int64(100), cfg.ChunkSubrangeSize)

	_, _, err = load("--store.caching-bucket.config-file="+file, "--store.caching-bucket.config=type: IN-MEMORY")
	require.ErrorContains(t, err, "--store.caching-bucket.config-file and --store.caching-bucket.config are mutually exclusive")
	_, _, err = load("--store.caching-bucket.config=type: GROUPCACHE")
	require.ErrorContains(t, err, "check --store.caching-bucket.config(-file): unknown cache type")
}
