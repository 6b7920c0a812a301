package cachingbucket

import (
	"bytes"
	"context"
	"io"
	"math/rand/v2"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/oklog/ulid/v2"
	"github.com/prometheus/client_golang/prometheus"
	"github.com/stretchr/testify/require"
	"github.com/thanos-io/objstore"
	"go.uber.org/goleak"

	"github.com/strata-io/strata/internal/cache"
	"github.com/strata-io/strata/internal/cache/cachetest"
	"github.com/strata-io/strata/pkg/metadata"
)

func TestMain(m *testing.M) {
	goleak.VerifyTestMain(m)
}

// countingBucket counts the reads that reach the wrapped bucket.
type countingBucket struct {
	objstore.Bucket
	getRange, get, exists, iter, attrs atomic.Int64
}

func (b *countingBucket) GetRange(ctx context.Context, name string, off, length int64) (io.ReadCloser, error) {
	b.getRange.Add(1)
	return b.Bucket.GetRange(ctx, name, off, length)
}

func (b *countingBucket) Get(ctx context.Context, name string) (io.ReadCloser, error) {
	b.get.Add(1)
	return b.Bucket.Get(ctx, name)
}

func (b *countingBucket) Exists(ctx context.Context, name string) (bool, error) {
	b.exists.Add(1)
	return b.Bucket.Exists(ctx, name)
}

func (b *countingBucket) Iter(ctx context.Context, dir string, f func(string) error, opts ...objstore.IterOption) error {
	b.iter.Add(1)
	return b.Bucket.Iter(ctx, dir, f, opts...)
}

func (b *countingBucket) Attributes(ctx context.Context, name string) (objstore.ObjectAttributes, error) {
	b.attrs.Add(1)
	return b.Bucket.Attributes(ctx, name)
}

// clock is a settable time for TTL tests.
type clock struct {
	mu sync.Mutex
	t  time.Time
}

func (c *clock) now() time.Time {
	c.mu.Lock()
	defer c.mu.Unlock()
	return c.t
}

func (c *clock) add(d time.Duration) {
	c.mu.Lock()
	defer c.mu.Unlock()
	c.t = c.t.Add(d)
}

func inMemoryConfig() Config {
	cfg := DefaultConfig()
	cfg.Backend = cache.BackendConfig{Type: cache.TypeInMemory, InMemory: cache.DefaultInMemoryConfig()}
	return cfg
}

func newCaching(t *testing.T, cfg Config, inner objstore.Bucket, reg prometheus.Registerer) *Bucket {
	t.Helper()
	b, err := New(cfg, inner, nil, reg)
	require.NoError(t, err)
	t.Cleanup(func() { require.NoError(t, b.Close()) })
	return b
}

// readAll returns a function reading what a Get or GetRange returns.
func readAll(t *testing.T) func(io.ReadCloser, error) []byte {
	return func(rc io.ReadCloser, err error) []byte {
		t.Helper()
		require.NoError(t, err)
		defer rc.Close()
		b, err := io.ReadAll(rc)
		require.NoError(t, err)
		return b
	}
}

// chunkObject puts a chunk file of size random bytes in bkt.
func chunkObject(t *testing.T, bkt objstore.Bucket, size int) string {
	t.Helper()
	name := ulid.Make().String() + "/chunks/000001"
	data := make([]byte, size)
	for i := range data {
		data[i] = byte(rand.IntN(256))
	}
	require.NoError(t, bkt.Upload(t.Context(), name, bytes.NewReader(data)))
	return name
}

// checkRandomRanges compares n random ranged reads of name through cb with
// the same reads of inner: ranges crossing subrange boundaries, inside
// one, at and past the end of the object. Reads starting past the end
// (which go to the wrapped bucket, that decides what they return) are
// checked too.
func checkRandomRanges(t *testing.T, cb *Bucket, inner objstore.Bucket, name string, size, sub int64, n int, rng *rand.Rand) {
	t.Helper()
	ctx := t.Context()
	check := func(off, length int64) {
		t.Helper()
		if off >= size {
			return
		}
		got := readAll(t)(cb.GetRange(ctx, name, off, length))
		want := readAll(t)(inner.GetRange(ctx, name, off, length))
		require.Equal(t, want, got, "GetRange(%d, %d) of a %d-byte object", off, length)
	}
	check(0, size)
	check(size-1, 1)
	check(size-10, 100) // past the end
	check(size/sub*sub, size%sub+1)
	check(sub-1, 2) // across a boundary
	check(sub, sub) // exactly one subrange
	pastEnd := readAll(t)(cb.GetRange(ctx, name, size, 10))
	require.Equal(t, readAll(t)(inner.GetRange(ctx, name, size, 10)), pastEnd, "a read from the end")
	for range n {
		off := rng.Int64N(size)
		length := 1 + rng.Int64N(4*sub)
		if rng.IntN(4) == 0 {
			length = 1 + rng.Int64N(size) // long, maybe past the end
		}
		check(off, length)
	}
}

