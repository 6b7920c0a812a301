package bucketstore_test

import (
	"fmt"
	"math"
	"slices"
	"testing"

	"github.com/oklog/ulid/v2"
	"github.com/prometheus/client_golang/prometheus"
	"github.com/prometheus/prometheus/model/labels"
	"github.com/stretchr/testify/require"

	"github.com/strata-io/strata/internal/block"
	"github.com/strata-io/strata/internal/store/bucketstore"
	"github.com/strata-io/strata/internal/store/storetest"
	"github.com/strata-io/strata/internal/testkit"
)

// copiesBucket uploads one small block n times under fresh IDs, copy i
// with the external labels region=<regions[i%len]>, replica=<i>.
func copiesBucket(t *testing.T, n int, regions ...string) (*countingBucket, []ulid.ULID) {
	t.Helper()
	minT := storetest.DefaultMinTime
	dir := writeBlocks(t, bigSeries(10), [][2]int64{{minT, minT + hour}}, nil)[0]
	bkt := newCountingBucket()
	var ids []ulid.ULID
	for i := range n {
		ext := labels.FromStrings("region", regions[i%len(regions)], "replica", fmt.Sprint(i))
		ids = append(ids, uploadBlockAs(t, bkt, dir, ulid.Make(), ext, 0).ULID)
	}
	slices.SortFunc(ids, func(a, b ulid.ULID) int { return a.Compare(b) })
	return bkt, ids
}

const (
	minTime = math.MinInt64
	maxTime = math.MaxInt64
)

// shardedStore returns a synced store over bkt serving the blocks the
// relabel configs keep; reg may be nil.
func shardedStore(t *testing.T, bkt *countingBucket, relabelYAML string, reg *prometheus.Registry) *bucketstore.Store {
	t.Helper()
	cfgs, err := block.ParseRelabelConfigs([]byte(relabelYAML))
	require.NoError(t, err)
	cfg := testConfig()
	cfg.RelabelConfigs = cfgs
	var r prometheus.Registerer
	if reg != nil {
		r = reg
	}
	s, err := bucketstore.New(cfg, bkt, nil, r)
	require.NoError(t, err)
	t.Cleanup(func() { require.NoError(t, s.Close()) })
	require.NoError(t, s.SyncBlocks(t.Context()))
	return s
}

func sortedIDs(s *bucketstore.Store) []ulid.ULID {
	ids := blockIDs(s)
	slices.SortFunc(ids, func(a, b ulid.ULID) int { return a.Compare(b) })
	return ids
}

func TestShardingHashmodSplitsBlocks(t *testing.T) {
	bkt, all := copiesBucket(t, 16, "eu")
	shard := func(i int) string {
		return fmt.Sprintf(`
- source_labels: [__block_id]
  modulus: 2
  target_label: shard
  action: hashmod
- source_labels: [shard]
  regex: "%d"
  action: keep
`, i)
	}
	reg0, reg1 := prometheus.NewRegistry(), prometheus.NewRegistry()
	s0 := shardedStore(t, bkt, shard(0), reg0)
	s1 := shardedStore(t, bkt, shard(1), reg1)
	ids0, ids1 := sortedIDs(s0), sortedIDs(s1)
	require.NotEmpty(t, ids0, "16 blocks: each shard gets some (fails with probability 2^-15)")
	require.NotEmpty(t, ids1)
	for _, id := range ids0 {
		require.NotContains(t, ids1, id, "a block served by both shards")
	}
	union := append(slices.Clone(ids0), ids1...)
	slices.SortFunc(union, func(a, b ulid.ULID) int { return a.Compare(b) })
	require.Equal(t, all, union, "every block is served by one shard")

	// Each store opened its own blocks only.
	require.Equal(t, float64(len(ids0)), testkit.MetricValue(t, reg0, "strata_bucket_store_block_loads_total"))
	require.Equal(t, float64(len(ids1)), testkit.MetricValue(t, reg1, "strata_bucket_store_block_loads_total"))
	// Queries see each shard's blocks only (10 series per block, told
	// apart by the replica label).
	require.Equal(t, 10*len(ids0), seriesCount(t, s0, minTime, maxTime))
	require.Equal(t, 10*len(ids1), seriesCount(t, s1, minTime, maxTime))
}

func TestShardingKeepDrop(t *testing.T) {
	bkt, all := copiesBucket(t, 6, "eu", "us", "ap")
	for _, tc := range []struct {
		name, yaml string
		want       int
	}{
		{name: "none", yaml: "", want: 6},
		{name: "keep one region", yaml: `[{source_labels: [region], regex: eu, action: keep}]`, want: 2},
		{name: "drop one region", yaml: `[{source_labels: [region], regex: eu, action: drop}]`, want: 4},
		{name: "keep one block", yaml: fmt.Sprintf(`[{source_labels: [__block_id], regex: %s, action: keep}]`, all[3]), want: 1},
		{name: "keep by two labels", yaml: `[{source_labels: [region, replica], separator: "/", regex: "us/(1|4)", action: keep}]`, want: 2},
	} {
		t.Run(tc.name, func(t *testing.T) {
			s := shardedStore(t, bkt, tc.yaml, nil)
			require.Len(t, s.Blocks(), tc.want)
			for _, b := range s.Blocks() {
				switch tc.name {
				case "keep one region":
					require.Equal(t, "eu", b.Labels.Get("region"))
				case "drop one region":
					require.NotEqual(t, "eu", b.Labels.Get("region"))
				case "keep one block":
					require.Equal(t, all[3], b.ID)
				}
			}
		})
	}
}
