package block

import (
	"cmp"
	"context"
	"path"
	"slices"
	"strings"
	"time"

	"github.com/oklog/ulid/v2"
	"github.com/thanos-io/objstore"

	"github.com/strata-io/strata/pkg/metadata"
)

// Block is one block directory of a bucket as the inventory found it: its
// meta.json (nil for a partial upload or an unreadable one), its markers
// and the objects it holds. A Block is a plain value, not safe for
// concurrent mutation; its Meta and markers are shared with the
// inventory's cache and must not be modified.
type Block struct {
	// ID is the ULID naming the directory.
	ID ulid.ULID
	// Meta is the decoded meta.json; nil when the block has none (Partial)
	// or when MetaErr says why it could not be read.
	Meta *metadata.Meta
	// MetaErr is why an existing meta.json could not be read or decoded
	// (metadata.ErrMetaCorrupt for a bad one, else a bucket error).
	MetaErr error
	// Objects are the names of the block's objects relative to its
	// directory ("index", "chunks/000001", "meta.json", markers...), sorted.
	Objects []string
	// Newest is the last-modified time of the block's newest object when
	// the listing reported it; zero otherwise (see Inventory.LastModified).
	Newest time.Time
	// The markers the block carries; nil when absent.
	Deletion     *metadata.DeletionMark
	NoCompact    *metadata.NoCompactMark
	NoDownsample *metadata.NoDownsampleMark
	// MarkerErrs are markers that exist but could not be read.
	MarkerErrs []*MarkerError
}

// MarkerError is a marker a block carries that could not be read (bad
// JSON, another version or block, or a bucket error).
type MarkerError struct {
	// Filename is the marker's file name, e.g. deletion-mark.json.
	Filename string
	Err      error
}

func (e *MarkerError) Error() string { return e.Err.Error() }

// Unwrap returns the read error.
func (e *MarkerError) Unwrap() error { return e.Err }

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

// SortBlocks orders blocks for display: by stream, resolution, min time
// and ULID, blocks without meta last (by ULID).
func SortBlocks(blocks []*Block) {
	slices.SortStableFunc(blocks, func(a, b *Block) int {
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

// ObjectSize returns the size in bytes of the object rel of block id.
func ObjectSize(ctx context.Context, bkt objstore.BucketReader, id ulid.ULID, rel string) (int64, error) {
	attrs, err := bkt.Attributes(ctx, path.Join(id.String(), rel))
	if err != nil {
		return 0, err
	}
	return attrs.Size, nil
}