func TestGetRangeSameAsUncached(t *testing.T) {
	rng := rand.New(rand.NewPCG(1, 2))
	for _, tc := range []struct {
		name      string
		size, sub int64
		maxReads  int
	}{
		{"small subranges", 100_003, 1000, 3},
		{"default subrange", 200_000, 16000, 3},
		{"unbounded reads", 50_000, 777, 0},
		{"one read", 50_000, 100, 1},
		{"object smaller than a subrange", 99, 16000, 3},
	} {
		t.Run(tc.name, func(t *testing.T) {
			inner := &countingBucket{Bucket: objstore.NewInMemBucket()}
			name := chunkObject(t, inner, int(tc.size))
			cfg := inMemoryConfig()
			cfg.ChunkSubrangeSize, cfg.MaxChunksGetRangeRequests = tc.sub, tc.maxReads
			reg := prometheus.NewRegistry()
			cb := newCaching(t, cfg, inner, reg)
			checkRandomRanges(t, cb, inner.Bucket, name, tc.size, tc.sub, 300, rng)

			// Every subrange is cached now: no more reads of the object
			// (but the one from the end, passed through).
			before := inner.getRange.Load()
			checkRandomRanges(t, cb, inner.Bucket, name, tc.size, tc.sub, 100, rng)
			require.Equal(t, before+1, inner.getRange.Load(), "a warm cache serves every range")
			require.Equal(t, int64(1), inner.attrs.Load(), "the object size is read once")
			require.Positive(t, sumMetric(t, reg, "strata_caching_bucket_operation_hits_total", "get_range"))
		})
	}
}

// TestGetRangeReadsBounded: the subranges a GetRange misses are read
// with at most max_chunks_get_range_requests ranged reads.
func TestGetRangeReadsBounded(t *testing.T) {
	inner := &countingBucket{Bucket: objstore.NewInMemBucket()}
	name := chunkObject(t, inner, 10_000)
	cfg := inMemoryConfig()
	cfg.ChunkSubrangeSize, cfg.MaxChunksGetRangeRequests = 100, 3
	cb := newCaching(t, cfg, inner, nil)
	ctx := t.Context()
	// Warm every other subrange: the rest are 50 separate holes.
	for s := int64(0); s < 10_000; s += 200 {
		readAll(t)(cb.GetRange(ctx, name, s, 100))
	}
	before := inner.getRange.Load()
	got := readAll(t)(cb.GetRange(ctx, name, 0, 10_000))
	require.Equal(t, readAll(t)(inner.Bucket.GetRange(ctx, name, 0, 10_000)), got)
	require.LessOrEqual(t, inner.getRange.Load()-before, int64(3))
}

func TestGetRangePassThrough(t *testing.T) {
	inner := &countingBucket{Bucket: objstore.NewInMemBucket()}
	ctx := t.Context()
	index := ulid.Make().String() + "/index"
	require.NoError(t, inner.Upload(ctx, index, strings.NewReader("index bytes")))
	cb := newCaching(t, inMemoryConfig(), inner, nil)
	for range 2 {
		require.Equal(t, []byte("bytes"), readAll(t)(cb.GetRange(ctx, index, 6, 5)))
	}
	require.Equal(t, int64(2), inner.getRange.Load(), "only chunk files are cached")
	name := chunkObject(t, inner, 10)
	_, err := cb.GetRange(ctx, name+"x", 0, 5)
	require.True(t, cb.IsObjNotFoundErr(err), "a missing chunk file is not found: %v", err)
}

