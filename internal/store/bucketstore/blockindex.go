package bucketstore

import (
	"cmp"
	"context"
	"encoding/binary"
	"errors"
	"fmt"
	"hash/crc32"
	"io"
	"slices"
	"sync"

	"github.com/prometheus/prometheus/model/labels"
	"github.com/prometheus/prometheus/storage"
	"github.com/prometheus/prometheus/tsdb"
	"github.com/prometheus/prometheus/tsdb/chunks"
	"github.com/prometheus/prometheus/tsdb/encoding"
	"github.com/prometheus/prometheus/tsdb/index"
	"github.com/thanos-io/objstore"

	"github.com/strata-io/strata/internal/store/indexheader"
)

const (
	// postingsMaxGap: postings lists closer than this in the index are
	// read with one ranged GET (the lists of one label name are adjacent,
	// so a regex matcher's lists usually come in one GET).
	postingsMaxGap = 16 << 10
	// seriesMaxGap: series entries closer than this are read with one GET.
	seriesMaxGap = 16 << 10
	// seriesSizeGuess is how many bytes are read for the last entry of a
	// range when meta.json does not give the largest series entry; an
	// entry found longer is read again whole.
	seriesSizeGuess = 4 << 10
	// fetchConcurrency bounds the ranged GETs of one lookup in flight.
	fetchConcurrency = 8
)

// errNotSupported is returned by the blockIndex methods the store never
// calls (they would need a full index).
var errNotSupported = errors.New("not supported by the store gateway's block index")

// blockIndex is the index of one block as tsdb.IndexReader: symbols, label
// names and values and the places of postings lists come from the block's
// index-header (loaded lazily, see indexheader.LazyReader); postings lists
// and series entries are read from <ULID>/index with ranged GETs, nearby
// ones merged into one GET. Nothing read is kept: the index cache, when
// configured, keeps what is worth keeping.
//
// It is safe for concurrent use.
type blockIndex struct {
	// ctx bounds the reads of Series, which has no context of its own
	// (the store's lifetime).
	ctx  context.Context
	bkt  objstore.BucketReader
	name string // <ULID>/index
	size int64  // of the index object
	hdr  *indexheader.LazyReader
	// seriesGuess is how many bytes to read for a series entry of unknown
	// length.
	seriesGuess int64
}

var _ tsdb.IndexReader = (*blockIndex)(nil)

// byteRange is [start, end) of the index file.
type byteRange struct{ start, end int64 }

// fetch reads the ranges (sorted, not overlapping) concurrently and returns
// their bytes in the same order.
func (bi *blockIndex) fetch(ctx context.Context, rs []byteRange) ([][]byte, error) {
	out := make([][]byte, len(rs))
	errs := make([]error, len(rs))
	sem := make(chan struct{}, fetchConcurrency)
	var wg sync.WaitGroup
	for i, r := range rs {
		sem <- struct{}{}
		wg.Go(func() {
			defer func() { <-sem }()
			out[i], errs[i] = bi.getRange(ctx, r)
		})
	}
	wg.Wait()
	return out, errors.Join(errs...)
}

func (bi *blockIndex) getRange(ctx context.Context, r byteRange) (_ []byte, err error) {
	r.end = min(r.end, bi.size)
	rc, err := bi.bkt.GetRange(ctx, bi.name, r.start, r.end-r.start)
	if err != nil {
		return nil, fmt.Errorf("get %s [%d, %d): %w", bi.name, r.start, r.end, err)
	}
	defer func() { err = errors.Join(err, rc.Close()) }()
	b := make([]byte, r.end-r.start)
	if n, err := io.ReadFull(rc, b); err != nil {
		return nil, fmt.Errorf("read %s [%d, %d): got %d bytes: %w", bi.name, r.start, r.end, n, err)
	}
	return b, nil
}

// merge groups sorted ranges into the ranges to GET: neighbours less than
// gap apart share one GET. part[i] is the index of the GET of rs[i].
func merge(rs []byteRange, gap int64) (gets []byteRange, part []int) {
	part = make([]int, len(rs))
	for i, r := range rs {
		if n := len(gets); n > 0 && r.start-gets[n-1].end <= gap {
			gets[n-1].end = max(gets[n-1].end, r.end)
		} else {
			gets = append(gets, r)
		}
		part[i] = len(gets) - 1
	}
	return gets, part
}

