package block

import (
	"bufio"
	"context"
	"encoding/binary"
	"errors"
	"fmt"
	"hash/crc32"
	"io"
	"maps"
	"os"
	"path"
	"path/filepath"
	"slices"
	"strings"

	"github.com/prometheus/prometheus/model/labels"
	"github.com/prometheus/prometheus/tsdb/chunks"
	"github.com/prometheus/prometheus/tsdb/index"
	"github.com/thanos-io/objstore"

	"github.com/strata-io/strata/pkg/metadata"
)

// maxDeepProblems bounds the problems deepCheckIndex reports per block; a
// broken index would otherwise report one per series.
const maxDeepProblems = 10

// chunkRefs are the chunk offsets the index refers to, by segment
// sequence index (0 for chunks/000001).
type chunkRefs map[int][]uint32

// deepCheckIndex downloads the index of block m into tmp and walks every
// series with Prometheus' index reader. It returns the problems found:
// series not in strictly ascending label order, chunks out of order or
// overlapping within a series, chunks outside the block's time range,
// chunk references beyond the segment files; and the chunk references of
// the segment files that exist, for deepCheckChunks. The index is removed
// afterwards.
func deepCheckIndex(ctx context.Context, bkt objstore.BucketReader, m *metadata.Meta, tmp string) ([]string, chunkRefs) {
	file := filepath.Join(tmp, metadata.IndexFilename)
	if err := download(ctx, bkt, path.Join(m.ULID.String(), metadata.IndexFilename), file); err != nil {
		return []string{fmt.Sprintf("download index: %v", err)}, nil
	}
	defer func() { _ = os.Remove(file) }()
	r, err := index.NewFileReader(file, index.DecodePostingsRaw)
	if err != nil {
		return []string{fmt.Sprintf("open index: %v", err)}, nil
	}
	defer func() { _ = r.Close() }()

	nSegs := len(segmentNames(m))
	refs := chunkRefs{}

	var problems []string
	more := 0
	report := func(format string, args ...any) {
		if len(problems) < maxDeepProblems {
			problems = append(problems, fmt.Sprintf(format, args...))
		} else {
			more++
		}
	}
	name, value := index.AllPostingsKey()
	p, err := r.Postings(ctx, name, value)
	if err != nil {
		return []string{fmt.Sprintf("read all-series postings: %v", err)}, nil
	}
	var (
		b      labels.ScratchBuilder
		chks   []chunks.Meta
		prev   labels.Labels
		nSerie int
	)
	for p.Next() {
		if nSerie%1024 == 0 && ctx.Err() != nil {
			return nil, nil
		}
		nSerie++
		ref := p.At()
		if err := r.Series(ref, &b, &chks); err != nil {
			report("series %d: %v", ref, err)
			continue
		}
		lset := b.Labels()
		if nSerie > 1 && labels.Compare(prev, lset) >= 0 {
			report("series %s is not after %s: series out of order", lset, prev)
		}
		prev = lset.Copy()
		for i, c := range chks {
			switch {
			case c.MinTime > c.MaxTime:
				report("series %s: chunk %d has minTime %d after maxTime %d", lset, i, c.MinTime, c.MaxTime)
			case i > 0 && c.MinTime <= chks[i-1].MaxTime:
				report("series %s: chunk %d [%d, %d] starts before the end of chunk %d [%d, %d]: chunks out of order or overlapping",
					lset, i, c.MinTime, c.MaxTime, i-1, chks[i-1].MinTime, chks[i-1].MaxTime)
			case c.MaxTime < m.MinTime || c.MinTime >= m.MaxTime:
				report("series %s: chunk %d [%d, %d] is outside the block's range [%d, %d)", lset, i, c.MinTime, c.MaxTime, m.MinTime, m.MaxTime)
			}
			seq, off := chunks.BlockChunkRef(c.Ref).Unpack()
			if nSegs > 0 && seq >= nSegs {
				report("series %s: chunk %d refers to segment file %d offset %d, beyond the %d segment files", lset, i, seq+1, off, nSegs)
				continue
			}
			// A reference past the end of an existing file is reported by
			// deepCheckChunks: the file is truncated.
			refs[seq] = append(refs[seq], uint32(off))
		}
	}
	if err := p.Err(); err != nil {
		report("walk postings: %v", err)
	}
	if more > 0 {
		problems = append(problems, fmt.Sprintf("... and %d more index problems", more))
	}
	return problems, refs
}

// segmentNames returns the segment files of m (chunks/NNNNNN) by sequence
// index: those meta.json lists, else those the TSDB would name.
func segmentNames(m *metadata.Meta) []string {
	var out []string
	for _, s := range m.Thanos.SegmentFiles {
		out = append(out, metadata.ChunksDirname+"/"+s)
	}
	if len(out) == 0 {
		for _, f := range m.Thanos.Files {
			if strings.HasPrefix(f.RelPath, metadata.ChunksDirname+"/") {
				out = append(out, f.RelPath)
			}
		}
		slices.Sort(out)
	}
	return out
}

// Segment file format (Prometheus tsdb/chunks): an 8-byte header (magic,
// version, padding), then chunks: uvarint(len(data)), one encoding byte,
// data, CRC32 (Castagnoli) of the encoding byte and data.
const (
	segmentHeaderSize = 8
	segmentMagic      = 0x85BD40DD
	// maxChunkLen is larger than any chunk; a longer length is damage.
	maxChunkLen = 1 << 30
)

var castagnoli = crc32.MakeTable(crc32.Castagnoli)

