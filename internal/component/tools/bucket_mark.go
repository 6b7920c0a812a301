package tools

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"time"

	"github.com/alecthomas/kingpin/v2"
	"github.com/oklog/ulid/v2"
	"github.com/thanos-io/objstore"

	"github.com/strata-io/strata/internal/block"
)

// BucketMarkConfig holds the flags of `tools bucket mark`.
type BucketMarkConfig struct {
	// IDs are the blocks to mark.
	IDs []string
	// Marker is the marker file name (block.MarkerNames).
	Marker string
	// Details is the free text stored in the marker.
	Details string
	// Remove deletes the marker instead of writing it.
	Remove bool
}

// RegisterFlags adds the flags of `mark` to cmd.
func (c *BucketMarkConfig) RegisterFlags(cmd *kingpin.CmdClause) {
	cmd.Flag("id", "ULID of a block to mark (repeatable).").Required().PlaceHolder("<ULID>").StringsVar(&c.IDs)
	names := block.MarkerNames()
	cmd.Flag("marker", "Marker to write: deletion-mark.json (the compactor deletes the block after --delete-delay), no-compact-mark.json or no-downsample-mark.json (reason manual).").
		Required().EnumVar(&c.Marker, names...)
	cmd.Flag("details", "Why the block is marked, stored in the marker for the next operator.").StringVar(&c.Details)
	cmd.Flag("remove", "Remove the marker instead of writing it (a block whose deletion already started stays deleted).").BoolVar(&c.Remove)
}

// Validate checks the flags and says what to fix.
func (c *BucketMarkConfig) Validate() error {
	if _, err := c.ids(); err != nil {
		return err
	}
	if _, err := block.ParseMarkerName(c.Marker); err != nil {
		return fmt.Errorf("--marker: %w", err)
	}
	return nil
}

func (c *BucketMarkConfig) ids() ([]ulid.ULID, error) {
	if len(c.IDs) == 0 {
		return nil, errors.New("give the blocks to mark with --id=<ULID> (see strata tools bucket ls)")
	}
	out := make([]ulid.ULID, 0, len(c.IDs))
	for _, s := range c.IDs {
		id, err := ulid.ParseStrict(s)
		if err != nil {
			return nil, fmt.Errorf("--id=%s is not a block ULID: %w", s, err)
		}
		out = append(out, id)
	}
	return out, nil
}

// runMark marks every block; a block that cannot be marked does not stop
// the others, and the errors are returned together.
func runMark(ctx context.Context, bkt objstore.Bucket, cfg BucketMarkConfig, deps BucketDeps, logger *slog.Logger) error {
	ids, err := cfg.ids()
	if err != nil {
		return err
	}
	out := deps.stdout()
	var errs []error
	for _, id := range ids {
		var changed bool
		if cfg.Remove {
			changed, err = block.Unmark(ctx, bkt, id, cfg.Marker)
		} else {
			changed, err = block.Mark(ctx, bkt, id, cfg.Marker, cfg.Details, time.Now())
		}
		switch {
		case err != nil:
			errs = append(errs, err)
			_, _ = fmt.Fprintf(out, "%s: error: %v\n", id, err)
		case cfg.Remove && changed:
			_, _ = fmt.Fprintf(out, "%s: %s removed\n", id, cfg.Marker)
		case cfg.Remove:
			_, _ = fmt.Fprintf(out, "%s: had no %s\n", id, cfg.Marker)
		case changed:
			_, _ = fmt.Fprintf(out, "%s: %s written\n", id, cfg.Marker)
		default:
			_, _ = fmt.Fprintf(out, "%s: already has %s, left as it is\n", id, cfg.Marker)
		}
		if err == nil && changed {
			logger.Info("block marker changed", "block", id, "marker", cfg.Marker, "removed", cfg.Remove)
		}
	}
	if err := errors.Join(errs...); err != nil {
		return fmt.Errorf("mark %d of %d blocks failed: %w", len(errs), len(ids), err)
	}
	return nil
}
