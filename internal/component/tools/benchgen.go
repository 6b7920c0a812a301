package tools

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"os"
	"path/filepath"
	"regexp"
	"strings"
	"time"

	"github.com/alecthomas/kingpin/v2"
	"github.com/oklog/ulid/v2"
	"github.com/prometheus/client_golang/prometheus"
	"github.com/prometheus/prometheus/model/labels"
	"github.com/thanos-io/objstore"

	"github.com/strata-io/strata/bench/datagen"
	"github.com/strata-io/strata/internal/flagutil"
	strataobjstore "github.com/strata-io/strata/internal/objstore"
	"github.com/strata-io/strata/pkg/metadata"
)

// BenchGenSource is the thanos.source of the blocks `strata tools bench gen`
// uploads.
const BenchGenSource metadata.SourceType = "bench.gen"

// BenchGenConfig is the configuration of `strata tools bench gen`.
type BenchGenConfig struct {
	Objstore strataobjstore.Flags

	// Series is the approximate number of series (rounded up to whole pods
	// of datagen.SeriesPerPod series).
	Series int
	// Duration is how far back from End the data goes (whole 2h blocks).
	Duration time.Duration
	// Interval is the time between two samples of a series.
	Interval time.Duration
	// Labels are the external labels as name=value pairs, written into the
	// thanos section of every meta.json.
	Labels []string
	// OutDir, when set, keeps the generated blocks there (a TSDB data
	// directory that a Prometheus can serve); otherwise they are written to
	// a temporary directory and removed once uploaded.
	OutDir string
	// End is the end of the data (rounded down to a 2h boundary); empty means now.
	End *flagutil.TimeOrDuration
	// Seed seeds the value generator: equal flags give equal data.
	Seed uint64
}

// RegisterFlags adds the flags of `strata tools bench gen` to cmd.
func (c *BenchGenConfig) RegisterFlags(cmd *kingpin.CmdClause) {
	c.Objstore.RegisterFlags(cmd)
	def := datagen.DefaultConfig()
	cmd.Flag("series", fmt.Sprintf("Approximate number of series (rounded up to pods of %d series).", datagen.SeriesPerPod)).
		Default(fmt.Sprint(def.Series)).IntVar(&c.Series)
	cmd.Flag("duration", "Time range of the data, ending at --end (rounded up to whole 2h blocks).").
		Default(def.Duration.String()).DurationVar(&c.Duration)
	cmd.Flag("interval", "Time between two samples of a series.").
		Default(def.Interval.String()).DurationVar(&c.Interval)
	cmd.Flag("label", "External label name=value of the blocks' producer (repeat for several), e.g. --label=cluster=bench --label=replica=0. At least one.").
		PlaceHolder("name=value").StringsVar(&c.Labels)
	cmd.Flag("out-dir", "Also keep the blocks in this directory (a TSDB data dir a Prometheus can serve). It must hold no blocks yet. Default: a temp dir, removed.").
		StringVar(&c.OutDir)
	c.End = flagutil.NewTimeOrDuration(cmd, "end",
		"End of the data, rounded down to a 2h boundary: RFC 3339 or relative to now (-1d). Default: now.", "")
	cmd.Flag("seed", "Seed of the value generator: the same flags give the same data.").
		Default("1").Uint64Var(&c.Seed)
}

// labelNameRE matches a label name Prometheus accepts in any validation mode.
var labelNameRE = regexp.MustCompile(`^[a-zA-Z_][a-zA-Z0-9_]*$`)

// ParseLabels turns name=value pairs into labels, rejecting malformed pairs,
// invalid or reserved (__*) names, empty values and repeated names.
func ParseLabels(pairs []string) (labels.Labels, error) {
	if len(pairs) == 0 {
		return labels.EmptyLabels(), errors.New("set at least one --label=name=value: every block in a bucket carries the external labels of its producer (e.g. --label=cluster=bench --label=replica=0)")
	}
	b := labels.NewScratchBuilder(len(pairs))
	seen := map[string]bool{}
	for _, p := range pairs {
		name, value, ok := strings.Cut(p, "=")
		switch {
		case !ok:
			return labels.EmptyLabels(), fmt.Errorf("--label=%s: want name=value, e.g. --label=cluster=bench", p)
		case !labelNameRE.MatchString(name) || strings.HasPrefix(name, "__"):
			return labels.EmptyLabels(), fmt.Errorf("--label=%s: %q is not a valid label name (letters, digits and _, not starting with a digit or __)", p, name)
		case value == "":
			return labels.EmptyLabels(), fmt.Errorf("--label=%s: the value is empty; give %s=<value>", p, name)
		case seen[name]:
			return labels.EmptyLabels(), fmt.Errorf("--label=%s: label %q is given twice; give each name once", p, name)
		}
		seen[name] = true
		b.Add(name, value)
	}
	b.Sort()
	return b.Labels(), nil
}

// genConfig is the data part of the configuration, checked and parsed.
func (c *BenchGenConfig) genConfig(now time.Time) (datagen.Config, labels.Labels, error) {
	ls, err := ParseLabels(c.Labels)
	if err != nil {
		return datagen.Config{}, ls, err
	}
	end := now
	if c.End != nil {
		end = time.UnixMilli(c.End.Millis(now, now.UnixMilli()))
	}
	dc := datagen.Config{Series: c.Series, End: end, Duration: c.Duration, Interval: c.Interval, Seed: c.Seed}
	if err := dc.Validate(); err != nil {
		return dc, ls, fmt.Errorf("check --series, --duration and --interval: %w", err)
	}
	return dc, ls, nil
}

