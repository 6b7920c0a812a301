package storepb

import (
	"fmt"

	"github.com/prometheus/prometheus/tsdb/chunkenc"
)

// WireEncoding maps a Prometheus chunk encoding to its StoreAPI enum. ok is
// false for encodings the wire lacks (XOR2, the histogram encodings with start
// timestamps, downsampled aggregates): those chunks must be re-encoded.
func WireEncoding(e chunkenc.Encoding) (enc Chunk_Encoding, ok bool) {
	switch e {
	case chunkenc.EncXOR:
		return Chunk_XOR, true
	case chunkenc.EncHistogram:
		return Chunk_HISTOGRAM, true
	case chunkenc.EncFloatHistogram:
		return Chunk_FLOAT_HISTOGRAM, true
	}
	return 0, false
}

// Reencode rewrites a chunk whose encoding the wire lacks into chunks of the
// wire encoding of the same value type (XOR, HISTOGRAM, FLOAT_HISTOGRAM),
// dropping start timestamps, which the StoreAPI has no place for. A
// histogram chunk may come out as several chunks when the appender cuts one
// (counter reset, layout change). Min and max times are those of the samples.
func Reencode(src chunkenc.Chunk) ([]*AggrChunk, error) {
	type building struct {
		chk        chunkenc.Chunk
		mint, maxt int64
	}
	var (
		out []building
		app chunkenc.Appender
		it  = SafeIterator(src)
	)
	start := func(e chunkenc.Encoding, t int64) error {
		chk, err := chunkenc.NewEmptyChunk(e)
		if err != nil {
			return err
		}
		if app, err = chk.Appender(); err != nil {
			return err
		}
		out = append(out, building{chk: chk, mint: t, maxt: t})
		return nil
	}
	// cut records what a histogram append did: nothing new, the chunk
	// recoded in place, or a new chunk started.
	cut := func(newChk chunkenc.Chunk, recoded bool, newApp chunkenc.Appender, t int64) {
		app = newApp
		last := &out[len(out)-1]
		switch {
		case newChk == nil:
			last.maxt = t
		case recoded:
			last.chk, last.maxt = newChk, t
		default:
			out = append(out, building{chk: newChk, mint: t, maxt: t})
		}
	}
	for vt := it.Next(); vt != chunkenc.ValNone; vt = it.Next() {
		switch vt {
		case chunkenc.ValFloat:
			t, v := it.At()
			if app == nil {
				if err := start(chunkenc.EncXOR, t); err != nil {
					return nil, err
				}
			}
			app.Append(0, t, v)
			out[len(out)-1].maxt = t
		case chunkenc.ValHistogram:
			t, h := it.AtHistogram(nil)
			if app == nil {
				if err := start(chunkenc.EncHistogram, t); err != nil {
					return nil, err
				}
			}
			newChk, recoded, newApp, err := app.AppendHistogram(nil, 0, t, h, false)
			if err != nil {
				return nil, err
			}
			cut(newChk, recoded, newApp, t)
		case chunkenc.ValFloatHistogram:
			t, fh := it.AtFloatHistogram(nil)
			if app == nil {
				if err := start(chunkenc.EncFloatHistogram, t); err != nil {
					return nil, err
				}
			}
			newChk, recoded, newApp, err := app.AppendFloatHistogram(nil, 0, t, fh, false)
			if err != nil {
				return nil, err
			}
			cut(newChk, recoded, newApp, t)
		default:
			return nil, fmt.Errorf("unknown value type %s", vt)
		}
	}
	if err := it.Err(); err != nil {
		return nil, err
	}
	res := make([]*AggrChunk, 0, len(out))
	for _, b := range out {
		enc, _ := WireEncoding(b.chk.Encoding())
		res = append(res, &AggrChunk{MinTime: b.mint, MaxTime: b.maxt, Raw: &Chunk{Type: enc, Data: b.chk.Bytes()}})
	}
	return res, nil
}
