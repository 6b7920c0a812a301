package storepb

import (
	"errors"
	"fmt"
	"math"
)

// maxHistogramBuckets bounds the buckets a histogram chunk may declare. A
// schema-8 histogram spanning the whole float64 range has about a million
// buckets; no real histogram comes near.
const maxHistogramBuckets = 1 << 21

var errShortBits = errors.New("chunk ends inside its histogram layout")

// checkHistogramLayout reads the layout a histogram chunk's bit stream
// starts with (zero threshold, schema, positive and negative spans) and
// refuses a layout that declares more buckets than the chunk could hold.
// Prometheus' decoder allocates every declared bucket up front: a 20-byte
// chunk declaring 2^32 buckets would take the process' memory. The first
// sample spends at least one bit per bucket, so a chunk of n bits after its
// layout holds at most n buckets.
func checkHistogramLayout(stream []byte) error {
	r := bitReader{b: stream}
	// Zero threshold: one byte, or 255 and a float64.
	zt, err := r.bits(8)
	if err != nil {
		return err
	}
	if zt == 255 {
		if _, err := r.bits(64); err != nil {
			return err
		}
	}
	if _, err := r.varbit(); err != nil { // schema
		return err
	}
	var buckets uint64
	for range 2 { // positive, then negative spans
		n, err := r.varbit()
		if err != nil {
			return err
		}
		for i := uint64(0); i < n; i++ {
			length, err := r.varbit()
			if err != nil {
				return err
			}
			if _, err := r.varbit(); err != nil { // offset
				return err
			}
			if length > math.MaxUint32 {
				return fmt.Errorf("span of %d buckets, more than a span holds", length)
			}
			buckets += length
			if buckets > maxHistogramBuckets {
				return fmt.Errorf("layout declares more than %d buckets", maxHistogramBuckets)
			}
		}
	}
	if left := r.left(); buckets > left {
		return fmt.Errorf("layout declares %d buckets but only %d bits follow it: the chunk is truncated or corrupt", buckets, left)
	}
	return nil
}

// bitReader reads a chunk's bit stream, most significant bit first.
type bitReader struct {
	b   []byte
	pos uint64 // in bits
}

func (r *bitReader) left() uint64 { return uint64(len(r.b))*8 - r.pos }

func (r *bitReader) bits(n uint8) (uint64, error) {
	if uint64(n) > r.left() {
		return 0, errShortBits
	}
	var v uint64
	for range n {
		bit := r.b[r.pos/8] >> (7 - r.pos%8) & 1
		v = v<<1 | uint64(bit)
		r.pos++
	}
	return v, nil
}

// varbit reads a value written by Prometheus' varbit encoding (putVarbitInt
// and putVarbitUint share the framing): a unary prefix of up to eight bits
// selects the width of the payload. It returns the raw payload, which is the
// value for unsigned fields.
func (r *bitReader) varbit() (uint64, error) {
	ones := 0
	for ones < 8 {
		bit, err := r.bits(1)
		if err != nil {
			return 0, err
		}
		if bit == 0 {
			break
		}
		ones++
	}
	widths := [...]uint8{0, 3, 6, 9, 12, 18, 25, 56, 64}
	if ones == 0 {
		return 0, nil
	}
	return r.bits(widths[ones])
}
