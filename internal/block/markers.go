package block

import (
	"context"
	"errors"
	"fmt"
	"path"
	"strings"
	"time"

	"github.com/oklog/ulid/v2"
	"github.com/thanos-io/objstore"

	"github.com/strata-io/strata/pkg/metadata"
)

// ErrBlockNotFound is returned (wrapped) when a block to mark has no
// meta.json in the bucket: an unknown ULID or a partial upload.
var ErrBlockNotFound = errors.New("block not found in the bucket")

// MarkerNames are the marker file names Mark accepts, in documentation order.
func MarkerNames() []string {
	return []string{metadata.DeletionMarkFilename, metadata.NoCompactMarkFilename, metadata.NoDownsampleMarkFilename}
}

// ParseMarkerName accepts a marker file name (no-compact-mark.json) or its
// short form (no-compact) and returns the file name.
func ParseMarkerName(s string) (string, error) {
	for _, n := range MarkerNames() {
		if s == n || s == strings.TrimSuffix(n, "-mark.json") {
			return n, nil
		}
	}
	return "", fmt.Errorf("unknown marker %q: want one of %s", s, strings.Join(MarkerNames(), ", "))
}

// Mark writes the marker named markerName (see ParseMarkerName) for block
// id, made at now with details; no-compact and no-downsample marks get the
// reason "manual". The block must have a meta.json. An existing marker of
// that name is kept (its time is the one that counts for delays), and
// Mark returns false; it returns true when it wrote the marker.
func Mark(ctx context.Context, bkt objstore.Bucket, id ulid.ULID, markerName, details string, now time.Time) (bool, error) {
	name, err := ParseMarkerName(markerName)
	if err != nil {
		return false, err
	}
	if err := requireMeta(ctx, bkt, id); err != nil {
		return false, err
	}
	exists, err := bkt.Exists(ctx, metadata.MarkerPath(id, name))
	if err != nil {
		return false, fmt.Errorf("check %s of block %s: %w", name, id, err)
	}
	if exists {
		return false, nil
	}
	var m metadata.Marker
	switch name {
	case metadata.DeletionMarkFilename:
		m = metadata.NewDeletionMark(id, now, details)
	case metadata.NoCompactMarkFilename:
		m = metadata.NewNoCompactMark(id, now, metadata.ManualReason, details)
	default:
		m = metadata.NewNoDownsampleMark(id, now, metadata.ManualReason, details)
	}
	if err := metadata.WriteMarker(ctx, bkt, m); err != nil {
		return false, err
	}
	return true, nil
}

// Unmark deletes the marker named markerName of block id. It returns false
// when the block had no such marker. Removing a deletion mark does not
// bring back a block whose deletion already started (its meta.json is gone).
func Unmark(ctx context.Context, bkt objstore.Bucket, id ulid.ULID, markerName string) (bool, error) {
	name, err := ParseMarkerName(markerName)
	if err != nil {
		return false, err
	}
	obj := metadata.MarkerPath(id, name)
	exists, err := bkt.Exists(ctx, obj)
	if err != nil {
		return false, fmt.Errorf("check %s: %w", obj, err)
	}
	if !exists {
		return false, nil
	}
	if err := bkt.Delete(ctx, obj); err != nil && !bkt.IsObjNotFoundErr(err) {
		return false, fmt.Errorf("delete %s: %w", obj, err)
	}
	return true, nil
}

func requireMeta(ctx context.Context, bkt objstore.BucketReader, id ulid.ULID) error {
	ok, err := bkt.Exists(ctx, path.Join(id.String(), metadata.MetaFilename))
	if err != nil {
		return fmt.Errorf("check meta.json of block %s: %w", id, err)
	}
	if !ok {
		return fmt.Errorf("block %s: %w (no %s; check the ULID with `strata tools bucket ls`)", id, ErrBlockNotFound, metadata.MetaFilename)
	}
	return nil
}
