package compact

import (
	"context"

	"github.com/prometheus/prometheus/model/labels"

	"github.com/strata-io/strata/pkg/metadata"
)

// Merger merges local blocks. Implemented by merge.Merger (H2).
type Merger interface {
	// Merge writes one new block under dstParent holding every series of the blocks in srcDirs
	// (local block directories with meta.json, all of one stream and one resolution, sorted by
	// min time; they may overlap). The new block's meta.json has: ULID new, min/max time the union,
	// compaction level max(src levels)+1, sources = union of src sources, parents = the srcs,
	// thanos.labels = ext (the stream's labels, replica labels already removed by the caller),
	// thanos.downsample.resolution = resolution, thanos.source "compactor", files and
	// segment_files filled. It returns the new block's meta (its dir is dstParent/<ULID>).
	// An empty result (no samples) returns a meta with Stats.NumSamples == 0 and no directory.
	Merge(ctx context.Context, srcDirs []string, dstParent string, ext labels.Labels, resolution int64) (*metadata.Meta, error)
	// Check inspects a local block before compaction. A block that cannot be compacted safely
	// returns an error that implements NoCompactReasoner (errors.As).
	Check(ctx context.Context, dir string) error
}

// NoCompactReasoner is implemented by errors that should mark a block no-compact.
type NoCompactReasoner interface {
	error
	NoCompactReason() metadata.Reason
}

// Downsampler downsamples one local block. Implemented by downsample.BlockDownsampler (H3).
type Downsampler interface {
	// Downsample writes under dstParent a block holding srcDir's series downsampled to resolution
	// (ms: 300000 from raw, 3600000 from a 300000 block), five aggregates per window in 0xff chunks.
	// meta.json: new ULID, same min/max time, compaction level and sources as the source,
	// parents = [src], thanos labels copied, thanos.downsample.resolution = resolution,
	// source "compactor", files, segment_files. Returns the new meta (dir dstParent/<ULID>).
	// Errors caused by the source's data wrap downsample.ErrUnreadableBlock: the compactor
	// then marks the block no-downsample (block-corrupt) instead of retrying it every run.
	Downsample(ctx context.Context, srcDir, dstParent string, resolution int64) (*metadata.Meta, error)
}