func TestMetafilesAndIterTTL(t *testing.T) {
	inner := &countingBucket{Bucket: objstore.NewInMemBucket()}
	ctx := t.Context()
	clk := &clock{t: time.Date(2026, 1, 1, 0, 0, 0, 0, time.UTC)}
	cb := newCaching(t, inMemoryConfig(), inner, nil)
	cb.now = clk.now

	id := ulid.Make()
	meta := id.String() + "/meta.json"
	require.NoError(t, inner.Upload(ctx, meta, strings.NewReader(`{"v":1}`)))

	// Exists: cached 2h.
	ok, err := cb.Exists(ctx, meta)
	require.NoError(t, err)
	require.True(t, ok)
	require.NoError(t, inner.Delete(ctx, meta))
	clk.add(2*time.Hour - time.Second)
	ok, err = cb.Exists(ctx, meta)
	require.NoError(t, err)
	require.True(t, ok, "existence cached for metafile_exists_ttl")
	clk.add(2 * time.Second)
	ok, err = cb.Exists(ctx, meta)
	require.NoError(t, err)
	require.False(t, ok, "expired")

	// Absence: cached 15m, for Exists and Get.
	require.NoError(t, inner.Upload(ctx, meta, strings.NewReader(`{"v":2}`)))
	ok, err = cb.Exists(ctx, meta)
	require.NoError(t, err)
	require.False(t, ok, "absence cached for metafile_doesnt_exist_ttl")
	_, err = cb.Get(ctx, meta)
	require.True(t, cb.IsObjNotFoundErr(err), "absence cached for Get too: %v", err)
	clk.add(15*time.Minute + time.Second)
	require.Equal(t, `{"v":2}`, string(readAll(t)(cb.Get(ctx, meta))))

	// Content: cached 24h.
	gets := inner.get.Load()
	require.NoError(t, inner.Upload(ctx, meta, strings.NewReader(`{"v":3}`)))
	clk.add(23 * time.Hour)
	require.Equal(t, `{"v":2}`, string(readAll(t)(cb.Get(ctx, meta))))
	require.Equal(t, gets, inner.get.Load())
	clk.add(2 * time.Hour)
	require.Equal(t, `{"v":3}`, string(readAll(t)(cb.Get(ctx, meta))))

	// A missing metafile: not found, the first time and from the cache.
	other := ulid.Make().String() + "/deletion-mark.json"
	for range 2 {
		_, err = cb.Get(ctx, other)
		require.True(t, cb.IsObjNotFoundErr(err))
	}
	var mark metadata.DeletionMark
	require.ErrorIs(t, metadata.ReadMarker(ctx, cb, ulid.MustParse(strings.TrimSuffix(other, "/deletion-mark.json")), &mark), metadata.ErrMarkerNotFound)

	// Iter of the root: cached 5m.
	list := func() []string {
		var names []string
		require.NoError(t, cb.Iter(ctx, "", func(n string) error { names = append(names, n); return nil }))
		return names
	}
	first := list()
	require.Equal(t, []string{id.String() + "/"}, first)
	require.NoError(t, inner.Upload(ctx, ulid.Make().String()+"/meta.json", strings.NewReader("{}")))
	clk.add(5*time.Minute - time.Second)
	require.Equal(t, first, list(), "listing cached for blocks_iter_ttl")
	clk.add(2 * time.Second)
	require.Len(t, list(), 2)
	// Other directories are not cached.
	iters := inner.iter.Load()
	require.NoError(t, cb.Iter(ctx, id.String()+"/", func(string) error { return nil }))
	require.Equal(t, iters+1, inner.iter.Load())
}

// TestChunkAttributesTTL: the size of a chunk file is cached for
// chunk_object_attrs_ttl.
func TestChunkAttributesTTL(t *testing.T) {
	inner := &countingBucket{Bucket: objstore.NewInMemBucket()}
	clk := &clock{t: time.Date(2026, 1, 1, 0, 0, 0, 0, time.UTC)}
	cb := newCaching(t, inMemoryConfig(), inner, nil)
	cb.now = clk.now
	name := chunkObject(t, inner, 1234)
	for range 3 {
		attrs, err := cb.Attributes(t.Context(), name)
		require.NoError(t, err)
		require.Equal(t, int64(1234), attrs.Size)
	}
	require.Equal(t, int64(1), inner.attrs.Load())
	clk.add(24*time.Hour + time.Second)
	_, err := cb.Attributes(t.Context(), name)
	require.NoError(t, err)
	require.Equal(t, int64(2), inner.attrs.Load(), "read again after the TTL")
}

