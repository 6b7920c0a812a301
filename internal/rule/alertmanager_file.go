package rule

import (
	"bytes"
	"errors"
	"fmt"
	"net"
	"os"
	"strings"
	"time"

	commonconfig "github.com/prometheus/common/config"
	"github.com/prometheus/common/model"
	"go.yaml.in/yaml/v3"
)

// AlertmanagersFile is upstream's --alertmanagers.config(-file) YAML: a
// list of Alertmanager groups, each with its HTTP client settings.
type AlertmanagersFile struct {
	Alertmanagers []AlertmanagerGroup `yaml:"alertmanagers"`
}

// AlertmanagerGroup is one entry of the file.
type AlertmanagerGroup struct {
	// HTTPConfig is the HTTP client of the group: basic_auth,
	// authorization/bearer_token, tls_config, proxy_url (Prometheus'
	// http_config keys).
	HTTPConfig commonconfig.HTTPClientConfig `yaml:"http_config"`
	// StaticConfigs are host:port addresses.
	StaticConfigs []string `yaml:"static_configs"`
	// FileSDConfigs are accepted by upstream; Strata refuses them.
	FileSDConfigs []any `yaml:"file_sd_configs"`
	// Scheme is http (default) or https.
	Scheme string `yaml:"scheme"`
	// PathPrefix is the path under which the Alertmanager API is served.
	PathPrefix string `yaml:"path_prefix"`
	// Timeout bounds one send (default 10s).
	Timeout model.Duration `yaml:"timeout"`
	// APIVersion must be v2 (or empty).
	APIVersion string `yaml:"api_version"`
}

// ParseAlertmanagersFile reads the YAML and says what to fix: unknown
// fields, dns+ and dnssrv+ addresses and file SD (not supported yet), a
// scheme other than http or https, an API version other than v2.
func ParseAlertmanagersFile(data []byte) (*AlertmanagersFile, error) {
	var f AlertmanagersFile
	dec := yaml.NewDecoder(bytes.NewReader(data))
	dec.KnownFields(true)
	if err := dec.Decode(&f); err != nil {
		return nil, fmt.Errorf("alertmanagers config: %w", err)
	}
	var errs []error
	for i := range f.Alertmanagers {
		g := &f.Alertmanagers[i]
		where := fmt.Sprintf("alertmanagers[%d]", i)
		if g.Scheme == "" {
			g.Scheme = "http"
		}
		if g.Scheme != "http" && g.Scheme != "https" {
			errs = append(errs, fmt.Errorf("%s: scheme %q: want http or https", where, g.Scheme))
		}
		if g.APIVersion != "" && g.APIVersion != "v2" {
			errs = append(errs, fmt.Errorf("%s: api_version %q: Alertmanager API v2 is the only one", where, g.APIVersion))
		}
		if len(g.FileSDConfigs) > 0 {
			errs = append(errs, fmt.Errorf("%s: file_sd_configs are not supported yet: list the addresses in static_configs", where))
		}
		if len(g.StaticConfigs) == 0 {
			errs = append(errs, fmt.Errorf("%s: no static_configs: list the Alertmanagers as host:port", where))
		}
		for _, a := range g.StaticConfigs {
			if strings.HasPrefix(a, "dns+") || strings.HasPrefix(a, "dnssrv+") || strings.HasPrefix(a, "dnssrvnoa+") {
				errs = append(errs, fmt.Errorf("%s: %q: DNS discovery is not supported yet: list the addresses", where, a))
				continue
			}
			if _, _, err := net.SplitHostPort(a); err != nil {
				errs = append(errs, fmt.Errorf("%s: %q is not host:port: %w", where, a, err))
			}
		}
		if g.Timeout == 0 {
			g.Timeout = model.Duration(10 * time.Second)
		}
		if err := g.HTTPConfig.Validate(); err != nil {
			errs = append(errs, fmt.Errorf("%s: http_config: %w", where, err))
		}
	}
	if err := errors.Join(errs...); err != nil {
		return nil, err
	}
	return &f, nil
}

// LoadAlertmanagersFile reads and parses path.
func LoadAlertmanagersFile(path string) (*AlertmanagersFile, error) {
	b, err := os.ReadFile(path)
	if err != nil {
		return nil, fmt.Errorf("read --alertmanagers.config-file: %w", err)
	}
	f, err := ParseAlertmanagersFile(b)
	if err != nil {
		return nil, fmt.Errorf("%s: %w", path, err)
	}
	return f, nil
}
