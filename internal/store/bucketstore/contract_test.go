package bucketstore_test

import (
	"testing"
	"time"

	"github.com/prometheus/prometheus/model/labels"
	"github.com/prometheus/prometheus/storage"
	"github.com/prometheus/prometheus/tsdb"
	"github.com/prometheus/prometheus/tsdb/chunkenc"
	"github.com/stretchr/testify/require"
	"go.uber.org/goleak"

	"github.com/strata-io/strata/internal/cache"
	"github.com/strata-io/strata/internal/cache/cachetest"
	"github.com/strata-io/strata/internal/store/bucketstore"
	"github.com/strata-io/strata/internal/store/storetest"
	"github.com/strata-io/strata/pkg/storepb"
)

func TestMain(m *testing.M) {
	goleak.VerifyTestMain(m)
}

const hour = int64(3600_000)

// testConfig is the default config with a short sync interval.
func testConfig() bucketstore.Config {
	cfg := bucketstore.DefaultConfig()
	cfg.SyncInterval = time.Minute
	return cfg
}

// newStore returns a synced store over bkt, closed at cleanup.
func newStore(t testing.TB, cfg bucketstore.Config, bkt *countingBucket) *bucketstore.Store {
	t.Helper()
	s, err := bucketstore.New(cfg, bkt, nil, nil)
	require.NoError(t, err)
	t.Cleanup(func() { require.NoError(t, s.Close()) })
	require.NoError(t, s.SyncBlocks(t.Context()))
	require.True(t, s.Ready())
	return s
}

// inBlocks returns a contract setup that writes the data set into blocks
// cut at the given offsets (ms from the data set's start; none: one block).
func inBlocks(cuts []int64, tune func(*tsdb.Options)) storetest.Setup {
	return inBlocksWith(cuts, tune, nil)
}

// inBlocksWith is inBlocks with an index cache made by newCache (nil:
// none).
func inBlocksWith(cuts []int64, tune func(*tsdb.Options), newCache func(t *testing.T) cache.Cache) storetest.Setup {
	return func(t *testing.T, ext labels.Labels, series []storage.Series) storepb.StoreClient {
		minT := storetest.DefaultMinTime
		var ranges [][2]int64
		from := minT
		for _, c := range cuts {
			ranges = append(ranges, [2]int64{from, minT + c - 1})
			from = minT + c
		}
		ranges = append(ranges, [2]int64{from, minT + storetest.DataDuration})
		bkt := newCountingBucket()
		for _, dir := range writeBlocks(t, series, ranges, tune) {
			uploadBlock(t, bkt, dir, ext, 0)
		}
		cfg := testConfig()
		if newCache != nil {
			cfg.IndexCache = newCache(t)
		}
		s := newStore(t, cfg, bkt)
		require.Len(t, s.Blocks(), len(ranges))
		return storepb.ServerAsClient(s)
	}
}

// failing is a store whose bucket cannot be listed: it never becomes ready.
func failing(t *testing.T) storepb.StoreClient {
	bkt := newCountingBucket()
	bkt.failIter = true
	s, err := bucketstore.New(testConfig(), bkt, nil, nil)
	require.NoError(t, err)
	t.Cleanup(func() { require.NoError(t, s.Close()) })
	require.Error(t, s.SyncBlocks(t.Context()))
	require.False(t, s.Ready())
	return storepb.ServerAsClient(s)
}

func TestContract(t *testing.T) {
	for _, tc := range []struct {
		name  string
		setup storetest.Setup
	}{
		{name: "one_block", setup: inBlocks(nil, nil)},
		// Series span the cuts: each is merged from several blocks.
		{name: "three_blocks", setup: inBlocks([]int64{hour, 2*hour + 7_000}, nil)},
		{name: "xor2_and_histogram_st_chunks", setup: inBlocks([]int64{2 * hour}, func(o *tsdb.Options) {
			o.FloatChunkEncoding = chunkenc.EncXOR2
			o.EnableHistogramSTEncoding = true
		})},
		// The index cache serves postings and series entries from the
		// second lookup on.
		{name: "three_blocks_lru_cache", setup: inBlocksWith([]int64{hour, 2*hour + 7_000}, nil, func(*testing.T) cache.Cache {
			return cache.NewLRU(cache.DefaultInMemoryConfig(), cache.IndexCacheName, nil)
		})},
		{name: "three_blocks_memcached", setup: inBlocksWith([]int64{hour, 2*hour + 7_000}, nil, func(t *testing.T) cache.Cache {
			return newMemcachedCache(t, cachetest.StartMemcached(t).Addr)
		})},
	} {
		t.Run(tc.name, func(t *testing.T) {
			storetest.RunContract(t, tc.setup, storetest.Options{Failing: failing})
		})
	}
}
