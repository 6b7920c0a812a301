package compact

import (
	"context"
	"fmt"
	"time"

	"github.com/oklog/ulid/v2"
	"github.com/thanos-io/objstore"

	"github.com/strata-io/strata/pkg/metadata"
)

// partialUploadMinAge is the least age of a partial upload before it is
// removed, whatever the delete delay: an upload in progress (of this or
// another instance, or of a sidecar) writes objects continuously, so its
// newest object is younger than this.
const partialUploadMinAge = time.Hour

// clean removes from the bucket the owned blocks whose deletion mark is at
// least DeleteDelay old, and the partial uploads (directories without
// meta.json) whose ULID time and newest object are both older than
// max(DeleteDelay, partialUploadMinAge). Partial uploads belong to no
// stream: every instance removes them (deleting is idempotent). It reports
// whether some removal failed; those are retried on the next run.
func (c *Compactor) clean(ctx context.Context, st *bucketState) (bool, error) {
	now := c.cfg.Now()
	failed := false
	for _, b := range st.blocks {
		if b.Deletion == nil {
			continue
		}
		if !c.cfg.Shard.Owns(StreamLabels(b.Meta.Thanos.Labels, c.cfg.ReplicaLabels)) {
			continue
		}
		if now.Sub(time.Unix(b.Deletion.DeletionTime, 0)) < c.cfg.DeleteDelay {
			continue
		}
		if err := metadata.Delete(ctx, c.logger, c.bkt, b.Meta.ULID); err != nil {
			if ctx.Err() != nil {
				return failed, ctx.Err()
			}
			c.logger.Warn("deleting a marked block failed, retrying at the next run", "block", b.Meta.ULID, "err", err)
			c.metrics.cleanFailures.Inc()
			failed = true
			continue
		}
		c.metrics.deleted.WithLabelValues("marked").Inc()
		c.logger.Info("deleted block marked for deletion", "block", b.Meta.ULID, "marked", time.Unix(b.Deletion.DeletionTime, 0).UTC())
	}

	minAge := max(c.cfg.DeleteDelay, partialUploadMinAge)
	for _, p := range st.partials {
		if now.Sub(ulid.Time(p.ID.Time())) < minAge {
			continue
		}
		newest, names, err := c.partialObjects(ctx, p)
		if err != nil {
			if ctx.Err() != nil {
				return failed, ctx.Err()
			}
			c.logger.Warn("listing a partial upload failed, retrying at the next run", "block", p.ID, "err", err)
			c.metrics.cleanFailures.Inc()
			failed = true
			continue
		}
		if now.Sub(newest) < minAge {
			continue
		}
		if err := c.deleteObjects(ctx, names); err != nil {
			if ctx.Err() != nil {
				return failed, ctx.Err()
			}
			c.logger.Warn("deleting a partial upload failed, retrying at the next run", "block", p.ID, "err", err)
			c.metrics.cleanFailures.Inc()
			failed = true
			continue
		}
		c.metrics.deleted.WithLabelValues("partial").Inc()
		c.logger.Info("deleted partial upload", "block", p.ID, "objects", len(names), "last_modified", newest.UTC())
	}
	return failed, nil
}

// partialObjects returns the newest last-modified time of the objects of
// a partial upload (from the sync when the listing reported it, else from
// each object's attributes) and lists its objects again, to delete them.
func (c *Compactor) partialObjects(ctx context.Context, p *Block) (time.Time, []string, error) {
	newest, err := c.inv.LastModified(ctx, p)
	if err != nil {
		return time.Time{}, nil, err
	}
	names, err := metadata.ListRecursive(ctx, c.bkt, p.ID.String()+objstore.DirDelim)
	if err != nil {
		return time.Time{}, nil, err
	}
	return newest, names, nil
}

// deleteObjects deletes names, those already gone included.
func (c *Compactor) deleteObjects(ctx context.Context, names []string) error {
	for _, n := range names {
		if err := c.bkt.Delete(ctx, n); err != nil && !c.bkt.IsObjNotFoundErr(err) {
			return fmt.Errorf("delete %s: %w", n, err)
		}
	}
	return nil
}
