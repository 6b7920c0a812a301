package tools

import (
	"cmp"
	"context"
	"fmt"
	"slices"
	"strconv"
	"strings"
	"text/tabwriter"

	"github.com/alecthomas/kingpin/v2"
	"github.com/thanos-io/objstore"

	"github.com/strata-io/strata/internal/block"
	"github.com/strata-io/strata/pkg/metadata"
)

// BucketInspectConfig holds the flags of `tools bucket inspect`.
type BucketInspectConfig struct {
	// Selectors are label matchers on the blocks' external labels.
	Selectors []string
	// SortBy are column names (inspectColumns), a leading '-' for
	// descending order; ties keep the order of the next column.
	SortBy []string
}

// inspectColumn is one column of the inspect table and how to sort by it.
type inspectColumn struct {
	name string
	cell func(m *metadata.Meta, b *block.Block) string
	less func(a, b *metadata.Meta) int
}

func num[T cmp.Ordered](f func(m *metadata.Meta) T) func(a, b *metadata.Meta) int {
	return func(a, b *metadata.Meta) int { return cmp.Compare(f(a), f(b)) }
}

var inspectColumns = []inspectColumn{
	{"ULID", func(m *metadata.Meta, _ *block.Block) string { return m.ULID.String() },
		func(a, b *metadata.Meta) int { return a.ULID.Compare(b.ULID) }},
	{"FROM", func(m *metadata.Meta, _ *block.Block) string { return block.FormatTime(m.MinTime) }, num(func(m *metadata.Meta) int64 { return m.MinTime })},
	{"UNTIL", func(m *metadata.Meta, _ *block.Block) string { return block.FormatTime(m.MaxTime) }, num(func(m *metadata.Meta) int64 { return m.MaxTime })},
	{"RANGE", func(m *metadata.Meta, _ *block.Block) string { return block.FormatDuration(m.MaxTime - m.MinTime) },
		num(func(m *metadata.Meta) int64 { return m.MaxTime - m.MinTime })},
	{"RES", func(m *metadata.Meta, _ *block.Block) string {
		return metadata.ResolutionName(m.Thanos.Downsample.Resolution)
	},
		num(func(m *metadata.Meta) int64 { return m.Thanos.Downsample.Resolution })},
	{"LEVEL", func(m *metadata.Meta, _ *block.Block) string { return strconv.Itoa(m.Compaction.Level) },
		num(func(m *metadata.Meta) int { return m.Compaction.Level })},
	{"SERIES", func(m *metadata.Meta, _ *block.Block) string { return fmtCount(m.Stats.NumSeries) },
		num(func(m *metadata.Meta) uint64 { return m.Stats.NumSeries })},
	{"SAMPLES", func(m *metadata.Meta, _ *block.Block) string { return fmtCount(m.Stats.NumSamples) },
		num(func(m *metadata.Meta) uint64 { return m.Stats.NumSamples })},
	{"CHUNKS", func(m *metadata.Meta, _ *block.Block) string { return fmtCount(m.Stats.NumChunks) },
		num(func(m *metadata.Meta) uint64 { return m.Stats.NumChunks })},
	{"SAMPLES/SERIES", func(m *metadata.Meta, _ *block.Block) string {
		return strconv.FormatFloat(block.SamplesPerSeries(m), 'f', 1, 64)
	},
		num(block.SamplesPerSeries)},
	{"SIZE", func(m *metadata.Meta, _ *block.Block) string { return fmtBytes(block.Size(m)) }, num(block.Size)},
	{"SOURCE", func(m *metadata.Meta, _ *block.Block) string { return string(m.Thanos.Source) },
		num(func(m *metadata.Meta) string { return string(m.Thanos.Source) })},
	{"MARKERS", func(_ *metadata.Meta, b *block.Block) string { return fmtMarkers(b) }, nil},
	{"LABELS", func(m *metadata.Meta, _ *block.Block) string { return m.Thanos.LabelSet().String() },
		num(func(m *metadata.Meta) string { return m.Thanos.LabelSet().String() })},
}

