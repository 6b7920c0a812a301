package bucketstore

import (
	"context"
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"slices"
	"sync"
	"time"

	"github.com/oklog/ulid/v2"

	bucketblock "github.com/strata-io/strata/internal/block"
	"github.com/strata-io/strata/pkg/metadata"
)

// SyncBlocks brings the set of served blocks in line with the bucket: it
// scans the bucket with the inventory (package block: one listing, then
// the meta.json and markers of each block, BlockSyncConcurrency at a
// time; meta.json is read once per block), and serves the blocks, raw and
// downsampled, overlapping [MinTime, MaxTime] that are not marked for deletion for longer than
// IgnoreDeletionMarksDelay. Directories without meta.json (partial uploads)
// are ignored. New blocks are opened; blocks gone from the list are closed
// (after the calls reading them return). A block whose index cannot be
// opened is logged, counted and skipped; the others are served. It is
// tried again at the next sync, so that a transient bucket error does not
// hide a block until a restart. Until then, requests that may concern such
// a block, or a new block whose meta.json cannot be read, get a warning
// naming it (see unloadedIssues). strata_blocks_meta_synced counts the
// blocks by what the sync did with them.
//
// It returns an error, and keeps the current blocks, when the bucket cannot
// be listed.
func (s *Store) SyncBlocks(ctx context.Context) error {
	s.syncMu.Lock()
	defer s.syncMu.Unlock()
	start := time.Now()
	s.m.syncs.Inc()

	listed, err := s.inv.Scan(ctx)
	if err != nil {
		s.m.syncFailures.Inc()
		return fmt.Errorf("list blocks in the bucket: %w", err)
	}

	s.mu.RLock()
	loaded := make(map[ulid.ULID]*block, len(s.blocks))
	for id, b := range s.blocks {
		loaded[id] = b
	}
	s.mu.RUnlock()

	var mu sync.Mutex
	results := make(map[ulid.ULID]syncResult, len(listed))
	filters := append([]bucketblock.Filter{bucketblock.TimeRange(s.cfg.timeRange(start))}, s.filters...)
	for _, b := range listed {
		results[b.ID] = s.syncOne(b, filters)
	}

	// Open new blocks concurrently.
	var toOpen []ulid.ULID
	for id, r := range results {
		if r.keep && loaded[id] == nil {
			toOpen = append(toOpen, id)
		}
	}
	opened := map[ulid.ULID]*block{}
	openFailed := map[ulid.ULID]error{}
	s.forEach(toOpen, func(id ulid.ULID) {
		b, err := openBlock(s.ctx, s.bkt, results[id].meta, s.headerPath(id), s.hm)
		mu.Lock()
		defer mu.Unlock()
		if err != nil {
			s.logger.Error("block not served: its index cannot be read", "block", id, "err", err)
			s.m.blockLoadFails.Inc()
			openFailed[id] = err
			return
		}
		b.cache = s.cfg.IndexCache
		s.m.blockLoads.Inc()
		s.logger.Debug("block loaded", "block", id)
		opened[id] = b
	})
	for id, err := range openFailed {
		results[id] = syncResult{meta: results[id].meta, state: stateFailed, err: fmt.Errorf("open its index: %w", err)}
	}

	s.mu.Lock()
	var drop []*block
	for id, b := range s.blocks {
		if r, ok := results[id]; !ok || !r.keep {
			drop = append(drop, b)
			delete(s.blocks, id)
		}
	}
	for id, b := range opened {
		s.blocks[id] = b
	}
	counts := map[string]int{}
	var unloaded []*unloadedBlock
	for id, r := range results {
		switch {
		case s.blocks[id] != nil:
			counts[stateLoaded]++
		case r.state == stateFailed || r.state == stateCorruptedMeta:
			counts[r.state]++
			u := &unloadedBlock{id: id, state: r.state, err: r.err, meta: r.meta}
			if r.meta != nil {
				u.ext = r.meta.Thanos.LabelSet()
			}
			unloaded = append(unloaded, u)
		default:
			counts[r.state]++
		}
	}
	slices.SortFunc(unloaded, func(a, b *unloadedBlock) int { return a.id.Compare(b.id) })
	s.unloaded = unloaded
	if !s.ready {
		s.ready = true
		close(s.readyc)
	}
	s.m.blocksLoaded.Set(float64(len(s.blocks)))
	for _, st := range metaSyncedStates {
		s.m.metaSynced.WithLabelValues(st).Set(float64(counts[st]))
	}
	s.mu.Unlock()

	var errs []error
	for _, b := range drop {
		s.logger.Info("block dropped", "block", b.meta.ULID)
		s.m.blockDrops.Inc()
		errs = append(errs, b.close(), os.RemoveAll(filepath.Dir(s.headerPath(b.meta.ULID))))
	}
	s.removeStaleHeaders()
	s.m.lastSyncDuration.Set(time.Since(start).Seconds())
	if err := errors.Join(errs...); err != nil {
		return fmt.Errorf("release dropped blocks: %w", err)
	}
	return nil
}

