package indexheader

import (
	"encoding/binary"
	"errors"
	"fmt"
	"hash/crc32"
	"os"
	"slices"
	"sort"
	"unsafe"

	"github.com/prometheus/prometheus/tsdb/encoding"
	"github.com/prometheus/prometheus/tsdb/index"
)

// errClosed is returned by the methods of a closed Reader.
var errClosed = errors.New("index-header reader is closed")

// Reader answers symbol and postings-offset lookups of one block's index
// from its index-header file. Open it with NewReader.
//
// A Reader is immutable once opened: its methods are safe for concurrent
// use, except Close, which the owner calls once no other call is running.
// Strings it returns (symbols, label names and values) point into the
// header bytes held in the Go heap; they stay valid after Close.
type Reader struct {
	b            []byte // the whole header file; nil once closed
	indexVersion int
	indexSize    int64
	toc          index.TOC

	symbols    *index.Symbols
	numSymbols uint32

	// offs holds the offset in the index of every postings list, in the
	// order of the postings offset table, then the end of the last list
	// (where the next section starts): list i spans [offs[i], offs[i+1]).
	offs []uint64
	// names holds the label names, sorted, the empty all-postings name
	// included.
	names []string
	// postings maps a label name to its values, sorted.
	postings map[string]nameValues
}

// nameValues are the values of one label name: values[i] has the postings
// list offs[first+i] of the Reader.
type nameValues struct {
	values []string
	first  int
}

// NewReader opens the index-header file at path, written by Build. It reads
// the file into memory (see the package documentation), checks its CRC32 and
// indexes the postings offset table. A truncated, damaged or foreign file is
// an error wrapping ErrCorrupt: delete it and build it again. The caller must
// Close the Reader.
func NewReader(path string) (*Reader, error) {
	b, err := os.ReadFile(path)
	if err != nil {
		return nil, fmt.Errorf("read index-header: %w", err)
	}
	r, err := newReader(b)
	if err != nil {
		return nil, fmt.Errorf("open index-header %s: %w", path, err)
	}
	return r, nil
}

func newReader(b []byte) (*Reader, error) {
	if len(b) < fixedLen+crc32.Size {
		return nil, fmt.Errorf("%w: %d bytes, shorter than the %d-byte fixed part (truncated file)", ErrCorrupt, len(b), fixedLen+crc32.Size)
	}
	if m := binary.BigEndian.Uint32(b); m != magic {
		return nil, fmt.Errorf("%w: invalid magic number %#x", ErrCorrupt, m)
	}
	if v := b[4]; v != FormatV1 {
		return nil, fmt.Errorf("%w: format version %d, this Strata reads %d", ErrCorrupt, v, FormatV1)
	}
	body, sum := b[:len(b)-crc32.Size], binary.BigEndian.Uint32(b[len(b)-crc32.Size:])
	if crc32.Checksum(body, castagnoli) != sum {
		return nil, fmt.Errorf("%w: checksum mismatch (truncated or damaged file)", ErrCorrupt)
	}
	r := &Reader{
		b:            b,
		indexVersion: int(b[5]),
		indexSize:    int64(binary.BigEndian.Uint64(b[6:])),
		toc: index.TOC{
			Symbols:           binary.BigEndian.Uint64(b[14:]),
			Series:            binary.BigEndian.Uint64(b[22:]),
			LabelIndices:      binary.BigEndian.Uint64(b[30:]),
			LabelIndicesTable: binary.BigEndian.Uint64(b[38:]),
			Postings:          binary.BigEndian.Uint64(b[46:]),
			PostingsTable:     binary.BigEndian.Uint64(b[54:]),
		},
	}
	if r.indexVersion != index.FormatV2 && r.indexVersion != index.FormatV3 {
		return nil, fmt.Errorf("%w: index version %d is not supported", ErrCorrupt, r.indexVersion)
	}
	// Postings ranges end at TOC offsets: they must lie inside the index.
	if err := checkTOC(&r.toc, r.indexSize); err != nil {
		return nil, fmt.Errorf("%w: %w", ErrCorrupt, err)
	}

	bs := byteSlice(body)
	d := encoding.NewDecbufAt(bs, fixedLen, castagnoli)
	if d.Err() != nil {
		return nil, fmt.Errorf("%w: symbol table: %w", ErrCorrupt, d.Err())
	}
	potOff := fixedLen + d.Len() + 8
	r.numSymbols = d.Be32()
	// index.NewSymbols sizes a slice by the count: bound it by the bytes
	// that hold the symbols (at least one each) before trusting it.
	if uint64(r.numSymbols) > uint64(d.Len()) {
		return nil, fmt.Errorf("%w: symbol table: %d symbols do not fit in its %d bytes", ErrCorrupt, r.numSymbols, d.Len())
	}
	if err := checkSymbols(d.B, r.numSymbols); err != nil {
		return nil, fmt.Errorf("%w: symbol table: %w", ErrCorrupt, err)
	}
	syms, err := index.NewSymbols(bs, index.FormatV2, fixedLen)
	if err != nil {
		return nil, fmt.Errorf("%w: symbol table: %w", ErrCorrupt, err)
	}
	r.symbols = syms
	d = encoding.NewDecbufAt(bs, potOff, castagnoli)
	if d.Err() != nil {
		return nil, fmt.Errorf("%w: postings offset table: %w", ErrCorrupt, d.Err())
	}
	if potOff+d.Len()+8 != len(body) {
		return nil, fmt.Errorf("%w: %d trailing bytes after the postings offset table", ErrCorrupt, len(body)-potOff-d.Len()-8)
	}
	if err := checkPostingsTable(d.B); err != nil {
		return nil, fmt.Errorf("%w: postings offset table: %w", ErrCorrupt, err)
	}
	if err := r.readPostingsTable(bs, potOff); err != nil {
		return nil, fmt.Errorf("%w: postings offset table: %w", ErrCorrupt, err)
	}
	return r, nil
}

