package hashring

import (
	"fmt"
	"path/filepath"
	"slices"
	"strings"
	"sync"

	"github.com/prometheus/prometheus/model/labels"
)

// maxCachedTenants bounds the tenant-to-entry cache of a Multi.
const maxCachedTenants = 10000

// Options are the process-wide settings a hashrings file is read with.
type Options struct {
	// Algorithm is used by entries that name none
	// (--receive.hashrings-algorithm); "" means DefaultAlgorithm.
	Algorithm Algorithm
	// ReplicationFactor is how many nodes store each series
	// (--receive.replication-factor); 0 means 1.
	ReplicationFactor uint64
}

// Multi routes each tenant to the ring of one entry of a hashrings file: the
// first entry, in file order, whose tenants match the tenant (exactly or as
// globs, per the entry's tenant_matcher_type), where an entry without
// tenants matches every tenant. Safe for concurrent use.
type Multi struct {
	entries   []entry
	endpoints []Endpoint

	mu    sync.RWMutex
	cache map[string]int // tenant -> index in entries, -1 for none
}

type entry struct {
	cfg   Config
	ring  Hashring
	exact map[string]struct{}
	globs []string
}

func (e *entry) matches(tenant string) bool {
	if e.cfg.isDefault() {
		return true
	}
	if _, ok := e.exact[tenant]; ok {
		return true
	}
	for _, g := range e.globs {
		// Patterns were checked by Validate, so Match cannot fail.
		if ok, _ := filepath.Match(g, tenant); ok {
			return true
		}
	}
	return false
}

// NewMulti validates cfgs and builds the ring of every entry.
func NewMulti(cfgs []Config, opts Options) (*Multi, error) {
	if err := Validate(cfgs); err != nil {
		return nil, err
	}
	m := &Multi{cache: make(map[string]int)}
	seen := make(map[string]struct{})
	for i, c := range cfgs {
		alg := c.Algorithm
		if alg == "" {
			alg = opts.Algorithm
		}
		ring, err := New(alg, c.Endpoints, opts.ReplicationFactor)
		if err != nil {
			return nil, fmt.Errorf("%s: %w", c.name(i), err)
		}
		e := entry{cfg: c, ring: ring}
		if c.TenantMatcherType == TenantMatcherGlob {
			e.globs = slices.Clone(c.Tenants)
		} else {
			e.exact = make(map[string]struct{}, len(c.Tenants))
			for _, t := range c.Tenants {
				e.exact[t] = struct{}{}
			}
		}
		m.entries = append(m.entries, e)
		for _, ep := range ring.Endpoints() {
			if _, ok := seen[ep.Address]; !ok {
				seen[ep.Address] = struct{}{}
				m.endpoints = append(m.endpoints, ep)
			}
		}
	}
	slices.SortFunc(m.endpoints, func(a, b Endpoint) int { return strings.Compare(a.Address, b.Address) })
	return m, nil
}

// lookup returns the index of the entry taking tenant, or -1.
func (m *Multi) lookup(tenant string) int {
	m.mu.RLock()
	i, ok := m.cache[tenant]
	m.mu.RUnlock()
	if ok {
		return i
	}
	i = -1
	for j := range m.entries {
		if m.entries[j].matches(tenant) {
			i = j
			break
		}
	}
	m.mu.Lock()
	// Tenants come from a request header: bound what they can make us
	// keep. Past the bound, lookups just walk the entries.
	if len(m.cache) < maxCachedTenants {
		m.cache[tenant] = i
	}
	m.mu.Unlock()
	return i
}

// Config returns the entry of the file that takes tenant's writes (its
// name and external labels), or an error wrapping ErrNoHashring.
func (m *Multi) Config(tenant string) (Config, error) {
	i := m.lookup(tenant)
	if i < 0 {
		return Config{}, noHashring(tenant)
	}
	return m.entries[i].cfg, nil
}

func noHashring(tenant string) error {
	return fmt.Errorf("%w: tenant %q matches no entry of --receive.hashrings-file and the file has no default entry (one without tenants)", ErrNoHashring, tenant)
}

// Get returns the endpoint of the first replica of the series of tenant.
func (m *Multi) Get(tenant string, lset labels.Labels) (Endpoint, error) {
	return m.GetN(tenant, lset, 0)
}

// GetN returns the endpoint of replica n of the series of tenant, placed
// by the ring of the entry taking tenant.
func (m *Multi) GetN(tenant string, lset labels.Labels, n uint64) (Endpoint, error) {
	i := m.lookup(tenant)
	if i < 0 {
		return Endpoint{}, noHashring(tenant)
	}
	return m.entries[i].ring.GetN(tenant, lset, n)
}

// Endpoints returns the endpoints of all entries, each address once,
// sorted by address.
func (m *Multi) Endpoints() []Endpoint { return m.endpoints }

var _ Hashring = (*Multi)(nil)
