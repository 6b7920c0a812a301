package compact

import (
	"context"
	"errors"
	"fmt"
	"path"
	"slices"
	"strings"
	"sync"
	"time"

	"github.com/oklog/ulid/v2"
	"github.com/thanos-io/objstore"

	"github.com/strata-io/strata/internal/block"
	"github.com/strata-io/strata/pkg/metadata"
)

// partialBlock is a block directory without meta.json: an upload in
// progress, an interrupted one, or an interrupted delete.
type partialBlock struct {
	id ulid.ULID
	// newest is the last-modified time of its newest object; zero when the
	// provider does not report it during listing.
	newest time.Time
}

// bucketState is what a sync saw in the bucket.
type bucketState struct {
	// blocks are the complete blocks (with meta.json), sorted by ULID,
	// including those marked for deletion.
	blocks   []*Block
	partials []partialBlock
}

// dirListing is what a listing saw of one block directory.
type dirListing struct {
	// entries are the names directly in the directory, sub-directories
	// with a trailing '/': "meta.json", "index", "chunks/", markers...
	entries map[string]bool
	newest  time.Time
}

// metaCache keeps meta.json contents (immutable for a given ULID) and
// marker contents across syncs. Goroutine-safe.
type metaCache struct {
	mu      sync.Mutex
	metas   map[ulid.ULID]*metadata.Meta
	markers map[string]metadata.Marker // by object name
}

func newMetaCache() *metaCache {
	return &metaCache{metas: map[ulid.ULID]*metadata.Meta{}, markers: map[string]metadata.Marker{}}
}

// sync lists the bucket and reads every block's meta.json and markers,
// MetaFetchConcurrency at a time. Blocks whose meta.json cannot be read
// or is invalid are logged, counted and left out (never halt); only a
// failed listing is an error. Blocks the selector (RelabelConfigs) drops
// are left out too: the later steps never see them. Partial uploads have
// no labels and are all kept.
func (c *Compactor) sync(ctx context.Context) (*bucketState, error) {
	start := time.Now()
	dirs, err := c.listBlockDirs(ctx)
	if err != nil {
		return nil, fmt.Errorf("list blocks of the bucket: %w", err)
	}
	st := &bucketState{}
	ids := make([]ulid.ULID, 0, len(dirs))
	for id, l := range dirs {
		if !l.entries[metadata.MetaFilename] {
			st.partials = append(st.partials, partialBlock{id: id, newest: l.newest})
			continue
		}
		ids = append(ids, id)
	}
	slices.SortFunc(ids, func(a, b ulid.ULID) int { return a.Compare(b) })
	slices.SortFunc(st.partials, func(a, b partialBlock) int { return a.id.Compare(b.id) })

	blocks := make([]*Block, len(ids))
	var (
		wg      sync.WaitGroup
		sem     = make(chan struct{}, c.cfg.MetaFetchConcurrency)
		mu      sync.Mutex
		listErr error
	)
	for i, id := range ids {
		wg.Add(1)
		sem <- struct{}{}
		go func() {
			defer func() { <-sem; wg.Done() }()
			b, err := c.readBlock(ctx, id, dirs[id].entries)
			switch {
			case errors.Is(err, metadata.ErrMetaNotFound):
				// Deleted between the listing and the read.
			case err != nil && ctx.Err() != nil:
				mu.Lock()
				listErr = ctx.Err()
				mu.Unlock()
			case err != nil:
				c.logger.Warn("block skipped: cannot read its metadata", "block", id, "err", err)
				c.metrics.syncFailures.Inc()
			default:
				blocks[i] = b
			}
		}()
	}
	wg.Wait()
	if listErr != nil {
		return nil, listErr
	}
	ignored := 0
	for _, b := range blocks {
		switch {
		case b == nil:
		case !block.RelabelKeeps(c.cfg.RelabelConfigs, b.Meta.Thanos.LabelSet(), b.Meta.ULID):
			ignored++
		default:
			st.blocks = append(st.blocks, b)
		}
	}
	c.metrics.ignored.Set(float64(ignored))
	c.cache.prune(dirs)
	c.logger.Debug("bucket synced", "blocks", len(st.blocks), "ignored", ignored, "partial", len(st.partials), "duration", time.Since(start))
	return st, nil
}

