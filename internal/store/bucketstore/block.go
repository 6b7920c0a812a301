package bucketstore

import (
	"context"
	"errors"
	"fmt"
	"path"
	"strings"
	"sync"
	"sync/atomic"
	"time"

	"github.com/prometheus/prometheus/model/labels"
	"github.com/thanos-io/objstore"

	"github.com/strata-io/strata/internal/cache"
	"github.com/strata-io/strata/internal/store/indexheader"
	"github.com/strata-io/strata/pkg/metadata"
)

// block is one loaded block of the bucket: its meta.json, its index (see
// blockIndex: an index-header on local disk, loaded lazily, plus ranged
// GETs of <ULID>/index) and ranged chunk reads.
//
// Opening a block costs the GET of meta.json (by the sync) and, when the
// header file is not on disk yet (first start, new block), the 4 ranged
// GETs that build it (indexheader.Build). The header is then dropped from
// memory until a request needs it, and again when idle (releaseIfIdle).
//
// A block is safe for concurrent use. Readers take a reference (acquire)
// while the store's lock is held and release it when done; close waits for
// the references to go before closing the header.
type block struct {
	meta *metadata.Meta
	dir  string        // ULID
	ext  labels.Labels // thanos.labels
	bkt  objstore.BucketReader
	hdr  *indexheader.LazyReader
	ir   *blockIndex
	// segSizes: segment file name (e.g. "000001") -> size in bytes, from
	// meta.json's files.
	segSizes map[string]int64
	// cache is the store's index cache, nil when there is none.
	cache  cache.Cache
	refs   sync.WaitGroup
	closed atomic.Bool

	chunkGets atomic.Int64 // ranged GETs of chunk segments
}

// openBlock opens the block described by meta, its index-header kept in the
// file hdrPath (built from the bucket when missing or unreadable). ctx
// bounds the index reads for the block's whole life (the store's context).
// A block whose index is truncated or damaged fails here.
func openBlock(ctx context.Context, bkt objstore.BucketReader, meta *metadata.Meta, hdrPath string, hm *indexheader.Metrics) (*block, error) {
	dir := meta.ULID.String()
	b := &block{
		meta:     meta,
		dir:      dir,
		ext:      meta.Thanos.LabelSet(),
		bkt:      bkt,
		segSizes: map[string]int64{},
		hdr:      indexheader.NewLazyReader(bkt, meta.ULID, hdrPath, hm),
	}
	for _, f := range meta.Thanos.Files {
		if name, ok := strings.CutPrefix(f.RelPath, metadata.ChunksDirname+"/"); ok {
			b.segSizes[name] = f.SizeBytes
		}
	}
	var size int64
	if err := b.hdr.Use(ctx, func(r *indexheader.Reader) error { size = r.IndexSize(); return nil }); err != nil {
		return nil, errors.Join(err, b.hdr.Close())
	}
	// Loaded on demand from now on.
	b.hdr.ReleaseIfIdle(time.Now(), 0)
	guess := int64(seriesSizeGuess)
	if m := meta.Thanos.IndexStats.SeriesMaxSize; m > 0 {
		guess = m
	}
	b.ir = &blockIndex{
		ctx:         ctx,
		bkt:         bkt,
		name:        path.Join(dir, metadata.IndexFilename),
		size:        size,
		hdr:         b.hdr,
		seriesGuess: guess,
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

// release drops a reference taken by the store on behalf of a reader.
func (b *block) release() { b.refs.Done() }

// close waits for the readers of the block to release it, then closes its
// index-header (the file stays). The store removes the block from its set
// before closing it, so no new reference can be taken.
func (b *block) close() error {
	if b.closed.Swap(true) {
		return nil
	}
	b.refs.Wait()
	return b.hdr.Close()
}
