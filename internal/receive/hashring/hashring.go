// Package hashring decides which receive nodes store a series: it reads
// the hashrings file that upstream receivers read (--receive.hashrings-file),
// routes a tenant to one of its entries, and places each series on a ring of
// that entry's endpoints with the hashmod or ketama algorithm.
//
// Placement is part of the contract with upstream: a Strata router and an
// upstream router given the same file, replication factor and default
// algorithm send every series to the same nodes. The series hash, the ring
// and the replica rules are described in docs beside this code
// (README.md) and pinned by tests.
package hashring

import (
	"cmp"
	"fmt"
	"slices"
	"strconv"
	"strings"

	"github.com/cespare/xxhash/v2"
	"github.com/prometheus/prometheus/model/labels"
)

// SectionsPerEndpoint is the number of virtual nodes each endpoint has on a
// ketama ring, as upstream.
const SectionsPerEndpoint = 1000

// sep separates the tenant, label names and label values in the series
// hash.
const sep = '\xff'

// Hashring places the series of a tenant on endpoints. Implementations are
// immutable once built and safe for concurrent use.
type Hashring interface {
	// Get returns the endpoint of the first replica of the series lset of
	// tenant; the same as GetN(tenant, lset, 0).
	Get(tenant string, lset labels.Labels) (Endpoint, error)
	// GetN returns the endpoint of replica n (0-based) of the series. For
	// n below the replication factor the endpoints of different n are
	// distinct. An error wrapping ErrInsufficientEndpoints says the ring
	// cannot hold replica n.
	GetN(tenant string, lset labels.Labels, n uint64) (Endpoint, error)
	// Endpoints returns the ring's endpoints, sorted by address. The
	// caller must not modify the slice.
	Endpoints() []Endpoint
}

// Hash is the series hash both algorithms place by: xxhash64 (seed 0) of
// the tenant followed by 0xff, then of each label's name and value each
// followed by 0xff, in lset's order (sorted by name).
func Hash(tenant string, lset labels.Labels) uint64 {
	// Most series fit; longer ones grow the buffer, which gives the same
	// hash as streaming them would.
	var buf [1024]byte
	b := append(buf[:0], tenant...)
	b = append(b, sep)
	lset.Range(func(l labels.Label) {
		b = append(b, l.Name...)
		b = append(b, sep)
		b = append(b, l.Value...)
		b = append(b, sep)
	})
	return xxhash.Sum64(b)
}

func insufficient(have, rf, n uint64) error {
	return fmt.Errorf("%w: replica %d of a series needs %d endpoints, the hashring has %d (replication factor %d)",
		ErrInsufficientEndpoints, n, n+1, have, rf)
}

// New builds the ring of one entry's endpoints with algorithm ("" means
// DefaultAlgorithm) for replicationFactor replicas (0 means 1). It refuses
// fewer endpoints than the replication factor and, for hashmod, endpoints
// with an availability zone (upstream does both). The caller keeps
// ownership of endpoints.
func New(algorithm Algorithm, endpoints []Endpoint, replicationFactor uint64) (Hashring, error) {
	if replicationFactor == 0 {
		replicationFactor = 1
	}
	if len(endpoints) == 0 {
		return nil, fmt.Errorf("%w: the hashring has no endpoints", ErrInsufficientEndpoints)
	}
	if uint64(len(endpoints)) < replicationFactor {
		return nil, fmt.Errorf("%w: --receive.replication-factor=%d needs at least %d endpoints, the hashring has %d; add endpoints or lower the replication factor",
			ErrInsufficientEndpoints, replicationFactor, replicationFactor, len(endpoints))
	}
	switch algorithm {
	case "", AlgorithmHashmod:
		return newHashmod(endpoints, replicationFactor)
	case AlgorithmKetama:
		return newKetama(endpoints, replicationFactor), nil
	default:
		return nil, fmt.Errorf("%w: unknown algorithm %q; use %q or %q", ErrInvalidConfig, algorithm, AlgorithmHashmod, AlgorithmKetama)
	}
}

func sortedByAddress(endpoints []Endpoint) []Endpoint {
	s := slices.Clone(endpoints)
	slices.SortStableFunc(s, func(a, b Endpoint) int { return strings.Compare(a.Address, b.Address) })
	return s
}

// hashmod places replica n on endpoints[(hash+n) mod len], the endpoints
// sorted by address (so the order of the file does not matter, as
// upstream).
type hashmod struct {
	endpoints []Endpoint
	rf        uint64
}

func newHashmod(endpoints []Endpoint, rf uint64) (*hashmod, error) {
	for _, e := range endpoints {
		if e.AZ != "" {
			return nil, fmt.Errorf("%w: endpoint %q has an az, which the hashmod algorithm does not use; set \"algorithm\": %q or remove the az",
				ErrInvalidConfig, e.Address, AlgorithmKetama)
		}
	}
	return &hashmod{endpoints: sortedByAddress(endpoints), rf: rf}, nil
}

func (h *hashmod) Get(tenant string, lset labels.Labels) (Endpoint, error) {
	return h.GetN(tenant, lset, 0)
}

func (h *hashmod) GetN(tenant string, lset labels.Labels, n uint64) (Endpoint, error) {
	num := uint64(len(h.endpoints))
	if n >= num {
		return Endpoint{}, insufficient(num, h.rf, n)
	}
	return h.endpoints[(Hash(tenant, lset)+n)%num], nil
}

