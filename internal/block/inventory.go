package block

import (
	"context"
	"errors"
	"fmt"
	"maps"
	"path"
	"slices"
	"strings"
	"sync"
	"time"

	"github.com/oklog/ulid/v2"
	"github.com/thanos-io/objstore"

	"github.com/strata-io/strata/pkg/metadata"
)

// DefaultConcurrency is how many block directories an Inventory reads at
// once when Config.Concurrency is 0.
const DefaultConcurrency = 16

// Config configures an Inventory.
type Config struct {
	// Concurrency is how many block directories are listed (when the
	// bucket cannot be listed recursively) and read at once; 0 means
	// DefaultConcurrency.
	Concurrency int
	// Progress, when not nil, is called by Scan after each block directory
	// is read, with the number read so far and the total; from Scan's
	// goroutines but never concurrently.
	Progress func(done, total int)
}

// Inventory lists and reads the block directories of one bucket. It keeps
// meta.json contents (immutable for a given ULID) and markers across
// scans, forgetting those the last Scan did not see; a marker is read
// again when the listing reports a newer last-modified time for it. Safe
// for concurrent use.
type Inventory struct {
	bkt objstore.BucketReader
	cfg Config

	mu      sync.Mutex
	metas   map[ulid.ULID]*metadata.Meta
	markers map[string]cachedMarker // by object name
}

type cachedMarker struct {
	marker metadata.Marker
	// modified is the object's last-modified time; zero when unknown.
	modified time.Time
}

// NewInventory returns an Inventory over bkt, which it uses but does not
// close.
func NewInventory(bkt objstore.BucketReader, cfg Config) *Inventory {
	if cfg.Concurrency <= 0 {
		cfg.Concurrency = DefaultConcurrency
	}
	return &Inventory{bkt: bkt, cfg: cfg, metas: map[ulid.ULID]*metadata.Meta{}, markers: map[string]cachedMarker{}}
}

// Scan returns every block directory of the bucket (top-level directories
// named by a ULID; other objects are ignored), sorted by ULID. It lists
// the bucket, then reads each block's meta.json and the markers the
// listing shows, Concurrency blocks at a time. A meta.json or marker that
// cannot be read is recorded in the Block (MetaErr, MarkerErrs), not
// returned; Scan fails only when the bucket cannot be listed (the
// provider's error, or "list block <id>: ..." for one directory) or ctx
// ends (ctx's error).
func (inv *Inventory) Scan(ctx context.Context) ([]*Block, error) {
	dirs, err := inv.listAll(ctx)
	if err != nil {
		return nil, err
	}
	ids := slices.SortedFunc(maps.Keys(dirs), func(a, b ulid.ULID) int { return a.Compare(b) })
	blocks := make([]*Block, len(ids))
	var (
		mu   sync.Mutex
		done int
	)
	inv.forEach(ctx, len(ids), func(i int) {
		blocks[i] = inv.read(ctx, ids[i], dirs[ids[i]])
		if inv.cfg.Progress != nil {
			mu.Lock()
			done++
			inv.cfg.Progress(done, len(ids))
			mu.Unlock()
		}
	})
	if err := ctx.Err(); err != nil {
		return nil, err
	}
	inv.prune(dirs)
	return blocks, nil
}

// Read lists and reads the one block directory id, as Scan does. A
// directory without objects gives a partial Block without objects. It
// fails only when the directory cannot be listed or ctx ends.
func (inv *Inventory) Read(ctx context.Context, id ulid.ULID) (*Block, error) {
	d, err := inv.listDir(ctx, id)
	if err != nil {
		return nil, err
	}
	b := inv.read(ctx, id, d)
	if err := ctx.Err(); err != nil {
		return nil, err
	}
	return b, nil
}

// RememberMeta records the meta.json of a block the caller uploaded,
// saving its read at the next Scan.
func (inv *Inventory) RememberMeta(m *metadata.Meta) {
	inv.mu.Lock()
	defer inv.mu.Unlock()
	inv.metas[m.ULID] = m
}

// RememberMarker records a marker the caller wrote, saving its read at the
// next Scan.
func (inv *Inventory) RememberMarker(mk metadata.Marker) {
	inv.mu.Lock()
	defer inv.mu.Unlock()
	inv.markers[metadata.MarkerPath(mk.BlockID(), mk.Filename())] = cachedMarker{marker: mk}
}

