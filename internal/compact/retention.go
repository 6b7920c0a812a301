package compact

import (
	"context"
	"fmt"
	"slices"
	"time"

	"github.com/strata-io/strata/pkg/metadata"
)

// applyRetention marks for deletion the owned blocks past the retention of
// their resolution (planRetention), and logs and counts the raw and 5m
// blocks held back because their data has no coarser copy yet. It
// reports whether some mark could not be written; the error is ctx's.
func (c *Compactor) applyRetention(ctx context.Context, st *bucketState) (bool, error) {
	r := c.cfg.Retention
	if !r.Enabled() {
		return false, nil
	}
	byStream := streams(st.blocks, c.cfg.ReplicaLabels, c.cfg.Shard)
	keys := make([]string, 0, len(byStream))
	for k := range byStream {
		keys = append(keys, k)
	}
	slices.Sort(keys)
	now := c.cfg.Now()
	failed := false
	for _, k := range keys {
		del, held := planRetention(byStream[k], r, !c.cfg.DisableDownsampling, now.UnixMilli())
		for _, b := range held {
			c.metrics.retentionHeld.Inc()
			c.logger.Info("retention held back: the block's data has no downsampled copy yet", "stream", k,
				"block", b.Meta.ULID, "resolution", metadata.ResolutionName(b.Meta.Thanos.Downsample.Resolution),
				"max_time", time.UnixMilli(b.Meta.MaxTime).UTC())
		}
		for _, b := range del {
			if err := ctx.Err(); err != nil {
				return failed, err
			}
			res := metadata.ResolutionName(b.Meta.Thanos.Downsample.Resolution)
			mark := metadata.NewDeletionMark(b.Meta.ULID, now, fmt.Sprintf("past the %s retention", res))
			if err := metadata.WriteMarker(ctx, c.bkt, mark); err != nil {
				if ctx.Err() != nil {
					return failed, ctx.Err()
				}
				c.logger.Error("marking a block past retention failed, retrying at the next run", "block", b.Meta.ULID, "err", err)
				failed = true
				continue
			}
			c.inv.RememberMarker(mark)
			c.metrics.marked.WithLabelValues(markerDeletion, deletionReasonRetention).Inc()
			c.logger.Info("block past retention marked for deletion", "stream", k, "block", b.Meta.ULID,
				"resolution", res, "max_time", time.UnixMilli(b.Meta.MaxTime).UTC())
		}
	}
	return failed, nil
}