func sortableColumns() []string {
	var out []string
	for _, c := range inspectColumns {
		if c.less != nil {
			out = append(out, c.name)
		}
	}
	return out
}

// RegisterFlags adds the flags of `inspect` to cmd.
func (c *BucketInspectConfig) RegisterFlags(cmd *kingpin.CmdClause) {
	registerSelector(cmd, &c.Selectors)
	cmd.Flag("sort-by", "Sort by these columns, in order (repeatable; case-insensitive; prefix - for descending): "+strings.Join(sortableColumns(), ", ")+".").
		Default("LABELS", "FROM").StringsVar(&c.SortBy)
}

// Validate checks the flags and says what to fix.
func (c *BucketInspectConfig) Validate() error {
	if _, err := parseSelectors(c.Selectors); err != nil {
		return err
	}
	_, err := c.sorter()
	return err
}

// sorter returns the comparison --sort-by asks for.
func (c *BucketInspectConfig) sorter() (func(a, b *metadata.Meta) int, error) {
	var fns []func(a, b *metadata.Meta) int
	for _, s := range c.SortBy {
		name, desc := strings.CutPrefix(strings.ToUpper(strings.TrimSpace(s)), "-")
		i := slices.IndexFunc(inspectColumns, func(c inspectColumn) bool { return c.name == name && c.less != nil })
		if i < 0 {
			return nil, fmt.Errorf("--sort-by=%s: unknown column; want one of %s", s, strings.Join(sortableColumns(), ", "))
		}
		f := inspectColumns[i].less
		if desc {
			fns = append(fns, func(a, b *metadata.Meta) int { return -f(a, b) })
		} else {
			fns = append(fns, f)
		}
	}
	return func(a, b *metadata.Meta) int {
		for _, f := range fns {
			if c := f(a, b); c != 0 {
				return c
			}
		}
		return a.ULID.Compare(b.ULID)
	}, nil
}

// runInspect prints the statistics of the selected blocks as a table
// sorted by --sort-by, and their totals (block.Summarize).
func runInspect(ctx context.Context, bkt objstore.BucketReader, cfg BucketInspectConfig, deps BucketDeps) error {
	less, err := cfg.sorter()
	if err != nil {
		return err
	}
	blocks, err := listBlocks(ctx, bkt, cfg.Selectors, deps.stderr())
	if err != nil {
		return err
	}
	withMeta := make([]*block.Block, 0, len(blocks))
	for _, b := range blocks {
		if b.Meta != nil {
			withMeta = append(withMeta, b)
		}
	}
	slices.SortStableFunc(withMeta, func(a, b *block.Block) int { return less(a.Meta, b.Meta) })

	tw := tabwriter.NewWriter(deps.stdout(), 0, 0, 2, ' ', 0)
	head := make([]string, len(inspectColumns))
	for i, c := range inspectColumns {
		head[i] = c.name
	}
	writeRow(tw, head...)
	for _, b := range withMeta {
		row := make([]string, len(inspectColumns))
		for i, c := range inspectColumns {
			row[i] = c.cell(b.Meta, b)
		}
		writeRow(tw, row...)
	}
	if err := tw.Flush(); err != nil {
		return err
	}
	t := block.Summarize(blocks)
	out := deps.stdout()
	_, _ = fmt.Fprintf(out, "\n%d blocks: %d series (summed over blocks), %d samples, %d chunks, %s\n",
		t.Blocks, t.Series, t.Samples, t.Chunks, fmtBytes(t.Bytes))
	if t.WithoutMeta > 0 {
		_, _ = fmt.Fprintf(out, "%d block directories without a readable meta.json are not shown: see `strata tools bucket verify`\n", t.WithoutMeta)
	}
	return nil
}
