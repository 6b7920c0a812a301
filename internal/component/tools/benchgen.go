package tools

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"regexp"
	"strings"
	"time"

	"github.com/alecthomas/kingpin/v2"
	"github.com/prometheus/client_golang/prometheus"
	"github.com/prometheus/prometheus/model/labels"

	"github.com/strata-io/strata/internal/datagen"
	"github.com/strata-io/strata/internal/flagutil"
	strataobjstore "github.com/strata-io/strata/internal/objstore"
)

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
	if cfg.OutDir != "" {
		if err := datagen.CheckNoBlocks(cfg.OutDir); err != nil {
			return datagen.Stats{}, fmt.Errorf("--out-dir: %w", err)
		}
	}
	bkt, err := cfg.Objstore.Open(ctx, logger, reg, "tools")
	if err != nil {
		return datagen.Stats{}, err
	}
	defer func() { _ = bkt.Close() }()
	return datagen.GenerateBucket(ctx, bkt, dc, ls, cfg.OutDir, logger)
}
