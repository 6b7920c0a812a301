package compact

import (
	"errors"
	"fmt"
	"strconv"
	"strings"
	"time"

	"github.com/prometheus/prometheus/model/relabel"

	"github.com/strata-io/strata/internal/block"
)

// Default values of Config.
const (
	DefaultDeleteDelay          = 48 * time.Hour
	DefaultConcurrency          = 1
	DefaultMetaFetchConcurrency = 32
)

// DefaultRanges are the compaction levels: 2h blocks become 8h, then 2d,
// then 14d blocks.
func DefaultRanges() []time.Duration {
	return []time.Duration{2 * time.Hour, 8 * time.Hour, 48 * time.Hour, 14 * 24 * time.Hour}
}

// Config is the configuration of a Compactor.
type Config struct {
	// WorkDir is the local scratch directory (--data-dir). The compactor
	// owns its sub-directories compact/ and downsample/ and empties them at
	// the start of each run, so two Compactors must never share one.
	WorkDir string
	// Ranges are the compaction levels, ascending, each a multiple of the
	// previous one (default DefaultRanges).
	Ranges []time.Duration
	// ReplicaLabels (--deduplication.replica-label) are removed from a
	// block's external labels to find its stream, so that the blocks of HA
	// replicas are merged into one copy (offline deduplication).
	ReplicaLabels []string
	// Shard (--compact.shard) selects the streams this instance owns.
	Shard Shard
	// RelabelConfigs (--selector.relabel-config) select the blocks this
	// instance sees: they are applied at each sync to a block's external
	// labels plus __block_id (see block.RelabelKeeps), and the blocks they
	// drop are ignored: neither compacted, downsampled, marked by retention
	// nor deleted. With Shard too, an instance owns the blocks both keep.
	// Nil keeps every block.
	RelabelConfigs []*relabel.Config
	// Concurrency (--compact.concurrency) is the number of groups compacted
	// at once (default 1).
	Concurrency int
	// DeleteDelay (--delete-delay) is how long a block marked for deletion
	// stays in the bucket before it is deleted, and the minimum age of a
	// partial upload before it is removed. 0 deletes at once.
	DeleteDelay time.Duration
	// DisableDownsampling (--downsampling.disable) turns the downsampling
	// pass off; raw retention then deletes raw blocks without waiting for a
	// 5m copy.
	DisableDownsampling bool
	// Retention per resolution (--retention.resolution-*); 0 keeps blocks
	// forever.
	Retention block.Retention
	// MetaFetchConcurrency (--block-meta-fetch-concurrency) bounds the
	// concurrent reads of meta.json and markers during a sync (default 32).
	MetaFetchConcurrency int
	// Now returns the current time; nil means time.Now. For tests.
	Now func() time.Time
}

// DefaultConfig returns a Config with every default set; WorkDir remains
// to be set.
func DefaultConfig() Config {
	return Config{
		Ranges:               DefaultRanges(),
		Concurrency:          DefaultConcurrency,
		DeleteDelay:          DefaultDeleteDelay,
		MetaFetchConcurrency: DefaultMetaFetchConcurrency,
	}
}

// Validate says which flag to fix in the configuration.
func (c Config) Validate() error {
	var errs []error
	if c.WorkDir == "" {
		errs = append(errs, errors.New("the local work directory is not set (--data-dir)"))
	}
	if len(c.Ranges) == 0 {
		errs = append(errs, errors.New("no compaction ranges are set"))
	}
	for i, r := range c.Ranges {
		if r <= 0 || r%time.Millisecond != 0 {
			errs = append(errs, fmt.Errorf("compaction range %s must be a positive whole number of milliseconds", r))
			continue
		}
		if i > 0 && (r <= c.Ranges[i-1] || r%c.Ranges[i-1] != 0) {
			errs = append(errs, fmt.Errorf("compaction range %s must be a larger multiple of the previous range %s", r, c.Ranges[i-1]))
		}
	}
	for _, l := range c.ReplicaLabels {
		if l == "" {
			errs = append(errs, errors.New("an empty replica label name is set (--deduplication.replica-label)"))
		}
	}
	if err := c.Shard.Validate(); err != nil {
		errs = append(errs, err)
	}
	if c.Concurrency < 1 {
		errs = append(errs, fmt.Errorf("concurrency %d must be at least 1 (--compact.concurrency)", c.Concurrency))
	}
	if c.DeleteDelay < 0 {
		errs = append(errs, fmt.Errorf("delete delay %s must not be negative (--delete-delay)", c.DeleteDelay))
	}
	if c.MetaFetchConcurrency < 1 {
		errs = append(errs, fmt.Errorf("meta fetch concurrency %d must be at least 1 (--block-meta-fetch-concurrency)", c.MetaFetchConcurrency))
	}
	if err := c.Retention.Validate(); err != nil {
		errs = append(errs, err)
	}
	return errors.Join(errs...)
}

// rangesMs returns the ranges in ms.
func (c Config) rangesMs() []int64 {
	out := make([]int64, len(c.Ranges))
	for i, r := range c.Ranges {
		out[i] = r.Milliseconds()
	}
	return out
}

// Shard is the part "Index of Count" of the streams this instance owns;
// instances with the same Count and different Index never share a stream.
// The zero value (and Count 1) owns every stream. It implements kingpin's
// Value (flag --compact.shard=i/n).
type Shard struct {
	// Index is in [0, Count).
	Index int
	// Count is the number of shards; 0 or 1 disables sharding.
	Count int
}

// ParseShard parses "i/n", e.g. "0/3".
func ParseShard(s string) (Shard, error) {
	is, ns, ok := strings.Cut(s, "/")
	if !ok {
		return Shard{}, fmt.Errorf("shard %q is not of the form i/n, e.g. 0/3 (--compact.shard)", s)
	}
	i, err1 := strconv.Atoi(strings.TrimSpace(is))
	n, err2 := strconv.Atoi(strings.TrimSpace(ns))
	if err1 != nil || err2 != nil {
		return Shard{}, fmt.Errorf("shard %q is not of the form i/n with integers, e.g. 0/3 (--compact.shard)", s)
	}
	sh := Shard{Index: i, Count: n}
	if err := sh.Validate(); err != nil {
		return Shard{}, err
	}
	return sh, nil
}

// Validate checks 0 <= Index < Count.
func (s Shard) Validate() error {
	if s.Count < 0 || s.Index < 0 || (s.Count == 0 && s.Index != 0) || (s.Count > 0 && s.Index >= s.Count) {
		return fmt.Errorf("shard %d/%d needs 0 <= i < n (--compact.shard=i/n)", s.Index, s.Count)
	}
	return nil
}

// String returns "i/n".
func (s Shard) String() string {
	n := s.Count
	if n == 0 {
		n = 1
	}
	return fmt.Sprintf("%d/%d", s.Index, n)
}

// Set implements kingpin.Value.
func (s *Shard) Set(v string) error {
	sh, err := ParseShard(v)
	if err != nil {
		return err
	}
	*s = sh
	return nil
}
