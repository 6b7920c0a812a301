package promstore

import (
	"bytes"
	"fmt"
	"unsafe"

	"github.com/prometheus/prometheus/prompb"
	"google.golang.org/protobuf/encoding/protowire"
)

// The streamed remote-read answer is decoded straight from the protobuf wire
// format instead of through prompb's generated structs: a frame holds
// thousands of labels and chunks, and building a struct and a string for
// each (only to convert them again) was a third of the sidecar's CPU time.
//
// The wire format, from prompb (Prometheus' remote.proto and types.proto):
//
//	ChunkedReadResponse { repeated ChunkedSeries chunked_series = 1; int64 query_index = 2; }
//	ChunkedSeries       { repeated Label labels = 1; repeated Chunk chunks = 2; }
//	Label               { string name = 1; string value = 2; }
//	Chunk               { int64 min_time_ms = 1; int64 max_time_ms = 2; Encoding type = 3; bytes data = 4; }

// rawSeries is one ChunkedSeries of a frame. Its slices point into the
// frame, which the caller owns and must not change while they are in use.
type rawSeries struct {
	labels []byte         // the encoded labels fields, to tell series apart cheaply
	chunks []prompb.Chunk // Data points into the frame
}

// rangeLabels calls fn for each label of s; name and value alias the frame.
func (s *rawSeries) rangeLabels(fn func(name, value string)) error {
	b := s.labels
	for len(b) > 0 {
		num, typ, n := protowire.ConsumeTag(b)
		if n < 0 {
			return protowire.ParseError(n)
		}
		b = b[n:]
		if num != 1 || typ != protowire.BytesType {
			n = protowire.ConsumeFieldValue(num, typ, b)
			if n < 0 {
				return protowire.ParseError(n)
			}
			b = b[n:]
			continue
		}
		msg, n := protowire.ConsumeBytes(b)
		if n < 0 {
			return protowire.ParseError(n)
		}
		b = b[n:]
		var name, value []byte
		for len(msg) > 0 {
			fnum, ftyp, m := protowire.ConsumeTag(msg)
			if m < 0 {
				return protowire.ParseError(m)
			}
			msg = msg[m:]
			if ftyp != protowire.BytesType {
				m = protowire.ConsumeFieldValue(fnum, ftyp, msg)
				if m < 0 {
					return protowire.ParseError(m)
				}
				msg = msg[m:]
				continue
			}
			v, m := protowire.ConsumeBytes(msg)
			if m < 0 {
				return protowire.ParseError(m)
			}
			msg = msg[m:]
			switch fnum {
			case 1:
				name = v
			case 2:
				value = v
			}
		}
		fn(unsafeString(name), unsafeString(value))
	}
	return nil
}

// sameLabels tells whether a and b carry the same encoded labels.
func sameLabels(a, b *rawSeries) bool { return bytes.Equal(a.labels, b.labels) }

// decodeFrame appends the series of one ChunkedReadResponse frame to out.
// Labels fields are kept encoded, as the contiguous run of bytes Prometheus
// writes them in (gathered into a new buffer should they ever be interleaved
// with chunks).
func decodeFrame(frame []byte, out []rawSeries) ([]rawSeries, error) {
	for len(frame) > 0 {
		num, typ, n := protowire.ConsumeTag(frame)
		if n < 0 {
			return nil, protowire.ParseError(n)
		}
		frame = frame[n:]
		if num != 1 || typ != protowire.BytesType {
			n = protowire.ConsumeFieldValue(num, typ, frame)
			if n < 0 {
				return nil, protowire.ParseError(n)
			}
			frame = frame[n:]
			continue
		}
		msg, n := protowire.ConsumeBytes(frame)
		if n < 0 {
			return nil, protowire.ParseError(n)
		}
		frame = frame[n:]
		s, err := decodeSeries(msg)
		if err != nil {
			return nil, err
		}
		out = append(out, s)
	}
	return out, nil
}

func decodeSeries(msg []byte) (rawSeries, error) {
	var s rawSeries
	for len(msg) > 0 {
		start := msg
		num, typ, n := protowire.ConsumeTag(msg)
		if n < 0 {
			return s, protowire.ParseError(n)
		}
		msg = msg[n:]
		m := protowire.ConsumeFieldValue(num, typ, msg)
		if m < 0 {
			return s, protowire.ParseError(m)
		}
		field := start[:n+m]
		value := msg[:m]
		msg = msg[m:]
		switch {
		case num == 1 && typ == protowire.BytesType:
			switch {
			case len(s.labels) == 0:
				s.labels = field
			case contiguous(s.labels, field):
				s.labels = s.labels[:len(s.labels)+len(field)]
			default: // labels interleaved with chunks: gather them
				s.labels = append(append([]byte(nil), s.labels...), field...)
			}
		case num == 2 && typ == protowire.BytesType:
			body, k := protowire.ConsumeBytes(value)
			if k < 0 {
				return s, protowire.ParseError(k)
			}
			c, err := decodeChunk(body)
			if err != nil {
				return s, err
			}
			s.chunks = append(s.chunks, c)
		}
	}
	return s, nil
}

// contiguous tells whether b starts right where a ends in memory.
func contiguous(a, b []byte) bool {
	if cap(a) < len(a)+len(b) {
		return false
	}
	return unsafe.Pointer(unsafe.SliceData(a[len(a):cap(a)])) == unsafe.Pointer(unsafe.SliceData(b))
}

func decodeChunk(msg []byte) (prompb.Chunk, error) {
	var c prompb.Chunk
	for len(msg) > 0 {
		num, typ, n := protowire.ConsumeTag(msg)
		if n < 0 {
			return c, protowire.ParseError(n)
		}
		msg = msg[n:]
		switch {
		case typ == protowire.VarintType && (num == 1 || num == 2 || num == 3):
			v, m := protowire.ConsumeVarint(msg)
			if m < 0 {
				return c, protowire.ParseError(m)
			}
			msg = msg[m:]
			switch num {
			case 1:
				c.MinTimeMs = int64(v)
			case 2:
				c.MaxTimeMs = int64(v)
			case 3:
				c.Type = prompb.Chunk_Encoding(v)
			}
		case typ == protowire.BytesType && num == 4:
			v, m := protowire.ConsumeBytes(msg)
			if m < 0 {
				return c, protowire.ParseError(m)
			}
			msg = msg[m:]
			c.Data = v
		default:
			m := protowire.ConsumeFieldValue(num, typ, msg)
			if m < 0 {
				return c, fmt.Errorf("chunk field %d: %w", num, protowire.ParseError(m))
			}
			msg = msg[m:]
		}
	}
	return c, nil
}

// unsafeString returns b as a string without copying. The caller keeps b
// unchanged for as long as the string is used.
func unsafeString(b []byte) string {
	if len(b) == 0 {
		return ""
	}
	return unsafe.String(unsafe.SliceData(b), len(b))
}
