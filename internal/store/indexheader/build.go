package indexheader

import (
	"context"
	"encoding/binary"
	"errors"
	"fmt"
	"hash/crc32"
	"io"
	"os"
	"path/filepath"

	"github.com/oklog/ulid/v2"
	"github.com/prometheus/prometheus/tsdb/encoding"
	"github.com/prometheus/prometheus/tsdb/index"
	"github.com/thanos-io/objstore"

	"github.com/strata-io/strata/pkg/metadata"
)

const (
	// magic opens every header file ("STIH").
	magic uint32 = 0x53544948
	// FormatV1 is the header format version Build writes and NewReader reads.
	FormatV1 = 1

	// tocLen is the length of an index TOC: 6 uint64 offsets and a CRC32.
	tocLen = 6*8 + crc32.Size
	// fixedLen is the length of the fixed part of a header file, before the
	// symbol table: magic, format version, index version, index size, TOC.
	fixedLen = 4 + 1 + 1 + 8 + 6*8
)

var castagnoli = crc32.MakeTable(crc32.Castagnoli)

// Sentinel errors.
var (
	// ErrNotFound is returned (wrapped) for a symbol reference, label name
	// or label name/value pair the index does not hold.
	ErrNotFound = errors.New("not found")
	// ErrCorrupt is returned (wrapped) by NewReader for a header file that is
	// truncated, fails its checksum or was written by another format
	// version; delete the file and Build it again.
	ErrCorrupt = errors.New("corrupt index-header")
)

// IndexName returns the object name of block id's index in the bucket.
func IndexName(id ulid.ULID) string { return id.String() + "/index" }

// Build writes the index-header of block id to the local file dst, creating
// its directory if needed. It reads the index object <id>/index with ranged
// GETs only, never the whole object: its size (Attributes), the TOC (last 52
// bytes), the index header and symbol table length, the symbol table and the
// postings offset table; 4 GETs in all. The file is written atomically
// (temporary file, then rename): a reader never sees a partial header.
//
// Build verifies the checksums of the TOC and both sections; an index of
// format version 1, or a damaged one, is an error naming the object. It is
// safe to call concurrently for different dst.
func Build(ctx context.Context, bkt objstore.BucketReader, id ulid.ULID, dst string) error {
	name := IndexName(id)
	b, err := buildBytes(ctx, bkt, name)
	if err != nil {
		return fmt.Errorf("build index-header of block %s: %w", id, err)
	}
	if err := os.MkdirAll(filepath.Dir(dst), 0o755); err != nil {
		return fmt.Errorf("build index-header of block %s: %w", id, err)
	}
	if err := metadata.WriteFileAtomic(dst, b); err != nil {
		return fmt.Errorf("write index-header of block %s to %s: %w", id, dst, err)
	}
	return nil
}

