package promstore

import (
	"fmt"

	"github.com/cespare/xxhash/v2"
	"github.com/prometheus/prometheus/prompb"
	"github.com/prometheus/prometheus/tsdb/chunkenc"

	"github.com/strata-io/strata/pkg/storepb"
)

// reencode decodes a chunk in an encoding the StoreAPI does not carry (XOR2,
// histograms with start timestamps) and encodes its samples again as XOR,
// HISTOGRAM or FLOAT_HISTOGRAM chunks. Start timestamps are dropped: the
// StoreAPI has no place for them. A histogram chunk may come out as several
// chunks when the appender cuts one (counter reset, layout change).
func reencode(c *prompb.Chunk) ([]*storepb.AggrChunk, error) {
	src, err := chunkenc.FromData(chunkenc.Encoding(c.Type), c.Data)
	if err != nil {
		return nil, err
	}
	var (
		out        []*storepb.AggrChunk
		cur        chunkenc.Chunk
		app        chunkenc.Appender
		mint, maxt int64
	)
	flush := func() {
		if cur == nil || cur.NumSamples() == 0 {
			return
		}
		out = append(out, toAggrChunk(cur, mint, maxt))
		cur = nil
	}
	// open starts a new chunk of encoding enc at time t unless the current one
	// has that encoding already.
	open := func(enc chunkenc.Encoding, t int64) error {
		if cur != nil && cur.Encoding() == enc {
			return nil
		}
		flush()
		cur, err = chunkenc.NewEmptyChunk(enc)
		if err != nil {
			return err
		}
		app, err = cur.Appender()
		mint = t
		return err
	}
	it := src.Iterator(nil)
	for vt := it.Next(); vt != chunkenc.ValNone; vt = it.Next() {
		switch vt {
		case chunkenc.ValFloat:
			t, v := it.At()
			if err := open(chunkenc.EncXOR, t); err != nil {
				return nil, err
			}
			app.Append(0, t, v)
			maxt = t
		case chunkenc.ValHistogram:
			t, h := it.AtHistogram(nil)
			if err := open(chunkenc.EncHistogram, t); err != nil {
				return nil, err
			}
			next, recoded, napp, err := app.AppendHistogram(nil, 0, t, h, false)
			if err != nil {
				return nil, fmt.Errorf("re-encode histogram sample at %d: %w", t, err)
			}
			cutIfNew(&cur, &mint, next, recoded, t, flush)
			app, maxt = napp, t
		case chunkenc.ValFloatHistogram:
			t, fh := it.AtFloatHistogram(nil)
			if err := open(chunkenc.EncFloatHistogram, t); err != nil {
				return nil, err
			}
			next, recoded, napp, err := app.AppendFloatHistogram(nil, 0, t, fh, false)
			if err != nil {
				return nil, fmt.Errorf("re-encode float histogram sample at %d: %w", t, err)
			}
			cutIfNew(&cur, &mint, next, recoded, t, flush)
			app, maxt = napp, t
		}
	}
	if err := it.Err(); err != nil {
		return nil, fmt.Errorf("decode %s chunk: %w", c.Type, err)
	}
	flush()
	return out, nil
}

// cutIfNew handles the chunk an appender returned: a recoded chunk replaces
// the current one, a new chunk ends the current one (flushed) and starts at t.
func cutIfNew(cur *chunkenc.Chunk, mint *int64, next chunkenc.Chunk, recoded bool, t int64, flush func()) {
	if next == nil {
		return
	}
	if !recoded {
		// The current chunk ends before t: flush it with its own max time,
		// which the caller has not yet moved to t.
		flush()
		*mint = t
	}
	*cur = next
}

// toAggrChunk wraps an encoded chunk as a raw StoreAPI chunk.
func toAggrChunk(c chunkenc.Chunk, mint, maxt int64) *storepb.AggrChunk {
	var enc storepb.Chunk_Encoding
	switch c.Encoding() {
	case chunkenc.EncHistogram:
		enc = storepb.Chunk_HISTOGRAM
	case chunkenc.EncFloatHistogram:
		enc = storepb.Chunk_FLOAT_HISTOGRAM
	default:
		enc = storepb.Chunk_XOR
	}
	data := c.Bytes()
	return &storepb.AggrChunk{
		MinTime: mint,
		MaxTime: maxt,
		Raw:     &storepb.Chunk{Type: enc, Data: data, Hash: xxhash.Sum64(data)},
	}
}
