package promstore

import (
	"github.com/cespare/xxhash/v2"
	"github.com/prometheus/prometheus/prompb"
	"github.com/prometheus/prometheus/tsdb/chunkenc"

	"github.com/strata-io/strata/pkg/storepb"
)

// reencode decodes a chunk in an encoding the StoreAPI does not carry (XOR2,
// histograms with start timestamps) and encodes its samples again as XOR,
// HISTOGRAM or FLOAT_HISTOGRAM chunks (storepb.Reencode). prompb's encoding
// numbers are chunkenc's.
func reencode(c *prompb.Chunk) ([]*storepb.AggrChunk, error) {
	src, err := storepb.ChunkFromData(chunkenc.Encoding(c.Type), c.Data)
	if err != nil {
		return nil, err
	}
	out, err := storepb.Reencode(src)
	if err != nil {
		return nil, err
	}
	for _, a := range out {
		a.Raw.Hash = xxhash.Sum64(a.Raw.Data)
	}
	return out, nil
}
