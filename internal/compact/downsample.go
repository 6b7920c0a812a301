package compact

import (
	"context"
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"slices"
	"time"

	"github.com/strata-io/strata/internal/downsample"
	"github.com/strata-io/strata/pkg/metadata"
)

// downsampleAll downsamples the owned streams, Concurrency streams at a
// time: first raw -> 5m, then 5m -> 1h including the 5m blocks just made.
// Sources are never deleted here (retention does it). It reports whether
// some block failed; the error is a missing downsampler or ctx's.
func (c *Compactor) downsampleAll(ctx context.Context, st *bucketState) (bool, error) {
	if c.downsampler == nil {
		return false, errors.New("no downsampler: disable downsampling (--downsampling.disable) or provide one")
	}
	byStream := streams(st.blocks, c.cfg.ReplicaLabels, c.cfg.Shard)
	keys := make([]string, 0, len(byStream))
	for k := range byStream {
		keys = append(keys, k)
	}
	slices.Sort(keys)

	failed := forEach(ctx, c.cfg.Concurrency, keys, func(k string) bool {
		return c.downsampleStream(ctx, k, byStream[k])
	})
	return failed, ctx.Err()
}

// downsampleStream runs the downsamplings due in one stream and reports
// whether all of them succeeded.
func (c *Compactor) downsampleStream(ctx context.Context, stream string, blocks []*Block) bool {
	ok := true
	for _, from := range []int64{metadata.ResolutionRaw, metadata.Resolution5m} {
		for _, t := range planDownsampling(blocks, from, c.ranges, c.nowMs()) {
			if ctx.Err() != nil {
				return ok
			}
			out, err := c.downsampleBlock(ctx, t)
			if err != nil && ctx.Err() == nil && errors.Is(err, downsample.ErrUnreadableBlock) {
				// Retrying cannot help: mark it so that the next runs skip it.
				if err = c.markNoDownsample(ctx, t.block, err); err == nil {
					continue
				}
			}
			if err != nil {
				if ctx.Err() == nil {
					c.metrics.downFailures.Inc()
					c.logger.Error("downsampling failed, retrying at the next run", "stream", stream, "block", t.block.Meta.ULID, "err", err)
					ok = false
				}
				continue
			}
			blocks = append(blocks, out)
		}
	}
	return ok
}

// downsampleBlock downloads the task's block, downsamples it and uploads
// the result (meta.json last).
func (c *Compactor) downsampleBlock(ctx context.Context, t downsampleTask) (*Block, error) {
	start := time.Now()
	id := t.block.Meta.ULID
	dir := filepath.Join(c.cfg.WorkDir, downsampleDirName, id.String())
	defer func() {
		if err := os.RemoveAll(dir); err != nil {
			c.logger.Warn("cleaning the local work directory failed", "dir", dir, "err", err)
		}
	}()
	srcDir := filepath.Join(dir, id.String())
	if err := metadata.Download(ctx, c.logger, c.bkt, id, srcDir); err != nil {
		if ctx.Err() == nil {
			if cause := c.damagedObjects(ctx, t.block); cause != nil {
				return nil, fmt.Errorf("%w: %w (download: %w)", downsample.ErrUnreadableBlock, cause, err)
			}
		}
		return nil, err
	}
	meta, err := c.downsampler.Downsample(ctx, srcDir, dir, t.resolution)
	if err != nil {
		return nil, fmt.Errorf("downsample block %s to %s: %w", id, metadata.ResolutionName(t.resolution), err)
	}
	if meta.Stats.NumSamples == 0 {
		return nil, fmt.Errorf("downsampling block %s to %s gave no samples", id, metadata.ResolutionName(t.resolution))
	}
	if err := metadata.Upload(ctx, c.logger, c.bkt, filepath.Join(dir, meta.ULID.String()), meta); err != nil {
		return nil, fmt.Errorf("upload the downsampling of block %s: %w", id, err)
	}
	c.inv.RememberMeta(meta)
	c.metrics.bytesUploaded.Add(float64(filesSize(meta)))
	c.metrics.downsampled.WithLabelValues(metadata.ResolutionName(t.resolution)).Inc()
	c.logger.Info("block downsampled", "block", id, "resolution", metadata.ResolutionName(t.resolution), "new_block", meta.ULID,
		"min_time", meta.MinTime, "max_time", meta.MaxTime, "duration", time.Since(start))
	return &Block{Meta: meta}, nil
}

// markNoDownsample writes a no-downsample mark (reason block-corrupt) on a
// block whose data cannot be downsampled (cause); b is updated for the
// rest of the stream's pass.
func (c *Compactor) markNoDownsample(ctx context.Context, b *Block, cause error) error {
	reason := metadata.CorruptBlockReason
	mark := metadata.NewNoDownsampleMark(b.Meta.ULID, c.cfg.Now(), reason, cause.Error())
	if err := c.writeMark(ctx, b, mark, markerNoDownsample, reason, cause, "block marked no-downsample: its data cannot be read"); err != nil {
		return err
	}
	b.NoDownsample = mark
	return nil
}

// writeMark writes mark (of kind, e.g. markerNoCompact) on b for reason,
// remembers it, counts it and logs msg with the cause.
func (c *Compactor) writeMark(ctx context.Context, b *Block, mark metadata.Marker, kind string, reason metadata.Reason, cause error, msg string) error {
	if err := metadata.WriteMarker(ctx, c.bkt, mark); err != nil {
		return fmt.Errorf("mark block %s %s (%v): %w", b.Meta.ULID, kind, cause, err)
	}
	c.inv.RememberMarker(mark)
	c.metrics.marked.WithLabelValues(kind, string(reason)).Inc()
	c.logger.Warn(msg, "block", b.Meta.ULID, "reason", reason, "err", cause)
	return nil
}
