package tsdbstore

import (
	"fmt"

	"github.com/prometheus/prometheus/tsdb/chunkenc"
	"github.com/prometheus/prometheus/tsdb/chunks"

	"github.com/strata-io/strata/pkg/storepb"
)

// chunkConverter turns the chunks of a storage series into wire chunks,
// keeping those that overlap [mint, maxt] (ms, inclusive).
type chunkConverter struct {
	mint, maxt int64
}

// convert reads it to the end. The data of every returned chunk is a copy:
// it stays valid after the querier that produced it is closed (block chunks
// may be memory-mapped, the last head chunk may still be appended to).
func (c chunkConverter) convert(it chunks.Iterator) ([]*storepb.AggrChunk, error) {
	var out []*storepb.AggrChunk
	for it.Next() {
		m := it.At()
		if m.MaxTime < c.mint || m.MinTime > c.maxt {
			continue
		}
		if m.Chunk == nil {
			return nil, fmt.Errorf("chunk [%d, %d] not populated by the storage", m.MinTime, m.MaxTime)
		}
		if enc, ok := wireEncoding(m.Chunk.Encoding()); ok {
			out = append(out, &storepb.AggrChunk{
				MinTime: m.MinTime,
				MaxTime: m.MaxTime,
				Raw:     &storepb.Chunk{Type: enc, Data: append([]byte(nil), m.Chunk.Bytes()...)},
			})
			continue
		}
		re, err := reencode(m.Chunk)
		if err != nil {
			return nil, fmt.Errorf("re-encode %s chunk [%d, %d]: %w", m.Chunk.Encoding(), m.MinTime, m.MaxTime, err)
		}
		for _, r := range re {
			if r.maxt < c.mint || r.mint > c.maxt {
				continue
			}
			enc, _ := wireEncoding(r.chk.Encoding())
			out = append(out, &storepb.AggrChunk{
				MinTime: r.mint,
				MaxTime: r.maxt,
				Raw:     &storepb.Chunk{Type: enc, Data: r.chk.Bytes()},
			})
		}
	}
	if err := it.Err(); err != nil {
		return nil, err
	}
	return out, nil
}

// wireEncoding maps a chunk encoding to its StoreAPI enum, if it has one.
func wireEncoding(e chunkenc.Encoding) (storepb.Chunk_Encoding, bool) {
	switch e {
	case chunkenc.EncXOR:
		return storepb.Chunk_XOR, true
	case chunkenc.EncHistogram:
		return storepb.Chunk_HISTOGRAM, true
	case chunkenc.EncFloatHistogram:
		return storepb.Chunk_FLOAT_HISTOGRAM, true
	}
	return 0, false
}

// encodedChunk is a chunk built by reencode, with the ms range of its samples.
type encodedChunk struct {
	chk        chunkenc.Chunk
	mint, maxt int64
}

// reencode rewrites a chunk whose encoding the wire lacks (XOR2, histogram
// encodings with start timestamps) into the encoding of the same value type
// the wire has, dropping start timestamps. A histogram chunk may come out as
// more than one chunk when the appender needs to cut one.
func reencode(src chunkenc.Chunk) ([]encodedChunk, error) {
	var (
		out []encodedChunk
		app chunkenc.Appender
		it  = src.Iterator(nil)
	)
	start := func(e chunkenc.Encoding, t int64) error {
		chk, err := chunkenc.NewEmptyChunk(e)
		if err != nil {
			return err
		}
		app, err = chk.Appender()
		if err != nil {
			return err
		}
		out = append(out, encodedChunk{chk: chk, mint: t, maxt: t})
		return nil
	}
	// cut records what an AppendHistogram/AppendFloatHistogram call did.
	cut := func(newChk chunkenc.Chunk, recoded bool, newApp chunkenc.Appender, t int64) {
		app = newApp
		last := &out[len(out)-1]
		switch {
		case newChk == nil:
			last.maxt = t
		case recoded:
			last.chk = newChk
			last.maxt = t
		default:
			out = append(out, encodedChunk{chk: newChk, mint: t, maxt: t})
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
	return out, nil
}