// Postings returns the union of the postings lists of name=values; absent
// pairs select nothing.
func (bi *blockIndex) Postings(ctx context.Context, name string, values ...string) (index.Postings, error) {
	its := make([]index.Postings, 0, len(values))
	if err := bi.postingsLists(ctx, name, values, func(_ string, p index.Postings) error {
		its = append(its, p)
		return nil
	}); err != nil {
		return nil, err
	}
	return union(ctx, its), nil
}

// union returns the union of its: nothing, the one list, or their merge.
func union(ctx context.Context, its []index.Postings) index.Postings {
	switch len(its) {
	case 0:
		return index.EmptyPostings()
	case 1:
		return its[0]
	}
	return index.Merge(ctx, its...)
}

// postingsLists reads the postings lists of name=values with ranged GETs,
// lists close to each other in one GET, and calls f with each list found,
// in the order of the index (values sorted). Absent pairs are skipped.
func (bi *blockIndex) postingsLists(ctx context.Context, name string, values []string, f func(value string, p index.Postings) error) error {
	type list struct {
		value string
		r     byteRange
	}
	ls := make([]list, 0, len(values))
	err := bi.hdr.Use(ctx, func(r *indexheader.Reader) error {
		for _, v := range values {
			rng, err := r.PostingsOffset(name, v)
			if errors.Is(err, indexheader.ErrNotFound) {
				continue
			}
			if err != nil {
				return err
			}
			ls = append(ls, list{v, byteRange{rng.Start, rng.End}})
		}
		return nil
	})
	if err != nil || len(ls) == 0 {
		return err
	}
	slices.SortFunc(ls, func(a, b list) int { return cmp.Compare(a.r.start, b.r.start) })
	rs := make([]byteRange, len(ls))
	for i, l := range ls {
		rs[i] = l.r
	}
	gets, part := merge(rs, postingsMaxGap)
	bufs, err := bi.fetch(ctx, gets)
	if err != nil {
		return err
	}
	for i, r := range rs {
		g := gets[part[i]]
		b := bufs[part[i]][r.start-g.start : r.end-g.start]
		_, p, err := index.DecodePostingsRaw(encoding.NewDecbufAt(byteSlice(b), 0, castagnoli))
		if err != nil {
			return fmt.Errorf("decode postings of %s=%q at %d in %s: %w", name, ls[i].value, r.start, bi.name, err)
		}
		if err := f(ls[i].value, p); err != nil {
			return err
		}
	}
	return nil
}

// PostingsForLabelMatching returns the union of the postings lists of the
// values of name that match accepts.
func (bi *blockIndex) PostingsForLabelMatching(ctx context.Context, name string, match func(string) bool) index.Postings {
	return postingsForLabelMatching(ctx, bi, name, match)
}

// PostingsForAllLabelValues returns the postings of the series with name
// set.
func (bi *blockIndex) PostingsForAllLabelValues(ctx context.Context, name string) index.Postings {
	return postingsForLabelMatching(ctx, bi, name, nil)
}

// postingsForLabelMatching selects the values of name accepted by match
// (nil: all) and returns the union of their postings through ir.
func postingsForLabelMatching(ctx context.Context, ir tsdb.IndexReader, name string, match func(string) bool) index.Postings {
	vals, err := ir.SortedLabelValues(ctx, name, nil)
	if err != nil {
		return index.ErrPostings(err)
	}
	if match != nil {
		vals = slices.DeleteFunc(vals, func(v string) bool { return !match(v) })
	}
	if len(vals) == 0 {
		return index.EmptyPostings()
	}
	p, err := ir.Postings(ctx, name, vals...)
	if err != nil {
		return index.ErrPostings(err)
	}
	return p
}

