package block

import (
	"time"

	"github.com/strata-io/strata/pkg/metadata"
)

// Why a Filter leaves a block out. They are the states of
// strata_blocks_meta_synced, upstream Thanos' names.
const (
	// ExcludedByTime: the block is outside the time range served.
	ExcludedByTime = "time-excluded"
	// ExcludedByLabels: the label selection (e.g. the selector relabel
	// configs) drops the block.
	ExcludedByLabels = "label-excluded"
	// ExcludedByDeletion: the block's deletion mark is older than the
	// delay during which marked blocks are still read.
	ExcludedByDeletion = "marked-for-deletion"
)

// Filter tells why a block with a readable meta.json is left out, or ""
// to keep it.
type Filter func(b *Block) string

// Apply runs filters in order on b and returns the first reason to leave
// it out, or "" when every filter keeps it.
func Apply(b *Block, filters ...Filter) string {
	for _, f := range filters {
		if why := f(b); why != "" {
			return why
		}
	}
	return ""
}

// TimeRange keeps the blocks overlapping [minT, maxT] (ms, inclusive; a
// block's max time is exclusive).
func TimeRange(minT, maxT int64) Filter {
	return func(b *Block) string {
		if b.Meta.MaxTime <= minT || b.Meta.MinTime > maxT {
			return ExcludedByTime
		}
		return ""
	}
}

// Labels keeps the blocks whose meta.json keep accepts (it sees the
// external labels, the ULID and everything else of meta.json).
func Labels(keep func(*metadata.Meta) bool) Filter {
	return func(b *Block) string {
		if !keep(b.Meta) {
			return ExcludedByLabels
		}
		return ""
	}
}

// DeletionDelay leaves out the blocks whose deletion mark is older than
// delay at now(). Younger marks are ignored, so that readers keep serving
// a block while the queries started before it was replaced finish.
func DeletionDelay(delay time.Duration, now func() time.Time) Filter {
	return func(b *Block) string {
		if b.Deletion != nil && now().Sub(time.Unix(b.Deletion.DeletionTime, 0)) > delay {
			return ExcludedByDeletion
		}
		return ""
	}
}
