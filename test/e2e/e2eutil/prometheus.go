package e2eutil

import (
	"cmp"
	"context"
	"errors"
	"fmt"
	"maps"
	"net/http"
	"os"
	"path/filepath"
	"slices"
	"strconv"
	"strings"
	"time"
)

// PromConfig is the part of a Prometheus configuration the tests vary.
type PromConfig struct {
	// ExternalLabels go to global.external_labels; none when empty.
	ExternalLabels map[string]string
	// ScrapeInterval is used for scrape and evaluation interval (default 1s).
	ScrapeInterval time.Duration
	// Jobs maps a job name to its static targets (host:port).
	Jobs map[string][]string
}

// YAML renders the configuration. Keys are sorted, so equal configs render
// equally.
func (c PromConfig) YAML() string {
	interval := c.ScrapeInterval
	if interval <= 0 {
		interval = time.Second
	}
	var b strings.Builder
	fmt.Fprintf(&b, "global:\n  scrape_interval: %s\n  scrape_timeout: %s\n  evaluation_interval: %s\n",
		interval, interval, interval)
	if len(c.ExternalLabels) > 0 {
		b.WriteString("  external_labels:\n")
		for _, k := range slices.Sorted(maps.Keys(c.ExternalLabels)) {
			fmt.Fprintf(&b, "    %s: %s\n", k, strconv.Quote(c.ExternalLabels[k]))
		}
	}
	if len(c.Jobs) == 0 {
		b.WriteString("scrape_configs: []\n")
		return b.String()
	}
	b.WriteString("scrape_configs:\n")
	for _, job := range slices.Sorted(maps.Keys(c.Jobs)) {
		fmt.Fprintf(&b, "  - job_name: %s\n    static_configs:\n      - targets: [", strconv.Quote(job))
		for i, t := range c.Jobs[job] {
			if i > 0 {
				b.WriteString(", ")
			}
			b.WriteString(strconv.Quote(t))
		}
		b.WriteString("]\n")
	}
	return b.String()
}

// Prometheus is a Prometheus server run from a config file in its own
// directory. Restarting keeps the data directory and the listen address.
type Prometheus struct {
	Bin    string
	Name   string
	Dir    string // holds prometheus.yml, data/ and the log
	Addr   string // 127.0.0.1:port of the web listener
	Config PromConfig
	// ScrapeSelf, when set, is the job under which the server scrapes its own
	// current address (added to Config.Jobs when the config is written).
	ScrapeSelf string
	Retain     string   // --storage.tsdb.retention.time; "" for Prometheus' default
	Extra      []string // more flags
	Process    *Process

	// MinBlockDuration is --storage.tsdb.min-block-duration; "" means 2h.
	MinBlockDuration string
	// MaxBlockDuration is --storage.tsdb.max-block-duration; "" means 2h.
	MaxBlockDuration string
}

// URL is the base URL of the web API.
func (p *Prometheus) URL() string { return "http://" + p.Addr }

// ConfigPath is the path of the config file.
func (p *Prometheus) ConfigPath() string { return filepath.Join(p.Dir, "prometheus.yml") }

// DataDir is the TSDB directory.
func (p *Prometheus) DataDir() string { return filepath.Join(p.Dir, "data") }

// writeConfig writes the effective config file.
func (p *Prometheus) writeConfig() error {
	cfg := p.Config
	if p.ScrapeSelf != "" {
		cfg.Jobs = maps.Clone(cfg.Jobs)
		if cfg.Jobs == nil {
			cfg.Jobs = map[string][]string{}
		}
		if !slices.Contains(cfg.Jobs[p.ScrapeSelf], p.Addr) {
			cfg.Jobs[p.ScrapeSelf] = append(slices.Clone(cfg.Jobs[p.ScrapeSelf]), p.Addr)
		}
	}
	if err := os.WriteFile(p.ConfigPath(), []byte(cfg.YAML()), 0o644); err != nil {
		return fmt.Errorf("write config of %s: %w", p.Name, err)
	}
	return nil
}

// Spec writes the config file and returns the process spec. Blocks are 2h
// both ways unless set otherwise (a shipping sidecar needs equal min and
// max block durations) and the lifecycle API is on, for Reload.
func (p *Prometheus) Spec() (Spec, error) {
	if err := os.MkdirAll(p.Dir, 0o755); err != nil {
		return Spec{}, fmt.Errorf("create dir of %s: %w", p.Name, err)
	}
	if err := p.writeConfig(); err != nil {
		return Spec{}, err
	}
	args := []string{
		"--config.file=" + p.ConfigPath(),
		"--storage.tsdb.path=" + p.DataDir(),
		"--web.listen-address=" + p.Addr,
		"--storage.tsdb.min-block-duration=" + cmp.Or(p.MinBlockDuration, "2h"),
		"--storage.tsdb.max-block-duration=" + cmp.Or(p.MaxBlockDuration, "2h"),
		"--web.enable-lifecycle",
	}
	if p.Retain != "" {
		args = append(args, "--storage.tsdb.retention.time="+p.Retain)
	}
	args = append(args, p.Extra...)
	return Spec{Name: p.Name, Bin: p.Bin, Args: args, Dir: p.Dir, ReadyURL: p.URL() + "/-/ready"}, nil
}

// Start starts the server and waits until ready. With Addr empty it listens
// on a free port from ports, and on another one if that was taken meanwhile;
// with Addr set (a restart) it keeps that address.
func (p *Prometheus) Start(ctx context.Context, ports *Ports) error {
	fixed := p.Addr != ""
	proc, err := StartReady(ctx, 3, func() (Spec, error) {
		if !fixed {
			addr, err := ports.Addr()
			if err != nil {
				return Spec{}, err
			}
			p.Addr = addr
		}
		return p.Spec()
	})
	if proc != nil {
		p.Process = proc
	}
	return err
}

// Reload rewrites the config file from p.Config and asks the running server
// to reload it; it returns when the new config is applied.
func (p *Prometheus) Reload(ctx context.Context) (err error) {
	if err := p.writeConfig(); err != nil {
		return err
	}
	req, err := http.NewRequestWithContext(ctx, http.MethodPost, p.URL()+"/-/reload", nil)
	if err != nil {
		return err
	}
	client := &http.Client{Timeout: 30 * time.Second}
	defer client.CloseIdleConnections()
	resp, err := client.Do(req)
	if err != nil {
		return fmt.Errorf("reload %s: %w", p.Name, err)
	}
	defer func() { err = errors.Join(err, resp.Body.Close()) }()
	if resp.StatusCode != http.StatusOK {
		return fmt.Errorf("reload %s: %s", p.Name, resp.Status)
	}
	return nil
}
