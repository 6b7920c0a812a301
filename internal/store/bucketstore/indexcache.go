package bucketstore

import (
	"context"
	"encoding/binary"
	"errors"
	"fmt"

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
// bucket. Keys: cache.PostingsKey; values: encodePostings. Calls into it
// must be guarded (see guard), like calls into the index reader.
type cachedIndex struct {
	tsdb.IndexReader // the block's *index.Reader
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

// Postings returns the union of the postings lists of name=values.
func (c cachedIndex) Postings(ctx context.Context, name string, values ...string) (index.Postings, error) {
	keys := make([]string, len(values))
	for i, v := range values {
		keys[i] = cache.PostingsKey(c.b.meta.ULID, name, v)
	}
	hits, _ := c.b.cache.Fetch(ctx, keys)
	its := make([]index.Postings, 0, len(values))
	for i, v := range values {
		if raw, ok := hits[keys[i]]; ok {
			if refs, err := decodePostings(raw); err == nil {
				its = append(its, index.NewListPostings(refs))
				continue
			}
		}
		p, err := c.IndexReader.Postings(ctx, name, v)
		if err != nil {
			return nil, err
		}
		refs, err := index.ExpandPostings(p)
		if err != nil {
			return nil, fmt.Errorf("read postings of %s=%q: %w", name, v, err)
		}
		c.b.cache.Store(keys[i], encodePostings(refs))
		its = append(its, index.NewListPostings(refs))
	}
	if len(its) == 1 {
		return its[0], nil
	}
	return index.Merge(ctx, its...), nil
}

// PostingsForLabelMatching returns the union of the postings lists of the
// values of name accepted by match, each through the cache.
func (c cachedIndex) PostingsForLabelMatching(ctx context.Context, name string, match func(string) bool) index.Postings {
	vals, err := c.SortedLabelValues(ctx, name, nil)
	if err != nil {
		return index.ErrPostings(err)
	}
	if match != nil {
		kept := vals[:0]
		for _, v := range vals {
			if match(v) {
				kept = append(kept, v)
			}
		}
		vals = kept
	}
	if len(vals) == 0 {
		return index.EmptyPostings()
	}
	p, err := c.Postings(ctx, name, vals...)
	if err != nil {
		return index.ErrPostings(err)
	}
	return p
}

// PostingsForAllLabelValues returns the postings of the series with name
// set.
func (c cachedIndex) PostingsForAllLabelValues(ctx context.Context, name string) index.Postings {
	return c.PostingsForLabelMatching(ctx, name, nil)
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
// the postings p, in order. With an index cache, entries are looked up in
// it in batches and those missed are read from the index and stored (key
// cache.SeriesKey, value encodeSeries). The labels and metas passed to f
// are valid until f returns. Must be guarded.
func (b *block) forEachSeries(ctx context.Context, p index.Postings, f func(ref storage.SeriesRef, lset labels.Labels, metas []chunks.Meta) error) error {
	var (
		sb    labels.ScratchBuilder
		metas []chunks.Meta
	)
	if b.cache == nil {
		for p.Next() {
			if err := b.ir.Series(p.At(), &sb, &metas); err != nil {
				return fmt.Errorf("read series %d: %w", p.At(), err)
			}
			if err := f(p.At(), sb.Labels(), metas); err != nil {
				return err
			}
		}
		return p.Err()
	}
	refs := make([]storage.SeriesRef, 0, seriesFetchBatch)
	keys := make([]string, 0, seriesFetchBatch)
	flush := func() error {
		hits, _ := b.cache.Fetch(ctx, keys)
		for i, ref := range refs {
			if raw, ok := hits[keys[i]]; ok {
				if err := decodeSeries(raw, &sb, &metas); err == nil {
					if err := f(ref, sb.Labels(), metas); err != nil {
						return err
					}
					continue
				}
			}
			if err := b.ir.Series(ref, &sb, &metas); err != nil {
				return fmt.Errorf("read series %d: %w", ref, err)
			}
			lset := sb.Labels()
			b.cache.Store(keys[i], encodeSeries(lset, metas))
			if err := f(ref, lset, metas); err != nil {
				return err
			}
		}
		refs, keys = refs[:0], keys[:0]
		return ctx.Err()
	}
	for p.Next() {
		refs = append(refs, p.At())
		keys = append(keys, cache.SeriesKey(b.meta.ULID, uint64(p.At())))
		if len(refs) == seriesFetchBatch {
			if err := flush(); err != nil {
				return err
			}
		}
	}
	if err := p.Err(); err != nil {
		return err
	}
	return flush()
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
