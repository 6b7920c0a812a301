// Package flagutil holds flag value types shared by components.
package flagutil

import (
	"fmt"
	"math"
	"strings"
	"time"

	"github.com/alecthomas/kingpin/v2"
	"github.com/prometheus/common/model"
)

// TimeOrDuration is a flag value that is either an absolute time (RFC 3339)
// or a duration relative to now ("-2w", "-36h", "0d"), as Thanos' store and
// compactor time-partitioning flags take.
type TimeOrDuration struct {
	abs *time.Time
	rel *time.Duration
	raw string
}

// NewTimeOrDuration registers a TimeOrDuration flag on cmd with a default.
func NewTimeOrDuration(cmd *kingpin.CmdClause, name, help, def string) *TimeOrDuration {
	v := &TimeOrDuration{}
	cmd.Flag(name, help).Default(def).SetValue(v)
	return v
}

// Set parses s. Special values: "" and "0000-01-01T00:00:00Z" (the
// beginning of time) and "9999-12-31T23:59:59Z" (the end of time).
func (d *TimeOrDuration) Set(s string) error {
	d.raw = s
	d.abs, d.rel = nil, nil
	if s == "" {
		return nil
	}
	if t, err := time.Parse(time.RFC3339, s); err == nil {
		d.abs = &t
		return nil
	}
	neg := strings.HasPrefix(s, "-")
	dur, err := model.ParseDuration(strings.TrimPrefix(s, "-"))
	if err != nil {
		return fmt.Errorf("%q is neither an RFC 3339 time (2026-01-02T15:04:05Z) nor a duration relative to now (-2w, -36h)", s)
	}
	rd := time.Duration(dur)
	if neg {
		rd = -rd
	}
	d.rel = &rd
	return nil
}

// String returns the value as given.
func (d *TimeOrDuration) String() string { return d.raw }

// Millis returns the time in ms since the epoch, relative values taken
// from now. An empty value returns def.
func (d *TimeOrDuration) Millis(now time.Time, def int64) int64 {
	switch {
	case d.abs != nil:
		return d.abs.UnixMilli()
	case d.rel != nil:
		return now.Add(*d.rel).UnixMilli()
	}
	return def
}

// MinMillis and MaxMillis are the defaults for an open range.
const (
	MinMillis int64 = math.MinInt64
	MaxMillis int64 = math.MaxInt64
)
