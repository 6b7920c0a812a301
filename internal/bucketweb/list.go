package bucketweb

import (
	"cmp"
	"context"
	"errors"
	"fmt"
	"path"
	"slices"
	"strings"
	"sync"

	"github.com/oklog/ulid/v2"
	"github.com/thanos-io/objstore"

	"github.com/strata-io/strata/pkg/metadata"
)

// DefaultListConcurrency is how many block directories List reads at once
// when ListOptions.Concurrency is 0.
const DefaultListConcurrency = 16

// Block is one block directory of a bucket as List found it: its meta.json
// (nil for a partial upload or an unreadable one), its markers and the
// objects it holds. A Block is a plain value, not safe for concurrent
// mutation.
type Block struct {
	// ID is the ULID naming the directory.
	ID ulid.ULID
	// Meta is the decoded meta.json; nil when the block has none (Partial)
	// or when MetaErr says why it could not be read.
	Meta *metadata.Meta
	// MetaErr is why an existing meta.json could not be read or decoded.
	MetaErr error
	// Objects are the names of the block's objects relative to its
	// directory ("index", "chunks/000001", "meta.json", markers...), sorted.
	Objects []string
	// The markers the block carries; nil when absent.
	Deletion     *metadata.DeletionMark
	NoCompact    *metadata.NoCompactMark
	NoDownsample *metadata.NoDownsampleMark
	// MarkerErrs are markers that exist but could not be read.
	MarkerErrs []error
}

// Partial reports whether the directory has no meta.json: an upload in
// progress, an interrupted one, or a block being deleted. Readers ignore it.
func (b *Block) Partial() bool { return b.Meta == nil && b.MetaErr == nil }

// HasObject reports whether the block holds the object rel (relative to
// its directory).
func (b *Block) HasObject(rel string) bool {
	_, ok := slices.BinarySearch(b.Objects, rel)
	return ok
}

// Stream returns the block's stream, its external labels in their string
// form ({a="b", c="d"}); "" for a block without meta.
func (b *Block) Stream() string {
	if b.Meta == nil {
		return ""
	}
	return b.Meta.Thanos.LabelSet().String()
}

// MarkerNames returns the file names of the markers the block carries, in
// a fixed order.
func (b *Block) MarkerNames() []string {
	var out []string
	if b.Deletion != nil {
		out = append(out, metadata.DeletionMarkFilename)
	}
	if b.NoCompact != nil {
		out = append(out, metadata.NoCompactMarkFilename)
	}
	if b.NoDownsample != nil {
		out = append(out, metadata.NoDownsampleMarkFilename)
	}
	return out
}

// ListOptions tune List.
type ListOptions struct {
	// Concurrency is how many block directories are read at once;
	// 0 means DefaultListConcurrency.
	Concurrency int
	// Progress, when not nil, is called after each block directory is read
	// with the number read so far and the total, from List's goroutines but
	// never concurrently.
	Progress func(done, total int)
}

// List returns every block directory of bkt (top-level directories named
// by a ULID; other objects are ignored), sorted by stream, resolution, min
// time and ULID, partial uploads last. For each it lists the directory's
// objects, then reads meta.json and the markers that exist. A meta.json or
// marker that cannot be read is recorded in the Block (MetaErr,
// MarkerErrs), not returned; List fails only when the bucket cannot be
// listed or ctx ends. Safe for concurrent use.
func List(ctx context.Context, bkt objstore.BucketReader, opts ListOptions) ([]Block, error) {
	ids, err := ListIDs(ctx, bkt)
	if err != nil {
		return nil, err
	}
	conc := opts.Concurrency
	if conc <= 0 {
		conc = DefaultListConcurrency
	}
	blocks := make([]Block, len(ids))
	var (
		mu       sync.Mutex
		done     int
		firstErr error
		wg       sync.WaitGroup
		next     = make(chan int)
	)
	for range min(conc, len(ids)) {
		wg.Go(func() {
			for i := range next {
				b, err := ReadBlock(ctx, bkt, ids[i])
				mu.Lock()
				if err != nil && firstErr == nil {
					firstErr = err
				}
				blocks[i] = b
				done++
				if opts.Progress != nil {
					opts.Progress(done, len(ids))
				}
				mu.Unlock()
			}
		})
	}
feed:
	for i := range ids {
		select {
		case next <- i:
		case <-ctx.Done():
			break feed
		}
	}
	close(next)
	wg.Wait()
	if err := ctx.Err(); err != nil {
		return nil, err
	}
	if firstErr != nil {
		return nil, firstErr
	}
	SortBlocks(blocks)
	return blocks, nil
}

