package compact

import (
	"context"
	"fmt"
	"time"

	"github.com/strata-io/strata/internal/block"
)

// bucketState is what a sync saw in the bucket.
type bucketState struct {
	// blocks are the complete blocks (with meta.json), sorted by ULID,
	// including those marked for deletion.
	blocks []*Block
	// partials are the block directories without meta.json (uploads in
	// progress, interrupted ones, or interrupted deletes), sorted by ULID.
	partials []*Block
}

// sync scans the bucket with the inventory (meta.json and markers read
// MetaFetchConcurrency at a time, kept across syncs). Blocks whose
// meta.json cannot be read or is invalid are logged, counted and left out
// (never halt); a marker that cannot be read is logged and the block kept
// as if unmarked. Only a failed listing is an error. Blocks the selector
// (RelabelConfigs) drops are left out too: the later steps never see them.
// Partial uploads have no labels and are all kept.
func (c *Compactor) sync(ctx context.Context) (*bucketState, error) {
	start := time.Now()
	listed, err := c.inv.Scan(ctx)
	if err != nil {
		return nil, fmt.Errorf("list blocks of the bucket: %w", err)
	}
	st := &bucketState{}
	ignored := 0
	for _, b := range listed {
		switch {
		case b.Partial():
			st.partials = append(st.partials, b)
		case b.MetaErr != nil:
			c.logger.Warn("block skipped: cannot read its metadata", "block", b.ID, "err", b.MetaErr)
			c.metrics.syncFailures.Inc()
		case !block.RelabelKeeps(c.cfg.RelabelConfigs, b.Meta.Thanos.LabelSet(), b.Meta.ULID):
			ignored++
		default:
			for _, e := range b.MarkerErrs {
				c.logger.Warn("marker ignored", "block", b.ID, "marker", e.Filename, "err", e.Err)
			}
			st.blocks = append(st.blocks, b)
		}
	}
	c.metrics.ignored.Set(float64(ignored))
	c.logger.Debug("bucket synced", "blocks", len(st.blocks), "ignored", ignored, "partial", len(st.partials), "duration", time.Since(start))
	return st, nil
}
