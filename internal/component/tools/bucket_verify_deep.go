package tools

import (
	"context"
	"errors"
	"fmt"
	"io"
	"os"
	"path"
	"path/filepath"

	"github.com/prometheus/prometheus/model/labels"
	"github.com/prometheus/prometheus/tsdb/chunks"
	"github.com/prometheus/prometheus/tsdb/index"
	"github.com/thanos-io/objstore"

	"github.com/strata-io/strata/pkg/metadata"
)

// maxDeepProblems bounds the problems deepCheckIndex reports per block; a
// broken index would otherwise report one per series.
const maxDeepProblems = 10

// deepCheckIndex downloads the index of block m into tmp and walks every
// series with Prometheus' index reader. It returns the problems found:
// series not in strictly ascending label order, chunks out of order or
// overlapping within a series, chunks outside the block's time range,
// chunk references beyond the segment files (whose sizes are in
// segmentSizes, keyed chunks/NNNNNN). The index is removed afterwards.
func deepCheckIndex(ctx context.Context, bkt objstore.BucketReader, m *metadata.Meta, segmentSizes map[string]int64, tmp string) []string {
	file := filepath.Join(tmp, metadata.IndexFilename)
	if err := download(ctx, bkt, path.Join(m.ULID.String(), metadata.IndexFilename), file); err != nil {
		return []string{fmt.Sprintf("download index: %v", err)}
	}
	defer func() { _ = os.Remove(file) }()
	r, err := index.NewFileReader(file, index.DecodePostingsRaw)
	if err != nil {
		return []string{fmt.Sprintf("open index: %v", err)}
	}
	defer func() { _ = r.Close() }()

	// Segment sizes by sequence index, as chunk references number them.
	var segs []int64
	for _, s := range m.Thanos.SegmentFiles {
		segs = append(segs, segmentSizes[metadata.ChunksDirname+"/"+s])
	}

	var problems []string
	more := 0
	report := func(format string, args ...any) {
		if len(problems) < maxDeepProblems {
			problems = append(problems, fmt.Sprintf(format, args...))
		} else {
			more++
		}
	}
	name, value := index.AllPostingsKey()
	p, err := r.Postings(ctx, name, value)
	if err != nil {
		return []string{fmt.Sprintf("read all-series postings: %v", err)}
	}
	var (
		b      labels.ScratchBuilder
		chks   []chunks.Meta
		prev   labels.Labels
		nSerie int
	)
	for p.Next() {
		if nSerie%1024 == 0 && ctx.Err() != nil {
			return nil
		}
		nSerie++
		ref := p.At()
		if err := r.Series(ref, &b, &chks); err != nil {
			report("series %d: %v", ref, err)
			continue
		}
		lset := b.Labels()
		if nSerie > 1 && labels.Compare(prev, lset) >= 0 {
			report("series %s is not after %s: series out of order", lset, prev)
		}
		prev = lset.Copy()
		for i, c := range chks {
			switch {
			case c.MinTime > c.MaxTime:
				report("series %s: chunk %d has minTime %d after maxTime %d", lset, i, c.MinTime, c.MaxTime)
			case i > 0 && c.MinTime <= chks[i-1].MaxTime:
				report("series %s: chunk %d [%d, %d] starts before the end of chunk %d [%d, %d]: chunks out of order or overlapping",
					lset, i, c.MinTime, c.MaxTime, i-1, chks[i-1].MinTime, chks[i-1].MaxTime)
			case c.MaxTime < m.MinTime || c.MinTime >= m.MaxTime:
				report("series %s: chunk %d [%d, %d] is outside the block's range [%d, %d)", lset, i, c.MinTime, c.MaxTime, m.MinTime, m.MaxTime)
			}
			seq, off := chunks.BlockChunkRef(c.Ref).Unpack()
			if len(segs) > 0 && (seq >= len(segs) || (segs[seq] > 0 && int64(off) >= segs[seq])) {
				report("series %s: chunk %d refers to segment %d offset %d, beyond the %d segment files", lset, i, seq+1, off, len(segs))
			}
		}
	}
	if err := p.Err(); err != nil {
		report("walk postings: %v", err)
	}
	if more > 0 {
		problems = append(problems, fmt.Sprintf("... and %d more index problems", more))
	}
	return problems
}

// download copies the object name of bkt to the local file dst.
func download(ctx context.Context, bkt objstore.BucketReader, name, dst string) (err error) {
	rc, err := bkt.Get(ctx, name)
	if err != nil {
		return fmt.Errorf("get %s: %w", name, err)
	}
	defer func() { err = errors.Join(err, rc.Close()) }()
	if err := os.MkdirAll(filepath.Dir(dst), 0o755); err != nil {
		return err
	}
	f, err := os.Create(dst)
	if err != nil {
		return err
	}
	defer func() { err = errors.Join(err, f.Close()) }()
	if _, err := io.Copy(f, rc); err != nil {
		return fmt.Errorf("copy %s: %w", name, err)
	}
	return nil
}