// ListIDs returns the ULIDs of the top-level block directories of bkt, in
// ascending order.
func ListIDs(ctx context.Context, bkt objstore.BucketReader) ([]ulid.ULID, error) {
	var ids []ulid.ULID
	err := bkt.Iter(ctx, "", func(name string) error {
		dir, ok := strings.CutSuffix(name, objstore.DirDelim)
		if !ok {
			return nil
		}
		if id, err := ulid.ParseStrict(dir); err == nil {
			ids = append(ids, id)
		}
		return nil
	})
	if err != nil {
		return nil, fmt.Errorf("list blocks in the bucket: %w", err)
	}
	slices.SortFunc(ids, func(a, b ulid.ULID) int { return a.Compare(b) })
	return ids, nil
}

// SortBlocks orders blocks as List returns them: by stream, resolution,
// min time and ULID, blocks without meta last (by ULID).
func SortBlocks(blocks []Block) {
	slices.SortStableFunc(blocks, func(a, b Block) int {
		if (a.Meta == nil) != (b.Meta == nil) {
			if a.Meta == nil {
				return 1
			}
			return -1
		}
		if a.Meta != nil {
			if c := strings.Compare(a.Stream(), b.Stream()); c != 0 {
				return c
			}
			if c := cmp.Compare(a.Meta.Thanos.Downsample.Resolution, b.Meta.Thanos.Downsample.Resolution); c != 0 {
				return c
			}
			if c := cmp.Compare(a.Meta.MinTime, b.Meta.MinTime); c != 0 {
				return c
			}
		}
		return a.ID.Compare(b.ID)
	})
}

// ReadBlock reads one block directory: its objects, meta.json and markers.
// Only a failure to list the directory (or a cancelled ctx) is returned;
// unreadable files are recorded in the Block.
func ReadBlock(ctx context.Context, bkt objstore.BucketReader, id ulid.ULID) (Block, error) {
	b := Block{ID: id}
	objs, err := listObjects(ctx, bkt, id.String()+objstore.DirDelim)
	if err != nil {
		return b, fmt.Errorf("list block %s: %w", id, err)
	}
	b.Objects = objs
	if b.HasObject(metadata.MetaFilename) {
		b.Meta, b.MetaErr = metadata.ReadFromBucket(ctx, bkt, id)
		if errors.Is(b.MetaErr, metadata.ErrMetaNotFound) {
			// Deleted between the listing and the read.
			b.Meta, b.MetaErr = nil, nil
		}
	}
	readMarker := func(m metadata.Marker) bool {
		if !b.HasObject(m.Filename()) {
			return false
		}
		err := metadata.ReadMarker(ctx, bkt, id, m)
		if errors.Is(err, metadata.ErrMarkerNotFound) {
			return false
		}
		if err != nil {
			b.MarkerErrs = append(b.MarkerErrs, err)
			return false
		}
		return true
	}
	if m := new(metadata.DeletionMark); readMarker(m) {
		b.Deletion = m
	}
	if m := new(metadata.NoCompactMark); readMarker(m) {
		b.NoCompact = m
	}
	if m := new(metadata.NoDownsampleMark); readMarker(m) {
		b.NoDownsample = m
	}
	if err := ctx.Err(); err != nil {
		return b, err
	}
	return b, nil
}

// listObjects returns every object under dir (ending with '/'), relative to
// dir and sorted.
func listObjects(ctx context.Context, bkt objstore.BucketReader, dir string) ([]string, error) {
	names, err := metadata.ListRecursive(ctx, bkt, dir)
	if err != nil {
		return nil, err
	}
	for i, n := range names {
		names[i] = strings.TrimPrefix(n, dir)
	}
	slices.Sort(names)
	return names, nil
}

// ObjectSize returns the size in bytes of the object rel of block id.
func ObjectSize(ctx context.Context, bkt objstore.BucketReader, id ulid.ULID, rel string) (int64, error) {
	attrs, err := bkt.Attributes(ctx, path.Join(id.String(), rel))
	if err != nil {
		return 0, err
	}
	return attrs.Size, nil
}
