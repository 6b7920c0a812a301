package bucketstore

import (
	"context"
	"encoding/binary"
	"errors"
	"fmt"
	"slices"

	"github.com/prometheus/prometheus/model/labels"
	"github.com/prometheus/prometheus/storage"
	"github.com/prometheus/prometheus/tsdb"
	"github.com/prometheus/prometheus/tsdb/chunks"
	"github.com/prometheus/prometheus/tsdb/index"

	"github.com/strata-io/strata/internal/cache"
)

// seriesFetchBatch is how many series entries are looked up in the index
// cache with one Fetch.
const seriesFetchBatch = 1024

// cachedIndex is a block's index reader whose postings lists are served
// from the index cache when there, and stored in it when read from the
// bucket. Keys: cache.PostingsKey; values: encodePostings.
type cachedIndex struct {
	tsdb.IndexReader // the block's *blockIndex
	b                *block
}

// index returns the reader to select postings with: cached when the store
// has an index cache.
func (b *block) index() tsdb.IndexReader {
	if b.cache == nil {
		return b.ir
	}
	return cachedIndex{IndexReader: b.ir, b: b}
}

// Postings returns the union of the postings lists of name=values: those
// in the cache from it, the others read from the bucket (lists close to
// each other in one GET) and stored.
func (c cachedIndex) Postings(ctx context.Context, name string, values ...string) (index.Postings, error) {
	keys := make([]string, len(values))
	for i, v := range values {
		keys[i] = cache.PostingsKey(c.b.meta.ULID, name, v)
	}
	hits, _ := c.b.cache.Fetch(ctx, keys)
	its := make([]index.Postings, 0, len(values))
	var miss []string
	for i, v := range values {
		if raw, ok := hits[keys[i]]; ok {
			if refs, err := decodePostings(raw); err == nil {
				its = append(its, index.NewListPostings(refs))
				continue
			}
		}
		miss = append(miss, v)
	}
	err := c.b.ir.postingsLists(ctx, name, miss, func(v string, p index.Postings) error {
		refs, err := index.ExpandPostings(p)
		if err != nil {
			return fmt.Errorf("read postings of %s=%q: %w", name, v, err)
		}
		c.b.cache.Store(cache.PostingsKey(c.b.meta.ULID, name, v), encodePostings(refs))
		its = append(its, index.NewListPostings(refs))
		return nil
	})
	if err != nil {
		return nil, err
	}
	return union(ctx, its), nil
}

// PostingsForLabelMatching returns the union of the postings lists of the
// values of name accepted by match, each through the cache.
func (c cachedIndex) PostingsForLabelMatching(ctx context.Context, name string, match func(string) bool) index.Postings {
	return postingsForLabelMatching(ctx, c, name, match)
}

// PostingsForAllLabelValues returns the postings of the series with name
// set.
func (c cachedIndex) PostingsForAllLabelValues(ctx context.Context, name string) index.Postings {
	return postingsForLabelMatching(ctx, c, name, nil)
}

// encodePostings encodes sorted series references as uvarint deltas.
func encodePostings(refs []storage.SeriesRef) []byte {
	out := make([]byte, 0, binary.MaxVarintLen32+2*len(refs))
	out = binary.AppendUvarint(out, uint64(len(refs)))
	var prev storage.SeriesRef
	for _, r := range refs {
		out = binary.AppendUvarint(out, uint64(r-prev))
		prev = r
	}
	return out
}

var errBadCacheItem = errors.New("malformed index cache item")

func decodePostings(b []byte) ([]storage.SeriesRef, error) {
	n, k := binary.Uvarint(b)
	if k <= 0 || n > uint64(len(b)) {
		return nil, errBadCacheItem
	}
	b = b[k:]
	refs := make([]storage.SeriesRef, 0, n)
	var prev uint64
	for range n {
		d, k := binary.Uvarint(b)
		if k <= 0 {
			return nil, errBadCacheItem
		}
		b = b[k:]
		prev += d
		refs = append(refs, storage.SeriesRef(prev))
	}
	if len(b) != 0 {
		return nil, errBadCacheItem
	}
	return refs, nil
}