// LastModified returns when the newest object of b was written: b.Newest
// when the listing reported it, else the latest last-modified time of b's
// objects (one Attributes call each; objects gone meanwhile are skipped).
// The age of a partial upload is the time since the later of this and its
// ULID's time.
func (inv *Inventory) LastModified(ctx context.Context, b *Block) (time.Time, error) {
	if !b.Newest.IsZero() {
		return b.Newest, nil
	}
	var newest time.Time
	for _, rel := range b.Objects {
		name := path.Join(b.ID.String(), rel)
		a, err := inv.bkt.Attributes(ctx, name)
		if inv.bkt.IsObjNotFoundErr(err) {
			continue
		}
		if err != nil {
			return time.Time{}, fmt.Errorf("attributes of %s: %w", name, err)
		}
		if a.LastModified.After(newest) {
			newest = a.LastModified
		}
	}
	return newest, nil
}

// ListIDs returns the ULIDs of the top-level block directories of bkt, in
// ascending order; the error is the provider's.
func ListIDs(ctx context.Context, bkt objstore.BucketReader) ([]ulid.ULID, error) {
	var ids []ulid.ULID
	err := bkt.Iter(ctx, "", func(name string) error {
		dir, ok := strings.CutSuffix(name, objstore.DirDelim)
		if !ok {
			return nil
		}
		if id, err := ulid.ParseStrict(dir); err == nil {
			ids = append(ids, id)
		}
		return nil
	})
	if err != nil {
		return nil, err
	}
	slices.SortFunc(ids, func(a, b ulid.ULID) int { return a.Compare(b) })
	return ids, nil
}

// dirListing is what a listing saw of one block directory.
type dirListing struct {
	// objects are relative to the directory, sorted once listed.
	objects []string
	// modified holds the last-modified times of the files directly in
	// the directory (meta.json, markers), when the listing reported them.
	modified map[string]time.Time
	newest   time.Time
}

func (d *dirListing) add(rel string, a objstore.IterObjectAttributes) {
	d.objects = append(d.objects, rel)
	t, ok := a.LastModified()
	if !ok {
		return
	}
	if t.After(d.newest) {
		d.newest = t
	}
	if !strings.Contains(rel, objstore.DirDelim) {
		if d.modified == nil {
			d.modified = map[string]time.Time{}
		}
		d.modified[rel] = t
	}
}

// iterOptions returns the options of a recursive listing with
// last-modified times, or false when the provider cannot list recursively.
func (inv *Inventory) iterOptions() ([]objstore.IterOption, bool) {
	supported := inv.bkt.SupportedIterOptions()
	if !slices.Contains(supported, objstore.Recursive) {
		return nil, false
	}
	opts := []objstore.IterOption{objstore.WithRecursiveIter()}
	if slices.Contains(supported, objstore.UpdatedAt) {
		opts = append(opts, objstore.WithUpdatedAt())
	}
	return opts, true
}

// listAll lists every block directory: with one recursive listing when the
// provider supports it, else the top level and then each directory,
// Concurrency at a time.
func (inv *Inventory) listAll(ctx context.Context) (map[ulid.ULID]*dirListing, error) {
	dirs := map[ulid.ULID]*dirListing{}
	if opts, ok := inv.iterOptions(); ok {
		err := inv.bkt.IterWithAttributes(ctx, "", func(a objstore.IterObjectAttributes) error {
			dir, rest, ok := strings.Cut(a.Name, objstore.DirDelim)
			id, err := ulid.ParseStrict(dir)
			if !ok || err != nil || rest == "" {
				return nil
			}
			d := dirs[id]
			if d == nil {
				d = &dirListing{}
				dirs[id] = d
			}
			d.add(rest, a)
			return nil
		}, opts...)
		if err != nil {
			return nil, err
		}
		for _, d := range dirs {
			slices.Sort(d.objects)
		}
		return dirs, nil
	}

	ids, err := ListIDs(ctx, inv.bkt)
	if err != nil {
		return nil, err
	}
	var (
		mu   sync.Mutex
		errs []error
	)
	inv.forEach(ctx, len(ids), func(i int) {
		d, err := inv.listDir(ctx, ids[i])
		mu.Lock()
		defer mu.Unlock()
		if err != nil {
			errs = append(errs, err)
			return
		}
		dirs[ids[i]] = d
	})
	if err := ctx.Err(); err != nil {
		return nil, err
	}
	if err := errors.Join(errs...); err != nil {
		return nil, err
	}
	return dirs, nil
}

