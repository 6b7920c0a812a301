package block

import (
	"errors"
	"fmt"
	"time"

	"github.com/alecthomas/kingpin/v2"

	"github.com/strata-io/strata/internal/flagutil"
)

// Retention is how long blocks of each resolution are kept, measured from
// a block's max time; 0 keeps that resolution forever. It is the policy of
// `strata compact` and `strata tools bucket retention`, which apply it with
// the compactor's rules (raw data is kept until a 5m copy of it exists,
// unless downsampling is disabled).
type Retention struct {
	// Raw (--retention.resolution-raw) applies to raw blocks.
	Raw time.Duration
	// FiveMinutes (--retention.resolution-5m) applies to 5m blocks.
	FiveMinutes time.Duration
	// OneHour (--retention.resolution-1h) applies to 1h blocks.
	OneHour time.Duration
}

// RegisterFlags adds --retention.resolution-raw, --retention.resolution-5m
// and --retention.resolution-1h to cmd, bound to r. Values take
// Prometheus durations (30d, 12w, 1y); the default 0d keeps blocks
// forever.
func (r *Retention) RegisterFlags(cmd *kingpin.CmdClause) {
	for _, f := range []struct {
		name, help string
		d          *time.Duration
	}{
		{"retention.resolution-raw", "How long raw blocks are kept, from their end (e.g. 30d); 0d: forever. Never before a 5m copy of them exists, unless downsampling is disabled.", &r.Raw},
		{"retention.resolution-5m", "How long 5m blocks are kept; 0d: forever.", &r.FiveMinutes},
		{"retention.resolution-1h", "How long 1h blocks are kept; 0d: forever.", &r.OneHour},
	} {
		flagutil.DurationVar(cmd.Flag(f.name, f.help).Default("0d"), f.d)
	}
}

// Validate says which flag to fix.
func (r Retention) Validate() error {
	var errs []error
	for _, f := range []struct {
		flag string
		d    time.Duration
	}{
		{"--retention.resolution-raw", r.Raw},
		{"--retention.resolution-5m", r.FiveMinutes},
		{"--retention.resolution-1h", r.OneHour},
	} {
		if f.d < 0 {
			errs = append(errs, fmt.Errorf("retention %s must not be negative (%s; 0 keeps blocks forever)", f.d, f.flag))
		}
	}
	return errors.Join(errs...)
}

// Enabled reports whether some resolution has a retention.
func (r Retention) Enabled() bool { return r.Raw != 0 || r.FiveMinutes != 0 || r.OneHour != 0 }
