package merge

import (
	"context"
	"errors"
	"fmt"
	"path/filepath"

	"github.com/oklog/ulid/v2"
	"github.com/prometheus/prometheus/model/labels"
	"github.com/prometheus/prometheus/tsdb/chunks"
	"github.com/prometheus/prometheus/tsdb/index"

	"github.com/strata-io/strata/internal/downsample"
	"github.com/strata-io/strata/pkg/metadata"
)

// checkCtxEvery is how many series Check reads between looks at its context.
const checkCtxEvery = 1024

// Check inspects the local block in dir before it is compacted: meta.json,
// the index (readable, series strictly sorted by labels), each series' chunk
// metas (min <= max, sorted by time, not overlapping) and each chunk (inside
// a segment file, CRC correct, aggregate chunks well formed). It reads the
// whole block. A block that must not be compacted fails with a *BlockError:
// OutOfOrderChunksReason for chunks out of order or overlapping,
// CorruptBlockReason for anything unreadable. Cancellation and errors that
// say nothing about the block are returned plain. Safe for concurrent use;
// dir is only read.
func (m *Merger) Check(ctx context.Context, dir string) (err error) {
	meta, err := metadata.ReadFromDir(dir)
	if err != nil {
		id, perr := ulid.Parse(filepath.Base(dir))
		if perr != nil {
			return fmt.Errorf("check block %s: %w", dir, err)
		}
		return &BlockError{ID: id, Reason: metadata.CorruptBlockReason, Err: err}
	}
	corrupt := func(err error) error {
		return &BlockError{ID: meta.ULID, Reason: metadata.CorruptBlockReason, Err: err}
	}

	ir, err := index.NewFileReader(filepath.Join(dir, metadata.IndexFilename), index.DecodePostingsRaw)
	if err != nil {
		return corrupt(fmt.Errorf("open index: %w", err))
	}
	defer func() { err = errors.Join(err, closeErr("index", ir.Close())) }()
	cr, err := chunks.NewDirReader(filepath.Join(dir, metadata.ChunksDirname), downsample.NewPool())
	if err != nil {
		return corrupt(fmt.Errorf("open chunks: %w", err))
	}
	defer func() { err = errors.Join(err, closeErr("chunks", cr.Close())) }()

	k, v := index.AllPostingsKey()
	p, err := ir.Postings(ctx, k, v)
	if err != nil {
		return corrupt(fmt.Errorf("read postings of all series: %w", err))
	}
	var (
		b     labels.ScratchBuilder
		chks  []chunks.Meta
		prev  labels.Labels
		first = true
		n     int
	)
	for p.Next() {
		if n++; n%checkCtxEvery == 0 {
			if err := ctx.Err(); err != nil {
				return err
			}
		}
		if err := ir.Series(p.At(), &b, &chks); err != nil {
			return corrupt(fmt.Errorf("read series %d: %w", p.At(), err))
		}
		lset := b.Labels()
		if !first && labels.Compare(prev, lset) >= 0 {
			return corrupt(fmt.Errorf("index series out of order: %s after %s", lset, prev))
		}
		first = false
		prev = lset
		for i, c := range chks {
			if c.MinTime > c.MaxTime {
				return &BlockError{ID: meta.ULID, Reason: metadata.OutOfOrderChunksReason,
					Err: fmt.Errorf("series %s: chunk %d has min time %d after max time %d", lset, i, c.MinTime, c.MaxTime)}
			}
			if i > 0 && c.MinTime <= chks[i-1].MaxTime {
				return &BlockError{ID: meta.ULID, Reason: metadata.OutOfOrderChunksReason,
					Err: fmt.Errorf("series %s: chunk [%d, %d] is out of order or overlaps the chunk [%d, %d] before it",
						lset, c.MinTime, c.MaxTime, chks[i-1].MinTime, chks[i-1].MaxTime)}
			}
			chk, _, err := cr.ChunkOrIterable(c)
			if err == nil {
				if a, ok := chk.(*downsample.AggrChunk); ok {
					err = a.Validate()
				}
			}
			if err != nil {
				return corrupt(fmt.Errorf("series %s: chunk [%d, %d] at ref %d: %w", lset, c.MinTime, c.MaxTime, c.Ref, err))
			}
		}
	}
	if err := p.Err(); err != nil {
		if errors.Is(err, context.Canceled) || errors.Is(err, context.DeadlineExceeded) {
			return err
		}
		return corrupt(fmt.Errorf("read postings of all series: %w", err))
	}
	return nil
}

// closeErr names what failed to close, or is nil.
func closeErr(what string, err error) error {
	if err != nil {
		return fmt.Errorf("close %s: %w", what, err)
	}
	return nil
}
