package tools

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"strconv"
	"strings"
	"text/tabwriter"
	"time"

	"github.com/alecthomas/kingpin/v2"
	"github.com/prometheus/prometheus/model/labels"
	"github.com/thanos-io/objstore"

	"github.com/strata-io/strata/internal/block"
	"github.com/strata-io/strata/pkg/metadata"
)

// Output formats of `tools bucket ls`.
const (
	OutputTable = "table"
	OutputWide  = "wide"
	OutputJSON  = "json"
)

// BucketLsConfig holds the flags of `tools bucket ls`.
type BucketLsConfig struct {
	// Output is OutputTable, OutputWide or OutputJSON.
	Output string
	// Selectors are label matchers (name=value, !=, =~, !~) on the
	// blocks' external labels.
	Selectors []string
}

// RegisterFlags adds the flags of `ls` to cmd.
func (c *BucketLsConfig) RegisterFlags(cmd *kingpin.CmdClause) {
	cmd.Flag("output", "Output format: table, wide (more columns) or json (meta.json and markers of each block).").
		Short('o').Default(OutputTable).EnumVar(&c.Output, OutputTable, OutputWide, OutputJSON)
	registerSelector(cmd, &c.Selectors)
}

// Validate checks the flags and says what to fix.
func (c *BucketLsConfig) Validate() error {
	_, err := parseSelectors(c.Selectors)
	return err
}

func registerSelector(cmd *kingpin.CmdClause, dst *[]string) {
	cmd.Flag("selector", "Only blocks whose external labels match: name=value, name!=value, name=~regex or name!~regex (repeatable; all must match). Partial blocks never match.").
		PlaceHolder("<name=value>").StringsVar(dst)
}

// parseSelectors parses --selector values (name=value, name!=value,
// name=~regex, name!~regex; the value may be double-quoted) into label
// matchers.
func parseSelectors(sels []string) ([]*labels.Matcher, error) {
	var out []*labels.Matcher
	for _, s := range sels {
		m, err := parseSelector(s)
		if err != nil {
			return nil, fmt.Errorf("--selector=%s: %w; want name=value, name!=value, name=~regex or name!~regex, e.g. --selector=cluster=eu1", s, err)
		}
		out = append(out, m)
	}
	return out, nil
}

func parseSelector(s string) (*labels.Matcher, error) {
	// The first operator character splits name and operator.
	i := strings.IndexAny(s, "=!")
	if i <= 0 {
		return nil, errors.New("no label name before the operator")
	}
	name, rest := strings.TrimSpace(s[:i]), s[i:]
	var typ labels.MatchType
	switch {
	case strings.HasPrefix(rest, "=~"):
		typ, rest = labels.MatchRegexp, rest[2:]
	case strings.HasPrefix(rest, "!~"):
		typ, rest = labels.MatchNotRegexp, rest[2:]
	case strings.HasPrefix(rest, "!="):
		typ, rest = labels.MatchNotEqual, rest[2:]
	case strings.HasPrefix(rest, "="):
		typ, rest = labels.MatchEqual, rest[1:]
	default:
		return nil, errors.New("no operator")
	}
	if !labelNameRE.MatchString(name) {
		return nil, fmt.Errorf("%q is not a valid label name", name)
	}
	if len(rest) >= 2 && rest[0] == '"' {
		v, err := strconv.Unquote(rest)
		if err != nil {
			return nil, fmt.Errorf("bad quoted value %s: %w", rest, err)
		}
		rest = v
	}
	return labels.NewMatcher(typ, name, rest)
}

// listBlocks lists bkt with progress on stderr and keeps the blocks the
// selectors match, sorted by block.SortBlocks.
func listBlocks(ctx context.Context, bkt objstore.BucketReader, selectors []string, stderr io.Writer) ([]*block.Block, error) {
	ms, err := parseSelectors(selectors)
	if err != nil {
		return nil, err
	}
	p := newProgress(stderr, "reading block directories")
	inv := block.NewInventory(bkt, block.Config{Progress: func(done, total int) { p.update(done, total, "") }})
	blocks, err := inv.Scan(ctx)
	if err != nil {
		if ctx.Err() != nil {
			return nil, ctx.Err()
		}
		return nil, fmt.Errorf("list blocks in the bucket: %w", err)
	}
	out := block.Select(blocks, ms)
	block.SortBlocks(out)
	return out, nil
}

