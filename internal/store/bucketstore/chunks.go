package bucketstore

import (
	"context"
	"encoding/binary"
	"errors"
	"fmt"
	"hash/crc32"
	"io"
	"slices"

	"github.com/prometheus/prometheus/tsdb/chunkenc"
	"github.com/prometheus/prometheus/tsdb/chunks"

	"github.com/strata-io/strata/internal/downsample"
	"github.com/strata-io/strata/pkg/metadata"
	"github.com/strata-io/strata/pkg/storepb"
)

// Chunk reads. A chunk reference of a block's index packs the index of the
// segment file (upper 32 bits: 0 is the first of meta.json's segment_files,
// chunks/000001) and the byte offset of the chunk in it (lower 32 bits). At that offset a chunk is stored as
// uvarint(len(data)), one encoding byte, data, and a CRC32 (Castagnoli) of
// the encoding byte and data.
//
// The chunks of one request are read with few GETs: the byte ranges of the
// chunks of one segment are sorted and ranges less than chunkMergeGap apart
// are read as one.
const (
	// chunkMergeGap is the largest gap, in bytes, read over to merge two
	// chunk ranges of one segment into one GET: at ~100 MB/s, 128 KiB cost
	// about 1 ms, less than the latency of one more request to an object
	// store (10-50 ms).
	chunkMergeGap = 128 << 10
	// defaultChunkSizeEstimate is how many bytes are read for a chunk whose
	// end is not known (the last of a run) when meta.json gives no
	// index_stats.chunk_max_size. A longer chunk costs one more GET.
	defaultChunkSizeEstimate = 4 << 10
)

var castagnoli = crc32.MakeTable(crc32.Castagnoli)

// chunkRange is one GET of a segment file and the chunks it holds.
type chunkRange struct {
	seg        int
	start, end int   // byte offsets, end exclusive
	offs       []int // offsets of the chunks inside, ascending
}

// planChunkReads returns the GETs that read the chunks refs: one range per
// run of chunks of one segment less than gap bytes apart. A chunk is
// assumed to end where the next requested chunk of the segment starts, or
// estimate bytes after its start (capped at the segment size when
// segSize reports one, i.e. > 0).
func planChunkReads(refs []chunks.ChunkRef, estimate, gap int, segSize func(seg int) int64) []chunkRange {
	refs = slices.Clone(refs)
	slices.Sort(refs) // segment, then offset
	refs = slices.Compact(refs)
	var out []chunkRange
	for i, ref := range refs {
		seg, off := int(ref>>32), int(uint32(ref))
		end := off + estimate
		if i+1 < len(refs) && int(refs[i+1]>>32) == seg {
			end = min(end, int(uint32(refs[i+1])))
		}
		if n := segSize(seg); n > 0 {
			end = min(end, int(n))
		}
		end = max(end, off+1)
		if l := len(out) - 1; l >= 0 && out[l].seg == seg && off-out[l].end <= gap {
			out[l].end = max(out[l].end, end)
			out[l].offs = append(out[l].offs, off)
			continue
		}
		out = append(out, chunkRange{seg: seg, start: off, end: end, offs: []int{off}})
	}
	return out
}

// rawChunk is a chunk read from a segment: its encoding and data (pointing
// into the fetched buffer).
type rawChunk struct {
	enc  chunkenc.Encoding
	data []byte
}

// numSamples returns the number of samples in the chunk: every encoding
// Prometheus writes (XOR, XOR2, integer and float histograms) starts its
// data with that count as a big-endian uint16; an aggregate chunk counts
// its windows. 0 when the data is shorter or corrupt.
func (c rawChunk) numSamples() int {
	if c.enc == downsample.ChunkEncAggr {
		return downsample.AggrChunk(c.data).NumSamples()
	}
	if len(c.data) < 2 {
		return 0
	}
	return int(binary.BigEndian.Uint16(c.data))
}

