package e2eutil

import (
	"context"
	"path/filepath"
)

// NewStore describes a store gateway (`strata store`); extra holds its
// flags, at least --objstore.config or --objstore.config-file.
func NewStore(bin, dir, name string, extra ...string) *Strata {
	return &Strata{Bin: bin, Name: name, Dir: filepath.Join(dir, name), Component: "store", Args: extra}
}

// Restart starts s again on the addresses of its previous start (as a
// restarted pod keeps its address, so its clients reconnect without being
// told) and waits until /-/ready answers 200. The previous process must
// have exited.
func (s *Strata) Restart(ctx context.Context) error {
	proc, err := StartReady(ctx, 1, func() (Spec, error) { return s.Spec(), nil })
	if proc != nil {
		s.Process = proc
	}
	return err
}

// StoreBlock is one block a store gateway serves, as /api/v1/blocks lists
// it. Times in milliseconds; MaxTime is exclusive, as in meta.json.
type StoreBlock struct {
	ULID       string            `json:"ulid"`
	MinTime    int64             `json:"minTime"`
	MaxTime    int64             `json:"maxTime"`
	Labels     map[string]string `json:"labels"`
	Resolution int64             `json:"resolution"`
	NumSeries  uint64            `json:"numSeries"`
	NumSamples uint64            `json:"numSamples"`
}

// Blocks calls a store gateway's /api/v1/blocks.
func (c *Client) Blocks(ctx context.Context) ([]StoreBlock, error) {
	var out struct {
		Blocks []StoreBlock `json:"blocks"`
	}
	return out.Blocks, c.getData(ctx, "/api/v1/blocks", nil, &out)
}