// SortedLabelValues returns the sorted values of name in the block.
// Matchers are not supported (the store intersects postings itself).
func (bi *blockIndex) SortedLabelValues(ctx context.Context, name string, _ *storage.LabelHints, ms ...*labels.Matcher) ([]string, error) {
	if len(ms) > 0 {
		return nil, fmt.Errorf("label values with matchers: %w", errNotSupported)
	}
	vals, err := bi.hdr.LabelValues(ctx, name)
	if errors.Is(err, indexheader.ErrNotFound) {
		return nil, nil
	}
	return vals, err
}

// LabelValues is SortedLabelValues.
func (bi *blockIndex) LabelValues(ctx context.Context, name string, hints *storage.LabelHints, ms ...*labels.Matcher) ([]string, error) {
	return bi.SortedLabelValues(ctx, name, hints, ms...)
}

// LabelNames returns the sorted label names of the block. Matchers are not
// supported (see LabelNamesFor).
func (bi *blockIndex) LabelNames(ctx context.Context, ms ...*labels.Matcher) ([]string, error) {
	if len(ms) > 0 {
		return nil, fmt.Errorf("label names with matchers: %w", errNotSupported)
	}
	return bi.hdr.LabelNames(ctx)
}

// LabelNamesFor returns the sorted label names of the series of p.
func (bi *blockIndex) LabelNamesFor(ctx context.Context, p index.Postings) ([]string, error) {
	seen := map[string]struct{}{}
	err := forEachBatch(ctx, p, func(refs []storage.SeriesRef) error {
		return bi.series(ctx, refs, func(_ int, lset labels.Labels, _ []chunks.Meta) error {
			lset.Range(func(l labels.Label) { seen[l.Name] = struct{}{} })
			return nil
		})
	})
	if err != nil {
		return nil, err
	}
	names := make([]string, 0, len(seen))
	for n := range seen {
		names = append(names, n)
	}
	slices.Sort(names)
	return names, nil
}

// Series reads one series entry. The store reads them in batches (see
// series); this serves the callers of tsdb.IndexReader.
func (bi *blockIndex) Series(ref storage.SeriesRef, sb *labels.ScratchBuilder, chks *[]chunks.Meta) error {
	return bi.series(bi.ctx, []storage.SeriesRef{ref}, func(_ int, lset labels.Labels, metas []chunks.Meta) error {
		sb.Reset()
		lset.Range(func(l labels.Label) { sb.Add(l.Name, l.Value) })
		*chks = append((*chks)[:0], metas...)
		return nil
	})
}

// Symbols is not supported: the symbols stay in the index-header.
func (*blockIndex) Symbols() index.StringIter { return errStringIter{} }

// SortedPostings returns p: postings are sorted by series labels already.
func (*blockIndex) SortedPostings(p index.Postings) index.Postings { return p }

// ShardedPostings is not supported (Info says supports_sharding=false).
func (*blockIndex) ShardedPostings(index.Postings, uint64, uint64) index.Postings {
	return index.ErrPostings(fmt.Errorf("sharded postings: %w", errNotSupported))
}

// Close implements tsdb.IndexReader; the owner closes the header.
func (*blockIndex) Close() error { return nil }

type errStringIter struct{}

func (errStringIter) Next() bool     { return false }
func (errStringIter) At() string     { return "" }
func (errStringIter) Err() error     { return fmt.Errorf("symbols: %w", errNotSupported) }
func (errStringIter) Close() error   { return nil }
func (errStringIter) String() string { return "" }

