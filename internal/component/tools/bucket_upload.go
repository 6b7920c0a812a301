package tools

import (
	"context"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"os"

	"github.com/alecthomas/kingpin/v2"
	"github.com/thanos-io/objstore"

	"github.com/strata-io/strata/internal/block"
)

// BucketUploadConfig holds the flags of `tools bucket upload-blocks` (the
// upload is block.UploadLocal's).
type BucketUploadConfig struct {
	// Path is a TSDB data directory (holding block directories) or one
	// block directory.
	Path string
	// Labels are name=value external labels set on every uploaded block,
	// over those a block's meta.json already has.
	Labels []string
}

// RegisterFlags adds the flags of `upload-blocks` to cmd.
func (c *BucketUploadConfig) RegisterFlags(cmd *kingpin.CmdClause) {
	cmd.Flag("path", "A TSDB data directory (e.g. Prometheus' --storage.tsdb.path) whose blocks to upload, or one block directory.").
		Required().PlaceHolder("<dir>").StringVar(&c.Path)
	cmd.Flag("label", "External label name=value of the blocks' stream (repeatable). Required unless every block's meta.json already has a thanos section with labels; given labels replace those of the same name.").
		PlaceHolder("<name=value>").StringsVar(&c.Labels)
}

// Validate checks the flags and says what to fix.
func (c *BucketUploadConfig) Validate() error {
	if c.Path == "" {
		return errors.New("give the blocks to upload with --path=<dir>")
	}
	if _, err := os.Stat(c.Path); err != nil {
		return fmt.Errorf("--path: %w", err)
	}
	if len(c.Labels) > 0 {
		if _, err := ParseLabels(c.Labels); err != nil {
			return err
		}
	}
	return nil
}

// runUpload uploads the blocks under --path with block.UploadLocal, one
// line per block on stdout, then the counts.
func runUpload(ctx context.Context, bkt objstore.Bucket, cfg BucketUploadConfig, deps BucketDeps, logger *slog.Logger) error {
	out := deps.stdout()
	res, err := uploadBlocks(ctx, bkt, cfg, out, logger)
	_, _ = fmt.Fprintf(out, "%d blocks uploaded, %d already in the bucket\n", res.Uploaded, res.Skipped)
	return err
}

func uploadBlocks(ctx context.Context, bkt objstore.Bucket, cfg BucketUploadConfig, out io.Writer, logger *slog.Logger) (block.UploadResult, error) {
	var extra map[string]string
	if len(cfg.Labels) > 0 {
		ls, err := ParseLabels(cfg.Labels)
		if err != nil {
			return block.UploadResult{}, err
		}
		extra = ls.Map()
	}
	return block.UploadLocal(ctx, bkt, cfg.Path, block.UploadConfig{
		Labels: extra,
		Report: func(u block.LocalUpload) {
			switch {
			case u.Err != nil:
				_, _ = fmt.Fprintf(out, "[%d/%d] %s: error: %v\n", u.N, u.Total, u.Dir, u.Err)
			case u.Uploaded:
				_, _ = fmt.Fprintf(out, "[%d/%d] %s: uploaded\n", u.N, u.Total, u.Dir)
			default:
				_, _ = fmt.Fprintf(out, "[%d/%d] %s: already in the bucket, skipped\n", u.N, u.Total, u.Dir)
			}
		},
	}, logger)
}
