package e2eutil

import (
	"context"
	"path/filepath"

	"github.com/strata-io/strata/internal/store/bucketstore"
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
// it.
type StoreBlock = bucketstore.LoadedBlock

// Blocks calls a store gateway's /api/v1/blocks.
func (c *Client) Blocks(ctx context.Context) ([]StoreBlock, error) {
	var out struct {
		Blocks []StoreBlock `json:"blocks"`
	}
	return out.Blocks, c.getData(ctx, "/api/v1/blocks", nil, &out)
}
