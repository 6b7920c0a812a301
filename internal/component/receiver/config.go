package receiver

import (
	"errors"
	"fmt"
	"net"
	"strconv"
	"strings"
	"time"

	"github.com/alecthomas/kingpin/v2"
	"github.com/prometheus/common/model"
	"github.com/prometheus/prometheus/model/labels"

	"github.com/strata-io/strata/internal/flagutil"
	"github.com/strata-io/strata/internal/receive/handler"
	"github.com/strata-io/strata/internal/receive/multitsdb"
	"github.com/strata-io/strata/internal/receive/remotewrite"
)

// Defaults of the receiver's own flags.
const (
	// DefaultRemoteWriteAddress is upstream's --remote-write.address.
	DefaultRemoteWriteAddress = "0.0.0.0:19291"
	// ReceivePath is the remote-write endpoint, upstream's.
	ReceivePath = "/api/v1/receive"
	// DefaultShipInterval is how often each tenant's directory is looked
	// at for blocks to upload.
	DefaultShipInterval = 30 * time.Second
)

// Config is the configuration of `strata receive`. The HTTP and gRPC
// server flags and the bucket flags are the process'.
type Config struct {
	// RemoteWriteAddress is the listen address of the remote-write
	// endpoint (--remote-write.address), served apart from the HTTP API.
	RemoteWriteAddress string
	// RemoteWrite configures the decoding of requests
	// (--receive.tenant-header, --receive.default-tenant-id).
	RemoteWrite remotewrite.Config
	// TSDB configures the tenants' TSDBs (--tsdb.path, --label,
	// --receive.tenant-label-name, --tsdb.retention,
	// --tsdb.out-of-order.time-window).
	TSDB multitsdb.Config
	// MaxConcurrentWrites bounds the requests decoded and appended at once
	// (--receive.max-concurrent-writes); more wait for a slot.
	MaxConcurrentWrites int
	// ShipInterval is the time between two looks at the tenants'
	// directories for blocks to upload, when a bucket is given.
	ShipInterval time.Duration
}

// DefaultConfig returns the receiver's defaults.
func DefaultConfig() Config {
	return Config{
		RemoteWriteAddress:  DefaultRemoteWriteAddress,
		RemoteWrite:         remotewrite.DefaultConfig(),
		TSDB:                multitsdb.Config{TenantLabel: multitsdb.DefaultTenantLabel, Retention: multitsdb.DefaultRetention},
		MaxConcurrentWrites: handler.DefaultMaxConcurrentWrites,
		ShipInterval:        DefaultShipInterval,
	}
}

// RegisterFlags resets c to DefaultConfig and adds the receiver's flags to
// cmd, with upstream's names and defaults.
func (c *Config) RegisterFlags(cmd *kingpin.CmdClause) {
	*c = DefaultConfig()
	def := DefaultConfig()
	cmd.Flag("remote-write.address", "Address to listen on for remote-write requests (POST "+ReceivePath+").").
		Default(def.RemoteWriteAddress).StringVar(&c.RemoteWriteAddress)
	c.RemoteWrite.RegisterFlags(cmd)
	cmd.Flag("receive.tenant-label-name", "External label naming the tenant on every series and block of its TSDB.").
		Default(def.TSDB.TenantLabel).StringVar(&c.TSDB.TenantLabel)
	cmd.Flag("tsdb.path", "Directory holding one TSDB per tenant.").
		Default("./data").StringVar(&c.TSDB.Dir)
	cmd.Flag("label", `External label added to every tenant's series and blocks, as name="value" (repeatable).`).
		PlaceHolder(`<name>="<value>"`).SetValue(&labelsValue{dst: &c.TSDB.ExternalLabels})
	flagutil.DurationVar(cmd.Flag("tsdb.retention", "How long blocks are kept on local disk; 0d keeps them forever.").
		Default(model.Duration(def.TSDB.Retention).String()), &c.TSDB.Retention)
	flagutil.DurationVar(cmd.Flag("tsdb.out-of-order.time-window", "How far behind a series' newest sample a sample is still accepted; 0s refuses out-of-order samples.").
		Default("0s"), &c.TSDB.OutOfOrderWindow)
	cmd.Flag("receive.max-concurrent-writes", "Remote-write requests decoded and appended at once; more wait for a slot.").
		Default(strconv.Itoa(def.MaxConcurrentWrites)).IntVar(&c.MaxConcurrentWrites)
}

// Validate checks the configuration and says what to fix.
func (c *Config) Validate() error {
	var errs []error
	if _, _, err := net.SplitHostPort(c.RemoteWriteAddress); err != nil {
		errs = append(errs, fmt.Errorf("--remote-write.address=%q is not host:port: %w", c.RemoteWriteAddress, err))
	}
	if c.TSDB.TenantLabel == "" || !model.UTF8Validation.IsValidLabelName(c.TSDB.TenantLabel) {
		errs = append(errs, fmt.Errorf("--receive.tenant-label-name=%q is not a label name", c.TSDB.TenantLabel))
	}
	if err := c.RemoteWrite.Validate(); err != nil {
		errs = append(errs, err)
	}
	if err := c.TSDB.Validate(); err != nil {
		errs = append(errs, err)
	}
	if c.MaxConcurrentWrites <= 0 {
		errs = append(errs, fmt.Errorf("--receive.max-concurrent-writes=%d must be positive", c.MaxConcurrentWrites))
	}
	if c.ShipInterval <= 0 {
		errs = append(errs, fmt.Errorf("ship interval %s must be positive", c.ShipInterval))
	}
	return errors.Join(errs...)
}

// labelsValue is the repeatable --label flag: name="value" as upstream
// writes it (an unquoted value is taken as is).
type labelsValue struct {
	dst *labels.Labels
}

// Set adds one label.
func (v *labelsValue) Set(s string) error {
	name, value, ok := strings.Cut(s, "=")
	if !ok {
		return fmt.Errorf(`--label=%s: want name="value", e.g. --label='replica="r1"'`, s)
	}
	if strings.HasPrefix(value, `"`) {
		uq, err := strconv.Unquote(value)
		if err != nil {
			return fmt.Errorf(`--label=%s: the value is not a valid quoted string: %w`, s, err)
		}
		value = uq
	}
	switch {
	case !model.UTF8Validation.IsValidLabelName(name) || strings.HasPrefix(name, "__"):
		return fmt.Errorf("--label=%s: %q is not a label name (or is reserved, starting with __)", s, name)
	case value == "":
		return fmt.Errorf(`--label=%s: the value is empty; give %s="<value>"`, s, name)
	case v.dst.Has(name):
		return fmt.Errorf("--label=%s: label %q is given twice; give each name once", s, name)
	}
	*v.dst = labels.NewBuilder(*v.dst).Set(name, value).Labels()
	return nil
}

// String returns the labels as {name="value", ...}.
func (v *labelsValue) String() string { return v.dst.String() }

// IsCumulative tells kingpin the flag may be repeated.
func (v *labelsValue) IsCumulative() bool { return true }
