package block

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

	"github.com/oklog/ulid/v2"
	"github.com/prometheus/prometheus/tsdb/tombstones"
	"github.com/thanos-io/objstore"

	"github.com/strata-io/strata/pkg/metadata"
)

// UploadConfig configures UploadLocal.
type UploadConfig struct {
	// Labels are external labels set on every uploaded block, over those
	// its local meta.json has.
	Labels map[string]string
	// Report, when set, is called after each block with what happened to
	// it.
	Report func(LocalUpload)
}

// LocalUpload is what UploadLocal did with one local block.
type LocalUpload struct {
	// N is the block's position (from 1) among Total blocks.
	N, Total int
	// Dir is the block's directory name (its ULID).
	Dir string
	// Uploaded is false, with a nil Err, for a block already in the
	// bucket.
	Uploaded bool
	Err      error
}

// UploadResult counts what UploadLocal did.
type UploadResult struct {
	Uploaded, Skipped int
}

// UploadLocal uploads the local TSDB blocks at dir (a data directory
// holding block directories, or one block directory) that are not in bkt
// yet: chunks, index, then meta.json last, with the thanos section:
// labels from the local meta.json overridden by cfg.Labels, source
// bucket.upload unless the meta names one, the resolution kept. A block
// whose meta.json is in the bucket already is skipped, so running it
// again uploads only what is missing. A block with tombstones is refused:
// its deleted series would come back. A block that fails does not stop
// the others; the errors are returned together.
func UploadLocal(ctx context.Context, bkt objstore.Bucket, dir string, cfg UploadConfig, logger *slog.Logger) (UploadResult, error) {
	if logger == nil {
		logger = slog.New(slog.DiscardHandler)
	}
	var res UploadResult
	dirs, err := LocalBlocks(dir, logger)
	if err != nil {
		return res, err
	}
	if len(dirs) == 0 {
		return res, fmt.Errorf("--path=%s holds no block (directories named by a ULID with a meta.json)", dir)
	}
	var errs []error
	for i, d := range dirs {
		if err := ctx.Err(); err != nil {
			return res, err
		}
		uploaded, err := uploadOne(ctx, bkt, d, cfg.Labels, logger)
		switch {
		case err != nil:
			errs = append(errs, err)
		case uploaded:
			res.Uploaded++
		default:
			res.Skipped++
		}
		if cfg.Report != nil {
			cfg.Report(LocalUpload{N: i + 1, Total: len(dirs), Dir: filepath.Base(d), Uploaded: uploaded, Err: err})
		}
	}
	if err := errors.Join(errs...); err != nil {
		return res, fmt.Errorf("upload %d of %d blocks failed: %w", len(errs), len(dirs), err)
	}
	return res, nil
}

// LocalBlocks returns the block directories at p: p itself when it holds
// a meta.json, else its sub-directories named by a ULID that hold one, in
// ULID (time) order. Others are skipped with a log line (logger may be
// nil).
func LocalBlocks(p string, logger *slog.Logger) ([]string, error) {
	if logger == nil {
		logger = slog.New(slog.DiscardHandler)
	}
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
