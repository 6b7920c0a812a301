package endpoint

import (
	"bytes"
	"context"
	"encoding/json"
	"fmt"
	"net"
	"os"
	"path/filepath"
	"sort"
	"strconv"
	"strings"
	"time"

	"go.yaml.in/yaml/v3"
)

// discoverer turns one group's addresses and files into endpoint addresses.
// It is used by the Run goroutine only and is not safe for concurrent use.
type discoverer struct {
	set   *Set
	group Group
	files map[string]fileState // by path
	dns   map[string][]string  // last good answer, by configured address
}

// fileState is what a file SD file held when last read.
type fileState struct {
	modTime time.Time
	size    int64
	targets []string
}

func newDiscoverer(s *Set, g Group) *discoverer {
	return &discoverer{set: s, group: g, files: map[string]fileState{}, dns: map[string][]string{}}
}

// addresses returns the group's current endpoint addresses, sorted and
// unique. resolve makes DNS names be looked up again; otherwise the last
// answer is used (and a name never resolved is resolved now). A failed
// lookup or an unreadable file keeps the last good answer.
func (d *discoverer) addresses(ctx context.Context, resolve bool) []string {
	raw := append([]string(nil), d.group.Addresses...)
	raw = append(raw, d.fileTargets()...)
	var out []string
	for _, a := range raw {
		out = append(out, d.resolve(ctx, a, resolve)...)
	}
	sort.Strings(out)
	uniq := out[:0]
	for i, a := range out {
		if i == 0 || a != out[i-1] {
			uniq = append(uniq, a)
		}
	}
	return uniq
}

func (d *discoverer) resolve(ctx context.Context, addr string, refresh bool) []string {
	if !strings.HasPrefix(addr, dnsPrefix) && !strings.HasPrefix(addr, dnsSRVPrefix) && !strings.HasPrefix(addr, dnsSRVNoAPrefix) {
		return []string{addr}
	}
	if cached, ok := d.dns[addr]; ok && !refresh {
		return cached
	}
	ctx, cancel := context.WithTimeout(ctx, d.set.cfg.InfoTimeout)
	defer cancel()
	got, err := lookup(ctx, d.set.cfg.Resolver, addr)
	if err != nil {
		d.set.metrics.dnsFailures.Inc()
		d.set.logger.Warn("resolve endpoint address; keeping the last answer", "address", addr, "err", err)
		return d.dns[addr]
	}
	d.dns[addr] = got
	return got
}

// lookup resolves one dns+, dnssrv+ or dnssrvnoa+ address.
func lookup(ctx context.Context, r Resolver, addr string) ([]string, error) {
	switch {
	case strings.HasPrefix(addr, dnsPrefix):
		host, port, err := net.SplitHostPort(strings.TrimPrefix(addr, dnsPrefix))
		if err != nil {
			return nil, fmt.Errorf("address %q: %w", addr, err)
		}
		ips, err := r.LookupHost(ctx, host)
		if err != nil {
			return nil, fmt.Errorf("lookup %s: %w", host, err)
		}
		out := make([]string, 0, len(ips))
		for _, ip := range ips {
			out = append(out, net.JoinHostPort(ip, port))
		}
		return out, nil
	case strings.HasPrefix(addr, dnsSRVPrefix), strings.HasPrefix(addr, dnsSRVNoAPrefix):
		noA := strings.HasPrefix(addr, dnsSRVNoAPrefix)
		name := strings.TrimPrefix(strings.TrimPrefix(addr, dnsSRVPrefix), dnsSRVNoAPrefix)
		_, srvs, err := r.LookupSRV(ctx, "", "", name)
		if err != nil {
			return nil, fmt.Errorf("lookup SRV %s: %w", name, err)
		}
		var out []string
		for _, srv := range srvs {
			port := strconv.Itoa(int(srv.Port))
			target := strings.TrimSuffix(srv.Target, ".")
			if noA {
				out = append(out, net.JoinHostPort(target, port))
				continue
			}
			ips, err := r.LookupHost(ctx, target)
			if err != nil {
				return nil, fmt.Errorf("lookup %s (SRV target of %s): %w", target, name, err)
			}
			for _, ip := range ips {
				out = append(out, net.JoinHostPort(ip, port))
			}
		}
		return out, nil
	}
	return []string{addr}, nil
}

// fileTargets returns the targets of the group's file SD files, reading a
// file again only when its modification time or size changed.
func (d *discoverer) fileTargets() []string {
	seen := map[string]bool{}
	var out []string
	for _, pattern := range d.group.Files {
		paths, err := filepath.Glob(pattern)
		if err != nil {
			d.set.logger.Warn("bad file SD pattern", "file", pattern, "err", err)
			continue
		}
		for _, p := range paths {
			seen[p] = true
			out = append(out, d.readFile(p)...)
		}
	}
	for p := range d.files {
		if !seen[p] {
			delete(d.files, p) // gone: its targets go too
		}
	}
	return out
}

func (d *discoverer) readFile(path string) []string {
	old, known := d.files[path]
	fi, err := os.Stat(path)
	if err != nil {
		d.fileError(path, err)
		return old.targets
	}
	if known && fi.ModTime().Equal(old.modTime) && fi.Size() == old.size {
		return old.targets
	}
	b, err := os.ReadFile(path)
	if err != nil {
		d.fileError(path, err)
		return old.targets
	}
	targets, err := parseFileSD(path, b)
	if err != nil {
		d.fileError(path, err)
		return old.targets
	}
	d.files[path] = fileState{modTime: fi.ModTime(), size: fi.Size(), targets: targets}
	return targets
}

func (d *discoverer) fileError(path string, err error) {
	d.set.metrics.fileFailures.Inc()
	d.set.logger.Warn("read file SD file; keeping its last targets", "file", path, "err", err)
}

// fileSDGroup is one entry of a Prometheus file_sd file.
type fileSDGroup struct {
	Targets []string          `yaml:"targets" json:"targets"`
	Labels  map[string]string `yaml:"labels" json:"labels"`
}

// parseFileSD parses a file_sd file: JSON when named *.json, YAML otherwise.
func parseFileSD(path string, b []byte) ([]string, error) {
	var groups []fileSDGroup
	if strings.HasSuffix(path, ".json") {
		if err := json.Unmarshal(b, &groups); err != nil {
			return nil, fmt.Errorf("parse %s as JSON: %w", path, err)
		}
	} else if len(bytes.TrimSpace(b)) > 0 {
		if err := yaml.Unmarshal(b, &groups); err != nil {
			return nil, fmt.Errorf("parse %s as YAML: %w", path, err)
		}
	}
	var out []string
	for _, g := range groups {
		for _, t := range g.Targets {
			if err := validateAddress(t); err != nil {
				return nil, fmt.Errorf("file %s: %w", path, err)
			}
			out = append(out, t)
		}
	}
	return out, nil
}