// lsJSON is one block in `ls -o json`.
type lsJSON struct {
	ULID string `json:"ulid"`
	// Partial is true for a directory without meta.json.
	Partial bool           `json:"partial,omitempty"`
	Error   string         `json:"error,omitempty"`
	Meta    *metadata.Meta `json:"meta,omitempty"`
	Markers struct {
		Deletion     *metadata.DeletionMark     `json:"deletion,omitempty"`
		NoCompact    *metadata.NoCompactMark    `json:"noCompact,omitempty"`
		NoDownsample *metadata.NoDownsampleMark `json:"noDownsample,omitempty"`
	} `json:"markers"`
}

func runLs(ctx context.Context, bkt objstore.BucketReader, cfg BucketLsConfig, deps BucketDeps) error {
	blocks, err := listBlocks(ctx, bkt, cfg.Selectors, deps.stderr())
	if err != nil {
		return err
	}
	out := deps.stdout()
	if cfg.Output == OutputJSON {
		list := make([]lsJSON, 0, len(blocks))
		for _, b := range blocks {
			j := lsJSON{ULID: b.ID.String(), Partial: b.Partial(), Meta: b.Meta}
			if b.MetaErr != nil {
				j.Error = b.MetaErr.Error()
			}
			j.Markers.Deletion, j.Markers.NoCompact, j.Markers.NoDownsample = b.Deletion, b.NoCompact, b.NoDownsample
			list = append(list, j)
		}
		enc := json.NewEncoder(out)
		enc.SetIndent("", "  ")
		return enc.Encode(list)
	}
	wide := cfg.Output == OutputWide
	tw := tabwriter.NewWriter(out, 0, 0, 2, ' ', 0)
	head := []string{"ULID", "FROM", "TO", "DURATION", "RES", "LEVEL", "SERIES", "SAMPLES", "CHUNKS", "SOURCE", "MARKERS", "LABELS"}
	if wide {
		head = append(head[:len(head)-1], "SIZE", "FILES", "UPLOADED", "SOURCES", "LABELS")
	}
	writeRow(tw, head...)
	for _, b := range blocks {
		if b.Meta == nil {
			row := []string{b.ID.String(), "-", "-", "-", "-", "-", "-", "-", "-", "-", partialState(b), "-"}
			if wide {
				row = append(row[:len(row)-1], "-", strconv.Itoa(len(b.Objects)), "-", "-", "-")
			}
			writeRow(tw, row...)
			continue
		}
		m := b.Meta
		row := []string{
			b.ID.String(), block.FormatTime(m.MinTime), block.FormatTime(m.MaxTime), block.FormatDuration(m.MaxTime - m.MinTime),
			metadata.ResolutionName(m.Thanos.Downsample.Resolution), strconv.Itoa(m.Compaction.Level),
			fmtCount(m.Stats.NumSeries), fmtCount(m.Stats.NumSamples), fmtCount(m.Stats.NumChunks),
			string(m.Thanos.Source), fmtMarkers(b), m.Thanos.LabelSet().String(),
		}
		if wide {
			uploaded := "-"
			if !m.Thanos.UploadTime.IsZero() {
				uploaded = m.Thanos.UploadTime.UTC().Format(time.RFC3339)
			}
			row = append(row[:len(row)-1], fmtBytes(block.Size(m)), strconv.Itoa(len(b.Objects)), uploaded,
				strconv.Itoa(len(m.Compaction.Sources)), m.Thanos.LabelSet().String())
		}
		writeRow(tw, row...)
	}
	return tw.Flush()
}

// partialState describes a block directory without a readable meta.json.
func partialState(b *block.Block) string {
	switch {
	case b.MetaErr != nil:
		return "bad-meta.json"
	case b.Deletion != nil:
		return "partial(deleting)"
	default:
		return "partial"
	}
}

func writeRow(w io.Writer, cols ...string) {
	_, _ = fmt.Fprintln(w, strings.Join(cols, "\t"))
}

func fmtCount(n uint64) string { return strconv.FormatUint(n, 10) }

// fmtMarkers lists the markers' short names: deletion, no-compact,
// no-downsample; "-" for none.
func fmtMarkers(b *block.Block) string {
	var names []string
	for _, n := range b.MarkerNames() {
		names = append(names, strings.TrimSuffix(n, "-mark.json"))
	}
	if len(names) == 0 {
		return "-"
	}
	return strings.Join(names, ",")
}

// fmtBytes formats n bytes with a binary unit (KiB, MiB, GiB).
func fmtBytes(n int64) string {
	const unit = 1024
	if n < unit {
		return strconv.FormatInt(n, 10) + "B"
	}
	div, exp := int64(unit), 0
	for m := n / unit; m >= unit; m /= unit {
		div *= unit
		exp++
	}
	return fmt.Sprintf("%.1f%ciB", float64(n)/float64(div), "KMGTPE"[exp])
}
