package bucketstore

import (
	"context"
	"encoding/binary"
	"errors"
	"fmt"
	"io"
	"sync"
	"sync/atomic"
	"syscall"

	"github.com/prometheus/prometheus/tsdb/index"
	"github.com/thanos-io/objstore"
)

// indexPageSize is the granule, in bytes, of index reads: a Range call
// fetches the aligned pages it touches that are not held yet, and adjacent
// missing pages are fetched with one ranged GET. 16 KiB holds a typical
// series entry or postings list together with its length prefix, so that a
// lookup usually costs one GET instead of two (length, then body).
const indexPageSize = 16 << 10

// fetchError is what indexBytes.Range panics with when a GET fails: the
// index.ByteSlice interface has no error result, and returning zeros would
// be read as valid empty data (a zero length with a zero CRC32 checks out).
// guard turns it back into an error at the boundary of every call into the
// index reader.
type fetchError struct{ err error }

// guard runs f, turning a fetchError panic raised by an indexBytes inside it
// into an error. Other panics propagate. f must read the index in its own
// goroutine (index.Reader and tsdb.PostingsForMatchers start none).
func guard(f func() error) (err error) {
	defer func() {
		if r := recover(); r != nil {
			fe, ok := r.(fetchError)
			if !ok {
				panic(r)
			}
			err = fe.err
		}
	}()
	return f()
}

// indexBytes implements Prometheus' index.ByteSlice over ranged GETs of one
// index object. It never downloads the whole object: the bytes live in an
// anonymous, private memory mapping of the object's size (address space
// only: untouched pages take no memory), and each Range call first fetches
// the pages it covers that were not fetched before. Fetched pages stay until
// close.
//
// index.Reader asks for Range(0, Len()) in its symbol lookups
// (Symbols.Lookup, ReverseLookup) and reads only the symbol table out of it:
// prefetch fetched the table when the block was opened, so that request
// returns the whole mapping without a GET. (Should a later Prometheus read
// other sections through Range(0, Len()), it would read zeros where nothing
// was fetched; the contract tests would fail.)
//
// Range is safe for concurrent use; fetches of one index are serialised.
// The returned slices point into the mapping and are valid until close,
// which the owner calls only after the last reader is done.
type indexBytes struct {
	ctx  context.Context // of the fetches: the store's lifetime
	bkt  objstore.BucketReader
	name string
	buf  []byte // mmap'd, len(buf) == object size

	// symEnd is the end of the symbol table (after its CRC32), set by
	// prefetch before index.NewReader runs.
	symEnd int

	mu   sync.Mutex      // serialises fetches
	have []atomic.Uint64 // bitmap of fetched pages; a bit is set after its page's bytes are written

	gets atomic.Int64 // ranged GETs issued
}

var _ index.ByteSlice = (*indexBytes)(nil)

// newIndexBytes maps size bytes for the object name. The caller must call
// close.
func newIndexBytes(ctx context.Context, bkt objstore.BucketReader, name string, size int64) (*indexBytes, error) {
	if size < index.HeaderLen+52 {
		return nil, fmt.Errorf("%s is %d bytes, too small for an index (truncated upload?)", name, size)
	}
	buf, err := syscall.Mmap(-1, 0, int(size), syscall.PROT_READ|syscall.PROT_WRITE, syscall.MAP_ANON|syscall.MAP_PRIVATE)
	if err != nil {
		return nil, fmt.Errorf("map %d bytes for %s: %w", size, name, err)
	}
	pages := (int(size) + indexPageSize - 1) / indexPageSize
	return &indexBytes{
		ctx:  ctx,
		bkt:  bkt,
		name: name,
		buf:  buf,
		have: make([]atomic.Uint64, (pages+63)/64),
	}, nil
}

// prefetch reads the TOC, records the bounds of the symbol table and
// fetches the two sections index.NewReader walks in full: the symbol table
// (after the 5-byte header) and the postings offset table (which runs from
// its TOC offset to the TOC at the end of the file). It must run before
// index.NewReader, which then issues no GET of its own. Cost: 4 GETs (the
// first page, the last page, the rest of each section); fewer when the
// sections share pages.
func (b *indexBytes) prefetch() error {
	return guard(func() error {
		toc, err := index.NewTOCFromByteSlice(b)
		if err != nil {
			return fmt.Errorf("read TOC of %s: %w", b.name, err)
		}
		off := int(toc.Symbols)
		if off+4 > len(b.buf) {
			return fmt.Errorf("%s: symbol table offset %d beyond the end (%d bytes)", b.name, off, len(b.buf))
		}
		n := int(binary.BigEndian.Uint32(b.Range(off, off+4)))
		end := off + 4 + n + 4
		if end > len(b.buf) {
			return fmt.Errorf("%s: symbol table [%d, %d) beyond the end (%d bytes)", b.name, off, end, len(b.buf))
		}
		b.symEnd = end
		b.Range(off, end)
		if pt := int(toc.PostingsTable); pt < len(b.buf) {
			b.Range(pt, len(b.buf))
		}
		return nil
	})
}

// Len implements index.ByteSlice: the object size.
func (b *indexBytes) Len() int { return len(b.buf) }

// Range implements index.ByteSlice. It panics with a fetchError when a
// needed page cannot be fetched (see guard).
func (b *indexBytes) Range(start, end int) []byte {
	if start == 0 && end == len(b.buf) && b.symEnd > 0 {
		// A symbol lookup: only the symbol table is read, and prefetch
		// fetched it.
		return b.buf
	}
	b.ensure(start, end)
	return b.buf[start:end]
}

func (b *indexBytes) ensure(start, end int) {
	if start >= end {
		return
	}
	first, last := start/indexPageSize, (end-1)/indexPageSize
	all := true
	for p := first; p <= last && all; p++ {
		all = b.has(p)
	}
	if all {
		return
	}
	b.mu.Lock()
	defer b.mu.Unlock()
	for p := first; p <= last; {
		if b.has(p) {
			p++
			continue
		}
		q := p
		for q+1 <= last && !b.has(q+1) {
			q++
		}
		if err := b.fetch(p, q); err != nil {
			panic(fetchError{err: err})
		}
		p = q + 1
	}
}

func (b *indexBytes) has(p int) bool { return b.have[p/64].Load()&(1<<(p%64)) != 0 }

// fetch reads pages [first, last] with one GET; b.mu is held.
func (b *indexBytes) fetch(first, last int) (err error) {
	off := first * indexPageSize
	end := min((last+1)*indexPageSize, len(b.buf))
	b.gets.Add(1)
	rc, err := b.bkt.GetRange(b.ctx, b.name, int64(off), int64(end-off))
	if err != nil {
		return fmt.Errorf("get %s [%d, %d): %w", b.name, off, end, err)
	}
	defer func() { err = errors.Join(err, rc.Close()) }()
	n, err := io.ReadFull(rc, b.buf[off:end])
	if err != nil {
		return fmt.Errorf("read %s [%d, %d): got %d bytes: %w", b.name, off, end, n, err)
	}
	for p := first; p <= last; p++ {
		b.have[p/64].Or(1 << (p % 64))
	}
	return nil
}

// close unmaps the bytes; no slice returned by Range may be used after.
func (b *indexBytes) close() error {
	if b.buf == nil {
		return nil
	}
	err := syscall.Munmap(b.buf)
	b.buf = nil
	return err
}
