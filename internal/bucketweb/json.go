package bucketweb

import (
	"time"

	"github.com/strata-io/strata/internal/block"
	"github.com/strata-io/strata/pkg/metadata"
)

// BlocksResponse is the body of GET /api/v1/blocks.
type BlocksResponse struct {
	Status string     `json:"status"` // "success"
	Data   BlocksData `json:"data"`
}

// BlocksData is the bucket's content, grouped by stream and resolution.
type BlocksData struct {
	// RefreshedAt is when the listing shown started.
	RefreshedAt time.Time `json:"refreshedAt"`
	// RefreshError is why the last background listing failed (the data is
	// then the previous listing); empty when it succeeded.
	RefreshError string `json:"refreshError,omitempty"`
	// Admin tells whether POST /api/v1/blocks/mark is enabled.
	Admin bool `json:"admin"`
	// Streams are sorted by their labels' string form.
	Streams []StreamJSON `json:"streams"`
	// Partial are the block directories without a readable meta.json.
	Partial []PartialJSON `json:"partial"`
}

// StreamJSON is one stream: the blocks whose external labels are equal.
type StreamJSON struct {
	// Key is the labels' string form, {a="b", c="d"}.
	Key    string            `json:"key"`
	Labels map[string]string `json:"labels"`
	// Resolutions are sorted ascending (raw first).
	Resolutions []ResolutionJSON `json:"resolutions"`
}

// ResolutionJSON holds the blocks of one stream at one resolution, sorted
// by min time.
type ResolutionJSON struct {
	// Resolution in ms: 0 raw, 300000 (5m), 3600000 (1h).
	Resolution int64       `json:"resolution"`
	Blocks     []BlockJSON `json:"blocks"`
}

// BlockJSON is one block with its meta.json and markers.
type BlockJSON struct {
	ULID string `json:"ulid"`
	// MinTime (inclusive) and MaxTime (exclusive) in ms, as in meta.json.
	MinTime int64          `json:"minTime"`
	MaxTime int64          `json:"maxTime"`
	Meta    *metadata.Meta `json:"meta"`
	Markers MarkersJSON    `json:"markers"`
}

// MarkersJSON holds the markers a block carries; absent ones are omitted.
type MarkersJSON struct {
	Deletion     *metadata.DeletionMark     `json:"deletion,omitempty"`
	NoCompact    *metadata.NoCompactMark    `json:"noCompact,omitempty"`
	NoDownsample *metadata.NoDownsampleMark `json:"noDownsample,omitempty"`
	// Errors are markers that exist but cannot be read.
	Errors []string `json:"errors,omitempty"`
}

// PartialJSON is a block directory without a readable meta.json.
type PartialJSON struct {
	ULID string `json:"ulid"`
	// Error is why meta.json could not be read; empty when there is none
	// (a partial upload).
	Error   string      `json:"error,omitempty"`
	Objects []string    `json:"objects"`
	Markers MarkersJSON `json:"markers"`
}

// MarkResponse is the body of a successful POST /api/v1/blocks/mark.
type MarkResponse struct {
	Status string   `json:"status"` // "success"
	Data   MarkData `json:"data"`
}

// MarkData says what the mark request did.
type MarkData struct {
	// Changed is false when the marker was already there (mark) or
	// absent (remove).
	Changed bool `json:"changed"`
	// Block is the block as it is now.
	Block BlockJSON `json:"block"`
}

func markersJSON(b *block.Block) MarkersJSON {
	m := MarkersJSON{Deletion: b.Deletion, NoCompact: b.NoCompact, NoDownsample: b.NoDownsample}
	for _, err := range b.MarkerErrs {
		m.Errors = append(m.Errors, err.Error())
	}
	return m
}

func blockJSON(b *block.Block) BlockJSON {
	out := BlockJSON{ULID: b.ID.String(), Meta: b.Meta, Markers: markersJSON(b)}
	if b.Meta != nil {
		out.MinTime, out.MaxTime = b.Meta.MinTime, b.Meta.MaxTime
	}
	return out
}

// group arranges blocks sorted by block.SortBlocks into streams and
// resolutions; blocks without meta go to partial. Never nil slices, so the
// JSON holds [] rather than null.
func group(blocks []*block.Block) ([]StreamJSON, []PartialJSON) {
	streams, partial := []StreamJSON{}, []PartialJSON{}
	for _, b := range blocks {
		if b.Meta == nil {
			p := PartialJSON{ULID: b.ID.String(), Objects: b.Objects, Markers: markersJSON(b)}
			if p.Objects == nil {
				p.Objects = []string{}
			}
			if b.MetaErr != nil {
				p.Error = b.MetaErr.Error()
			}
			partial = append(partial, p)
			continue
		}
		key := b.Stream()
		if len(streams) == 0 || streams[len(streams)-1].Key != key {
			streams = append(streams, StreamJSON{Key: key, Labels: b.Meta.Thanos.Labels})
		}
		s := &streams[len(streams)-1]
		res := b.Meta.Thanos.Downsample.Resolution
		if len(s.Resolutions) == 0 || s.Resolutions[len(s.Resolutions)-1].Resolution != res {
			s.Resolutions = append(s.Resolutions, ResolutionJSON{Resolution: res})
		}
		r := &s.Resolutions[len(s.Resolutions)-1]
		r.Blocks = append(r.Blocks, blockJSON(b))
	}
	return streams, partial
}
