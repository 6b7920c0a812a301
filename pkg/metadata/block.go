package metadata

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"os"
	"path"
	"path/filepath"
	"slices"
	"strings"
	"time"

	"github.com/oklog/ulid/v2"
	"github.com/thanos-io/objstore"
)

// BlockFiles lists the files of the local block in blockDir that belong in
// the bucket, in upload order: the chunk segments (ascending), the index,
// and meta.json last (without a size: its final content is not known yet).
// Tombstones and any other file are left out. It fails when the index or
// the chunks directory is missing.
func BlockFiles(blockDir string) ([]File, error) {
	entries, err := os.ReadDir(filepath.Join(blockDir, ChunksDirname))
	if err != nil {
		return nil, fmt.Errorf("list chunks of block %s: %w", blockDir, err)
	}
	var files []File
	for _, e := range entries {
		if e.IsDir() {
			continue
		}
		info, err := e.Info()
		if err != nil {
			return nil, fmt.Errorf("stat chunk segment: %w", err)
		}
		files = append(files, File{RelPath: ChunksDirname + "/" + e.Name(), SizeBytes: info.Size()})
	}
	slices.SortFunc(files, func(a, b File) int { return strings.Compare(a.RelPath, b.RelPath) })
	info, err := os.Stat(filepath.Join(blockDir, IndexFilename))
	if err != nil {
		return nil, fmt.Errorf("index of block %s: %w", blockDir, err)
	}
	files = append(files, File{RelPath: IndexFilename, SizeBytes: info.Size()}, File{RelPath: MetaFilename})
	return files, nil
}

// SegmentFiles returns the names of the chunk segments among files, in
// their order.
func SegmentFiles(files []File) []string {
	var out []string
	for _, f := range files {
		if name, ok := strings.CutPrefix(f.RelPath, ChunksDirname+"/"); ok {
			out = append(out, name)
		}
	}
	return out
}

// Upload uploads the local block in blockDir (whose base name must be the
// block's ULID) to <ULID>/ in bkt with meta as its meta.json: the chunk
// segments first, then the index, then meta.json last, so that a reader
// never sees meta.json before the block is complete. Tombstones are not
// uploaded. Upload sets meta.Thanos.Files, SegmentFiles, Version and (when
// zero) UploadTime; the other fields, notably Thanos.Labels and Source, are
// the caller's. Local files are only read, never changed.
//
// On error nothing is cleaned up: the block is a partial upload (no
// meta.json) that readers ignore, and calling Upload again overwrites it.
func Upload(ctx context.Context, logger *slog.Logger, bkt objstore.Bucket, blockDir string, meta *Meta) error {
	logger = orDiscard(logger)
	id := meta.ULID
	if base := filepath.Base(blockDir); base != id.String() {
		return fmt.Errorf("block directory %s does not match the ulid %s of its meta.json", blockDir, id)
	}
	if len(meta.Thanos.Labels) == 0 {
		return fmt.Errorf("block %s has no external labels in its thanos section: every block in the bucket needs the labels of its producer (set external_labels in the Prometheus config)", id)
	}
	meta.Thanos.Version = ThanosVersion1
	if err := meta.Validate(); err != nil {
		return fmt.Errorf("upload block %s: %w", id, err)
	}
	files, err := BlockFiles(blockDir)
	if err != nil {
		return fmt.Errorf("upload block %s: %w", id, err)
	}
	meta.Thanos.Files = files
	meta.Thanos.SegmentFiles = SegmentFiles(files)
	if meta.Thanos.UploadTime.IsZero() {
		meta.Thanos.UploadTime = time.Now().UTC().Truncate(time.Second)
	}
	b, err := meta.Marshal()
	if err != nil {
		return err
	}

	start := time.Now()
	for _, f := range files[:len(files)-1] {
		if err := uploadFile(ctx, bkt, filepath.Join(blockDir, filepath.FromSlash(f.RelPath)), path.Join(id.String(), f.RelPath)); err != nil {
			return fmt.Errorf("upload block %s: %w", id, err)
		}
	}
	name := path.Join(id.String(), MetaFilename)
	if err := bkt.Upload(ctx, name, bytes.NewReader(b)); err != nil {
		return fmt.Errorf("upload block %s: upload %s: %w", id, name, err)
	}
	logger.Debug("block uploaded", "block", id, "files", len(files), "duration", time.Since(start))
	return nil
}

// orDiscard makes a nil logger usable.
func orDiscard(logger *slog.Logger) *slog.Logger {
	if logger == nil {
		return slog.New(slog.DiscardHandler)
	}
	return logger
}

func uploadFile(ctx context.Context, bkt objstore.Bucket, src, dst string) (err error) {
	f, err := os.Open(src)
	if err != nil {
		return err
	}
	defer func() { err = errors.Join(err, f.Close()) }()
	if err := bkt.Upload(ctx, dst, f); err != nil {
		return fmt.Errorf("upload %s: %w", dst, err)
	}
	return nil
}

