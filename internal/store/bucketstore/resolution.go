package bucketstore

import (
	"errors"
	"fmt"
	"maps"
	"slices"

	"github.com/prometheus/prometheus/tsdb/chunkenc"

	"github.com/strata-io/strata/internal/downsample"
	"github.com/strata-io/strata/pkg/storepb"
)

// Downsampled blocks. A Series request with max_resolution_window > 0 that
// asks for at least one aggregate (COUNT, SUM, MIN, MAX, COUNTER) is served
// from the coarsest blocks allowed, with gaps filled from finer ones (see
// chooseRanges); their chunks go on the wire as AggrChunks holding the
// requested aggregates only (see aggrWireChunk). A request whose aggregates
// are empty or only RAW is served from raw blocks alone, whatever its
// max_resolution_window: such a client cannot read downsampled data, and
// returning aggregate chunks with no aggregate filled would look like data
// without samples.

// resolution returns the block's downsampling resolution in ms (0: raw).
func (b *block) resolution() int64 { return b.meta.Thanos.Downsample.Resolution }

// wantsAggregates tells whether aggrs asks for an aggregate of downsampled
// data (anything but RAW).
func wantsAggregates(aggrs []storepb.Aggr) bool {
	for _, a := range aggrs {
		if a != storepb.Aggr_RAW {
			return true
		}
	}
	return false
}

// validateAggregates reports an aggregate the store does not know.
func validateAggregates(aggrs []storepb.Aggr) error {
	for _, a := range aggrs {
		if a != storepb.Aggr_RAW && !downsample.AggrType(a).Valid() {
			return fmt.Errorf("unknown aggregate %d: use RAW, COUNT, SUM, MIN, MAX or COUNTER", a)
		}
	}
	return nil
}

// timeRange is [0, 1] in ms, inclusive.
type timeRange [2]int64

// chooseRanges decides which blocks serve which part of [mint, maxt] (ms,
// inclusive). Per stream (external label set), resolutions are visited from
// the coarsest to raw; a block serves the parts of its time range within
// [mint, maxt] that no block of a coarser resolution of the same stream
// covers. Blocks of one resolution may overlap each other: each serves its
// whole uncovered range, as raw blocks always did. Blocks absent from the
// result serve nothing. The ranges of a block are sorted and disjoint.
func chooseRanges(blocks []*block, mint, maxt int64) map[*block][]timeRange {
	streams := map[string][]*block{}
	for _, b := range blocks {
		k := b.ext.String()
		streams[k] = append(streams[k], b)
	}
	out := make(map[*block][]timeRange, len(blocks))
	for _, bs := range streams {
		byRes := map[int64][]*block{}
		for _, b := range bs {
			byRes[b.resolution()] = append(byRes[b.resolution()], b)
		}
		var covered []timeRange // sorted, disjoint
		for _, res := range slices.Backward(slices.Sorted(maps.Keys(byRes))) {
			var level []timeRange
			for _, b := range byRes[res] {
				r := timeRange{max(mint, b.meta.MinTime), min(maxt, b.meta.MaxTime-1)}
				if r[0] > r[1] {
					continue
				}
				if free := subtractRanges(r, covered); len(free) > 0 {
					out[b] = free
				}
				level = append(level, r)
			}
			covered = mergeRanges(append(covered, level...))
		}
	}
	return out
}

// subtractRanges returns the parts of r that no range of covered (sorted,
// disjoint) holds.
func subtractRanges(r timeRange, covered []timeRange) []timeRange {
	var out []timeRange
	lo := r[0]
	for _, c := range covered {
		if c[1] < lo {
			continue
		}
		if c[0] > r[1] {
			break
		}
		if c[0] > lo {
			out = append(out, timeRange{lo, c[0] - 1})
		}
		if c[1] >= r[1] {
			return out
		}
		lo = c[1] + 1
	}
	return append(out, timeRange{lo, r[1]})
}

// mergeRanges sorts rs and merges overlapping and adjacent ranges.
func mergeRanges(rs []timeRange) []timeRange {
	slices.SortFunc(rs, func(a, b timeRange) int { return cmpInt64(a[0], b[0]) })
	var out []timeRange
	for _, r := range rs {
		if l := len(out) - 1; l >= 0 && r[0] <= out[l][1]+1 {
			out[l][1] = max(out[l][1], r[1])
			continue
		}
		out = append(out, r)
	}
	return out
}

// overlapsAny tells whether [mint, maxt] overlaps one of rs.
func overlapsAny(rs []timeRange, mint, maxt int64) bool {
	for _, r := range rs {
		if mint <= r[1] && r[0] <= maxt {
			return true
		}
	}
	return false
}

// aggrWireChunk converts an aggregate chunk (encoding 0xff) of [mint, maxt]
// (ms, inclusive) to a wire chunk holding the aggregates aggrs asks for;
// RAW is ignored, and an aggregate the chunk lacks is left nil. Aggregates
// in XOR2 are re-encoded to XOR.
func aggrWireChunk(ac downsample.AggrChunk, mint, maxt int64, aggrs []storepb.Aggr) (*storepb.AggrChunk, error) {
	out := &storepb.AggrChunk{MinTime: mint, MaxTime: maxt}
	for _, a := range aggrs {
		if a == storepb.Aggr_RAW {
			continue
		}
		chk, err := ac.Get(downsample.AggrType(a))
		if errors.Is(err, downsample.ErrAbsent) {
			continue
		}
		if err != nil {
			return nil, fmt.Errorf("aggregate chunk [%d, %d]: %w", mint, maxt, err)
		}
		wc, err := floatWireChunk(chk)
		if err != nil {
			return nil, fmt.Errorf("aggregate chunk [%d, %d], %s: %w", mint, maxt, downsample.AggrType(a), err)
		}
		switch a {
		case storepb.Aggr_COUNT:
			out.Count = wc
		case storepb.Aggr_SUM:
			out.Sum = wc
		case storepb.Aggr_MIN:
			out.Min = wc
		case storepb.Aggr_MAX:
			out.Max = wc
		case storepb.Aggr_COUNTER:
			out.Counter = wc
		}
	}
	return out, nil
}

// floatWireChunk returns a float chunk as a wire chunk: XOR as it is,
// other encodings (XOR2) re-encoded to XOR.
func floatWireChunk(chk chunkenc.Chunk) (*storepb.Chunk, error) {
	if enc, ok := storepb.WireEncoding(chk.Encoding()); ok {
		return &storepb.Chunk{Type: enc, Data: chk.Bytes()}, nil
	}
	re, err := storepb.Reencode(chk)
	if err != nil {
		return nil, fmt.Errorf("re-encode %s: %w", chk.Encoding(), err)
	}
	if len(re) != 1 || re[0].GetRaw() == nil {
		return nil, fmt.Errorf("re-encode %s: got %d chunks, want one float chunk", chk.Encoding(), len(re))
	}
	return re[0].GetRaw(), nil
}
