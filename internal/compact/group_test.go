package compact

import (
	"fmt"
	"testing"

	"github.com/stretchr/testify/require"

	"github.com/strata-io/strata/pkg/metadata"
)

func TestShardingCoversEveryStreamOnce(t *testing.T) {
	for _, n := range []int{2, 3} {
		t.Run(fmt.Sprintf("%d shards", n), func(t *testing.T) {
			owners := map[string]int{}
			perShard := make([]int, n)
			for i := range 300 {
				for _, replica := range []string{"a", "b"} {
					ext := map[string]string{"cluster": fmt.Sprintf("c%d", i), "env": "prod", "replica": replica}
					stream := StreamLabels(ext, []string{"replica"})
					owned := 0
					for s := range n {
						if (Shard{Index: s, Count: n}).Owns(stream) {
							owned++
							if prev, ok := owners[stream.String()]; ok {
								require.Equal(t, prev, s, "both replicas of a stream belong to the same shard")
							} else {
								perShard[s]++
							}
							owners[stream.String()] = s
						}
					}
					require.Equal(t, 1, owned, "stream %s is owned by exactly one shard", stream)
				}
			}
			require.Len(t, owners, 300)
			for s, c := range perShard {
				require.Greater(t, c, 300/n/2, "shard %d owns a fair share", s)
			}
		})
	}
}

func TestShardingSpreadsSimilarNames(t *testing.T) {
	perShard := map[int]int{}
	for i := range 10 {
		stream := StreamLabels(map[string]string{"cluster": fmt.Sprintf("c%d", i)}, nil)
		for s := range 2 {
			if (Shard{Index: s, Count: 2}).Owns(stream) {
				perShard[s]++
			}
		}
	}
	require.GreaterOrEqual(t, perShard[0], 3)
	require.GreaterOrEqual(t, perShard[1], 3)
}

func TestGroupBlocksMergesReplicas(t *testing.T) {
	a := blk(0, 2, func(b *Block) { b.Meta.Thanos.Labels = map[string]string{"cluster": "eu1", "replica": "a"} })
	b := blk(0, 2, func(b *Block) { b.Meta.Thanos.Labels = map[string]string{"cluster": "eu1", "replica": "b"} })
	five := blk(0, 2, resolution(metadata.Resolution5m))
	del := blk(2, 4, func(b *Block) { b.Deletion = metadata.NewDeletionMark(b.Meta.ULID, b.Meta.ULID.Timestamp(), "") })
	us := blk(0, 2, func(b *Block) { b.Meta.Thanos.Labels = map[string]string{"cluster": "us1"} })

	groups := groupBlocks([]*Block{a, b, five, del, us}, []string{"replica"}, Shard{})
	require.Len(t, groups, 3)
	require.Equal(t, `{cluster="eu1"}@0`, groups[0].key)
	require.ElementsMatch(t, ids([]*Block{a, b}), ids(groups[0].blocks), "replica blocks share one group; deleted blocks are left out")
	require.Equal(t, `{cluster="eu1"}@300000`, groups[1].key)
	require.Equal(t, `{cluster="us1"}@0`, groups[2].key)

	// Without replica labels configured, replicas are separate streams.
	require.Len(t, groupBlocks([]*Block{a, b}, nil, Shard{}), 2)
}

func TestParseShard(t *testing.T) {
	for _, tc := range []struct {
		in      string
		want    Shard
		wantErr string
	}{
		{in: "0/1", want: Shard{Index: 0, Count: 1}},
		{in: "2/3", want: Shard{Index: 2, Count: 3}},
		{in: "3/3", wantErr: "--compact.shard"},
		{in: "-1/3", wantErr: "--compact.shard"},
		{in: "1", wantErr: "i/n"},
		{in: "a/b", wantErr: "i/n"},
	} {
		t.Run(tc.in, func(t *testing.T) {
			var s Shard
			err := s.Set(tc.in)
			if tc.wantErr != "" {
				require.ErrorContains(t, err, tc.wantErr)
				return
			}
			require.NoError(t, err)
			require.Equal(t, tc.want, s)
			require.Equal(t, tc.in, s.String())
		})
	}
}

func TestConfigValidateNamesTheFlag(t *testing.T) {
	valid := DefaultConfig()
	valid.WorkDir = t.TempDir()
	require.NoError(t, valid.Validate())
	for _, tc := range []struct {
		name string
		mod  func(*Config)
		want string
	}{
		{"work dir", func(c *Config) { c.WorkDir = "" }, "--data-dir"},
		{"concurrency", func(c *Config) { c.Concurrency = 0 }, "--compact.concurrency"},
		{"shard", func(c *Config) { c.Shard = Shard{Index: 2, Count: 2} }, "--compact.shard"},
		{"delete delay", func(c *Config) { c.DeleteDelay = -1 }, "--delete-delay"},
		{"retention", func(c *Config) { c.Retention.FiveMinutes = -1 }, "--retention.resolution-5m"},
		{"replica label", func(c *Config) { c.ReplicaLabels = []string{""} }, "--deduplication.replica-label"},
		{"ranges", func(c *Config) { c.Ranges = append(DefaultRanges(), 100*1e9) }, "multiple"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			c := valid
			tc.mod(&c)
			require.ErrorContains(t, c.Validate(), tc.want)
		})
	}
}