// Prometheus' encoding.Decbuf.UvarintBytes converts a length to int before
// comparing it with what is left: a uvarint of 2^63 or more is negative and
// slicing with it panics. checkSymbols and checkPostingsTable walk the two
// sections with checked lengths before Prometheus' decoders read them.

// checkUvarintBytes returns the length of the uvarint-prefixed byte string
// at the start of b, prefix included.
func checkUvarintBytes(b []byte) (int, error) {
	l, n := binary.Uvarint(b)
	if n <= 0 {
		return 0, errors.New("unreadable length")
	}
	if l > uint64(len(b)-n) {
		return 0, fmt.Errorf("length %d beyond the %d bytes left", l, len(b)-n)
	}
	return n + int(l), nil
}

// checkSymbols checks that the symbol table contents b (after the count)
// hold n symbols.
func checkSymbols(b []byte, n uint32) error {
	for i := range n {
		k, err := checkUvarintBytes(b)
		if err != nil {
			return fmt.Errorf("symbol %d: %w", i, err)
		}
		b = b[k:]
	}
	return nil
}

// checkPostingsTable checks the entries of the postings offset table
// contents b (count included) as index.ReadPostingsOffsetTable reads them.
func checkPostingsTable(b []byte) error {
	if len(b) < 4 {
		return errors.New("no entry count")
	}
	cnt := binary.BigEndian.Uint32(b)
	b = b[4:]
	for i := uint32(0); i < cnt && len(b) > 0; i++ {
		kc, n := binary.Uvarint(b)
		if n <= 0 || kc != 2 {
			return fmt.Errorf("entry %d: key count is not 2", i)
		}
		b = b[n:]
		for range 2 { // name, value
			k, err := checkUvarintBytes(b)
			if err != nil {
				return fmt.Errorf("entry %d: %w", i, err)
			}
			b = b[k:]
		}
		_, n = binary.Uvarint(b)
		if n <= 0 {
			return fmt.Errorf("entry %d: unreadable offset", i)
		}
		b = b[n:]
	}
	return nil
}

// readPostingsTable indexes the postings offset table at off of bs, checking
// that entries are sorted and their offsets increase within the postings
// section.
func (r *Reader) readPostingsTable(bs byteSlice, off int) error {
	r.postings = map[string]nameValues{}
	var prevName, prevValue string
	err := index.ReadPostingsOffsetTable(bs, uint64(off), func(n, v []byte, o uint64, _ int) error {
		name, value := yoloString(n), yoloString(v)
		if len(r.offs) > 0 {
			if name < prevName || (name == prevName && value <= prevValue) {
				return fmt.Errorf("entry %q=%q out of order after %q=%q", name, value, prevName, prevValue)
			}
			if o <= r.offs[len(r.offs)-1] {
				return fmt.Errorf("offset %d of %q=%q does not increase", o, name, value)
			}
		}
		if o < r.toc.Postings {
			return fmt.Errorf("offset %d of %q=%q before the postings section at %d", o, name, value, r.toc.Postings)
		}
		nv, ok := r.postings[name]
		if !ok {
			nv.first = len(r.offs)
			r.names = append(r.names, name)
		}
		nv.values = append(nv.values, value)
		r.postings[name] = nv
		r.offs = append(r.offs, o)
		prevName, prevValue = name, value
		return nil
	})
	if err != nil {
		return err
	}
	// The postings section ends where the next section starts: the label
	// offset table in older indexes, the postings offset table otherwise.
	end := r.toc.PostingsTable
	if t := r.toc.LabelIndicesTable; t > r.toc.Postings && t < end {
		end = t
	}
	if len(r.offs) > 0 && r.offs[len(r.offs)-1]+8 > end {
		return fmt.Errorf("last postings list at %d beyond the postings section end %d", r.offs[len(r.offs)-1], end)
	}
	r.offs = append(r.offs, end)
	// Drop the spare capacity appends left behind.
	for name, nv := range r.postings {
		nv.values = slices.Clip(nv.values)
		r.postings[name] = nv
	}
	return nil
}

