// Package block is the inventory of a bucket of blocks: the one place that
// lists the block directories of a bucket and reads what they hold, for
// every reader of the bucket (the store gateway's sync, the compactor's
// sync, `strata tools bucket`, the block viewer).
//
// An Inventory lists the bucket (one recursive listing when the provider
// supports it, else one listing per block directory), then reads each
// block's meta.json and the markers the listing shows, a bounded number
// at a time. meta.json never changes for a given ULID and is kept across
// scans; a marker is kept until the listing shows it gone or rewritten.
// A directory without meta.json is a partial upload (or a block being
// deleted); LastModified gives the time its newest object was written, so
// that callers can tell an upload in progress from an abandoned one.
//
// Around the inventory: the marker operations (Mark, Unmark), the filters
// readers apply to the blocks they serve (TimeRange, Labels,
// DeletionDelay), and the retention policy per resolution with its flags
// (Retention), and what `strata tools bucket` does with a bucket: select
// blocks by their external labels and sum their statistics (Select,
// Summarize), check them (Verify: overlaps, partial uploads, missing or
// resized files, indexes by ranged reads and, deep, every series and
// chunk) and upload local TSDB blocks (UploadLocal). The meta.json and
// marker formats themselves, and the resolution values and names, are
// those of pkg/metadata.
package block