// Delete removes block id from bkt: meta.json first (so readers drop the
// block at once and an interrupted delete leaves a partial upload that the
// compactor cleans up), then every other object, the deletion mark last
// (so that an interrupted delete is retried). Objects already gone are not
// an error.
func Delete(ctx context.Context, logger *slog.Logger, bkt objstore.Bucket, id ulid.ULID) error {
	logger = orDiscard(logger)
	dir := id.String()
	if err := deleteObject(ctx, bkt, path.Join(dir, MetaFilename)); err != nil {
		return fmt.Errorf("delete block %s: %w", id, err)
	}
	names, err := ListRecursive(ctx, bkt, dir+objstore.DirDelim)
	if err != nil {
		return fmt.Errorf("delete block %s: %w", id, err)
	}
	markName := path.Join(dir, DeletionMarkFilename)
	for _, name := range names {
		if name == markName || name == path.Join(dir, MetaFilename) {
			continue
		}
		if err := deleteObject(ctx, bkt, name); err != nil {
			return fmt.Errorf("delete block %s: %w", id, err)
		}
	}
	if err := deleteObject(ctx, bkt, markName); err != nil {
		return fmt.Errorf("delete block %s: %w", id, err)
	}
	logger.Debug("block deleted", "block", id, "objects", len(names))
	return nil
}

func deleteObject(ctx context.Context, bkt objstore.Bucket, name string) error {
	if err := bkt.Delete(ctx, name); err != nil && !bkt.IsObjNotFoundErr(err) {
		return fmt.Errorf("delete %s: %w", name, err)
	}
	return nil
}

// ListRecursive returns every object under dir (which ends with '/'), full
// names in the order the bucket lists them, descending into
// sub-directories itself so that it works with every provider.
func ListRecursive(ctx context.Context, bkt objstore.BucketReader, dir string) ([]string, error) {
	var names, subdirs []string
	err := bkt.Iter(ctx, dir, func(name string) error {
		if strings.HasSuffix(name, objstore.DirDelim) {
			subdirs = append(subdirs, name)
		} else {
			names = append(names, name)
		}
		return nil
	})
	if err != nil {
		return nil, fmt.Errorf("list %s: %w", dir, err)
	}
	for _, sub := range subdirs {
		more, err := ListRecursive(ctx, bkt, sub)
		if err != nil {
			return nil, err
		}
		names = append(names, more...)
	}
	return names, nil
}

// Download copies block id from bkt into dstDir (created if needed; it
// becomes the block directory). It reads meta.json first (a block without
// one is ErrMetaNotFound), downloads the index and chunk segments,
// checks their sizes against meta.json's file list when it has one, and
// writes meta.json last, so a local directory without meta.json is an
// interrupted download. Markers are not downloaded. On error, dstDir may
// hold some files; the caller removes it.
func Download(ctx context.Context, logger *slog.Logger, bkt objstore.BucketReader, id ulid.ULID, dstDir string) error {
	logger = orDiscard(logger)
	meta, err := ReadFromBucket(ctx, bkt, id)
	if err != nil {
		return fmt.Errorf("download block %s: %w", id, err)
	}
	names, err := ListRecursive(ctx, bkt, id.String()+objstore.DirDelim)
	if err != nil {
		return fmt.Errorf("download block %s: %w", id, err)
	}
	sizes := make(map[string]int64, len(meta.Thanos.Files))
	for _, f := range meta.Thanos.Files {
		sizes[f.RelPath] = f.SizeBytes
	}
	if err := os.MkdirAll(filepath.Join(dstDir, ChunksDirname), 0o755); err != nil {
		return fmt.Errorf("download block %s: %w", id, err)
	}
	start := time.Now()
	for _, name := range names {
		rel := strings.TrimPrefix(name, id.String()+objstore.DirDelim)
		switch rel {
		case MetaFilename, DeletionMarkFilename, NoCompactMarkFilename, NoDownsampleMarkFilename:
			continue
		}
		n, err := downloadFile(ctx, bkt, name, filepath.Join(dstDir, filepath.FromSlash(rel)))
		if err != nil {
			return fmt.Errorf("download block %s: %w", id, err)
		}
		if want, ok := sizes[rel]; ok && want > 0 && want != n {
			return fmt.Errorf("download block %s: %s has %d bytes, meta.json says %d", id, name, n, want)
		}
	}
	if err := meta.WriteToDir(dstDir); err != nil {
		return fmt.Errorf("download block %s: %w", id, err)
	}
	logger.Debug("block downloaded", "block", id, "dir", dstDir, "duration", time.Since(start))
	return nil
}

func downloadFile(ctx context.Context, bkt objstore.BucketReader, src, dst string) (n int64, err error) {
	rc, err := bkt.Get(ctx, src)
	if err != nil {
		return 0, fmt.Errorf("get %s: %w", src, err)
	}
	defer func() { err = errors.Join(err, rc.Close()) }()
	if err := os.MkdirAll(filepath.Dir(dst), 0o755); err != nil {
		return 0, err
	}
	f, err := os.Create(dst)
	if err != nil {
		return 0, err
	}
	defer func() { err = errors.Join(err, f.Close()) }()
	n, err = io.Copy(f, rc)
	if err != nil {
		return n, fmt.Errorf("copy %s: %w", src, err)
	}
	return n, nil
}
