// Package compact is the bucket's housekeeper behind `strata compact`: it
// compacts the blocks of each stream into larger ones, merges the blocks of
// HA replicas into one copy (offline deduplication), downsamples raw data
// to 5m and 1h, applies retention per resolution and removes deleted
// blocks and partial uploads. It never halts: a block that cannot be
// compacted gets a no-compact mark and everything else goes on.
//
// # A run
//
// (*Compactor).RunOnce syncs the bucket with the block inventory (package
// block: lists the block directories, reads meta.json and markers
// concurrently; meta.json is cached per ULID since it never changes)
// before each step:
//
//  1. clean: blocks whose deletion mark is at least --delete-delay old are
//     deleted (meta.json first); directories without meta.json (partial
//     uploads) whose ULID time and newest object are older than the delay
//     (and at least an hour old) are removed.
//  2. compact: blocks not marked for deletion are grouped by stream (the
//     thanos labels minus the replica labels) and resolution. Each group
//     is planned (planner.go) and compacted until nothing is left: download
//     the plan's blocks, Merger.Check each (a NoCompactReasoner error marks
//     the block no-compact and the group is planned again without it),
//     Merger.Merge, upload the result (meta.json last, nothing when empty),
//     then mark the sources for deletion. Groups run on --compact.concurrency
//     workers, one group per worker at a time; within a group, independent
//     plans (other windows of the same range, other runs of overlapping
//     blocks: planBatch) run together. At most --compact.concurrency
//     compactions run at once in all.
//  3. downsample: raw -> 5m and 5m -> 1h (planDownsampling).
//  4. retention: blocks past their resolution's retention are marked for
//     deletion; raw (and 5m) data is held back until a coarser copy holds
//     all of its sources.
//  5. clean again.
//
// # Several instances, crashes
//
// Instances started with --compact.shard=i/n own the streams whose hash
// (xxhash of the stream labels, replica labels excluded) is i mod n: they
// never touch the same group, nor delete or mark each other's blocks.
// --selector.relabel-config (Config.RelabelConfigs) shards as Thanos does:
// relabel configs over each block's external labels plus __block_id; the
// blocks they drop are invisible to the instance from the sync on. Both
// may be set: an instance then owns the blocks the configs keep whose
// stream is in its shard. Relabel configs must keep or drop all the
// blocks of a stream together (hash on labels every replica shares, not on
// a replica label or __block_id): otherwise two instances compact parts of
// one stream, and their outputs overlap, though nothing is lost.
// Partial uploads belong to no stream and are removed by every instance
// (idempotent; an upload in progress is protected by the age rules).
//
// A compaction marks its inputs for deletion only after the output's
// meta.json is in the bucket, and deletes them only --delete-delay later.
// A crash (or an error) between the upload and the marks leaves the new
// block overlapping some of its unmarked inputs; the next run plans these
// overlapping blocks first and merges them vertically, so identical samples
// are kept once and nothing is lost or duplicated in query results. The
// same holds when two instances wrongly own the same stream: they may both
// compact the same blocks, and the overlapping outputs are merged by the
// next run. A crash before the upload's meta.json leaves a partial upload
// that the cleaner removes later. Local work directories are emptied at the
// start of each run.
//
// # Planning
//
// See planCompaction: overlapping blocks first (vertical compaction,
// never a halt), then for each range (2h, 8h, 2d, 14d by default) the
// first complete window with more than one block. Downsampling triggers
// are upstream's (a raw block spanning 40h, a 5m block spanning 10 days)
// plus any block that will never be compacted further (no-compact marked,
// spanning the largest range, or alone in its complete largest window),
// so that raw data that never reached 40h is downsampled too. A block is
// already downsampled when all its sources appear in blocks of the target
// resolution of the same stream.
package compact
