package metadata

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"path"
	"time"

	"github.com/oklog/ulid/v2"
	"github.com/thanos-io/objstore"
)

// Marker file names, inside the block's directory in the bucket.
const (
	DeletionMarkFilename     = "deletion-mark.json"
	NoCompactMarkFilename    = "no-compact-mark.json"
	NoDownsampleMarkFilename = "no-downsample-mark.json"
)

// MarkerVersion1 is the only version of every marker.
const MarkerVersion1 = 1

// Errors of ReadMarker, wrapped with the object name; test with errors.Is.
var (
	// ErrMarkerNotFound means the block has no such marker.
	ErrMarkerNotFound = errors.New("marker not found")
	// ErrMarkerInvalid means the marker exists but cannot be used: bad
	// JSON, an unknown version or another block's id.
	ErrMarkerInvalid = errors.New("marker invalid")
)

// Reason explains why a block is excluded from compaction or downsampling.
type Reason string

// Reasons of NoCompactMark and NoDownsampleMark. Readers must accept unknown
// values.
const (
	// ManualReason: an operator excluded the block.
	ManualReason Reason = "manual"
	// IndexSizeExceedingReason: compacting would produce an index larger
	// than the configured limit.
	IndexSizeExceedingReason Reason = "index-size-exceeding"
	// OutOfOrderChunksReason: the block's index has chunks out of order, so
	// merging it would corrupt data.
	OutOfOrderChunksReason Reason = "block-index-out-of-order-chunk"
	// DownsampleVerticalCompactionReason: the block must not be compacted
	// vertically because it is downsampled.
	DownsampleVerticalCompactionReason Reason = "downsample-vertical-compaction"
	// CorruptBlockReason: the block cannot be read (truncated or damaged
	// index or chunks). Strata's own value: Thanos writes none for this.
	CorruptBlockReason Reason = "block-corrupt"
)

// Marker is one of the marker files a block can carry in the bucket:
// *DeletionMark, *NoCompactMark or *NoDownsampleMark.
type Marker interface {
	// Filename is the marker's file name inside the block directory.
	Filename() string
	// BlockID is the block the marker is about.
	BlockID() ulid.ULID
	// MarkerVersion is the marker's format version.
	MarkerVersion() int
}

// DeletionMark says that a block is to be deleted: readers stop using it
// once the mark is older than their delay, the compactor deletes it later.
type DeletionMark struct {
	// ID is the marked block.
	ID ulid.ULID `json:"id"`
	// Version is MarkerVersion1.
	Version int `json:"version"`
	// DeletionTime is when the block was marked, in unix seconds.
	DeletionTime int64 `json:"deletion_time"`
	// Details is free text for operators.
	Details string `json:"details,omitempty"`
}

// NewDeletionMark returns a version-1 deletion mark for id made at t.
func NewDeletionMark(id ulid.ULID, t time.Time, details string) *DeletionMark {
	return &DeletionMark{ID: id, Version: MarkerVersion1, DeletionTime: t.Unix(), Details: details}
}

// Filename implements Marker.
func (*DeletionMark) Filename() string { return DeletionMarkFilename }

// BlockID implements Marker.
func (m *DeletionMark) BlockID() ulid.ULID { return m.ID }

// MarkerVersion implements Marker.
func (m *DeletionMark) MarkerVersion() int { return m.Version }

// NoCompactMark excludes a block from compaction.
type NoCompactMark struct {
	// ID is the marked block.
	ID ulid.ULID `json:"id"`
	// Version is MarkerVersion1.
	Version int `json:"version"`
	// NoCompactTime is when the block was marked, in unix seconds.
	NoCompactTime int64 `json:"no_compact_time"`
	// Reason is why (one of the Reason constants, or another value).
	Reason Reason `json:"reason"`
	// Details is free text for operators.
	Details string `json:"details,omitempty"`
}

// NewNoCompactMark returns a version-1 no-compact mark for id made at t.
func NewNoCompactMark(id ulid.ULID, t time.Time, reason Reason, details string) *NoCompactMark {
	return &NoCompactMark{ID: id, Version: MarkerVersion1, NoCompactTime: t.Unix(), Reason: reason, Details: details}
}

