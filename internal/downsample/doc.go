// Package downsample holds the format of downsampled chunks, the aggregation
// of raw samples into them (used by the compactor) and the iterators that read
// them back for PromQL (used by the store gateway and the querier).
//
// # Resolutions and windows
//
// A downsampled block has a resolution of 5m (300000 ms) or 1h (3600000 ms).
// Time is cut into windows aligned to the Unix epoch: the window of a sample
// at t starts at WindowStart(t, resolution) and covers resolution ms. Every
// window that holds at least one raw sample becomes one downsampled sample of
// each aggregate, stamped with the timestamp of the last raw sample in the
// window (so a downsampled sample never lies after the data it summarises,
// and a counter value is exact at its timestamp).
//
// # The aggregates
//
// Per window:
//   - count: number of raw samples;
//   - sum: sum of their values;
//   - min, max: smallest and largest value (a NaN is ignored unless every
//     value of the window is NaN; the sum of a window with a NaN is NaN);
//   - counter: the last raw value of the window plus every counter reset seen
//     since the start of the chunk, where a reset is a value below the
//     previous one and adds the value before it (as PromQL's increase()
//     counts the value after a reset as increase from zero).
//
// Stale markers are not samples for downsampling and are dropped. Native
// histograms are not downsampled (Downsample returns ErrHistogram); a block
// keeps them at raw resolution, see "Downsampling blocks".
//
// The counter section of a chunk holds two samples more than the others: it
// starts with the first raw sample of the chunk's range, at its own time and
// raw value, and ends with the last raw value repeated at the timestamp of the
// chunk's last window. Inside a chunk the values never decrease; between two
// chunks the reader compares the next chunk's first raw value with the
// repeated last raw value to see whether the counter reset in between
// (possibly in a different block). A reader must therefore treat a second
// sample at the same timestamp as "the raw value here", not as a sample.
//
// # Chunk format
//
// In a block's chunk segment file an aggregate chunk is stored like any other
// chunk (uvarint length, encoding byte, data, CRC32) with the encoding byte
// 0xff (ChunkEncAggr). Its data is five sections, in the order count, sum,
// min, max, counter, which is also the numbering of AggrType and of
// storepb.Aggr (COUNT=1 ... COUNTER=5):
//
//	section  := uvarint(len) [ encoding data ]
//	len      := number of bytes of data; 0 = aggregate absent, and then
//	            neither the encoding byte nor data follow
//	encoding := one chunkenc encoding byte of a float chunk (XOR = 1; XOR2 = 4
//	            is accepted when reading)
//	data     := len bytes of that chunk (the chunkenc bytes, sample count
//	            header included)
//
// An absent section is the single byte 0x00, as in buckets written by Thanos.
// Downsample writes XOR sections and all five aggregates, at most
// WindowsPerChunk windows per chunk. The bytes of a valid chunk end exactly
// after the counter section (AggrChunk.Validate).
//
// # Reading
//
// Prometheus' chunkenc.FromData and its default chunkenc.Pool refuse encoding
// 0xff, so tsdb/chunks.Reader (and tsdb.OpenBlock) fail with "invalid chunk
// encoding" on a downsampled block unless they are given NewPool, which
// returns such chunks as *AggrChunk. The chunk's own Iterator yields an error:
// a reader picks the aggregates it needs with AggrChunk.Get and then reads:
//   - count, sum, min, max: with NewChunksIterator (or the section's own
//     iterator) as they are;
//   - counter: with NewCounterIterator over the counter sections of all of a
//     series' chunks in time order, which yields a counter that grows by the
//     raw data's increase and never resets, so rate() and increase() over it
//     need no reset handling and match the raw answer within the error of
//     extrapolating over one window at each end of the range;
//   - average: with NewAverageIterator (sum/count per window), or exactly as
//     sum_over_time(sum)/sum_over_time(count).
//
// # Downsampling downsampled data
//
// Aggr turns the chunks of one series at a finer resolution (5m)
// into chunks at a coarser one (1h): counts and sums add up, min and max
// combine, and the counter is read across all input chunks with
// NewCounterIterator. Only the block's outer ends need true raw values: the
// first output chunk starts with the input's first raw sample and the last
// one repeats the input's last raw value. Between output chunks of the same
// series the repeated value equals the adjusted one, which a reader sees as
// "no reset here", and which is what happened.
//
// # Downsampling blocks
//
// BlockDownsampler turns a local block into a new local block: raw -> 5m and
// 5m -> 1h only (as in Thanos, 1h blocks are always made from 5m blocks;
// other pairs are refused). It reads the source's
// series in index order, one at a time, and writes each series' chunks with
// Prometheus' chunks.Writer and index.Writer, so memory holds one series, not
// the block. Per series, the chunks are cut into runs:
//   - from raw: runs of float chunks (XOR, XOR2; overlapping chunks merged)
//     go through Downsample;
//   - from 5m: runs of aggregate chunks go through Aggr; raw float
//     chunks found among them (some Thanos versions left such chunks in 5m
//     blocks) are first aggregated at 5m, and empty ones are skipped;
//   - runs of native histogram chunks are copied unchanged (see below).
//
// Native histograms. Thanos compactors without thanos#8110 (merged in 2025)
// cannot downsample them (they panic on such series, thanos#6983); later ones
// write aggregate chunks whose count, sum and counter sections hold
// histogram chunks, without min and max. Strata's aggregate format, store
// gateway and querier read float sections only, so Strata does not aggregate
// histograms; and dropping them would lose them for good once retention
// deletes the raw block. So a downsampled block keeps native histogram chunks
// at raw resolution, as they are: every store returns them as raw chunks
// (Thanos' too), and Strata's querier reads raw chunks of a downsampled
// answer as they are. Their size does not shrink, and a Thanos compactor
// without thanos#8110 cannot turn such a 5m block into a 1h one (it fails on
// the histograms as it does on raw blocks holding them). The log line of each
// downsampled block counts these series (histogram_series_raw) and meta.json
// counts their samples in stats.numHistogramSamples. Aggregate chunks with
// histogram sections found in a 5m block (written by Thanos with #8110) cannot
// be read here; they are dropped from the 1h block with a warning that
// counts them (the 5m block keeps them).
//
// The new meta.json keeps the source's time range, compaction level, sources,
// labels and extensions, has parents = [source] and source "compactor". Its
// stats count windows as float samples. The block is written to
// <dst>/<ULID>.tmp and renamed when complete. Errors caused by the source's
// data wrap ErrUnreadableBlock: retrying cannot help, the caller marks the
// block.
//
// # Accuracy for PromQL
//
// Counts, sums, min and max over ranges made of whole windows equal the raw
// answer (sums up to rounding). A range that cuts a window holds either all of
// it or none of it, since the window is one sample stamped at its end. rate()
// over the counter is known to about half a window at each end of the range:
// at 5m resolution rate(x[1h]) is within 1% of the raw answer for steady
// traffic; at 1h resolution use ranges of 12h or more. The tests in this
// package measure both.
package downsample
