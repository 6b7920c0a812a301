package flagutil

import (
	"fmt"
	"time"

	"github.com/alecthomas/kingpin/v2"
	"github.com/prometheus/common/model"
)

// DurationVar makes flag fill d from Prometheus' duration format (30d, 1y,
// 2h30m, 0s), which Thanos' duration flags take (--delete-delay,
// --retention.resolution-raw): kingpin's own DurationVar knows no days or
// years. A bad value is an error naming the flag.
func DurationVar(flag *kingpin.FlagClause, d *time.Duration) {
	flag.SetValue(&durationValue{d: d, flag: flag.Model().Name})
}

type durationValue struct {
	d    *time.Duration
	flag string
}

// Set parses s.
func (v *durationValue) Set(s string) error {
	d, err := model.ParseDuration(s)
	if err != nil {
		return fmt.Errorf("--%s: %q is not a duration such as 30d, 12h or 0s", v.flag, s)
	}
	*v.d = time.Duration(d)
	return nil
}

// String returns the duration in the same format.
func (v *durationValue) String() string { return model.Duration(*v.d).String() }