// Validate checks the configuration and says what to fix.
func (c *BenchGenConfig) Validate() error {
	if !c.Objstore.IsSet() {
		return errors.New("bench gen uploads to a bucket: set --objstore.config-file or --objstore.config")
	}
	_, _, err := c.genConfig(time.Now())
	return err
}

// RunBenchGen checks the configuration and the bucket, generates the blocks
// and uploads them. Bucket metrics go to reg (may be nil).
func RunBenchGen(ctx context.Context, cfg BenchGenConfig, logger *slog.Logger, reg prometheus.Registerer) (datagen.Stats, error) {
	if logger == nil {
		logger = slog.New(slog.DiscardHandler)
	}
	if err := cfg.Validate(); err != nil {
		return datagen.Stats{}, err
	}
	dc, ls, err := cfg.genConfig(time.Now())
	if err != nil {
		return datagen.Stats{}, err
	}
	bkt, err := cfg.Objstore.Open(ctx, logger, reg, "tools")
	if err != nil {
		return datagen.Stats{}, err
	}
	defer func() { _ = bkt.Close() }()
	return GenerateBucket(ctx, bkt, dc, ls, cfg.OutDir, logger)
}

// GenerateBucket writes the dataset dc describes as 2h blocks and uploads
// each, as soon as it is written, to bkt with the external labels extLabels
// and source BenchGenSource, logging one line per block. With outDir empty
// the blocks are written to a temporary directory and deleted once
// uploaded; otherwise they stay in outDir, which must hold no blocks yet.
// Blocks already uploaded stay in the bucket when it fails midway.
func GenerateBucket(ctx context.Context, bkt objstore.Bucket, dc datagen.Config, extLabels labels.Labels, outDir string, logger *slog.Logger) (datagen.Stats, error) {
	if logger == nil {
		logger = slog.New(slog.DiscardHandler)
	}
	if extLabels.IsEmpty() {
		return datagen.Stats{}, errors.New("generated blocks need external labels")
	}
	dir, keep := outDir, outDir != ""
	if keep {
		if err := checkNoBlocks(dir); err != nil {
			return datagen.Stats{}, err
		}
	} else {
		var err error
		if dir, err = os.MkdirTemp("", "strata-bench-gen-"); err != nil {
			return datagen.Stats{}, fmt.Errorf("create temp dir for blocks: %w", err)
		}
		defer func() { _ = os.RemoveAll(dir) }()
	}

	start := time.Now()
	uploaded := 0
	upload := func(ctx context.Context, b datagen.Block) error {
		meta, err := metadata.ReadFromDir(b.Dir)
		if err != nil {
			return fmt.Errorf("read generated block: %w", err)
		}
		meta.Thanos.SetLabels(extLabels)
		meta.Thanos.Source = BenchGenSource
		meta.Thanos.Downsample.Resolution = metadata.ResolutionRaw
		if err := metadata.Upload(ctx, logger, bkt, b.Dir, meta); err != nil {
			return err
		}
		uploaded++
		logger.Info("block uploaded", "block", b.ID, "n", fmt.Sprintf("%d/%d", b.Index, b.Total),
			"series", b.Series, "samples", b.Samples,
			"min_time", time.UnixMilli(b.MinTime).UTC().Format(time.RFC3339), "elapsed", time.Since(start).Round(time.Millisecond))
		if !keep {
			if err := os.RemoveAll(b.Dir); err != nil {
				return fmt.Errorf("remove uploaded block: %w", err)
			}
		}
		return nil
	}
	// The block writer logs one info line per block; ours says more.
	quiet := slog.New(discardBelow{logger.Handler(), slog.LevelWarn})
	st, err := datagen.GenerateBlocks(ctx, dir, dc, quiet, upload)
	if err != nil {
		return st, fmt.Errorf("generate bucket (%d blocks uploaded): %w", uploaded, err)
	}
	logger.Info("bucket generated", "blocks", st.Blocks, "series", st.Series, "samples", st.Samples,
		"labels", extLabels.String(), "took", time.Since(start).Round(time.Millisecond))
	return st, nil
}

// checkNoBlocks refuses a directory that already holds TSDB blocks: the new
// ones would overlap them.
func checkNoBlocks(dir string) error {
	entries, err := os.ReadDir(dir)
	if errors.Is(err, os.ErrNotExist) {
		return nil
	}
	if err != nil {
		return fmt.Errorf("--out-dir: %w", err)
	}
	for _, e := range entries {
		if _, perr := ulid.ParseStrict(e.Name()); perr == nil && e.IsDir() {
			if _, err := os.Stat(filepath.Join(dir, e.Name(), metadata.MetaFilename)); err == nil {
				return fmt.Errorf("--out-dir %s already holds block %s: give an empty or new directory", dir, e.Name())
			}
		}
	}
	return nil
}

// discardBelow is a slog handler that drops records below a level.
type discardBelow struct {
	slog.Handler
	min slog.Level
}

func (d discardBelow) Enabled(ctx context.Context, l slog.Level) bool {
	return l >= d.min && d.Handler.Enabled(ctx, l)
}

func (d discardBelow) WithAttrs(a []slog.Attr) slog.Handler {
	return discardBelow{d.Handler.WithAttrs(a), d.min}
}

func (d discardBelow) WithGroup(name string) slog.Handler {
	return discardBelow{d.Handler.WithGroup(name), d.min}
}