// IndexVersion returns the format version of the block's index (2 or 3).
func (r *Reader) IndexVersion() int { return r.indexVersion }

// IndexSize returns the size of the block's index file, in bytes.
func (r *Reader) IndexSize() int64 { return r.indexSize }

// TOC returns the block index's table of contents (offsets in the index
// file).
func (r *Reader) TOC() index.TOC { return r.toc }

// Size returns the size of the header in memory, in bytes: the file plus
// the postings offset index.
func (r *Reader) Size() int64 {
	return int64(len(r.b)) + int64(len(r.offs))*(8+16) + int64(len(r.names))*48
}

// LookupSymbol returns the symbol with reference ref, as series entries in
// the index refer to label names and values. An unknown reference is an
// error wrapping ErrNotFound.
func (r *Reader) LookupSymbol(ref uint32) (string, error) {
	if r.b == nil {
		return "", errClosed
	}
	if ref >= r.numSymbols {
		return "", fmt.Errorf("symbol %d of %d: %w", ref, r.numSymbols, ErrNotFound)
	}
	s, err := r.symbols.Lookup(ref)
	if err != nil {
		return "", fmt.Errorf("look up symbol %d: %w", ref, err)
	}
	return s, nil
}

// Symbols returns an iterator over all symbols, sorted, in reference order
// (the i-th symbol has reference i). It must not be used after Close.
func (r *Reader) Symbols() index.StringIter {
	if r.b == nil {
		return index.NewStringListIter(nil)
	}
	return r.symbols.Iter()
}

// PostingsOffset returns the byte range [Start, End) of the postings list of
// name=value in the index file: Start is the offset of the list's 4-byte
// length; the range holds the length, the list, its CRC32 and up to 3 bytes
// of padding before the next list. Decode it with encoding.NewDecbufAt at 0
// and index.DecodePostingsRaw. The all-postings list is at
// index.AllPostingsKey(). An absent pair is an error wrapping ErrNotFound.
func (r *Reader) PostingsOffset(name, value string) (index.Range, error) {
	if r.b == nil {
		return index.Range{}, errClosed
	}
	nv, ok := r.postings[name]
	if !ok {
		return index.Range{}, fmt.Errorf("label name %q: %w", name, ErrNotFound)
	}
	i := sort.SearchStrings(nv.values, value)
	if i == len(nv.values) || nv.values[i] != value {
		return index.Range{}, fmt.Errorf("label %q=%q: %w", name, value, ErrNotFound)
	}
	i += nv.first
	return index.Range{Start: int64(r.offs[i]), End: int64(r.offs[i+1])}, nil
}

// LabelNames returns the label names of the block, sorted, without the
// empty all-postings name. The caller owns the slice.
func (r *Reader) LabelNames() ([]string, error) {
	if r.b == nil {
		return nil, errClosed
	}
	names := make([]string, 0, len(r.names))
	for _, n := range r.names {
		if n != "" {
			names = append(names, n)
		}
	}
	return names, nil
}

// LabelValues returns the values of label name, sorted; none (and no error)
// for a name the block does not have, and for the empty name. The caller
// owns the slice.
func (r *Reader) LabelValues(name string) ([]string, error) {
	if r.b == nil {
		return nil, errClosed
	}
	if name == "" {
		return nil, nil
	}
	return slices.Clone(r.postings[name].values), nil
}

// Close releases the Reader's memory (strings it returned stay valid).
// Later calls return an error. Close is idempotent.
func (r *Reader) Close() error {
	r.b, r.symbols, r.offs, r.names, r.postings = nil, nil, nil, nil, nil
	return nil
}

// yoloString returns b as a string without copying; b must never change.
func yoloString(b []byte) string {
	if len(b) == 0 {
		return ""
	}
	return unsafe.String(&b[0], len(b))
}
