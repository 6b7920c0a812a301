package compact

import (
	"context"
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"slices"
	"strconv"
	"sync"
	"sync/atomic"
	"time"

	"github.com/oklog/ulid/v2"

	"github.com/strata-io/strata/pkg/metadata"
)

// compactAll compacts every owned group with Concurrency workers; a worker
// takes one whole group at a time, so no two workers touch one group. It
// reports whether some group failed; the error is ctx's.
func (c *Compactor) compactAll(ctx context.Context, st *bucketState) (bool, error) {
	groups := groupBlocks(st.blocks, c.cfg.ReplicaLabels, c.cfg.Shard)
	c.metrics.groupsTodo.Set(float64(len(groups)))
	defer c.metrics.groupsTodo.Set(0)

	failed := forEach(ctx, c.cfg.Concurrency, groups, func(g *group) bool {
		defer func() {
			c.metrics.groupsTodo.Dec()
			c.metrics.groups.Inc()
		}()
		if err := c.compactGroup(ctx, g); err != nil && ctx.Err() == nil {
			c.logger.Error("group compaction failed, the other groups go on", "group", g.key, "err", err)
			c.metrics.groupFailures.Inc()
			return false
		}
		return true
	})
	return failed, ctx.Err()
}

// forEach calls f for each item with n workers until the items or ctx run
// out, and reports whether some call returned false.
func forEach[T any](ctx context.Context, n int, items []T, f func(T) bool) bool {
	var (
		failed atomic.Bool
		wg     sync.WaitGroup
		work   = make(chan T)
	)
	for range max(n, 1) {
		wg.Go(func() {
			for it := range work {
				if !f(it) {
					failed.Store(true)
				}
			}
		})
	}
feed:
	for _, it := range items {
		select {
		case work <- it:
		case <-ctx.Done():
			break feed
		}
	}
	close(work)
	wg.Wait()
	return failed.Load()
}

// errMarkedNoCompact is returned by compactPlan when a block of the plan
// was marked no-compact: the group is planned again without it.
type errMarkedNoCompact struct {
	block *Block // the block with its new mark
}

func (e *errMarkedNoCompact) Error() string {
	return fmt.Sprintf("block %s marked no-compact: %s", e.block.Meta.ULID, e.block.NoCompact.Reason)
}

// compactGroup plans and runs the compactions of one group until nothing
// is left to do. A compaction that fails excludes its blocks for the rest
// of the run and the group goes on; the failures are returned joined.
func (c *Compactor) compactGroup(ctx context.Context, g *group) error {
	start := time.Now()
	dir := filepath.Join(c.cfg.WorkDir, compactDirName, g.dirName())
	blocks := slices.Clone(g.blocks)
	failedBlocks := map[ulid.ULID]bool{}
	var (
		errs                         []error
		compactions, inputs, nMarked int
		samples                      uint64
	)
	for ctx.Err() == nil {
		avail := slices.DeleteFunc(slices.Clone(blocks), func(b *Block) bool { return failedBlocks[b.Meta.ULID] })
		plans := planBatch(avail, c.ranges, c.nowMs(), c.cfg.Concurrency)
		if plans == nil {
			break
		}
		results := c.compactPlans(ctx, g, plans, dir)
		for i, plan := range plans {
			out, err := results[i].out, results[i].err
			var marked *errMarkedNoCompact
			switch {
			case errors.As(err, &marked):
				nMarked++
				for i, b := range blocks {
					if b.Meta.ULID == marked.block.Meta.ULID {
						blocks[i] = marked.block
					}
				}
				continue
			case err != nil:
				if ctx.Err() != nil {
					return ctx.Err()
				}
				c.metrics.compactFailures.Inc()
				c.logger.Warn("compaction failed, its blocks wait for the next run", "group", g.key, "blocks", len(plan), "err", err)
				errs = append(errs, err)
				for _, b := range plan {
					failedBlocks[b.Meta.ULID] = true
				}
				continue
			}
			compactions++
			inputs += len(plan)
			for _, b := range plan {
				samples += b.Meta.Stats.NumSamples
			}
			blocks = slices.DeleteFunc(blocks, func(b *Block) bool { return slices.Contains(plan, b) })
			if out != nil {
				blocks = append(blocks, out)
			}
		}
	}
	if err := ctx.Err(); err != nil {
		return err
	}
	c.logger.Info("group done", "group", g.key, "compactions", compactions, "blocks_in", inputs,
		"samples_in", samples, "blocks_now", len(blocks), "marked_no_compact", nMarked,
		"failures", len(errs), "duration", time.Since(start))
	return errors.Join(errs...)
}