// forEachSeries calls f with the labels and chunk metas of each series of
// the postings p, in order, reading the entries in batches (see
// blockIndex.series). With an index cache, entries are looked up in it
// first and those missed are read from the index and stored (key
// cache.SeriesKey, value encodeSeries). The labels and metas passed to f
// are valid until f returns.
func (b *block) forEachSeries(ctx context.Context, p index.Postings, f func(ref storage.SeriesRef, lset labels.Labels, metas []chunks.Meta) error) error {
	return forEachBatch(ctx, p, func(refs []storage.SeriesRef) error {
		if b.cache == nil {
			return b.ir.series(ctx, refs, func(i int, lset labels.Labels, metas []chunks.Meta) error {
				return f(refs[i], lset, metas)
			})
		}
		type entry struct {
			lset  labels.Labels
			metas []chunks.Meta
		}
		keys := make([]string, len(refs))
		for i, ref := range refs {
			keys[i] = cache.SeriesKey(b.meta.ULID, uint64(ref))
		}
		hits, _ := b.cache.Fetch(ctx, keys)
		var (
			got      = make([]entry, len(refs))
			missIdx  []int
			missRefs []storage.SeriesRef
			sb       labels.ScratchBuilder
			metas    []chunks.Meta
		)
		for i, ref := range refs {
			if raw, ok := hits[keys[i]]; ok && decodeSeries(raw, &sb, &metas) == nil {
				got[i] = entry{lset: sb.Labels(), metas: slices.Clone(metas)}
				continue
			}
			missIdx = append(missIdx, i)
			missRefs = append(missRefs, ref)
		}
		err := b.ir.series(ctx, missRefs, func(j int, lset labels.Labels, metas []chunks.Meta) error {
			i := missIdx[j]
			b.cache.Store(keys[i], encodeSeries(lset, metas))
			got[i] = entry{lset: lset, metas: slices.Clone(metas)}
			return nil
		})
		if err != nil {
			return err
		}
		for i, e := range got {
			if err := f(refs[i], e.lset, e.metas); err != nil {
				return err
			}
		}
		return nil
	})
}

// encodeSeries encodes a series entry: uvarint label count, then per label
// uvarint-prefixed name and value; uvarint chunk count, then per chunk
// uvarint ref, varint min time and uvarint max time - min time (ms).
func encodeSeries(lset labels.Labels, metas []chunks.Meta) []byte {
	out := make([]byte, 0, int(lset.ByteSize())+2*lset.Len()+2+len(metas)*16)
	out = binary.AppendUvarint(out, uint64(lset.Len()))
	lset.Range(func(l labels.Label) {
		out = binary.AppendUvarint(out, uint64(len(l.Name)))
		out = append(out, l.Name...)
		out = binary.AppendUvarint(out, uint64(len(l.Value)))
		out = append(out, l.Value...)
	})
	out = binary.AppendUvarint(out, uint64(len(metas)))
	for _, m := range metas {
		out = binary.AppendUvarint(out, uint64(m.Ref))
		out = binary.AppendVarint(out, m.MinTime)
		out = binary.AppendUvarint(out, uint64(m.MaxTime-m.MinTime))
	}
	return out
}

// decodeSeries decodes an encodeSeries value into sb and metas.
func decodeSeries(b []byte, sb *labels.ScratchBuilder, metas *[]chunks.Meta) error {
	uv := func() (uint64, bool) {
		v, k := binary.Uvarint(b)
		if k <= 0 {
			return 0, false
		}
		b = b[k:]
		return v, true
	}
	str := func() (string, bool) {
		n, ok := uv()
		if !ok || n > uint64(len(b)) {
			return "", false
		}
		s := string(b[:n])
		b = b[n:]
		return s, true
	}
	n, ok := uv()
	if !ok || n > uint64(len(b)) {
		return errBadCacheItem
	}
	sb.Reset()
	for range n {
		name, ok1 := str()
		value, ok2 := str()
		if !ok1 || !ok2 {
			return errBadCacheItem
		}
		sb.Add(name, value)
	}
	n, ok = uv()
	if !ok || n > uint64(len(b)) {
		return errBadCacheItem
	}
	*metas = (*metas)[:0]
	for range n {
		ref, ok1 := uv()
		mint, k := binary.Varint(b)
		if !ok1 || k <= 0 {
			return errBadCacheItem
		}
		b = b[k:]
		d, ok2 := uv()
		if !ok2 {
			return errBadCacheItem
		}
		*metas = append(*metas, chunks.Meta{Ref: chunks.ChunkRef(ref), MinTime: mint, MaxTime: mint + int64(d)})
	}
	if len(b) != 0 {
		return errBadCacheItem
	}
	return nil
}