// listDir lists the objects of block directory id.
func (inv *Inventory) listDir(ctx context.Context, id ulid.ULID) (*dirListing, error) {
	prefix := id.String() + objstore.DirDelim
	d := &dirListing{}
	var err error
	if opts, ok := inv.iterOptions(); ok {
		err = inv.bkt.IterWithAttributes(ctx, prefix, func(a objstore.IterObjectAttributes) error {
			d.add(strings.TrimPrefix(a.Name, prefix), a)
			return nil
		}, opts...)
	} else {
		var names []string
		names, err = metadata.ListRecursive(ctx, inv.bkt, prefix)
		for _, n := range names {
			d.add(strings.TrimPrefix(n, prefix), objstore.IterObjectAttributes{Name: n})
		}
	}
	if err != nil {
		return nil, fmt.Errorf("list block %s: %w", id, err)
	}
	slices.Sort(d.objects)
	return d, nil
}

// forEach calls f(i) for i in [0, n), Concurrency at a time, and stops
// handing out work when ctx ends.
func (inv *Inventory) forEach(ctx context.Context, n int, f func(i int)) {
	next := make(chan int)
	var wg sync.WaitGroup
	for range min(inv.cfg.Concurrency, n) {
		wg.Go(func() {
			for i := range next {
				f(i)
			}
		})
	}
feed:
	for i := range n {
		select {
		case next <- i:
		case <-ctx.Done():
			break feed
		}
	}
	close(next)
	wg.Wait()
}

// read reads the meta.json and the markers d shows of block id.
func (inv *Inventory) read(ctx context.Context, id ulid.ULID, d *dirListing) *Block {
	b := &Block{ID: id, Objects: d.objects, Newest: d.newest}
	if b.HasObject(metadata.MetaFilename) {
		b.Meta, b.MetaErr = inv.meta(ctx, id)
		if errors.Is(b.MetaErr, metadata.ErrMetaNotFound) {
			// Deleted between the listing and the read.
			b.Meta, b.MetaErr = nil, nil
		}
	}
	for _, mk := range []metadata.Marker{&metadata.DeletionMark{}, &metadata.NoCompactMark{}, &metadata.NoDownsampleMark{}} {
		name := mk.Filename()
		if !b.HasObject(name) {
			continue
		}
		got, err := inv.marker(ctx, id, mk, d.modified[name])
		if errors.Is(err, metadata.ErrMarkerNotFound) {
			continue
		}
		if err != nil {
			b.MarkerErrs = append(b.MarkerErrs, &MarkerError{Filename: name, Err: err})
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
	return b
}

// meta returns the meta.json of block id, from the cache when read before.
func (inv *Inventory) meta(ctx context.Context, id ulid.ULID) (*metadata.Meta, error) {
	inv.mu.Lock()
	m := inv.metas[id]
	inv.mu.Unlock()
	if m != nil {
		return m, nil
	}
	m, err := metadata.ReadFromBucket(ctx, inv.bkt, id)
	if err != nil {
		return nil, err
	}
	inv.mu.Lock()
	inv.metas[id] = m
	inv.mu.Unlock()
	return m, nil
}

// marker returns the marker mk (a zero value selecting the file) of block
// id, from the cache unless the listing reports a last-modified time
// (modified, zero when unknown) other than the cached one's.
func (inv *Inventory) marker(ctx context.Context, id ulid.ULID, mk metadata.Marker, modified time.Time) (metadata.Marker, error) {
	name := metadata.MarkerPath(id, mk.Filename())
	inv.mu.Lock()
	c, ok := inv.markers[name]
	if ok && (c.modified.IsZero() || modified.IsZero() || c.modified.Equal(modified)) {
		if c.modified.IsZero() {
			inv.markers[name] = cachedMarker{marker: c.marker, modified: modified}
		}
		inv.mu.Unlock()
		return c.marker, nil
	}
	inv.mu.Unlock()
	if err := metadata.ReadMarker(ctx, inv.bkt, id, mk); err != nil {
		return nil, err
	}
	inv.mu.Lock()
	inv.markers[name] = cachedMarker{marker: mk, modified: modified}
	inv.mu.Unlock()
	return mk, nil
}

// prune forgets the metas and markers the listing dirs no longer shows.
func (inv *Inventory) prune(dirs map[ulid.ULID]*dirListing) {
	has := func(id ulid.ULID, rel string) bool {
		d := dirs[id]
		if d == nil {
			return false
		}
		_, ok := slices.BinarySearch(d.objects, rel)
		return ok
	}
	inv.mu.Lock()
	defer inv.mu.Unlock()
	for id := range inv.metas {
		if !has(id, metadata.MetaFilename) {
			delete(inv.metas, id)
		}
	}
	for name := range inv.markers {
		dir, file := path.Split(name)
		id, err := ulid.ParseStrict(strings.TrimSuffix(dir, objstore.DirDelim))
		if err != nil || !has(id, file) {
			delete(inv.markers, name)
		}
	}
}
