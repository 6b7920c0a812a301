package tools

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"maps"
	"os"
	"path"
	"path/filepath"
	"time"

	"github.com/alecthomas/kingpin/v2"
	"github.com/oklog/ulid/v2"
	"github.com/prometheus/prometheus/tsdb/tombstones"
	"github.com/thanos-io/objstore"

	"github.com/strata-io/strata/pkg/metadata"
)

// BucketUploadConfig holds the flags of `tools bucket upload-blocks`.
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

// UploadResult counts what upload-blocks did.
type UploadResult struct {
	Uploaded, Skipped int
}

func runUpload(ctx context.Context, bkt objstore.Bucket, cfg BucketUploadConfig, deps BucketDeps, logger *slog.Logger) error {
	res, err := UploadBlocks(ctx, bkt, cfg, deps, logger)
	_, _ = fmt.Fprintf(deps.stdout(), "%d blocks uploaded, %d already in the bucket\n", res.Uploaded, res.Skipped)
	return err
}

// UploadBlocks uploads the blocks under cfg.Path that are not in bkt yet
// (chunks, index, meta.json last, with the thanos section: labels from the
// local meta.json overridden by cfg.Labels, source bucket.upload unless
// the meta names one, the resolution kept). A block whose meta.json is in
// the bucket already is skipped, so running it again uploads only what is
// missing. A block with tombstones is refused: its deleted series would
// come back. One line per block goes to deps' stdout.
func UploadBlocks(ctx context.Context, bkt objstore.Bucket, cfg BucketUploadConfig, deps BucketDeps, logger *slog.Logger) (UploadResult, error) {
	var res UploadResult
	var extra map[string]string
	if len(cfg.Labels) > 0 {
		ls, err := ParseLabels(cfg.Labels)
		if err != nil {
			return res, err
		}
		extra = ls.Map()
	}
	dirs, err := localBlocks(cfg.Path, logger)
	if err != nil {
		return res, err
	}
	if len(dirs) == 0 {
		return res, fmt.Errorf("--path=%s holds no block (directories named by a ULID with a meta.json)", cfg.Path)
	}
	out := deps.stdout()
	var errs []error
	for i, dir := range dirs {
		if err := ctx.Err(); err != nil {
			return res, err
		}
		done, err := uploadOne(ctx, bkt, dir, extra, logger)
		id := filepath.Base(dir)
		switch {
		case err != nil:
			errs = append(errs, err)
			_, _ = fmt.Fprintf(out, "[%d/%d] %s: error: %v\n", i+1, len(dirs), id, err)
		case done:
			res.Uploaded++
			_, _ = fmt.Fprintf(out, "[%d/%d] %s: uploaded\n", i+1, len(dirs), id)
		default:
			res.Skipped++
			_, _ = fmt.Fprintf(out, "[%d/%d] %s: already in the bucket, skipped\n", i+1, len(dirs), id)
		}
	}
	if err := errors.Join(errs...); err != nil {
		return res, fmt.Errorf("upload %d of %d blocks failed: %w", len(errs), len(dirs), err)
	}
	return res, nil
}

// localBlocks returns the block directories at p: p itself when it holds
// a meta.json, else its sub-directories named by a ULID that hold one, in
// ULID (time) order. Others are skipped with a log line.
func localBlocks(p string, logger *slog.Logger) ([]string, error) {
	if _, err := os.Stat(filepath.Join(p, metadata.MetaFilename)); err == nil {
		return []string{p}, nil
	}
	entries, err := os.ReadDir(p)
	if err != nil {
		return nil, fmt.Errorf("--path: %w", err)
	}
	var dirs []string
	for _, e := range entries {
		if !e.IsDir() {
			continue
		}
		if _, err := ulid.ParseStrict(e.Name()); err != nil {
			continue
		}
		dir := filepath.Join(p, e.Name())
		if _, err := os.Stat(filepath.Join(dir, metadata.MetaFilename)); err != nil {
			logger.Warn("directory skipped: no meta.json (a block being written?)", "dir", dir)
			continue
		}
		dirs = append(dirs, dir)
	}
	return dirs, nil // ReadDir sorts by name: ULIDs sort by time.
}

// uploadOne uploads the block in dir unless bkt has it; it reports whether
// it uploaded.
func uploadOne(ctx context.Context, bkt objstore.Bucket, dir string, extra map[string]string, logger *slog.Logger) (bool, error) {
	meta, err := metadata.ReadFromDir(dir)
	if err != nil {
		return false, err
	}
	if filepath.Base(dir) != meta.ULID.String() {
		return false, fmt.Errorf("directory %s holds block %s: name the directory after its ULID", dir, meta.ULID)
	}
	exists, err := bkt.Exists(ctx, path.Join(meta.ULID.String(), metadata.MetaFilename))
	if err != nil {
		return false, fmt.Errorf("check block %s in the bucket: %w", meta.ULID, err)
	}
	if exists {
		return false, nil
	}
	ts, _, err := tombstones.ReadTombstones(dir)
	if err != nil {
		return false, fmt.Errorf("read tombstones of block %s: %w", meta.ULID, err)
	}
	n := ts.Total()
	_ = ts.Close()
	if n > 0 {
		return false, fmt.Errorf("block %s has %d tombstones: uploading it would bring deleted series back (compact it locally first, e.g. with promtool tsdb or Prometheus' clean_tombstones)", meta.ULID, n)
	}
	lbls := maps.Clone(meta.Thanos.Labels)
	if lbls == nil {
		lbls = map[string]string{}
	}
	maps.Copy(lbls, extra)
	if len(lbls) == 0 {
		return false, fmt.Errorf("block %s has no external labels: give them with --label=name=value (e.g. --label=cluster=eu1 --label=replica=0)", meta.ULID)
	}
	meta.Thanos.Labels = lbls
	if meta.Thanos.Source == "" {
		meta.Thanos.Source = metadata.BucketUploadSource
	}
	meta.Thanos.UploadTime = time.Time{} // Upload sets it to now.
	if err := metadata.Upload(ctx, logger, bkt, dir, meta); err != nil {
		return false, err
	}
	logger.Info("block uploaded", "block", meta.ULID, "labels", meta.Thanos.LabelSet().String())
	return true, nil
}