// buildBytes reads the sections of the index object name and returns the
// header file contents.
func buildBytes(ctx context.Context, bkt objstore.BucketReader, name string) ([]byte, error) {
	attrs, err := bkt.Attributes(ctx, name)
	if err != nil {
		return nil, fmt.Errorf("stat %s: %w", name, err)
	}
	size := attrs.Size
	// The smallest index: header, an empty symbol table (length, count,
	// CRC32), an empty postings offset table and the TOC.
	if size < index.HeaderLen+12+12+tocLen {
		return nil, fmt.Errorf("%s is %d bytes, too small for an index (truncated upload?)", name, size)
	}

	tocBytes, err := getRange(ctx, bkt, name, size-tocLen, tocLen)
	if err != nil {
		return nil, err
	}
	toc, err := index.NewTOCFromByteSlice(byteSlice(tocBytes))
	if err != nil {
		return nil, fmt.Errorf("%s: %w", name, err)
	}
	if err := checkTOC(toc, size); err != nil {
		return nil, fmt.Errorf("%s: %w", name, err)
	}

	// The index header and, when the symbol table follows it directly (as
	// Prometheus writes it), the symbol table's length, in one GET.
	head, err := getRange(ctx, bkt, name, 0, index.HeaderLen+4)
	if err != nil {
		return nil, err
	}
	if m := binary.BigEndian.Uint32(head); m != index.MagicIndex {
		return nil, fmt.Errorf("%s: invalid magic number %#x, not a Prometheus index", name, m)
	}
	version := int(head[4])
	if version != index.FormatV2 && version != index.FormatV3 {
		return nil, fmt.Errorf("%s: index format version %d is not supported (want 2 or 3)", name, version)
	}
	lenBytes := head[index.HeaderLen:]
	if toc.Symbols != index.HeaderLen {
		if lenBytes, err = getRange(ctx, bkt, name, int64(toc.Symbols), 4); err != nil {
			return nil, err
		}
	}
	symLen := int64(binary.BigEndian.Uint32(lenBytes)) + 8
	if int64(toc.Symbols)+symLen > int64(toc.Series) {
		return nil, fmt.Errorf("%s: symbol table of %d bytes at %d overlaps the series at %d", name, symLen, toc.Symbols, toc.Series)
	}
	potLen := size - tocLen - int64(toc.PostingsTable)

	out := make([]byte, fixedLen, fixedLen+int(symLen)+int(potLen)+crc32.Size)
	binary.BigEndian.PutUint32(out[0:], magic)
	out[4] = FormatV1
	out[5] = byte(version)
	binary.BigEndian.PutUint64(out[6:], uint64(size))
	copy(out[14:], tocBytes[:6*8])

	syms, err := getRange(ctx, bkt, name, int64(toc.Symbols), symLen)
	if err != nil {
		return nil, err
	}
	if d := encoding.NewDecbufAt(byteSlice(syms), 0, castagnoli); d.Err() != nil {
		return nil, fmt.Errorf("%s: symbol table: %w", name, d.Err())
	}
	out = append(out, syms...)

	pot, err := getRange(ctx, bkt, name, int64(toc.PostingsTable), potLen)
	if err != nil {
		return nil, err
	}
	d := encoding.NewDecbufAt(byteSlice(pot), 0, castagnoli)
	if d.Err() != nil {
		return nil, fmt.Errorf("%s: postings offset table: %w", name, d.Err())
	}
	if l := int64(d.Len()) + 8; l != potLen {
		return nil, fmt.Errorf("%s: postings offset table is %d bytes, but %d bytes lie between it and the TOC", name, l, potLen)
	}
	out = append(out, pot...)

	return binary.BigEndian.AppendUint32(out, crc32.Checksum(out, castagnoli)), nil
}

// checkTOC rejects a TOC whose sections are out of order or out of an index
// of size bytes.
func checkTOC(toc *index.TOC, size int64) error {
	offs := []uint64{toc.Symbols, toc.Series, toc.Postings, toc.PostingsTable}
	prev := uint64(index.HeaderLen)
	for _, o := range offs {
		if o < prev {
			return fmt.Errorf("TOC sections out of order: %+v", *toc)
		}
		prev = o
	}
	// In uint64: an offset of 2^63 or more is negative as an int64, and
	// the section lengths computed from it would be huge.
	if size < tocLen || toc.PostingsTable > uint64(size-tocLen) || uint64(size-tocLen)-toc.PostingsTable < 12 {
		return fmt.Errorf("postings offset table at %d beyond the end of the index (%d bytes)", toc.PostingsTable, size)
	}
	return nil
}

// getRange reads length bytes at off of the object name.
func getRange(ctx context.Context, bkt objstore.BucketReader, name string, off, length int64) (_ []byte, err error) {
	rc, err := bkt.GetRange(ctx, name, off, length)
	if err != nil {
		return nil, fmt.Errorf("read %d bytes at %d of %s: %w", length, off, name, err)
	}
	defer func() {
		if cerr := rc.Close(); cerr != nil && err == nil {
			err = fmt.Errorf("close %s: %w", name, cerr)
		}
	}()
	b := make([]byte, length)
	if _, err := io.ReadFull(rc, b); err != nil {
		return nil, fmt.Errorf("read %d bytes at %d of %s: %w", length, off, name, err)
	}
	return b, nil
}

// byteSlice is a []byte as Prometheus' index.ByteSlice and
// encoding.ByteSlice.
type byteSlice []byte

func (b byteSlice) Len() int                    { return len(b) }
func (b byteSlice) Range(start, end int) []byte { return b[start:end] }