// planResult is the outcome of one plan of a batch.
type planResult struct {
	out *Block
	err error
}

// compactPlans runs the plans of a batch (see planBatch) at once, each in
// its own sub-directory of dir, at most Concurrency compactions of the
// whole compactor at a time, and returns their results in order. dir is
// removed afterwards.
func (c *Compactor) compactPlans(ctx context.Context, g *group, plans [][]*Block, dir string) []planResult {
	results := make([]planResult, len(plans))
	var wg sync.WaitGroup
	for i, plan := range plans {
		wg.Go(func() {
			select {
			case c.slots <- struct{}{}:
				defer func() { <-c.slots }()
			case <-ctx.Done():
				results[i].err = ctx.Err()
				return
			}
			pdir := filepath.Join(dir, strconv.Itoa(i))
			results[i].out, results[i].err = c.compactPlan(ctx, g, plan, pdir)
		})
	}
	wg.Wait()
	if err := os.RemoveAll(dir); err != nil {
		c.logger.Warn("cleaning the local work directory failed", "dir", dir, "err", err)
	}
	return results
}

// compactPlan downloads the blocks of plan into dir, checks them, merges
// them, uploads the result (meta.json last; nothing when it holds no
// samples) and only then marks the plan's blocks for deletion. It returns
// the new block, nil when empty. A block that fails its check with a
// NoCompactReasoner error is marked no-compact: *errMarkedNoCompact.
func (c *Compactor) compactPlan(ctx context.Context, g *group, plan []*Block, dir string) (*Block, error) {
	if err := os.MkdirAll(dir, 0o755); err != nil {
		return nil, fmt.Errorf("create work directory: %w", err)
	}
	srcDirs := make([]string, 0, len(plan))
	ids := make([]ulid.ULID, 0, len(plan))
	for _, b := range plan {
		id := b.Meta.ULID
		bdir := filepath.Join(dir, id.String())
		if err := metadata.Download(ctx, c.logger, c.bkt, id, bdir); err != nil {
			if ctx.Err() != nil {
				return nil, ctx.Err()
			}
			if cause := c.damagedObjects(ctx, b); cause != nil {
				return nil, c.markNoCompact(ctx, b, metadata.CorruptBlockReason, fmt.Errorf("%w (download: %w)", cause, err))
			}
			return nil, err
		}
		if err := c.merger.Check(ctx, bdir); err != nil {
			var r NoCompactReasoner
			if !errors.As(err, &r) {
				return nil, fmt.Errorf("check block %s: %w", id, err)
			}
			return nil, c.markNoCompact(ctx, b, r.NoCompactReason(), err)
		}
		srcDirs = append(srcDirs, bdir)
		ids = append(ids, id)
	}

	mergeStart := time.Now()
	meta, err := c.merger.Merge(ctx, srcDirs, dir, g.stream, g.resolution)
	if err != nil {
		// A merge can find a block at fault too (index size over the
		// limit, overlapping downsampled chunks, a source that does not
		// open): mark that block so that the next plans go around it
		// instead of failing the same way every run.
		var r NoCompactReasoner
		var fb blockFault
		if errors.As(err, &r) && errors.As(err, &fb) {
			for _, b := range plan {
				if b.Meta.ULID == fb.Block() {
					return nil, c.markNoCompact(ctx, b, r.NoCompactReason(), err)
				}
			}
		}
		return nil, fmt.Errorf("merge blocks %v: %w", ids, err)
	}
	var out *Block
	details := "compacted into an empty block (no samples)"
	if meta.Stats.NumSamples > 0 {
		if err := metadata.Upload(ctx, c.logger, c.bkt, filepath.Join(dir, meta.ULID.String()), meta); err != nil {
			return nil, fmt.Errorf("upload the compaction of blocks %v: %w", ids, err)
		}
		c.metrics.bytesUploaded.Add(float64(filesSize(meta)))
		c.inv.RememberMeta(meta)
		out = &Block{Meta: meta}
		details = "compacted into " + meta.ULID.String()
	}

	// The new block's meta.json is in the bucket: its sources can go. A
	// crash before this point leaves them unmarked, overlapping the new
	// block; the next run merges them vertically (identical samples once).
	now := c.cfg.Now()
	for _, b := range plan {
		mark := metadata.NewDeletionMark(b.Meta.ULID, now, details)
		if err := metadata.WriteMarker(ctx, c.bkt, mark); err != nil {
			return nil, fmt.Errorf("mark compacted block %s for deletion: %w", b.Meta.ULID, err)
		}
		c.inv.RememberMarker(mark)
		c.metrics.marked.WithLabelValues(markerDeletion, deletionReasonCompacted).Inc()
	}
	c.metrics.compactions.Inc()
	c.metrics.blocksCompacted.Add(float64(len(plan)))
	for _, b := range plan {
		c.metrics.samples.Add(float64(b.Meta.Stats.NumSamples))
	}
	args := []any{"group", g.key, "sources", ids, "duration", time.Since(mergeStart)}
	if out != nil {
		args = append(args, "block", out.Meta.ULID, "min_time", out.Meta.MinTime, "max_time", out.Meta.MaxTime,
			"level", out.Meta.Compaction.Level, "samples", out.Meta.Stats.NumSamples)
	}
	c.logger.Info("blocks compacted", args...)
	return out, nil
}