// TestMemcachedBackend: the same answers with a real memcached, and
// repeated reads come from it.
func TestMemcachedBackend(t *testing.T) {
	mc := cachetest.StartMemcached(t)
	inner := &countingBucket{Bucket: objstore.NewInMemBucket()}
	cfg, err := Parse([]byte("type: MEMCACHED\nconfig:\n  addresses: [" + mc.Addr + "]\nchunk_subrange_size: 1000\n"))
	require.NoError(t, err)
	reg := prometheus.NewRegistry()
	cb := newCaching(t, cfg, inner, reg)
	name := chunkObject(t, inner, 30_001)
	rng := rand.New(rand.NewPCG(3, 4))
	checkRandomRanges(t, cb, inner.Bucket, name, 30_001, 1000, 100, rng)

	// Stores are asynchronous: soon every subrange comes from memcached.
	require.Eventually(t, func() bool {
		before := inner.getRange.Load()
		readAll(t)(cb.GetRange(t.Context(), name, 0, 30_001))
		return inner.getRange.Load() == before
	}, 10*time.Second, 20*time.Millisecond)
	checkRandomRanges(t, cb, inner.Bucket, name, 30_001, 1000, 100, rng)
	require.Positive(t, sumMetric(t, reg, "strata_caching_bucket_cache_memcached_hits_total", "other"))

	// Metafiles too.
	meta := ulid.Make().String() + "/meta.json"
	require.NoError(t, inner.Upload(t.Context(), meta, strings.NewReader(`{"x":1}`)))
	require.Eventually(t, func() bool {
		before := inner.get.Load()
		require.Equal(t, `{"x":1}`, string(readAll(t)(cb.Get(t.Context(), meta))))
		return inner.get.Load() == before
	}, 10*time.Second, 20*time.Millisecond)

	// memcached gone: the same answers, from the bucket.
	mc.Kill()
	checkRandomRanges(t, cb, inner.Bucket, name, 30_001, 1000, 50, rng)
}

// sumMetric returns the sum of the counters name whose label has value.
func sumMetric(t *testing.T, g prometheus.Gatherer, name, value string) float64 {
	t.Helper()
	mfs, err := g.Gather()
	require.NoError(t, err)
	var sum float64
	for _, mf := range mfs {
		if mf.GetName() != name {
			continue
		}
		for _, m := range mf.GetMetric() {
			for _, l := range m.GetLabel() {
				if l.GetValue() == value {
					sum += m.GetCounter().GetValue()
				}
			}
		}
	}
	return sum
}

func TestKey(t *testing.T) {
	require.Equal(t, "CB:sub:01HZY2Z8Q6V9J8M6B4C2N0P1RS/chunks/000001:0:16000", key("sub", "01HZY2Z8Q6V9J8M6B4C2N0P1RS/chunks/000001", 0, 16000))
	long := key("content", strings.Repeat("a", 300))
	require.Less(t, len(long), 100)
	require.NotEqual(t, long, key("content", strings.Repeat("a", 301)))
	require.NotContains(t, key("exists", "a b\nc"), " ")
}

// TestRecursiveListingCached: the recursive listing of the whole bucket
// (one per store sync) comes from the cache within blocks_iter_ttl, with
// the objects' last-modified times; other listings are not cached.
func TestRecursiveListingCached(t *testing.T) {
	inner := objstore.NewInMemBucket()
	for _, name := range []string{"01A/meta.json", "01A/chunks/000001", "01B/meta.json"} {
		require.NoError(t, inner.Upload(t.Context(), name, strings.NewReader("x")))
	}
	cfg := inMemoryConfig()
	cfg.BlocksIterTTL = time.Hour
	b := newCaching(t, cfg, inner, prometheus.NewRegistry())

	list := func() []string {
		var out []string
		require.NoError(t, b.IterWithAttributes(t.Context(), "", func(a objstore.IterObjectAttributes) error {
			out = append(out, a.Name)
			return nil
		}, objstore.WithRecursiveIter()))
		return out
	}
	want := []string{"01A/chunks/000001", "01A/meta.json", "01B/meta.json"}
	require.ElementsMatch(t, want, list())
	require.NoError(t, inner.Upload(t.Context(), "01C/meta.json", strings.NewReader("x")))
	require.ElementsMatch(t, want, list(), "within blocks_iter_ttl the listing comes from the cache")
	require.Len(t, func() []string {
		var out []string
		require.NoError(t, b.IterWithAttributes(t.Context(), "01A/", func(a objstore.IterObjectAttributes) error {
			out = append(out, a.Name)
			return nil
		}, objstore.WithRecursiveIter()))
		return out
	}(), 2, "a listing below the root goes to the bucket")
}