// listBlockDirs lists the block directories of the bucket (names that are
// ULIDs) and their entries: with one recursive listing when the provider
// supports it, else one listing per block.
func (c *Compactor) listBlockDirs(ctx context.Context) (map[ulid.ULID]*dirListing, error) {
	dirs := map[ulid.ULID]*dirListing{}
	get := func(id ulid.ULID) *dirListing {
		l := dirs[id]
		if l == nil {
			l = &dirListing{entries: map[string]bool{}}
			dirs[id] = l
		}
		return l
	}
	supported := c.bkt.SupportedIterOptions()
	if slices.Contains(supported, objstore.Recursive) {
		opts := []objstore.IterOption{objstore.WithRecursiveIter()}
		if slices.Contains(supported, objstore.UpdatedAt) {
			opts = append(opts, objstore.WithUpdatedAt())
		}
		err := c.bkt.IterWithAttributes(ctx, "", func(a objstore.IterObjectAttributes) error {
			dir, rest, ok := strings.Cut(a.Name, objstore.DirDelim)
			id, err := ulid.ParseStrict(dir)
			if !ok || err != nil || rest == "" {
				return nil
			}
			l := get(id)
			top, _, sub := strings.Cut(rest, objstore.DirDelim)
			if sub {
				top += objstore.DirDelim
			}
			l.entries[top] = true
			if t, ok := a.LastModified(); ok && t.After(l.newest) {
				l.newest = t
			}
			return nil
		}, opts...)
		return dirs, err
	}

	var ids []ulid.ULID
	err := c.bkt.Iter(ctx, "", func(name string) error {
		id, err := ulid.ParseStrict(strings.TrimSuffix(name, objstore.DirDelim))
		if err == nil && strings.HasSuffix(name, objstore.DirDelim) {
			ids = append(ids, id)
		}
		return nil
	})
	if err != nil {
		return nil, err
	}
	var (
		wg   sync.WaitGroup
		sem  = make(chan struct{}, c.cfg.MetaFetchConcurrency)
		mu   sync.Mutex
		errs []error
	)
	for _, id := range ids {
		l := get(id)
		wg.Add(1)
		sem <- struct{}{}
		go func() {
			defer func() { <-sem; wg.Done() }()
			prefix := id.String() + objstore.DirDelim
			var names []string
			err := c.bkt.Iter(ctx, prefix, func(name string) error {
				names = append(names, strings.TrimPrefix(name, prefix))
				return nil
			})
			mu.Lock()
			defer mu.Unlock()
			if err != nil {
				errs = append(errs, err)
				return
			}
			for _, n := range names {
				l.entries[n] = true
			}
		}()
	}
	wg.Wait()
	return dirs, errors.Join(errs...)
}

// readBlock reads the meta.json (from the cache when seen before) and the
// markers listed in entries of block id.
func (c *Compactor) readBlock(ctx context.Context, id ulid.ULID, entries map[string]bool) (*Block, error) {
	c.cache.mu.Lock()
	meta := c.cache.metas[id]
	c.cache.mu.Unlock()
	if meta == nil {
		m, err := metadata.ReadFromBucket(ctx, c.bkt, id)
		if err != nil {
			return nil, err
		}
		meta = m
		c.cache.mu.Lock()
		c.cache.metas[id] = m
		c.cache.mu.Unlock()
	}
	b := &Block{Meta: meta}
	for _, mk := range []metadata.Marker{&metadata.DeletionMark{}, &metadata.NoCompactMark{}, &metadata.NoDownsampleMark{}} {
		if !entries[mk.Filename()] {
			continue
		}
		got, err := c.readMarker(ctx, id, mk)
		if errors.Is(err, metadata.ErrMarkerNotFound) {
			continue
		}
		if err != nil {
			if ctx.Err() != nil {
				return nil, err
			}
			// A bad marker is ignored rather than stopping the block: the
			// block stays as if unmarked.
			c.logger.Warn("marker ignored", "block", id, "marker", mk.Filename(), "err", err)
			continue
		}
		switch m := got.(type) {
		case *metadata.DeletionMark:
			b.Deletion = m
		case *metadata.NoCompactMark:
			b.NoCompact = m
		case *metadata.NoDownsampleMark:
			b.NoDownsample = m
		}
	}
	return b, nil
}

func (c *Compactor) readMarker(ctx context.Context, id ulid.ULID, mk metadata.Marker) (metadata.Marker, error) {
	name := metadata.MarkerPath(id, mk.Filename())
	c.cache.mu.Lock()
	got := c.cache.markers[name]
	c.cache.mu.Unlock()
	if got != nil {
		return got, nil
	}
	if err := metadata.ReadMarker(ctx, c.bkt, id, mk); err != nil {
		return nil, err
	}
	c.cache.mu.Lock()
	c.cache.markers[name] = mk
	c.cache.mu.Unlock()
	return mk, nil
}

// rememberMarker records a marker this instance wrote, saving a read.
func (mc *metaCache) rememberMarker(mk metadata.Marker) {
	mc.mu.Lock()
	defer mc.mu.Unlock()
	mc.markers[metadata.MarkerPath(mk.BlockID(), mk.Filename())] = mk
}

// prune forgets the blocks and markers that are gone from the bucket.
func (mc *metaCache) prune(dirs map[ulid.ULID]*dirListing) {
	mc.mu.Lock()
	defer mc.mu.Unlock()
	for id := range mc.metas {
		if l := dirs[id]; l == nil || !l.entries[metadata.MetaFilename] {
			delete(mc.metas, id)
		}
	}
	for name := range mc.markers {
		dir, file := path.Split(name)
		id, err := ulid.ParseStrict(strings.TrimSuffix(dir, objstore.DirDelim))
		if l := dirs[id]; err != nil || l == nil || !l.entries[file] {
			delete(mc.markers, name)
		}
	}
}

// rememberMeta records the meta.json of a block this instance uploaded.
func (mc *metaCache) rememberMeta(m *metadata.Meta) {
	mc.mu.Lock()
	defer mc.mu.Unlock()
	mc.metas[m.ULID] = m
}
