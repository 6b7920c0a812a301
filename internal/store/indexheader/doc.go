// Package indexheader builds and reads a compact, local index-header of a
// block's Prometheus index: the parts of the index a store needs in memory
// to plan a query (the symbol table and the postings offset table, with the
// table of contents), without the series and postings sections, which stay
// in the bucket and are read by range when a query needs them.
//
// Build makes the header from a handful of ranged GETs of <ULID>/index (the
// TOC at the end, the first bytes, the symbol table, the postings offset
// table); it never downloads the whole index. NewReader opens a header file.
//
// LazyReader wraps a header for a store: it opens (building if needed) the
// file on first use and drops it from memory when its owner calls
// ReleaseIfIdle; the file stays on disk for the next load. A store keeps one
// LazyReader per block, shares one Metrics between them and decodes series
// entries read by range with index.Decoder{LookupSymbol: lr.LookupSymbol}.
//
// # File layout (header format version 1)
//
// The layout is specific to Strata; it is not the Thanos index-header and may
// change with the header format version below. A file written by another
// version is rejected with ErrCorrupt, and the caller rebuilds it. All
// integers are big endian.
//
//	offset  size  field
//	0       4     magic 0x53544948 ("STIH")
//	4       1     header format version (1)
//	5       1     version of the source index (2 or 3; version 1 is not supported)
//	6       8     size of the source index file, in bytes
//	14      48    copy of the index TOC: 6 uint64 offsets into the index file
//	              (symbols, series, label indices, label offset table,
//	              postings, postings offset table), without its CRC32
//	62      S     the index's symbol table, byte for byte: 4-byte length n,
//	              4-byte symbol count, the symbols (uvarint length + UTF-8
//	              bytes, sorted), CRC32 of the n bytes after the length;
//	              S = n + 8
//	62+S    P     the index's postings offset table, byte for byte: 4-byte
//	              length m, 4-byte entry count, entries sorted by label name
//	              then value (1-byte key count 2, uvarint-prefixed name and
//	              value, uvarint64 offset of the postings list in the index),
//	              CRC32 of the m bytes after the length; P = m + 8
//	62+S+P  4     CRC32 (Castagnoli) of every byte before it
//
// Because the two sections are kept exactly as in the index, their own
// CRC32s still hold and Prometheus' decoders (index.NewSymbols,
// index.ReadPostingsOffsetTable) read them in place.
//
// # Memory
//
// NewReader reads the whole file into the Go heap (no mmap): the file is
// small next to the index (see the benchmark), symbols and label values are
// returned as strings that point into that buffer, and they stay valid after
// Close because the garbage collector keeps the buffer alive while any of
// them is referenced. On top of the file, a Reader holds one string header
// and one offset per postings list (about 24 bytes each) and one entry per
// label name.
package indexheader
