package main

import (
	"cmp"
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"slices"
	"time"

	"github.com/oklog/ulid/v2"

	"github.com/strata-io/strata/bench/benchutil"
	"github.com/strata-io/strata/pkg/metadata"
)

// blockInfo is one block of the FILESYSTEM bucket.
type blockInfo struct {
	meta *metadata.Meta
	// deleted: the block carries a deletion mark (it is on its way out).
	deleted bool
	// noCompact: the block carries a no-compact mark.
	noCompact bool
	// bytes is the size of the block's directory.
	bytes int64
}

// span is the block's time range.
func (b blockInfo) span() time.Duration {
	return time.Duration(b.meta.MaxTime-b.meta.MinTime) * time.Millisecond
}

// listBlocks reads every block (a ULID directory with a meta.json) of the
// FILESYSTEM bucket at dir, sorted by resolution then min time.
func listBlocks(dir string) ([]blockInfo, error) {
	entries, err := os.ReadDir(dir)
	if err != nil {
		return nil, fmt.Errorf("list bucket %s: %w", dir, err)
	}
	var out []blockInfo
	for _, e := range entries {
		if _, perr := ulid.ParseStrict(e.Name()); perr != nil || !e.IsDir() {
			continue
		}
		bdir := filepath.Join(dir, e.Name())
		meta, err := metadata.ReadFromDir(bdir)
		if errors.Is(err, os.ErrNotExist) {
			continue // partial upload
		}
		if err != nil {
			return nil, fmt.Errorf("read block %s: %w", e.Name(), err)
		}
		size, err := benchutil.DirSize(bdir)
		if err != nil {
			return nil, err
		}
		out = append(out, blockInfo{
			meta:      meta,
			deleted:   exists(filepath.Join(bdir, metadata.DeletionMarkFilename)),
			noCompact: exists(filepath.Join(bdir, metadata.NoCompactMarkFilename)),
			bytes:     size,
		})
	}
	slices.SortFunc(out, func(a, b blockInfo) int {
		if c := cmp.Compare(a.meta.Thanos.Downsample.Resolution, b.meta.Thanos.Downsample.Resolution); c != 0 {
			return c
		}
		return cmp.Compare(a.meta.MinTime, b.meta.MinTime)
	})
	return out, nil
}

func exists(path string) bool {
	_, err := os.Stat(path)
	return err == nil
}

// live returns the blocks without a deletion mark.
func live(blocks []blockInfo) []blockInfo {
	return slices.DeleteFunc(slices.Clone(blocks), func(b blockInfo) bool { return b.deleted })
}

// byID finds a block by its ULID string.
func byID(blocks []blockInfo, id string) (blockInfo, bool) {
	for _, b := range blocks {
		if b.meta.ULID.String() == id {
			return b, true
		}
	}
	return blockInfo{}, false
}

// totals sums the samples and bytes of blocks and takes the largest
// series count of one block.
func totals(blocks []blockInfo) (samples uint64, bytes int64, maxSeries uint64) {
	for _, b := range blocks {
		samples += b.meta.Stats.NumSamples
		bytes += b.bytes
		maxSeries = max(maxSeries, b.meta.Stats.NumSeries)
	}
	return samples, bytes, maxSeries
}