// deepCheckChunks reads every segment file of block m once, front to back,
// and checks each chunk refs points at, as the TSDB chunk reader does: the
// chunk lies within the file, and its CRC32 matches its bytes. It returns
// the problems, each naming the segment file and the chunk's offset:
// "truncated segment file" when the file ends before a chunk does,
// "checksum mismatch" when its bytes were damaged or overwritten.
// segmentSizes are the files' sizes in the bucket.
func deepCheckChunks(ctx context.Context, bkt objstore.BucketReader, m *metadata.Meta, refs chunkRefs, segmentSizes map[string]int64) []string {
	names := segmentNames(m)
	var problems []string
	seqs := slices.Sorted(maps.Keys(refs))
	for _, seq := range seqs {
		if ctx.Err() != nil {
			return nil
		}
		if seq >= len(names) {
			continue // reported by deepCheckIndex
		}
		offs := slices.Compact(slices.Sorted(slices.Values(refs[seq])))
		name := names[seq]
		if ps := checkSegment(ctx, bkt, path.Join(m.ULID.String(), name), name, offs, segmentSizes[name]); len(ps) > 0 {
			problems = append(problems, ps...)
		}
		if len(problems) >= maxDeepProblems {
			break
		}
	}
	return problems
}

// checkSegment streams the segment file object and checks the chunks at
// offs (sorted, distinct). name is the file's name in the block (for the
// messages), size its size in the bucket (0: unknown).
func checkSegment(ctx context.Context, bkt objstore.BucketReader, object, name string, offs []uint32, size int64) (problems []string) {
	rc, err := bkt.Get(ctx, object)
	if err != nil {
		return []string{fmt.Sprintf("%s: %v", name, err)}
	}
	defer func() { _ = rc.Close() }()
	r := &countingReader{r: bufio.NewReaderSize(rc, 1<<20)}
	var (
		corrupt  int
		firstBad string
	)
	head := make([]byte, segmentHeaderSize)
	if _, err := io.ReadFull(r, head); err != nil {
		return []string{fmt.Sprintf("%s: %d bytes, shorter than the %d-byte header: truncated segment file", name, r.n, segmentHeaderSize)}
	}
	if magic := binary.BigEndian.Uint32(head); magic != segmentMagic {
		return []string{fmt.Sprintf("%s: magic number %#x, want %#x: not a segment file or its header is damaged", name, magic, uint32(segmentMagic))}
	}
	var buf []byte
	for i, off := range offs {
		if int64(off) < r.n {
			problems = append(problems, fmt.Sprintf("%s: chunk at offset %d lies inside the previous chunk: bad reference in the index", name, off))
			continue
		}
		var l uint64
		_, err := io.CopyN(io.Discard, r, int64(off)-r.n)
		if err == nil {
			l, err = binary.ReadUvarint(r)
		}
		if err == nil && l > maxChunkLen {
			corrupt++
			if firstBad == "" {
				firstBad = fmt.Sprintf("chunk at offset %d has a length of %d bytes", off, l)
			}
			continue
		}
		if err == nil {
			buf = slices.Grow(buf[:0], int(l)+1+crc32.Size)[:int(l)+1+crc32.Size]
			_, err = io.ReadFull(r, buf)
		}
		switch {
		case err == nil:
			body, want := buf[:l+1], binary.BigEndian.Uint32(buf[l+1:])
			if got := crc32.Checksum(body, castagnoli); got != want {
				corrupt++
				if firstBad == "" {
					firstBad = fmt.Sprintf("chunk at offset %d (%d bytes): stored CRC32 %08x, computed %08x", off, l, want, got)
				}
			}
			continue
		case errors.Is(err, io.EOF) || errors.Is(err, io.ErrUnexpectedEOF):
			fileSize := size
			if fileSize <= 0 {
				fileSize = r.n
			}
			problems = append(problems, fmt.Sprintf("%s: chunk at offset %d and %d later ones end past the end of the file: truncated segment file (%d bytes)",
				name, off, len(offs)-i-1, fileSize))
		default:
			problems = append(problems, fmt.Sprintf("%s: read chunk at offset %d: %v", name, off, err))
		}
		break
	}
	if corrupt > 0 {
		problems = append(problems, fmt.Sprintf("%s: %s: checksum mismatch (%d damaged chunks in the file): its bytes were damaged or overwritten", name, firstBad, corrupt))
	}
	return problems
}

// countingReader counts the bytes read through it.
type countingReader struct {
	r *bufio.Reader
	n int64
}

func (c *countingReader) Read(p []byte) (int, error) {
	n, err := c.r.Read(p)
	c.n += int64(n)
	return n, err
}

func (c *countingReader) ReadByte() (byte, error) {
	b, err := c.r.ReadByte()
	if err == nil {
		c.n++
	}
	return b, err
}

// download copies the object name of bkt to the local file dst.
func download(ctx context.Context, bkt objstore.BucketReader, name, dst string) (err error) {
	rc, err := bkt.Get(ctx, name)
	if err != nil {
		return fmt.Errorf("get %s: %w", name, err)
	}
	defer func() { err = errors.Join(err, rc.Close()) }()
	if err := os.MkdirAll(filepath.Dir(dst), 0o755); err != nil {
		return err
	}
	f, err := os.Create(dst)
	if err != nil {
		return err
	}
	defer func() { err = errors.Join(err, f.Close()) }()
	if _, err := io.Copy(f, rc); err != nil {
		return fmt.Errorf("copy %s: %w", name, err)
	}
	return nil
}