// parseChunk decodes the chunk at the start of b. It returns need > 0 when
// b is too short: the chunk's full size in bytes.
func parseChunk(b []byte) (c rawChunk, need int, err error) {
	l, n := binary.Uvarint(b)
	if n <= 0 {
		if len(b) >= binary.MaxVarintLen32 {
			return c, 0, errors.New("invalid chunk length")
		}
		return c, len(b) + binary.MaxVarintLen32, nil
	}
	total := n + 1 + int(l) + crc32.Size
	if len(b) < total {
		return c, total, nil
	}
	body := b[n : n+1+int(l)]
	if want := binary.BigEndian.Uint32(b[n+1+int(l):]); crc32.Checksum(body, castagnoli) != want {
		return c, 0, errors.New("chunk checksum mismatch")
	}
	return rawChunk{enc: chunkenc.Encoding(body[0]), data: body[1:]}, 0, nil
}

// readRange fetches r from segment object name.
func (b *block) readRange(ctx context.Context, name string, start, end int) (_ []byte, err error) {
	b.chunkGets.Add(1)
	rc, err := b.bkt.GetRange(ctx, name, int64(start), int64(end-start))
	if err != nil {
		return nil, fmt.Errorf("get %s [%d, %d): %w", name, start, end, err)
	}
	defer func() { err = errors.Join(err, rc.Close()) }()
	buf, err := io.ReadAll(rc)
	if err != nil {
		return nil, fmt.Errorf("read %s [%d, %d): %w", name, start, end, err)
	}
	return buf, nil
}

// loadChunks reads the chunks refs of the block and returns them by
// reference.
func (b *block) loadChunks(ctx context.Context, refs []chunks.ChunkRef) (map[chunks.ChunkRef]rawChunk, error) {
	est := defaultChunkSizeEstimate
	if m := b.meta.Thanos.IndexStats.ChunkMaxSize; m > 0 {
		est = int(m)
	}
	out := make(map[chunks.ChunkRef]rawChunk, len(refs))
	for _, r := range planChunkReads(refs, est, chunkMergeGap, b.segmentSize) {
		name := b.dir + "/" + metadata.ChunksDirname + "/" + b.segmentFile(r.seg)
		buf, err := b.readRange(ctx, name, r.start, r.end)
		if err != nil {
			return nil, err
		}
		for _, off := range r.offs {
			c, need, err := parseChunk(buf[min(off-r.start, len(buf)):])
			if err == nil && need > 0 {
				// Longer than estimated: read exactly this chunk.
				var one []byte
				if one, err = b.readRange(ctx, name, off, off+need); err == nil {
					c, need, err = parseChunk(one)
					if err == nil && need > 0 {
						err = fmt.Errorf("chunk needs %d bytes, the segment ends before", need)
					}
				}
			}
			if err != nil {
				return nil, fmt.Errorf("chunk at %s offset %d: %w", name, off, err)
			}
			out[chunks.ChunkRef(uint64(r.seg)<<32|uint64(off))] = c
		}
	}
	return out, nil
}

// wireChunks converts a block chunk of [mint, maxt] (ms, inclusive, from
// the index) to wire chunks: XOR and histogram chunks as they are, chunks
// in encodings the wire lacks (XOR2, histograms with start timestamps)
// re-encoded to the older encoding of their value type, and aggregate
// chunks of downsampled blocks as one AggrChunk holding the aggregates
// aggrs asks for (see aggrWireChunk).
func wireChunks(c rawChunk, mint, maxt int64, aggrs []storepb.Aggr) ([]*storepb.AggrChunk, error) {
	if c.enc == downsample.ChunkEncAggr {
		ac, err := aggrWireChunk(downsample.AggrChunk(c.data), mint, maxt, aggrs)
		if err != nil {
			return nil, err
		}
		return []*storepb.AggrChunk{ac}, nil
	}
	if enc, ok := storepb.WireEncoding(c.enc); ok {
		return []*storepb.AggrChunk{{MinTime: mint, MaxTime: maxt, Raw: &storepb.Chunk{Type: enc, Data: c.data}}}, nil
	}
	src, err := storepb.ChunkFromData(c.enc, c.data)
	if err != nil {
		return nil, fmt.Errorf("decode %s chunk [%d, %d]: %w", c.enc, mint, maxt, err)
	}
	out, err := storepb.Reencode(src)
	if err != nil {
		return nil, fmt.Errorf("re-encode %s chunk [%d, %d]: %w", c.enc, mint, maxt, err)
	}
	return out, nil
}
