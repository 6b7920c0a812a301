package limits

import (
	"bytes"
	"crypto/sha256"
	"errors"
	"fmt"
	"io"
	"os"
	"sort"
	"strings"

	"go.yaml.in/yaml/v3"
)

// Config is the content of a --receive.limits-config-file. Only Write is
// read; the zero Config sets no limit.
type Config struct {
	// Write holds the limits on remote-write requests.
	Write WriteConfig `yaml:"write"`

	// digest identifies the bytes the Config was parsed from, so Watch
	// sees whether a file still holds the configuration in force.
	digest [sha256.Size]byte
}

// WriteConfig holds the limits on remote-write requests.
type WriteConfig struct {
	// Global holds the limits over all tenants together.
	Global GlobalConfig `yaml:"global"`
	// Default holds the limits of every tenant without an entry in
	// Tenants; its unset fields are 0, unlimited.
	Default TenantConfig `yaml:"default"`
	// Tenants holds per-tenant overrides, keyed by tenant. A field a
	// tenant does not set takes its value from Default; a field set to 0
	// is unlimited for that tenant whatever Default says.
	Tenants map[string]TenantConfig `yaml:"tenants"`
}

// GlobalConfig holds the limits over all tenants together.
type GlobalConfig struct {
	// MaxConcurrency bounds the write requests handled at once over all
	// tenants; nil or 0 is unlimited.
	MaxConcurrency *int64 `yaml:"max_concurrency"`

	// MetaMonitoringURL is accepted for compatibility and ignored: Strata
	// counts each tenant's head series itself instead of querying a
	// meta-monitoring Prometheus.
	MetaMonitoringURL string `yaml:"meta_monitoring_url"`
	// MetaMonitoringLimitQuery is accepted and ignored, as
	// MetaMonitoringURL.
	MetaMonitoringLimitQuery string `yaml:"meta_monitoring_limit_query"`
	// MetaMonitoringHTTPClient is accepted (any YAML value) and ignored,
	// as MetaMonitoringURL.
	MetaMonitoringHTTPClient any `yaml:"meta_monitoring_http_client"`
}

// TenantConfig holds the limits of one tenant (or the default ones). A nil
// field is unset: it inherits the default; 0 is unlimited.
type TenantConfig struct {
	// Request holds the limits on each write request.
	Request RequestConfig `yaml:"request"`
	// HeadSeriesLimit bounds the tenant's active head series: a request
	// creating series is refused while the head holds that many.
	HeadSeriesLimit *int64 `yaml:"head_series_limit"`
}

// RequestConfig holds the limits on each write request of a tenant. A nil
// field is unset (inherits the default); 0 is unlimited.
type RequestConfig struct {
	// SizeBytesLimit bounds the request body as received (compressed),
	// in bytes.
	SizeBytesLimit *int64 `yaml:"size_bytes_limit"`
	// SeriesLimit bounds the series of a request.
	SeriesLimit *int64 `yaml:"series_limit"`
	// SamplesLimit bounds the samples of a request, floats and
	// histograms together.
	SamplesLimit *int64 `yaml:"samples_limit"`
}

// Parse decodes and validates a limits configuration in the YAML format of
// upstream Thanos receive's limits file. A field the format does not know
// and a negative limit are errors naming the field. Empty data is a
// configuration without limits.
func Parse(data []byte) (*Config, error) {
	cfg := &Config{digest: sha256.Sum256(data)}
	dec := yaml.NewDecoder(bytes.NewReader(data))
	dec.KnownFields(true)
	if err := dec.Decode(cfg); err != nil && !errors.Is(err, io.EOF) {
		return nil, fmt.Errorf("parse limits config: %s", describeTypes(err.Error()))
	}
	if err := cfg.Validate(); err != nil {
		return nil, err
	}
	return cfg, nil
}

// LoadFile reads and parses the limits configuration file at path; its
// errors name the file.
func LoadFile(path string) (*Config, error) {
	data, err := os.ReadFile(path)
	if err != nil {
		return nil, fmt.Errorf("read limits config file: %w", err)
	}
	cfg, err := Parse(data)
	if err != nil {
		return nil, fmt.Errorf("limits config file %s: %w", path, err)
	}
	return cfg, nil
}

// Validate reports the first negative limit, by its path in the file.
func (c *Config) Validate() error {
	if err := nonNegative("write.global.max_concurrency", c.Write.Global.MaxConcurrency); err != nil {
		return err
	}
	if err := c.Write.Default.validate("write.default"); err != nil {
		return err
	}
	for _, name := range c.tenantNames() {
		t := c.Write.Tenants[name]
		if err := t.validate(fmt.Sprintf("write.tenants.%s", name)); err != nil {
			return err
		}
	}
	return nil
}

// Ignored lists the fields that are set in c and that Strata accepts for
// compatibility with upstream files but does not use, by their path in
// the file; callers log them.
func (c *Config) Ignored() []string {
	var out []string
	g := c.Write.Global
	if g.MetaMonitoringURL != "" {
		out = append(out, "write.global.meta_monitoring_url")
	}
	if g.MetaMonitoringLimitQuery != "" {
		out = append(out, "write.global.meta_monitoring_limit_query")
	}
	if g.MetaMonitoringHTTPClient != nil {
		out = append(out, "write.global.meta_monitoring_http_client")
	}
	return out
}

// describeTypes turns the Go types named in the decoder's error msg into the
// fields a user may write there.
func describeTypes(msg string) string {
	return strings.NewReplacer(
		"in type limits.Config", "at the top level (known: write)",
		"in type limits.WriteConfig", "under write (known: global, default, tenants)",
		"in type limits.GlobalConfig", "under write.global (known: max_concurrency, meta_monitoring_url, meta_monitoring_limit_query, meta_monitoring_http_client)",
		"in type limits.TenantConfig", "under write.default or a tenant (known: request, head_series_limit)",
		"in type limits.RequestConfig", "under request (known: size_bytes_limit, series_limit, samples_limit)",
	).Replace(msg)
}

func (c *Config) tenantNames() []string {
	names := make([]string, 0, len(c.Write.Tenants))
	for name := range c.Write.Tenants {
		names = append(names, name)
	}
	sort.Strings(names)
	return names
}

func (t TenantConfig) validate(prefix string) error {
	for _, f := range []struct {
		name string
		v    *int64
	}{
		{prefix + ".request.size_bytes_limit", t.Request.SizeBytesLimit},
		{prefix + ".request.series_limit", t.Request.SeriesLimit},
		{prefix + ".request.samples_limit", t.Request.SamplesLimit},
		{prefix + ".head_series_limit", t.HeadSeriesLimit},
	} {
		if err := nonNegative(f.name, f.v); err != nil {
			return err
		}
	}
	return nil
}

func nonNegative(name string, v *int64) error {
	if v != nil && *v < 0 {
		return fmt.Errorf("%s is %d: set 0 for unlimited or a positive number", name, *v)
	}
	return nil
}
