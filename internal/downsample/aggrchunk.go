package downsample

import (
	"encoding/binary"
	"errors"
	"fmt"

	"github.com/prometheus/prometheus/tsdb/chunkenc"
)

// ChunkEncAggr is the encoding byte of an aggregate chunk in a block's chunk
// files. Prometheus' chunkenc does not know it; see NewPool.
const ChunkEncAggr = chunkenc.Encoding(0xff)

var (
	// ErrAbsent is returned (wrapped) when an aggregate chunk does not hold the
	// requested aggregate. It is not corruption: writers may omit aggregates.
	ErrAbsent = errors.New("aggregate absent from chunk")
	// ErrCorrupt is wrapped by every error that reports malformed aggregate
	// chunk bytes (truncated sections, unknown encodings, trailing bytes).
	ErrCorrupt = errors.New("corrupt aggregate chunk")
	// ErrNotAggregate is returned by the iterator of an AggrChunk used as a
	// plain chunk: its samples must be read per aggregate (Get, NewAggrIterator).
	ErrNotAggregate = errors.New("aggregate chunk iterated as a plain chunk; read one aggregate with Get or NewAggrIterator")
)

// AggrType names one of the five aggregates of a downsampled series.
//
// The numbering equals storepb.Aggr (COUNT=1, SUM=2, MIN=3, MAX=4, COUNTER=5),
// so AggrType(storepb.Aggr_SUM) == AggrSum; storepb.Aggr_RAW (0) has no
// AggrType. Within an encoded chunk the section of type t is the (t-1)-th.
type AggrType int

// The aggregates, in the order of their sections in an AggrChunk.
const (
	AggrCount   AggrType = 1 // number of raw samples in the window
	AggrSum     AggrType = 2 // sum of raw values in the window
	AggrMin     AggrType = 3 // smallest raw value in the window
	AggrMax     AggrType = 4 // largest raw value in the window
	AggrCounter AggrType = 5 // counter made monotonic across resets; see doc.go
)

// chunkHeaderLen is the length of the header of a float chunk: the 2-byte
// sample count, and for XOR2 a start-timestamp byte. Prometheus' iterators
// read it without checking the length.
func chunkHeaderLen(enc chunkenc.Encoding) uint64 {
	if enc == chunkenc.EncXOR2 {
		return 3
	}
	return 2
}

// NumAggrTypes is the number of sections of an AggrChunk.
const NumAggrTypes = 5

// AllAggrTypes lists every aggregate in section order.
var AllAggrTypes = [NumAggrTypes]AggrType{AggrCount, AggrSum, AggrMin, AggrMax, AggrCounter}

// String returns the lowercase name of the aggregate ("count", "sum", ...).
func (t AggrType) String() string {
	switch t {
	case AggrCount:
		return "count"
	case AggrSum:
		return "sum"
	case AggrMin:
		return "min"
	case AggrMax:
		return "max"
	case AggrCounter:
		return "counter"
	}
	return fmt.Sprintf("aggregate(%d)", int(t))
}

// Valid reports whether t is one of the five aggregates.
func (t AggrType) Valid() bool { return t >= AggrCount && t <= AggrCounter }

// EncodeAggrChunk encodes one chunk per aggregate, indexed by AggrType-1
// (chks[0] is the count). A nil entry is written as an absent section. Each
// present chunk must be a non-empty float chunk of a chunkenc encoding (XOR,
// XOR2). The returned bytes are the chunk payload without the 0xff encoding
// byte; they share no memory with chks.
func EncodeAggrChunk(chks [NumAggrTypes]chunkenc.Chunk) ([]byte, error) {
	size := 0
	for _, c := range chks {
		if c != nil {
			size += binary.MaxVarintLen64 + 1 + len(c.Bytes())
		} else {
			size++
		}
	}
	b := make([]byte, 0, size)
	for i, c := range chks {
		if c == nil {
			b = binary.AppendUvarint(b, 0)
			continue
		}
		t := AllAggrTypes[i]
		enc := c.Encoding()
		if enc != chunkenc.EncXOR && enc != chunkenc.EncXOR2 {
			return nil, fmt.Errorf("encode %s aggregate: chunk encoding %s is not a float chunk encoding (want XOR or XOR2)", t, enc)
		}
		data := c.Bytes()
		if len(data) == 0 {
			return nil, fmt.Errorf("encode %s aggregate: chunk has no bytes and would read back as absent; pass nil instead", t)
		}
		b = binary.AppendUvarint(b, uint64(len(data)))
		b = append(b, byte(enc))
		b = append(b, data...)
	}
	return b, nil
}

// AggrChunk is the payload of a chunk with encoding ChunkEncAggr: five
// sections (count, sum, min, max, counter), see doc.go. The zero value holds
// no valid chunk. An AggrChunk is immutable and safe for concurrent reads;
// chunks returned by Get alias its memory.
//
// *AggrChunk implements chunkenc.Chunk so that it can be written with
// tsdb/chunks.Writer and returned by a chunkenc.Pool (NewPool), but its
// Iterator yields an error: read one aggregate at a time.
type AggrChunk []byte

// section returns the encoding and bytes of aggregate t. It parses the
// sections before t, so it detects truncation of those as well.
func (c AggrChunk) section(t AggrType) (chunkenc.Encoding, []byte, error) {
	if !t.Valid() {
		return 0, nil, fmt.Errorf("aggregate type %d out of range [%d, %d]", int(t), AggrCount, AggrCounter)
	}
	b := []byte(c)
	for i := AggrCount; i <= t; i++ {
		l, n := binary.Uvarint(b)
		if n <= 0 {
			return 0, nil, fmt.Errorf("%w: length of %s section unreadable at byte %d of %d", ErrCorrupt, i, len(c)-len(b), len(c))
		}
		b = b[n:]
		if l == 0 {
			if i == t {
				return 0, nil, fmt.Errorf("%s: %w", t, ErrAbsent)
			}
			continue
		}
		if uint64(len(b)) < l+1 {
			return 0, nil, fmt.Errorf("%w: %s section needs %d bytes, only %d left", ErrCorrupt, i, l+1, len(b))
		}
		if i == t {
			return chunkenc.Encoding(b[0]), b[1 : l+1 : l+1], nil
		}
		b = b[l+1:]
	}
	panic("unreachable")
}

