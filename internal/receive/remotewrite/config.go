package remotewrite

import (
	"errors"
	"fmt"

	"github.com/alecthomas/kingpin/v2"
	"github.com/prometheus/common/model"
)

// Defaults of Config; the tenant ones are upstream receive's.
const (
	DefaultTenantHeader    = "THANOS-TENANT"
	DefaultTenant          = "default-tenant"
	DefaultMaxBodyBytes    = 32 << 20
	DefaultMaxDecodedBytes = 32 << 20
)

// Config says how requests are decoded.
type Config struct {
	// TenantHeader is the HTTP header that names a request's tenant.
	TenantHeader string
	// DefaultTenant is the tenant of a request without TenantHeader.
	DefaultTenant string
	// MaxBodyBytes bounds the compressed request body, in bytes.
	MaxBodyBytes int64
	// MaxDecodedBytes bounds the decompressed protobuf message, in bytes.
	MaxDecodedBytes int64
	// NameValidation is the rule for metric and label names:
	// model.UTF8Validation (any non-empty valid UTF-8, as Prometheus 3) or
	// model.LegacyValidation ([a-zA-Z_][a-zA-Z0-9_]*).
	NameValidation model.ValidationScheme
}

// DefaultConfig returns the defaults: upstream's tenant header and default
// tenant, 32 MiB bounds on the compressed and decoded body, UTF-8 names.
func DefaultConfig() Config {
	return Config{
		TenantHeader:    DefaultTenantHeader,
		DefaultTenant:   DefaultTenant,
		MaxBodyBytes:    DefaultMaxBodyBytes,
		MaxDecodedBytes: DefaultMaxDecodedBytes,
		NameValidation:  model.UTF8Validation,
	}
}

// RegisterFlags adds the tenant flags to cmd, with upstream's names and
// defaults. The size bounds have no flags of their own yet.
func (c *Config) RegisterFlags(cmd *kingpin.CmdClause) {
	cmd.Flag("receive.tenant-header", "HTTP header that names the tenant of a remote-write request.").
		Default(DefaultTenantHeader).StringVar(&c.TenantHeader)
	cmd.Flag("receive.default-tenant-id", "Tenant of a remote-write request without the tenant header.").
		Default(DefaultTenant).StringVar(&c.DefaultTenant)
}

// Validate reports a configuration that cannot decode requests.
func (c Config) Validate() error {
	var errs []error
	if c.TenantHeader == "" {
		errs = append(errs, errors.New("tenant header is empty: set --receive.tenant-header"))
	}
	if err := validTenant(c.DefaultTenant); err != nil {
		errs = append(errs, fmt.Errorf("default tenant: %w: set --receive.default-tenant-id", err))
	}
	if c.MaxBodyBytes <= 0 {
		errs = append(errs, fmt.Errorf("max body bytes is %d: it must be positive", c.MaxBodyBytes))
	}
	if c.MaxDecodedBytes <= 0 {
		errs = append(errs, fmt.Errorf("max decoded bytes is %d: it must be positive", c.MaxDecodedBytes))
	}
	switch c.NameValidation {
	case model.UTF8Validation, model.LegacyValidation:
	default:
		errs = append(errs, fmt.Errorf("name validation scheme %v: use utf8 or legacy", c.NameValidation))
	}
	return errors.Join(errs...)
}
