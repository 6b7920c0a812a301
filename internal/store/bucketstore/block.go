package bucketstore

import (
	"context"
	"errors"
	"fmt"
	"path"
	"strings"
	"sync"
	"sync/atomic"

	"github.com/prometheus/prometheus/model/labels"
	"github.com/prometheus/prometheus/tsdb/index"
	"github.com/thanos-io/objstore"

	"github.com/strata-io/strata/internal/cache"
	"github.com/strata-io/strata/pkg/metadata"
)

// block is one loaded block of the bucket: its meta.json, an index reader
// over ranged GETs of <ULID>/index (see indexBytes) and ranged chunk reads.
//
// Opening a block costs, with 16 KiB index pages: the GET of meta.json (by
// the sync), one Attributes call when meta.json does not list the index
// size, and at most 4 ranged GETs of the index (see indexBytes.prefetch):
// the first page (header, symbol table length), the last page (TOC), the
// rest of the symbol table, the rest of the postings offset table.
// index.NewReader reads the TOC, walks the whole symbol table and the whole
// postings offset table, keeping every 32nd symbol offset and every 32nd
// postings offset entry in memory; everything else (series, postings lists)
// is read on demand, page by page, and kept until the block is closed.
//
// A block is safe for concurrent use. Readers take a reference (acquire)
// while the store's lock is held and release it when done; close waits for
// the references to go before unmapping the index.
type block struct {
	meta *metadata.Meta
	dir  string        // ULID
	ext  labels.Labels // thanos.labels
	bkt  objstore.BucketReader
	ib   *indexBytes
	ir   *index.Reader
	// segSizes: segment file name (e.g. "000001") -> size in bytes, from
	// meta.json's files.
	segSizes map[string]int64
	// cache is the store's index cache, nil when there is none.
	cache  cache.Cache
	refs   sync.WaitGroup
	closed atomic.Bool

	chunkGets atomic.Int64 // ranged GETs of chunk segments
}

// openBlock opens the index of the block described by meta. ctx bounds the
// index fetches for the block's whole life (the store's context).
func openBlock(ctx context.Context, bkt objstore.BucketReader, meta *metadata.Meta) (_ *block, err error) {
	dir := meta.ULID.String()
	b := &block{
		meta:     meta,
		dir:      dir,
		ext:      meta.Thanos.LabelSet(),
		bkt:      bkt,
		segSizes: map[string]int64{},
	}
	var indexSize int64
	for _, f := range meta.Thanos.Files {
		if f.RelPath == metadata.IndexFilename {
			indexSize = f.SizeBytes
		}
		if name, ok := strings.CutPrefix(f.RelPath, metadata.ChunksDirname+"/"); ok {
			b.segSizes[name] = f.SizeBytes
		}
	}
	name := path.Join(dir, metadata.IndexFilename)
	if indexSize <= 0 {
		attrs, err := bkt.Attributes(ctx, name)
		if err != nil {
			return nil, fmt.Errorf("size of %s: %w", name, err)
		}
		indexSize = attrs.Size
	}
	b.ib, err = newIndexBytes(ctx, bkt, name, indexSize)
	if err != nil {
		return nil, err
	}
	defer func() {
		if err != nil {
			err = errors.Join(err, b.ib.close())
		}
	}()
	if err := b.ib.prefetch(); err != nil {
		return nil, err
	}
	if err := guard(func() (err error) {
		b.ir, err = index.NewReader(b.ib, index.DecodePostingsRaw)
		return err
	}); err != nil {
		return nil, fmt.Errorf("open %s: %w", name, err)
	}
	return b, nil
}

// segmentFile returns the file name of segment seg (the upper 32 bits of a
// chunk reference): the seg-th of meta.json's segment_files when listed,
// else the name Prometheus gives it (segments are numbered from 1).
func (b *block) segmentFile(seg int) string {
	if sf := b.meta.Thanos.SegmentFiles; seg < len(sf) {
		return sf[seg]
	}
	return fmt.Sprintf("%06d", seg+1)
}

// segmentSize returns the size of segment seg from meta.json, 0 if unknown.
func (b *block) segmentSize(seg int) int64 { return b.segSizes[b.segmentFile(seg)] }

// overlaps tells whether the block holds data in [mint, maxt] (ms,
// inclusive); the block's maxTime is exclusive.
func (b *block) overlaps(mint, maxt int64) bool {
	return b.meta.MinTime <= maxt && mint < b.meta.MaxTime
}

// splitMatchers evaluates the matchers on the block's external label names
// against its external labels and returns the others, for the index. ok is
// false when the external labels contradict a matcher.
func (b *block) splitMatchers(ms []*labels.Matcher) (rest []*labels.Matcher, ok bool) {
	rest = make([]*labels.Matcher, 0, len(ms))
	for _, m := range ms {
		if b.ext.Has(m.Name) {
			if !m.Matches(b.ext.Get(m.Name)) {
				return nil, false
			}
			continue
		}
		rest = append(rest, m)
	}
	return rest, true
}

// release drops a reference taken by the store on behalf of a reader.
func (b *block) release() { b.refs.Done() }

// close waits for the readers of the block to release it, then frees its
// index. The store removes the block from its set before closing it, so no
// new reference can be taken.
func (b *block) close() error {
	if b.closed.Swap(true) {
		return nil
	}
	b.refs.Wait()
	return b.ib.close()
}

// indexGets returns the number of ranged GETs of the index so far.
func (b *block) indexGets() int64 { return b.ib.gets.Load() }