// Get returns aggregate t as a chunk aliasing c's memory. It returns an error
// wrapping ErrAbsent when the section is empty and one wrapping ErrCorrupt
// when the bytes up to and including that section are malformed.
func (c AggrChunk) Get(t AggrType) (chunkenc.Chunk, error) {
	enc, data, err := c.section(t)
	if err != nil {
		return nil, err
	}
	if enc != chunkenc.EncXOR && enc != chunkenc.EncXOR2 {
		return nil, fmt.Errorf("%w: %s section has encoding %s, want a float chunk (XOR or XOR2)", ErrCorrupt, t, enc)
	}
	// chunkenc.FromData does not check the length; NumSamples would
	// read past a chunk without its sample count.
	if n := chunkHeaderLen(enc); uint64(len(data)) < n {
		return nil, fmt.Errorf("%w: %s section has %d bytes, shorter than a %s chunk's %d-byte header", ErrCorrupt, t, len(data), enc, n)
	}
	chk, err := chunkenc.FromData(enc, data)
	if err != nil {
		return nil, fmt.Errorf("%w: %s section: %w", ErrCorrupt, t, err)
	}
	return chk, nil
}

// Validate checks the framing of all five sections, that every present
// section holds a float chunk encoding and that no bytes trail the last
// section. It does not decode samples.
func (c AggrChunk) Validate() error {
	b := []byte(c)
	for _, t := range AllAggrTypes {
		l, n := binary.Uvarint(b)
		if n <= 0 {
			return fmt.Errorf("%w: length of %s section unreadable at byte %d of %d", ErrCorrupt, t, len(c)-len(b), len(c))
		}
		b = b[n:]
		if l == 0 {
			continue
		}
		if uint64(len(b)) < l+1 {
			return fmt.Errorf("%w: %s section needs %d bytes, only %d left", ErrCorrupt, t, l+1, len(b))
		}
		if enc := chunkenc.Encoding(b[0]); enc != chunkenc.EncXOR && enc != chunkenc.EncXOR2 {
			return fmt.Errorf("%w: %s section has encoding %s, want a float chunk (XOR or XOR2)", ErrCorrupt, t, enc)
		}
		if n := chunkHeaderLen(chunkenc.Encoding(b[0])); l < n {
			return fmt.Errorf("%w: %s section has %d bytes, shorter than a %s chunk's %d-byte header", ErrCorrupt, t, l, chunkenc.Encoding(b[0]), n)
		}
		b = b[l+1:]
	}
	if len(b) != 0 {
		return fmt.Errorf("%w: %d bytes after the counter section", ErrCorrupt, len(b))
	}
	return nil
}

// Bytes returns the payload (without the 0xff encoding byte).
func (c AggrChunk) Bytes() []byte { return c }

// Encoding returns ChunkEncAggr.
func (AggrChunk) Encoding() chunkenc.Encoding { return ChunkEncAggr }

// Appender returns an error: aggregate chunks are built with EncodeAggrChunk.
func (AggrChunk) Appender() (chunkenc.Appender, error) {
	return nil, errors.New("aggregate chunks cannot be appended to; build them with EncodeAggrChunk")
}

// NumSamples returns the number of samples of the count aggregate, or of the
// first present aggregate if the count is absent; 0 if the chunk is corrupt.
// The counter aggregate holds two more samples than the others (see doc.go).
func (c AggrChunk) NumSamples() int {
	for _, t := range AllAggrTypes {
		chk, err := c.Get(t)
		if err == nil {
			return chk.NumSamples()
		}
		if !errors.Is(err, ErrAbsent) {
			return 0
		}
	}
	return 0
}

// Iterator returns an iterator whose Err is ErrNotAggregate: samples of an
// aggregate chunk must be read per aggregate.
func (AggrChunk) Iterator(chunkenc.Iterator) chunkenc.Iterator {
	return errIterator{err: ErrNotAggregate}
}

// Compact does nothing.
func (AggrChunk) Compact() {}

// Reset makes c hold stream (no copy).
func (c *AggrChunk) Reset(stream []byte) { *c = stream }

var _ chunkenc.Chunk = (*AggrChunk)(nil)

// NewPool returns a chunkenc.Pool that understands ChunkEncAggr in addition
// to every encoding of chunkenc.NewPool. Readers of downsampled blocks must
// pass it to tsdb/chunks.NewDirReader (or tsdb.OpenBlock): the default pool
// rejects encoding 0xff with "invalid chunk encoding". Aggregate chunks it
// returns alias the bytes given to Get. Safe for concurrent use.
func NewPool() chunkenc.Pool {
	return &pool{raw: chunkenc.NewPool()}
}

type pool struct {
	raw chunkenc.Pool
}

func (p *pool) Get(e chunkenc.Encoding, b []byte) (chunkenc.Chunk, error) {
	if e == ChunkEncAggr {
		c := AggrChunk(b)
		return &c, nil
	}
	return p.raw.Get(e, b)
}

func (p *pool) Put(c chunkenc.Chunk) error {
	if c.Encoding() == ChunkEncAggr {
		return nil
	}
	return p.raw.Put(c)
}