func (h *hashmod) Endpoints() []Endpoint { return h.endpoints }

// ketama is a consistent-hash ring: SectionsPerEndpoint sections per
// endpoint, each with its replica endpoints computed when the ring is
// built.
type ketama struct {
	endpoints []Endpoint // file order; replicas index into it
	sorted    []Endpoint // by address, for Endpoints
	hashes    []uint64   // section hashes, ascending
	replicas  []uint32   // rf endpoint indexes per section, section-major
	rf        uint64
}

type section struct {
	hash     uint64
	endpoint uint32
}

func newKetama(endpoints []Endpoint, rf uint64) *ketama {
	endpoints = slices.Clone(endpoints)
	sections := make([]section, 0, len(endpoints)*SectionsPerEndpoint)
	var key []byte
	for e, ep := range endpoints {
		for i := 1; i <= SectionsPerEndpoint; i++ {
			key = append(append(append(key[:0], ep.Address...), ':'), strconv.Itoa(i)...)
			sections = append(sections, section{hash: xxhash.Sum64(key), endpoint: uint32(e)})
		}
	}
	// Ties between 64-bit hashes are not expected; file order breaks them
	// so the ring is deterministic anyway.
	slices.SortFunc(sections, func(a, b section) int {
		return cmp.Or(cmp.Compare(a.hash, b.hash), cmp.Compare(a.endpoint, b.endpoint))
	})
	k := &ketama{
		endpoints: endpoints,
		sorted:    sortedByAddress(endpoints),
		hashes:    make([]uint64, len(sections)),
		replicas:  make([]uint32, 0, uint64(len(sections))*rf),
		rf:        rf,
	}
	for i, s := range sections {
		k.hashes[i] = s.hash
	}
	p := newPicker(endpoints, rf)
	for i := range sections {
		k.replicas = p.pick(k.replicas, sections, i)
	}
	return k
}

// picker computes the replica list of a section: walking clockwise from
// the section itself it takes each endpoint not taken yet, skipping one
// whose zone already holds more of the list than the least-occupied zone
// when the ring has endpoints in more than one zone ("" counts as a zone,
// as upstream). Where zones cannot be balanced (a zone runs out of
// endpoints) upstream never finishes the list; here a lap without a pick
// lifts the zone rule for the next pick, so the list is still built.
type picker struct {
	endpoints []Endpoint
	rf        uint64
	zones     map[string]int
	taken     []bool
}

func newPicker(endpoints []Endpoint, rf uint64) *picker {
	zones := make(map[string]int)
	for _, e := range endpoints {
		zones[e.AZ] = 0
	}
	return &picker{endpoints: endpoints, rf: rf, zones: zones, taken: make([]bool, len(endpoints))}
}

func (p *picker) pick(dst []uint32, sections []section, start int) []uint32 {
	clear(p.taken)
	for z := range p.zones {
		p.zones[z] = 0
	}
	zoned := len(p.zones) > 1
	sinceLastPick := 0
	for got, j := uint64(0), start; got < p.rf; j = (j + 1) % len(sections) {
		e := sections[j].endpoint
		if p.taken[e] {
			sinceLastPick++
			continue
		}
		az := p.endpoints[e].AZ
		relaxed := sinceLastPick >= len(sections)
		if zoned && !relaxed && p.zones[az] > 0 && p.zones[az] > p.leastOccupied() {
			sinceLastPick++
			continue
		}
		p.taken[e] = true
		p.zones[az]++
		dst = append(dst, e)
		got++
		sinceLastPick = 0
	}
	return dst
}

func (p *picker) leastOccupied() int {
	least := -1
	for _, n := range p.zones {
		if least < 0 || n < least {
			least = n
		}
	}
	return least
}

func (k *ketama) Get(tenant string, lset labels.Labels) (Endpoint, error) {
	return k.GetN(tenant, lset, 0)
}

func (k *ketama) GetN(tenant string, lset labels.Labels, n uint64) (Endpoint, error) {
	if num := uint64(len(k.endpoints)); n >= num {
		return Endpoint{}, insufficient(num, k.rf, n)
	}
	if n >= k.rf {
		// Replica lists hold rf endpoints; upstream has no answer past
		// them either.
		return Endpoint{}, fmt.Errorf("%w: replica %d asked, but the ring was built for %d replicas per series (--receive.replication-factor)",
			ErrInsufficientEndpoints, n, k.rf)
	}
	i, _ := slices.BinarySearch(k.hashes, Hash(tenant, lset))
	if i == len(k.hashes) {
		i = 0
	}
	return k.endpoints[k.replicas[uint64(i)*k.rf+n]], nil
}

func (k *ketama) Endpoints() []Endpoint { return k.sorted }

// WriteQuorum is the number of replicas that must store a write before it
// is acknowledged with --receive.replication-factor=replicationFactor:
// replicationFactor/2+1, except 1 for a factor of 2 (so a pair of nodes,
// as from two HA Prometheus servers, keeps taking writes with one down),
// as upstream.
func WriteQuorum(replicationFactor uint64) uint64 {
	if replicationFactor == 2 {
		return 1
	}
	return replicationFactor/2 + 1
}
