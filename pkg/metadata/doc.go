// Package metadata is Strata's public bucket contract: the format of a
// block's meta.json, of the marker files, and the helpers that upload,
// download and delete whole blocks in an object-storage bucket.
//
// The format is the one Thanos tools read and write, so that Strata can serve
// a Thanos bucket and the other way round. It changes only by adding
// optional fields or files.
//
// # Layout
//
// Every block lives under a directory named by its ULID:
//
//	<ULID>/chunks/000001 ...        chunk segment files, as Prometheus writes them
//	<ULID>/index                    the Prometheus index (format v2)
//	<ULID>/meta.json                block metadata, see below
//	<ULID>/deletion-mark.json       optional markers, see below
//	<ULID>/no-compact-mark.json
//	<ULID>/no-downsample-mark.json
//
// Prometheus' tombstones file never reaches the bucket: deleting series is
// done by rewriting a block, not by shipping a tombstone.
//
// The presence of meta.json is what makes a block exist. Upload therefore
// writes the chunk segments, then the index, and meta.json only when
// everything else is in place; a directory without meta.json is an
// upload in progress or an interrupted one, which readers skip and the
// compactor removes once it is old enough. Re-running an upload simply
// overwrites the same objects. Delete goes the other way: meta.json goes
// first (readers drop the block at once), then the data, and the deletion
// mark last, so that an interrupted delete is noticed and finished later.
//
// # meta.json
//
// A JSON object with Prometheus' block metadata at the top level — ulid,
// minTime (inclusive, ms), maxTime (exclusive, ms), stats, compaction,
// version 1 — and one extra object under the key "thanos":
//
//	version        1 (absent is read as 1)
//	labels         external labels of the producer, name -> value; blocks
//	               with equal labels (minus replica labels) form a stream
//	downsample     {"resolution": ms}; 0 raw, 300000 for 5m, 3600000 for 1h
//	source         who wrote it: sidecar, receive, compactor, ruler, bucket.upload
//	segment_files  the chunk segment file names, ascending
//	files          [{"rel_path", "size_bytes", "hash"?}] for every uploaded
//	               file; meta.json is listed without a size
//	index_stats    optional {"series_max_size", "chunk_max_size"} in bytes
//	upload_time    optional RFC 3339 time of the upload
//	extensions     optional, free-form data of other tools
//	rewrites       optional, Thanos' record of rewrites applied; kept as is
//
// Readers ignore keys they do not know.
//
// # Markers
//
// Markers are small JSON files beside a block that change how others treat
// it, without touching the block itself. Each holds "id" (the block's ULID,
// which must match its directory) and "version": 1, plus:
//
//	deletion-mark.json       deletion_time (unix s), details?
//	no-compact-mark.json     no_compact_time (unix s), reason, details?
//	no-downsample-mark.json  no_downsample_time (unix s), reason, details?
//
// A reason is manual, index-size-exceeding, block-index-out-of-order-chunk
// or downsample-vertical-compaction; readers accept other values.
//
// Nothing in this package keeps state: every function may be called from
// many goroutines as long as they do not share a *Meta.
package metadata