// Filename implements Marker.
func (*NoCompactMark) Filename() string { return NoCompactMarkFilename }

// BlockID implements Marker.
func (m *NoCompactMark) BlockID() ulid.ULID { return m.ID }

// MarkerVersion implements Marker.
func (m *NoCompactMark) MarkerVersion() int { return m.Version }

// NoDownsampleMark excludes a block from downsampling.
type NoDownsampleMark struct {
	// ID is the marked block.
	ID ulid.ULID `json:"id"`
	// Version is MarkerVersion1.
	Version int `json:"version"`
	// NoDownsampleTime is when the block was marked, in unix seconds.
	NoDownsampleTime int64 `json:"no_downsample_time"`
	// Reason is why (one of the Reason constants, or another value).
	Reason Reason `json:"reason"`
	// Details is free text for operators.
	Details string `json:"details,omitempty"`
}

// NewNoDownsampleMark returns a version-1 no-downsample mark for id made at t.
func NewNoDownsampleMark(id ulid.ULID, t time.Time, reason Reason, details string) *NoDownsampleMark {
	return &NoDownsampleMark{ID: id, Version: MarkerVersion1, NoDownsampleTime: t.Unix(), Reason: reason, Details: details}
}

// Filename implements Marker.
func (*NoDownsampleMark) Filename() string { return NoDownsampleMarkFilename }

// BlockID implements Marker.
func (m *NoDownsampleMark) BlockID() ulid.ULID { return m.ID }

// MarkerVersion implements Marker.
func (m *NoDownsampleMark) MarkerVersion() int { return m.Version }

// MarkerPath returns the object name of a marker file of block id.
func MarkerPath(id ulid.ULID, filename string) string {
	return path.Join(id.String(), filename)
}

// ReadMarker reads the marker of block id into marker (a pointer to a zero
// value of one of the marker types, whose Filename selects the object). A missing object
// is ErrMarkerNotFound; bad JSON, a version other than 1 or another block's
// id is ErrMarkerInvalid.
func ReadMarker(ctx context.Context, bkt objstore.BucketReader, id ulid.ULID, marker Marker) (err error) {
	name := MarkerPath(id, marker.Filename())
	rc, err := bkt.Get(ctx, name)
	if err != nil {
		if bkt.IsObjNotFoundErr(err) {
			return fmt.Errorf("%s: %w", name, ErrMarkerNotFound)
		}
		return fmt.Errorf("get %s: %w", name, err)
	}
	defer func() { err = errors.Join(err, rc.Close()) }()
	b, err := io.ReadAll(rc)
	if err != nil {
		return fmt.Errorf("read %s: %w", name, err)
	}
	if err := json.Unmarshal(b, marker); err != nil {
		return fmt.Errorf("%s: %w: %w", name, ErrMarkerInvalid, err)
	}
	if v := marker.MarkerVersion(); v != MarkerVersion1 {
		return fmt.Errorf("%s: %w: version %d, want %d", name, ErrMarkerInvalid, v, MarkerVersion1)
	}
	if marker.BlockID() != id {
		return fmt.Errorf("%s: %w: holds id %s", name, ErrMarkerInvalid, marker.BlockID())
	}
	return nil
}

// WriteMarker uploads marker to <id>/<marker file> of its block, replacing
// an existing one. It refuses a marker without id or of another version.
func WriteMarker(ctx context.Context, bkt objstore.Bucket, marker Marker) error {
	id := marker.BlockID()
	if id == (ulid.ULID{}) {
		return fmt.Errorf("%s has no block id", marker.Filename())
	}
	if v := marker.MarkerVersion(); v != MarkerVersion1 {
		return fmt.Errorf("%s of block %s has version %d, want %d (use the New...Mark constructors)", marker.Filename(), id, v, MarkerVersion1)
	}
	b, err := json.MarshalIndent(marker, "", "\t")
	if err != nil {
		return fmt.Errorf("encode %s of block %s: %w", marker.Filename(), id, err)
	}
	name := MarkerPath(id, marker.Filename())
	if err := bkt.Upload(ctx, name, bytes.NewReader(b)); err != nil {
		return fmt.Errorf("upload %s: %w", name, err)
	}
	return nil
}
