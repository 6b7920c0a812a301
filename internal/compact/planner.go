package compact

import (
	"math"
	"slices"
	"time"

	"github.com/oklog/ulid/v2"

	"github.com/strata-io/strata/internal/block"
	"github.com/strata-io/strata/pkg/metadata"
)

// The planner is made of pure functions over the blocks of a group or a
// stream: no I/O, no clock (now is passed in ms), so that it is table-tested.

// Spans (ms) from which a block is downsampled whatever its future
// compactions: raw -> 5m from 40h, 5m -> 1h from 10 days (the upstream
// triggers).
const (
	rawDownsampleSpan     = int64(40 * time.Hour / time.Millisecond)
	fiveMinDownsampleSpan = int64(10 * 24 * time.Hour / time.Millisecond)
)

// planCompaction returns the blocks of one group (one stream and one
// resolution, none marked for deletion) to merge next, sorted by min time,
// or nil when there is nothing to do. Blocks marked no-compact are left out.
//
// Overlapping blocks come first: the first set of blocks that overlap each
// other (transitively) is merged vertically, whatever their sizes. Without
// overlaps, for each range from the smallest, the first window [t - t%r,
// that + r) holding more than one block that fits in it (and does not
// already span it) is chosen once the window is complete (windowComplete).
func planCompaction(blocks []*Block, ranges []int64, now int64) []*Block {
	var cands []*Block
	newest := int64(math.MinInt64)
	for _, b := range blocks {
		newest = max(newest, b.Meta.MaxTime)
		if b.NoCompact == nil && b.Deletion == nil {
			cands = append(cands, b)
		}
	}
	if len(cands) < 2 {
		return nil
	}
	cands = slices.Clone(cands)
	sortBlocks(cands)
	if p := firstOverlap(cands); p != nil {
		return p
	}
	for _, r := range ranges {
		if p := planLevel(cands, r, ranges[0], newest, now); p != nil {
			return p
		}
	}
	return nil
}

// planBatch returns up to n plans of one group that can run at once: the
// plan planCompaction chooses, then further plans of the same kind, each
// chosen among the blocks the previous ones left: more runs of overlapping
// blocks, or more windows of the same range. Plans of one kind have no
// block in common and their outputs fall in different windows of their
// range, so running them together leaves the group as running them one
// after the other would; a plan of another kind (a larger range, which
// would take the outputs of this batch) waits for the next batch.
func planBatch(blocks []*Block, ranges []int64, now int64, n int) [][]*Block {
	first := planCompaction(blocks, ranges, now)
	if first == nil {
		return nil
	}
	plans := [][]*Block{first}
	kind := planKind(first, ranges)
	rest := blocks
	for len(plans) < max(n, 1) {
		planned := plans[len(plans)-1]
		rest = slices.DeleteFunc(slices.Clone(rest), func(b *Block) bool { return slices.Contains(planned, b) })
		p := planCompaction(rest, ranges, now)
		if p == nil || planKind(p, ranges) != kind {
			break
		}
		plans = append(plans, p)
	}
	return plans
}

// planKind is 0 for a plan of blocks that overlap (a vertical merge), else
// the smallest range with one window holding every block of the plan (the
// level planLevel chose it at).
func planKind(plan []*Block, ranges []int64) int64 {
	if firstOverlap(plan) != nil {
		return 0
	}
	minT, maxT := int64(math.MaxInt64), int64(math.MinInt64)
	for _, b := range plan {
		minT, maxT = min(minT, b.Meta.MinTime), max(maxT, b.Meta.MaxTime)
	}
	for _, r := range ranges {
		if maxT <= windowStart(minT, r)+r {
			return r
		}
	}
	return math.MaxInt64
}

// firstOverlap returns the first run of blocks (sorted by min time) that
// overlap each other, or nil.
func firstOverlap(sorted []*Block) []*Block {
	var (
		cur    []*Block
		curMax int64
	)
	for _, b := range sorted {
		if len(cur) > 0 && b.Meta.MinTime < curMax {
			cur = append(cur, b)
			curMax = max(curMax, b.Meta.MaxTime)
			continue
		}
		if len(cur) > 1 {
			return cur
		}
		cur, curMax = []*Block{b}, b.Meta.MaxTime
	}
	if len(cur) > 1 {
		return cur
	}
	return nil
}

// planLevel returns the blocks of the first complete window of range r
// holding more than one block, or nil. sorted has no overlaps.
func planLevel(sorted []*Block, r, smallest, newest, now int64) []*Block {
	var (
		plan  []*Block
		start int64
	)
	for _, b := range sorted {
		ws := windowStart(b.Meta.MinTime, r)
		if b.Meta.MaxTime > ws+r || span(b) >= r {
			// Crosses the window's end, or already spans it: not part of
			// a compaction at this level.
			continue
		}
		if len(plan) > 0 && ws != start {
			if len(plan) > 1 && windowComplete(start+r, r, smallest, newest, now) {
				return plan
			}
			plan = nil
		}
		if len(plan) == 0 {
			start = ws
		}
		plan = append(plan, b)
	}
	if len(plan) > 1 && windowComplete(start+r, r, smallest, newest, now) {
		return plan
	}
	return nil
}

// windowStart is t rounded down to a multiple of r (also for t < 0).
func windowStart(t, r int64) int64 {
	s := t - t%r
	if t < 0 && t%r != 0 {
		s -= r
	}
	return s
}

