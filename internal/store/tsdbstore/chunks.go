package tsdbstore

import (
	"fmt"

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
		if enc, ok := storepb.WireEncoding(m.Chunk.Encoding()); ok {
			out = append(out, &storepb.AggrChunk{
				MinTime: m.MinTime,
				MaxTime: m.MaxTime,
				Raw:     &storepb.Chunk{Type: enc, Data: append([]byte(nil), m.Chunk.Bytes()...)},
			})
			continue
		}
		re, err := storepb.Reencode(m.Chunk)
		if err != nil {
			return nil, fmt.Errorf("re-encode %s chunk [%d, %d]: %w", m.Chunk.Encoding(), m.MinTime, m.MaxTime, err)
		}
		for _, r := range re {
			if r.MaxTime >= c.mint && r.MinTime <= c.maxt {
				out = append(out, r)
			}
		}
	}
	if err := it.Err(); err != nil {
		return nil, err
	}
	return out, nil
}
