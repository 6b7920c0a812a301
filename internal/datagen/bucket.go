package datagen

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"os"
	"path/filepath"
	"time"

	"github.com/oklog/ulid/v2"
	"github.com/prometheus/prometheus/model/labels"
	"github.com/thanos-io/objstore"

	"github.com/strata-io/strata/pkg/metadata"
)

// Source is the thanos.source of the blocks GenerateBucket uploads.
const Source metadata.SourceType = "bench.gen"

// GenerateBucket writes the dataset dc describes as 2h blocks and uploads
// each, as soon as it is written, to bkt with the external labels extLabels
// and source Source, logging one line per block. With outDir empty the
// blocks are written to a temporary directory and deleted once uploaded;
// otherwise they stay in outDir, which must hold no blocks yet (see
// CheckNoBlocks). Blocks already uploaded stay in the bucket when it fails
// midway.
func GenerateBucket(ctx context.Context, bkt objstore.Bucket, dc Config, extLabels labels.Labels, outDir string, logger *slog.Logger) (Stats, error) {
	if logger == nil {
		logger = slog.New(slog.DiscardHandler)
	}
	if extLabels.IsEmpty() {
		return Stats{}, errors.New("generated blocks need external labels")
	}
	dir, keep := outDir, outDir != ""
	if keep {
		if err := CheckNoBlocks(dir); err != nil {
			return Stats{}, err
		}
	} else {
		var err error
		if dir, err = os.MkdirTemp("", "strata-bench-gen-"); err != nil {
			return Stats{}, fmt.Errorf("create temp dir for blocks: %w", err)
		}
		defer func() { _ = os.RemoveAll(dir) }()
	}

	start := time.Now()
	uploaded := 0
	upload := func(ctx context.Context, b Block) error {
		meta, err := metadata.ReadFromDir(b.Dir)
		if err != nil {
			return fmt.Errorf("read generated block: %w", err)
		}
		meta.Thanos.SetLabels(extLabels)
		meta.Thanos.Source = Source
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
	st, err := GenerateBlocks(ctx, dir, dc, quiet, upload)
	if err != nil {
		return st, fmt.Errorf("generate bucket (%d blocks uploaded): %w", uploaded, err)
	}
	logger.Info("bucket generated", "blocks", st.Blocks, "series", st.Series, "samples", st.Samples,
		"labels", extLabels.String(), "took", time.Since(start).Round(time.Millisecond))
	return st, nil
}

// CheckNoBlocks refuses a directory that already holds TSDB blocks: new
// ones written there would overlap them. A missing directory is fine.
func CheckNoBlocks(dir string) error {
	entries, err := os.ReadDir(dir)
	if errors.Is(err, os.ErrNotExist) {
		return nil
	}
	if err != nil {
		return err
	}
	for _, e := range entries {
		if _, perr := ulid.ParseStrict(e.Name()); perr == nil && e.IsDir() {
			if _, err := os.Stat(filepath.Join(dir, e.Name(), metadata.MetaFilename)); err == nil {
				return fmt.Errorf("%s already holds block %s: give an empty or new directory", dir, e.Name())
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