// windowComplete reports whether no more blocks are expected in a window
// of range r ending at end (exclusive, ms): the group's newest data (max
// time) reaches into the window's last slot of the smallest range (blocks
// are uploaded once their slot is over, so the window is done; Prometheus'
// blocks end exactly at the slot's end, blocks written by other tools at
// their last sample), or the window ended at least one range before now.
func windowComplete(end, r, smallest, newest, now int64) bool {
	return newest > end-smallest || end <= now-r
}

// isFinal reports whether b, a block of group (its stream and resolution,
// not marked for deletion), will never be compacted further: it is marked
// no-compact, spans the largest range, or sits alone in its complete
// window of the largest range (no other compactable block overlaps that
// window).
func isFinal(b *Block, group []*Block, ranges []int64, now int64) bool {
	if b.NoCompact != nil {
		return true
	}
	largest := ranges[len(ranges)-1]
	if span(b) >= largest {
		return true
	}
	newest := int64(math.MinInt64)
	for _, o := range group {
		newest = max(newest, o.Meta.MaxTime)
	}
	start := windowStart(b.Meta.MinTime, largest)
	end := max(start+largest, b.Meta.MaxTime)
	if !windowComplete(end, largest, ranges[0], newest, now) {
		return false
	}
	for _, o := range group {
		if o == b || o.NoCompact != nil || o.Deletion != nil {
			continue
		}
		if o.Meta.MinTime < end && o.Meta.MaxTime > start {
			return false
		}
	}
	return true
}

// downsampleTask is one block to downsample to resolution.
type downsampleTask struct {
	block      *Block
	resolution int64
}

// planDownsampling returns the blocks of one stream (every resolution,
// none marked for deletion) to downsample from resolution from (raw or
// 5m) to the next one. A block is downsampled when it has no
// no-downsample mark, its data is not yet in a block of the target
// resolution (some of its sources are missing from that resolution's
// sources), and either it spans at least the upstream trigger (40h raw,
// 10d 5m) or it will never be compacted further (isFinal): so raw data
// never reaches retention without a 5m copy.
func planDownsampling(blocks []*Block, from int64, ranges []int64, now int64) []downsampleTask {
	var (
		to      int64
		minSpan int64
	)
	switch from {
	case metadata.ResolutionRaw:
		to, minSpan = metadata.Resolution5m, rawDownsampleSpan
	case metadata.Resolution5m:
		to, minSpan = metadata.Resolution1h, fiveMinDownsampleSpan
	default:
		return nil
	}
	var group []*Block
	covered := map[ulid.ULID]bool{}
	for _, b := range blocks {
		if b.Deletion != nil {
			continue
		}
		switch b.Meta.Thanos.Downsample.Resolution {
		case from:
			group = append(group, b)
		case to:
			addSources(covered, b)
		}
	}
	sortBlocks(group)
	var tasks []downsampleTask
	for _, b := range group {
		if b.NoDownsample != nil || sourcesIn(b, covered) {
			continue
		}
		if span(b) >= minSpan || isFinal(b, group, ranges, now) {
			tasks = append(tasks, downsampleTask{block: b, resolution: to})
		}
	}
	return tasks
}

// sources returns the block's source ULIDs (itself when none are listed).
func sources(b *Block) []ulid.ULID {
	if len(b.Meta.Compaction.Sources) == 0 {
		return []ulid.ULID{b.Meta.ULID}
	}
	return b.Meta.Compaction.Sources
}

func addSources(set map[ulid.ULID]bool, b *Block) {
	for _, s := range sources(b) {
		set[s] = true
	}
}

// sourcesIn reports whether every source of b is in set.
func sourcesIn(b *Block, set map[ulid.ULID]bool) bool {
	for _, s := range sources(b) {
		if !set[s] {
			return false
		}
	}
	return true
}

// planRetention returns the blocks of one stream (every resolution) whose
// max time is before now minus their resolution's retention, split into
// those to mark for deletion and those held back: a raw block is deleted
// only when downsampling is off, it carries a no-downsample mark, or all
// its sources are in 5m or 1h blocks; a 5m block only when downsampling
// is off, it carries a no-downsample mark, or its sources are in 1h
// blocks. now is in ms.
func planRetention(blocks []*Block, ret block.Retention, downsampling bool, now int64) (del, held []*Block) {
	in5m, in1h := map[ulid.ULID]bool{}, map[ulid.ULID]bool{}
	for _, b := range blocks {
		if b.Deletion != nil {
			continue
		}
		switch b.Meta.Thanos.Downsample.Resolution {
		case metadata.Resolution5m:
			addSources(in5m, b)
		case metadata.Resolution1h:
			addSources(in5m, b)
			addSources(in1h, b)
		}
	}
	for _, b := range blocks {
		if b.Deletion != nil {
			continue
		}
		var keep time.Duration
		copies := in1h
		switch b.Meta.Thanos.Downsample.Resolution {
		case metadata.ResolutionRaw:
			keep, copies = ret.Raw, in5m
		case metadata.Resolution5m:
			keep = ret.FiveMinutes
		case metadata.Resolution1h:
			keep, copies = ret.OneHour, nil
		}
		if keep <= 0 || b.Meta.MaxTime >= now-keep.Milliseconds() {
			continue
		}
		if copies == nil || !downsampling || b.NoDownsample != nil || sourcesIn(b, copies) {
			del = append(del, b)
		} else {
			held = append(held, b)
		}
	}
	return del, held
}
