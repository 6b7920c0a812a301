package storepb

import (
	"fmt"

	"github.com/prometheus/prometheus/model/histogram"
	"github.com/prometheus/prometheus/tsdb/chunkenc"
)

// ChunkFromData wraps chunk bytes read from the wire, a block or a remote
// read response in a chunkenc.Chunk. Unlike chunkenc.FromData it refuses bytes
// shorter than the encoding's header: Prometheus' iterators index the header
// without checking and would panic on a truncated or hostile chunk.
func ChunkFromData(enc chunkenc.Encoding, data []byte) (chunkenc.Chunk, error) {
	if n := chunkHeaderLen(enc); len(data) < n {
		return nil, fmt.Errorf("%s chunk has %d bytes, shorter than its %d-byte header: the chunk is truncated or corrupt", enc, len(data), n)
	}
	if isHistogram(enc) {
		if err := checkHistogramLayout(data[chunkHeaderLen(enc):]); err != nil {
			return nil, fmt.Errorf("%s chunk: %w", enc, err)
		}
	}
	return chunkenc.FromData(enc, data)
}

func isHistogram(enc chunkenc.Encoding) bool {
	switch enc {
	case chunkenc.EncHistogram, chunkenc.EncFloatHistogram, chunkenc.EncHistogramST, chunkenc.EncFloatHistogramST:
		return true
	}
	return false
}

// chunkHeaderLen is the number of header bytes an iterator of the encoding
// reads before its bit stream: the 2-byte sample count, plus a flags byte for
// histograms and a start-timestamp byte for XOR2.
func chunkHeaderLen(enc chunkenc.Encoding) int {
	switch enc {
	case chunkenc.EncXOR:
		return 2
	default:
		// XOR2, the histogram encodings and their start-timestamp
		// variants have a third header byte.
		return 3
	}
}

// SafeIterator returns an iterator over chk that turns a panic of the
// encoding's decoder into an iteration error. Prometheus' histogram decoders
// panic on some corrupt inputs (a span with a negative offset, for one); a
// querier or store must answer such a chunk with an error, not die.
func SafeIterator(chk chunkenc.Chunk) chunkenc.Iterator {
	it := chk.Iterator(nil)
	if chk.Encoding() == chunkenc.EncXOR {
		// The XOR decoder reads through a bounds-checked bit reader and
		// reports truncation as an error (TestChunkFromDataShortAndRandom).
		return it
	}
	return &safeIterator{it: it, enc: chk.Encoding()}
}

type safeIterator struct {
	it  chunkenc.Iterator
	enc chunkenc.Encoding
	err error
}

// recovered ends the iteration with an error when the decoder panicked.
func (s *safeIterator) recovered(r any) {
	s.err = fmt.Errorf("corrupt %s chunk: %v", s.enc, r)
}

func (s *safeIterator) Next() (vt chunkenc.ValueType) {
	if s.err != nil {
		return chunkenc.ValNone
	}
	defer func() {
		if r := recover(); r != nil {
			s.recovered(r)
			vt = chunkenc.ValNone
		}
	}()
	return s.it.Next()
}

func (s *safeIterator) Seek(t int64) (vt chunkenc.ValueType) {
	if s.err != nil {
		return chunkenc.ValNone
	}
	defer func() {
		if r := recover(); r != nil {
			s.recovered(r)
			vt = chunkenc.ValNone
		}
	}()
	return s.it.Seek(t)
}

func (s *safeIterator) At() (int64, float64) { return s.it.At() }

func (s *safeIterator) AtHistogram(h *histogram.Histogram) (t int64, out *histogram.Histogram) {
	defer func() {
		if r := recover(); r != nil {
			s.recovered(r)
			t, out = s.it.AtT(), &histogram.Histogram{}
		}
	}()
	return s.it.AtHistogram(h)
}

func (s *safeIterator) AtFloatHistogram(fh *histogram.FloatHistogram) (t int64, out *histogram.FloatHistogram) {
	defer func() {
		if r := recover(); r != nil {
			s.recovered(r)
			t, out = s.it.AtT(), &histogram.FloatHistogram{}
		}
	}()
	return s.it.AtFloatHistogram(fh)
}

func (s *safeIterator) AtT() int64  { return s.it.AtT() }
func (s *safeIterator) AtST() int64 { return s.it.AtST() }

func (s *safeIterator) Err() error {
	if s.err != nil {
		return s.err
	}
	return s.it.Err()
}