// series reads the series entries refs (ascending) with ranged GETs,
// nearby entries merged into one, and calls f with each in order: its
// position in refs, its labels and its chunk metas (valid until f
// returns). A series entry sits at 16 × ref in the index (format v2): a
// uvarint length, the entry, a CRC32.
func (bi *blockIndex) series(ctx context.Context, refs []storage.SeriesRef, f func(i int, lset labels.Labels, metas []chunks.Meta) error) error {
	if len(refs) == 0 {
		return nil
	}
	rs := make([]byteRange, len(refs))
	for i, ref := range refs {
		off := int64(ref) * 16
		if off >= bi.size {
			return fmt.Errorf("series %d: offset %d beyond the end of %s (%d bytes): %w", ref, off, bi.name, bi.size, storage.ErrNotFound)
		}
		rs[i] = byteRange{off, off + bi.seriesGuess}
	}
	gets, part := merge(rs, seriesMaxGap)
	bufs, err := bi.fetch(ctx, gets)
	if err != nil {
		return err
	}
	entries := make([][]byte, len(refs))
	for i, r := range rs {
		g := gets[part[i]]
		e, err := seriesEntry(bufs[part[i]][r.start-g.start:])
		if errors.Is(err, errShortEntry) {
			// Longer than guessed: read it whole.
			e, err = bi.longSeriesEntry(ctx, r.start)
		}
		if err != nil {
			return fmt.Errorf("series %d in %s: %w", refs[i], bi.name, err)
		}
		entries[i] = e
	}

	type decoded struct {
		lset  labels.Labels
		metas []chunks.Meta
	}
	out := make([]decoded, len(entries))
	err = bi.hdr.Use(ctx, func(r *indexheader.Reader) error {
		dec := index.Decoder{LookupSymbol: func(_ context.Context, o uint32) (string, error) { return r.LookupSymbol(o) }}
		var (
			sb    labels.ScratchBuilder
			metas []chunks.Meta
		)
		for i, e := range entries {
			if err := dec.Series(e, &sb, &metas); err != nil {
				return fmt.Errorf("decode series %d in %s: %w", refs[i], bi.name, err)
			}
			out[i] = decoded{lset: sb.Labels(), metas: slices.Clone(metas)}
		}
		return nil
	})
	if err != nil {
		return err
	}
	for i, d := range out {
		if err := f(i, d.lset, d.metas); err != nil {
			return err
		}
	}
	return nil
}

// errShortEntry: the bytes read end inside the series entry.
var errShortEntry = errors.New("series entry longer than the bytes read")

// seriesEntry returns the series entry at the start of b after checking its
// CRC32, or errShortEntry when b ends before the entry does.
func seriesEntry(b []byte) ([]byte, error) {
	l, k := binary.Uvarint(b)
	switch {
	case k == 0:
		return nil, errShortEntry
	case k < 0:
		return nil, errors.New("invalid series entry length")
	}
	end := uint64(k) + l + crc32.Size
	if end > uint64(len(b)) {
		return nil, errShortEntry
	}
	e := b[k : uint64(k)+l]
	if crc32.Checksum(e, castagnoli) != binary.BigEndian.Uint32(b[uint64(k)+l:]) {
		return nil, errors.New("series entry checksum mismatch (corrupt index)")
	}
	return e, nil
}

// longSeriesEntry reads the series entry at off by itself: its length
// first, then the whole of it.
func (bi *blockIndex) longSeriesEntry(ctx context.Context, off int64) ([]byte, error) {
	b, err := bi.getRange(ctx, byteRange{off, off + binary.MaxVarintLen32})
	if err != nil {
		return nil, err
	}
	l, k := binary.Uvarint(b)
	if k <= 0 {
		return nil, errors.New("invalid series entry length")
	}
	if b, err = bi.getRange(ctx, byteRange{off, off + int64(k) + int64(l) + crc32.Size}); err != nil {
		return nil, err
	}
	return seriesEntry(b)
}

// forEachBatch calls f with the references of p in ascending batches of at
// most seriesFetchBatch.
func forEachBatch(ctx context.Context, p index.Postings, f func([]storage.SeriesRef) error) error {
	refs := make([]storage.SeriesRef, 0, seriesFetchBatch)
	for p.Next() {
		refs = append(refs, p.At())
		if len(refs) == seriesFetchBatch {
			if err := f(refs); err != nil {
				return err
			}
			refs = refs[:0]
			if err := ctx.Err(); err != nil {
				return err
			}
		}
	}
	if err := p.Err(); err != nil {
		return err
	}
	if len(refs) == 0 {
		return nil
	}
	return f(refs)
}

type byteSlice []byte

func (b byteSlice) Len() int                    { return len(b) }
func (b byteSlice) Range(start, end int) []byte { return b[start:end] }
