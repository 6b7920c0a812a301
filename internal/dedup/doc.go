// Package dedup merges the samples of HA replicas of one series into a single
// series, as if one replica that never missed a scrape had recorded it.
//
// # Input
//
// NewSeriesSet wraps a storage.SeriesSet whose consecutive series with equal
// label sets are replicas of one series (the replica labels have already been
// removed, so their label sets are equal). It yields one series per label set.
// NewSeriesIterator does the same for the sample iterators of one series.
// Each input iterator must return samples in increasing time order.
//
// # Algorithm
//
// The iterator follows one replica, the current one, and only leaves it when it
// has a gap that another replica can fill:
//
//  1. Every replica is kept positioned at its first sample after the last
//     emitted timestamp (lastT). Replicas are advanced with Next, so each one
//     knows the spacing between its last two samples (its interval). Samples
//     at or before lastT (the same scrape seen by another replica, or older)
//     are dropped, so output timestamps strictly increase.
//  2. The first sample emitted is the earliest of all replicas (ties go to the
//     first replica); that replica becomes the current one.
//  3. The current replica keeps emitting while its next sample is at most one
//     penalty after lastT. The penalty is twice the current replica's interval
//     (or, when it is not known yet, twice the smallest interval known on any
//     replica, or else 2 minutes). Missing one scrape is therefore not a gap;
//     missing two is.
//  4. When the next sample of the current replica is further than the penalty
//     (or the replica is exhausted), the replica whose next sample is earliest
//     becomes current if that sample comes before the current replica's next
//     one: it has data in the gap. Otherwise the current replica continues
//     after its gap (no replica had data there, so the output has the gap too).
//
// The penalty is what keeps the output from flapping: replicas scrape at
// different phases, so another replica almost always has a sample before the
// current one's next sample; only a real gap makes us switch, and once switched
// we stay on the new replica until it has a gap of its own. Identical replicas
// (same timestamps) produce exactly one replica's samples. With three or more
// replicas the earliest candidate wins the switch.
//
// # Counters
//
// When the query reads counters (isCounter: rate, increase, irate, resets),
// replicas disagree slightly at a switch: each scrapes the target at its own
// time, so the new replica's first value may even be lower than the last one
// emitted. Emitted as is, a drop would read as a counter reset (adding the
// whole counter value to rate()), and a lag would lose increase. So float
// values of the current replica are emitted plus an offset, set at each
// switch: the new replica's value at the last emitted timestamp is estimated
// by linear interpolation between its own sample before and after that time,
// and the offset maps that estimate onto the last emitted value. The output
// thus continues the counter's slope and never goes back because of a switch.
// When the new replica has no sample before the switch, the offset only
// prevents a drop (max(0, last - first)). A genuine reset inside one replica
// (its own value drops) clears the offset and shows as a drop, so rate()
// handles it as Prometheus does.
//
// Native histogram samples pass through unchanged, except that the first
// sample after a switch gets an unknown counter-reset hint (unless it is a
// gauge histogram), so the engine compares it with the previous sample itself
// instead of trusting a chunk header of another replica. A series may mix
// float and histogram samples; each sample keeps its type.
//
// # Seek
//
// Seek(t) positions every replica at its first sample at or after t and picks
// the sample to emit with the same rules, treating t-1 as lastT.
package dedup