// removeStaleHeaders deletes the index-header directories of blocks that
// are not served (left by a previous run); failures are only logged.
func (s *Store) removeStaleHeaders() {
	entries, err := os.ReadDir(s.dataDir)
	if err != nil {
		s.logger.Warn("list the data directory", "dir", s.dataDir, "err", err)
		return
	}
	s.mu.RLock()
	defer s.mu.RUnlock()
	for _, e := range entries {
		id, err := ulid.ParseStrict(e.Name())
		if err != nil || !e.IsDir() {
			continue
		}
		if _, ok := s.blocks[id]; ok {
			continue
		}
		if err := os.RemoveAll(filepath.Join(s.dataDir, e.Name())); err != nil {
			s.logger.Warn("remove a stale index-header", "block", id, "err", err)
		}
	}
}

// syncResult says whether to serve a listed block and, when keep is set,
// its meta.json. Otherwise state says why not (a strata_blocks_meta_synced
// state) and err, for stateFailed and stateCorruptedMeta, what failed; meta
// is set when it was read.
type syncResult struct {
	keep  bool
	meta  *metadata.Meta
	state string
	err   error
}

// syncOne decides about one block the inventory read, with the filters of
// this sync.
func (s *Store) syncOne(b *bucketblock.Block, filters []bucketblock.Filter) syncResult {
	id := b.ID
	switch {
	case b.Partial():
		s.logger.Debug("block ignored: no meta.json (partial upload)", "block", id)
		return syncResult{state: stateNoMeta}
	case errors.Is(b.MetaErr, metadata.ErrMetaCorrupt):
		s.logger.Warn("block not served: corrupted meta.json; queries warn about it until it is fixed, marked for deletion or deleted", "block", id, "err", b.MetaErr)
		return syncResult{state: stateCorruptedMeta, err: b.MetaErr}
	case b.MetaErr != nil:
		s.logger.Warn("block not served: read meta.json", "block", id, "err", b.MetaErr)
		return syncResult{state: stateFailed, err: fmt.Errorf("read meta.json: %w", b.MetaErr)}
	}
	meta := b.Meta
	if r := meta.Thanos.Downsample.Resolution; r < 0 {
		s.logger.Warn("block not served: negative downsampling resolution in meta.json", "block", id, "resolution", r)
		return syncResult{state: stateCorruptedMeta, err: fmt.Errorf("negative downsampling resolution %d", r)}
	}
	for _, e := range b.MarkerErrs {
		if e.Filename == metadata.DeletionMarkFilename {
			s.logger.Warn("read deletion mark", "block", id, "err", e.Err)
		}
	}
	switch why := bucketblock.Apply(b, filters...); why {
	case "":
		return syncResult{keep: true, meta: meta}
	case bucketblock.ExcludedByLabels:
		s.logger.Debug("block ignored: dropped by the selector relabel config", "block", id)
		return syncResult{state: why}
	case bucketblock.ExcludedByDeletion:
		s.logger.Debug("block ignored: marked for deletion", "block", id)
		return syncResult{state: why}
	default:
		return syncResult{state: why}
	}
}

// forEach calls f for every id, BlockSyncConcurrency at a time.
func (s *Store) forEach(ids []ulid.ULID, f func(ulid.ULID)) {
	ch := make(chan ulid.ULID)
	var wg sync.WaitGroup
	for range min(s.cfg.BlockSyncConcurrency, len(ids)) {
		wg.Go(func() {
			for id := range ch {
				f(id)
			}
		})
	}
	for _, id := range ids {
		ch <- id
	}
	close(ch)
	wg.Wait()
}

// selected tells whether the selector relabel configs keep the block.
func (s *Store) selected(meta *metadata.Meta) bool {
	return bucketblock.RelabelKeeps(s.cfg.RelabelConfigs, meta.Thanos.LabelSet(), meta.ULID)
}
