package block_test

import (
	"testing"

	"github.com/oklog/ulid/v2"
	"github.com/prometheus/prometheus/model/labels"
	"github.com/stretchr/testify/require"

	"github.com/strata-io/strata/internal/block"
	"github.com/strata-io/strata/pkg/metadata"
)

func statBlock(id uint64, series, samples, chunks uint64, sizes []int64, lbls map[string]string) *block.Block {
	m := &metadata.Meta{}
	m.ULID = ulid.MustNew(id, nil)
	m.Stats.NumSeries, m.Stats.NumSamples, m.Stats.NumChunks = series, samples, chunks
	m.Thanos.Labels = lbls
	for _, s := range sizes {
		m.Thanos.Files = append(m.Thanos.Files, metadata.File{RelPath: "f", SizeBytes: s})
	}
	return &block.Block{ID: m.ULID, Meta: m}
}

func TestSelectAndSummarize(t *testing.T) {
	eu := statBlock(1, 10, 1000, 20, []int64{100, 24}, map[string]string{"cluster": "eu1", "replica": "0"})
	us := statBlock(2, 5, 0, 5, nil, map[string]string{"cluster": "us1", "replica": "1"})
	partial := &block.Block{ID: ulid.MustNew(3, nil)}
	all := []*block.Block{eu, us, partial}

	require.Equal(t, int64(124), block.Size(eu.Meta))
	require.InDelta(t, 100.0, block.SamplesPerSeries(eu.Meta), 1e-9)
	require.Zero(t, block.SamplesPerSeries(statBlock(4, 0, 0, 0, nil, nil).Meta), "no series, no division by zero")

	require.Equal(t, block.Totals{Blocks: 2, WithoutMeta: 1, Series: 15, Samples: 1000, Chunks: 25, Bytes: 124}, block.Summarize(all))

	require.Equal(t, all, block.Select(all, nil), "no matchers: every block, partial ones too")
	re := labels.MustNewMatcher(labels.MatchRegexp, "cluster", "eu.*|us1")
	notZero := labels.MustNewMatcher(labels.MatchNotEqual, "replica", "0")
	require.Equal(t, []*block.Block{eu, us}, block.Select(all, []*labels.Matcher{re}), "a partial block never matches")
	require.Equal(t, []*block.Block{us}, block.Select(all, []*labels.Matcher{re, notZero}), "every matcher must match")
	require.True(t, block.Matches(us, []*labels.Matcher{labels.MustNewMatcher(labels.MatchEqual, "team", "")}), "a missing label is empty")
}
