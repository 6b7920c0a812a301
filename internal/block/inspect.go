package block

import (
	"github.com/prometheus/prometheus/model/labels"

	"github.com/strata-io/strata/pkg/metadata"
)

// Matches reports whether b has a meta.json whose external labels match
// every matcher; with no matchers every block matches, partial ones too.
func Matches(b *Block, ms []*labels.Matcher) bool {
	if len(ms) == 0 {
		return true
	}
	if b.Meta == nil {
		return false
	}
	for _, m := range ms {
		if !m.Matches(b.Meta.Thanos.Labels[m.Name]) {
			return false
		}
	}
	return true
}

// Select returns the blocks that match every matcher (Matches), in their
// order.
func Select(blocks []*Block, ms []*labels.Matcher) []*Block {
	out := make([]*Block, 0, len(blocks))
	for _, b := range blocks {
		if Matches(b, ms) {
			out = append(out, b)
		}
	}
	return out
}

// Size is the sum of the file sizes meta.json lists, in bytes (0 for a
// meta.json without a file list).
func Size(m *metadata.Meta) int64 {
	var n int64
	for _, f := range m.Thanos.Files {
		n += f.SizeBytes
	}
	return n
}

// SamplesPerSeries is the block's mean number of samples per series (0
// without series).
func SamplesPerSeries(m *metadata.Meta) float64 {
	if m.Stats.NumSeries == 0 {
		return 0
	}
	return float64(m.Stats.NumSamples) / float64(m.Stats.NumSeries)
}

// Totals are the statistics of a set of blocks, from their meta.json.
type Totals struct {
	// Blocks counts the blocks with a meta.json, which the sums cover.
	Blocks int
	// WithoutMeta counts the block directories without a readable
	// meta.json (partial uploads, bad metas).
	WithoutMeta int
	// Series is summed over blocks: a series in two blocks counts twice.
	Series, Samples, Chunks uint64
	// Bytes is the sum of the blocks' Size.
	Bytes int64
}

// Summarize sums the statistics of the blocks that have a meta.json.
func Summarize(blocks []*Block) Totals {
	var t Totals
	for _, b := range blocks {
		if b.Meta == nil {
			t.WithoutMeta++
			continue
		}
		t.Blocks++
		t.Series += b.Meta.Stats.NumSeries
		t.Samples += b.Meta.Stats.NumSamples
		t.Chunks += b.Meta.Stats.NumChunks
		t.Bytes += Size(b.Meta)
	}
	return t
}