// blockFault is implemented by merge errors that name the block at fault.
type blockFault interface {
	error
	Block() ulid.ULID
}

// markNoCompact writes a no-compact mark on b for reason and returns the
// *errMarkedNoCompact that makes the group re-plan without it.
func (c *Compactor) markNoCompact(ctx context.Context, b *Block, reason metadata.Reason, cause error) error {
	mark := metadata.NewNoCompactMark(b.Meta.ULID, c.cfg.Now(), reason, cause.Error())
	if err := c.writeMark(ctx, b, mark, markerNoCompact, reason, cause, "block marked no-compact, compacting around it"); err != nil {
		return err
	}
	nb := *b
	nb.NoCompact = mark
	return &errMarkedNoCompact{block: &nb}
}

// damagedObjects tells whether a block that failed to download is damaged
// in the bucket (a file of its meta.json is missing or has another size),
// as opposed to a transient failure: nil when every file looks right.
func (c *Compactor) damagedObjects(ctx context.Context, b *Block) error {
	for _, f := range b.Meta.Thanos.Files {
		if f.RelPath == metadata.MetaFilename {
			continue
		}
		name := b.Meta.ULID.String() + "/" + f.RelPath
		a, err := c.bkt.Attributes(ctx, name)
		switch {
		case c.bkt.IsObjNotFoundErr(err):
			return fmt.Errorf("%s is missing from the bucket", name)
		case err != nil:
			return nil
		case f.SizeBytes > 0 && a.Size != f.SizeBytes:
			return fmt.Errorf("%s has %d bytes in the bucket, meta.json says %d", name, a.Size, f.SizeBytes)
		}
	}
	return nil
}

// filesSize is the sum of the sizes of the block's files.
func filesSize(m *metadata.Meta) int64 {
	var n int64
	for _, f := range m.Thanos.Files {
		n += f.SizeBytes
	}
	return n
}
