package compact

import (
	"cmp"
	"fmt"
	"slices"

	"github.com/cespare/xxhash/v2"
	"github.com/prometheus/prometheus/model/labels"

	"github.com/strata-io/strata/internal/block"
)

// Block is a block of the bucket as the inventory read it (package
// block); the compactor plans over those with a meta.json. A Block is
// shared read-only between goroutines once built.
type Block = block.Block

// span is the block's time range in ms.
func span(b *Block) int64 { return b.Meta.MaxTime - b.Meta.MinTime }

// StreamLabels returns the stream of a block with external labels ext:
// ext without the replica labels. Blocks of HA replicas thus share one
// stream.
func StreamLabels(ext map[string]string, replicaLabels []string) labels.Labels {
	b := labels.NewBuilder(labels.FromMap(ext))
	b.Del(replicaLabels...)
	return b.Labels()
}

// StreamHash is the hash that shards streams: xxhash of the stream's
// sorted label string (replica labels must already be removed), finalised
// with murmur3's fmix64: xxhash alone gives the same low bits to short
// names that differ in one character (cluster="c0" ... "c9" all even), so
// a few similar streams would all land on one shard.
func StreamHash(stream labels.Labels) uint64 {
	h := xxhash.Sum64String(stream.String())
	h ^= h >> 33
	h *= 0xff51afd7ed558ccd
	h ^= h >> 33
	h *= 0xc4ceb9fe1a85ec53
	h ^= h >> 33
	return h
}

// Owns reports whether the shard owns the stream.
func (s Shard) Owns(stream labels.Labels) bool {
	if s.Count <= 1 {
		return true
	}
	return StreamHash(stream)%uint64(s.Count) == uint64(s.Index)
}

// group is the unit of compaction: the blocks of one stream at one
// resolution. Only one worker handles a group at a time.
type group struct {
	key        string
	stream     labels.Labels
	resolution int64
	blocks     []*Block // not marked for deletion, sorted by min time
}

// dirName is the group's local work directory name: stable and safe.
func (g *group) dirName() string {
	return fmt.Sprintf("%d-%016x", g.resolution, StreamHash(g.stream))
}

func groupKey(stream labels.Labels, resolution int64) string {
	return fmt.Sprintf("%s@%d", stream.String(), resolution)
}

// groupBlocks splits the blocks that are not marked for deletion into
// groups by stream and resolution, keeping the groups the shard owns. The
// groups are sorted by key.
func groupBlocks(blocks []*Block, replicaLabels []string, shard Shard) []*group {
	byKey := map[string]*group{}
	for _, b := range blocks {
		if b.Deletion != nil {
			continue
		}
		stream := StreamLabels(b.Meta.Thanos.Labels, replicaLabels)
		if !shard.Owns(stream) {
			continue
		}
		res := b.Meta.Thanos.Downsample.Resolution
		k := groupKey(stream, res)
		g := byKey[k]
		if g == nil {
			g = &group{key: k, stream: stream, resolution: res}
			byKey[k] = g
		}
		g.blocks = append(g.blocks, b)
	}
	out := make([]*group, 0, len(byKey))
	for _, g := range byKey {
		sortBlocks(g.blocks)
		out = append(out, g)
	}
	slices.SortFunc(out, func(a, b *group) int { return cmp.Compare(a.key, b.key) })
	return out
}

// sortBlocks orders blocks by min time, then max time, then ULID.
func sortBlocks(bs []*Block) {
	slices.SortFunc(bs, func(a, b *Block) int {
		if c := cmp.Compare(a.Meta.MinTime, b.Meta.MinTime); c != 0 {
			return c
		}
		if c := cmp.Compare(a.Meta.MaxTime, b.Meta.MaxTime); c != 0 {
			return c
		}
		return a.Meta.ULID.Compare(b.Meta.ULID)
	})
}

// streams groups blocks not marked for deletion by stream (every
// resolution together), keeping the streams the shard owns.
func streams(blocks []*Block, replicaLabels []string, shard Shard) map[string][]*Block {
	out := map[string][]*Block{}
	for _, b := range blocks {
		if b.Deletion != nil {
			continue
		}
		stream := StreamLabels(b.Meta.Thanos.Labels, replicaLabels)
		if !shard.Owns(stream) {
			continue
		}
		out[stream.String()] = append(out[stream.String()], b)
	}
	return out
}
