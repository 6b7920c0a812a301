// Package merge turns several local blocks of one stream and one resolution
// into one new local block: the compactor's unit of work. It implements the
// compact.Merger seam (Merge and Check).
//
// # Writing
//
// Merge opens every source block with tsdb.OpenBlock and writes the new block
// with Prometheus' LeveledCompactor (temporary directory, atomic rename,
// meta.json with level = max(source levels)+1, sources = union of the
// sources' sources, parents = the sources, empty tombstones). Only the series
// merging is Strata's, plugged in as a tsdb.BlockPopulator, so that it can
// tell which source block (and which replica) a series came from. Merge then
// rewrites meta.json with the thanos section (labels, resolution, source
// "compactor", files, segment_files).
//
// The compactor writes the meta.json of its sources when a compaction fails
// or yields nothing (Prometheus marks them "failed" or "deletable"), which
// would drop their thanos section; Merge puts the sources' meta.json back
// as it found them.
//
// # Modes
//
//   - Vertical (default): series with equal labels are merged by
//     storage.NewCompactingChunkSeriesMerger(storage.ChainedSeriesMerge):
//     chunks that do not overlap are copied as they are, byte-identical
//     chunks are kept once, and overlapping chunks are decoded, chained (one
//     sample per timestamp) and re-encoded.
//   - DedupExact: for replicas that hold identical data (replicated
//     receivers): the same chain merge, so one copy of every identical sample
//     is kept and samples only one replica has are kept too. When two
//     replicas disagree at one timestamp, which value is kept is unspecified.
//   - DedupPenalty: for HA Prometheus pairs, whose replicas scrape at their
//     own times. The sources are grouped into replicas by their thanos labels
//     (before replica-label removal, which the caller does for the output);
//     each replica's blocks are chain-merged as above, and the replicas of a
//     series are merged with internal/dedup's penalty iterator, the one the
//     querier uses online. Counters (a __type__="counter" label, or else a
//     name ending in _total, _count, _sum or _bucket) get its counter offset,
//     as rate() reads them online: after a switch to a replica that counts
//     less (it started later), its values are stored shifted by the
//     difference, so the block never shows a fake reset and rate()/increase()
//     over it equal the online dedup of the sources. Raw values of a counter
//     after a switch are therefore the new replica's plus an offset, not
//     what either replica recorded; each merge starts without offset, so
//     an outage spanning the block's edge can leave one drop between this
//     block and the next. Other series get no offset (the samples
//     a plain selector reads online). Merged samples are re-encoded into
//     chunks of at most 120 samples (XOR, or histogram chunks). A series
//     only one replica has is copied as is.
//     Replicas are ordered by their labels; on a tie (two replicas with a
//     sample at the same first timestamp) the first replica wins, as online.
//
// # Downsampled blocks
//
// Blocks of resolution > 0 hold aggregate chunks (encoding 0xff, see
// internal/downsample) that cannot be merged sample by sample. Their chunks
// are copied; byte-identical chunks are kept once; any other overlap of two
// chunks of one series fails the merge with a BlockError whose reason is
// metadata.DownsampleVerticalCompactionReason, naming the block of the later
// chunk. The mode does not matter for them.
//
// # Check
//
// Check reads a block's index with Prometheus' index reader and every chunk
// reference with its chunk reader (which verifies each chunk's CRC): series
// must be sorted and readable, each series' chunks sorted by time and not
// overlapping, each chunk inside a segment file. Failures are BlockErrors
// with metadata.OutOfOrderChunksReason or metadata.CorruptBlockReason.
package merge
