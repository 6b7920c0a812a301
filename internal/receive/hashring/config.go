package hashring

import (
	"bytes"
	"encoding/json"
	"errors"
	"fmt"
	"maps"
	"os"
	"path/filepath"
	"slices"
	"strings"
)

// Algorithm names how a hashring places series on its endpoints.
type Algorithm string

const (
	// AlgorithmHashmod places replica n of a series on
	// endpoints[(hash+n) mod len(endpoints)], the endpoints sorted by
	// address. Adding an endpoint moves most series.
	AlgorithmHashmod Algorithm = "hashmod"
	// AlgorithmKetama places series on a consistent-hash ring with
	// SectionsPerEndpoint virtual nodes per endpoint. Adding an endpoint
	// moves about 1/(N+1) of the series, and replicas are spread over
	// availability zones.
	AlgorithmKetama Algorithm = "ketama"

	// DefaultAlgorithm is the algorithm of an entry that names none and of
	// an empty --receive.hashrings-algorithm, as upstream.
	DefaultAlgorithm = AlgorithmHashmod
)

// TenantMatcher names how an entry's tenants are compared with the tenant
// of a request.
type TenantMatcher string

const (
	// TenantMatcherExact matches a tenant equal to one of the entry's
	// tenants. It is the default; the file may spell it "" or "exact".
	TenantMatcherExact TenantMatcher = "exact"
	// TenantMatcherGlob matches a tenant against the entry's tenants as
	// path/filepath.Match patterns ("team-*", "a?c", "[ab]*").
	TenantMatcherGlob TenantMatcher = "glob"
)

// Sentinel errors of this package.
var (
	// ErrInvalidConfig is wrapped by every error that Parse and
	// Validate return for a file that parses but says something invalid.
	ErrInvalidConfig = errors.New("invalid hashrings configuration")
	// ErrInsufficientEndpoints is wrapped by the errors of rings with
	// fewer endpoints than a replica asks for.
	ErrInsufficientEndpoints = errors.New("insufficient endpoints")
	// ErrNoHashring is wrapped when no entry of the file matches a tenant
	// and the file has no default entry (one without tenants).
	ErrNoHashring = errors.New("no hashring matches the tenant")
)

// Endpoint is one receive node of a hashring.
type Endpoint struct {
	// Address is the node's gRPC address, host:port, as peers dial it.
	Address string `json:"address"`
	// AZ is the node's availability zone; empty when not given. Only
	// ketama uses it.
	AZ string `json:"az,omitempty"`
	// CapNProtoAddress is the node's Cap'n Proto replication address
	// (upstream's capnproto_address); empty when not given. Strata
	// replicates over gRPC and keeps it only so a file survives a round
	// trip.
	CapNProtoAddress string `json:"capnproto_address,omitempty"`
}

// UnmarshalJSON reads an endpoint written either as a string (the address)
// or as an object with address, az and capnproto_address.
func (e *Endpoint) UnmarshalJSON(data []byte) error {
	data = bytes.TrimSpace(data)
	if len(data) > 0 && data[0] == '"' {
		*e = Endpoint{}
		return json.Unmarshal(data, &e.Address)
	}
	// A distinct type so the object is decoded without recursing here.
	type plain Endpoint
	var p plain
	if err := json.Unmarshal(data, &p); err != nil {
		return fmt.Errorf("endpoint must be a \"host:port\" string or an object with \"address\": %w", err)
	}
	*e = Endpoint(p)
	return nil
}

// Config is one entry of the hashrings file (--receive.hashrings-file), a
// JSON array of these.
type Config struct {
	// Hashring names the entry in logs and errors; may be empty.
	Hashring string `json:"hashring,omitempty"`
	// Tenants whose writes this entry takes. An entry without tenants is
	// the default entry: it takes every tenant no other entry takes.
	Tenants []string `json:"tenants,omitempty"`
	// TenantMatcherType says how Tenants are matched: "" or "exact", or
	// "glob".
	TenantMatcherType TenantMatcher `json:"tenant_matcher_type,omitempty"`
	// Endpoints are the nodes of the ring, in file order (ketama's ring
	// depends on the addresses only; hashmod sorts them by address).
	Endpoints []Endpoint `json:"endpoints"`
	// Algorithm is "hashmod" or "ketama"; empty means the process's
	// --receive.hashrings-algorithm.
	Algorithm Algorithm `json:"algorithm,omitempty"`
	// ExternalLabels are added to the TSDBs of this entry's tenants.
	ExternalLabels map[string]string `json:"external_labels,omitempty"`
}

// name is how errors and logs refer to the entry at index i.
func (c Config) name(i int) string {
	if c.Hashring != "" {
		return fmt.Sprintf("hashring %d (%q)", i, c.Hashring)
	}
	return fmt.Sprintf("hashring %d", i)
}

// isDefault reports whether the entry takes the tenants no other takes.
func (c Config) isDefault() bool { return len(c.Tenants) == 0 }

// LoadFile reads, parses and validates the hashrings file at path.
func LoadFile(path string) ([]Config, error) {
	data, err := os.ReadFile(path)
	if err != nil {
		return nil, fmt.Errorf("read --receive.hashrings-file: %w", err)
	}
	cfgs, err := Parse(data)
	if err != nil {
		return nil, fmt.Errorf("%s: %w", path, err)
	}
	return cfgs, nil
}

// Parse decodes a hashrings file and validates it. Unknown fields are
// ignored, as upstream does, so files written for newer upstream versions
// still load.
func Parse(data []byte) ([]Config, error) {
	if len(bytes.TrimSpace(data)) == 0 {
		return nil, fmt.Errorf("%w: the file is empty; write a JSON array of hashrings, e.g. [{\"endpoints\": [\"receive-0:10901\"]}]", ErrInvalidConfig)
	}
	var cfgs []Config
	if err := json.Unmarshal(data, &cfgs); err != nil {
		return nil, fmt.Errorf("parse hashrings JSON (a JSON array of hashrings is expected): %w", err)
	}
	if err := Validate(cfgs); err != nil {
		return nil, err
	}
	return cfgs, nil
}

// Validate checks what a hashrings file must satisfy whatever the
// algorithm and replication factor: at least one entry; per entry at least
// one endpoint, non-empty and unique addresses, a known algorithm and
// tenant matcher, non-empty tenants, valid glob patterns and external
// label names; at most one default entry (one without tenants), and it
// last, since upstream routers take the first entry that matches and a
// default entry matches every tenant. NewMulti checks the rest (replication
// factor against endpoints, AZs with hashmod).
func Validate(cfgs []Config) error {
	if len(cfgs) == 0 {
		return fmt.Errorf("%w: the file lists no hashrings; add at least one entry with endpoints", ErrInvalidConfig)
	}
	var errs []error
	defaultAt := -1
	for i, c := range cfgs {
		if err := validateEntry(c); err != nil {
			errs = append(errs, fmt.Errorf("%s: %w", c.name(i), err))
		}
		if !c.isDefault() {
			continue
		}
		if defaultAt >= 0 {
			errs = append(errs, fmt.Errorf("%s has no tenants, like %s: only one default hashring is allowed; give one of them tenants or merge them", c.name(i), cfgs[defaultAt].name(defaultAt)))
			continue
		}
		defaultAt = i
	}
	if defaultAt >= 0 && defaultAt != len(cfgs)-1 && len(errs) == 0 {
		errs = append(errs, fmt.Errorf("%s has no tenants and so takes every tenant, but entries follow it that could never be chosen; move it to the end of the file", cfgs[defaultAt].name(defaultAt)))
	}
	if len(errs) > 0 {
		return fmt.Errorf("%w: %w", ErrInvalidConfig, errors.Join(errs...))
	}
	return nil
}

func validateEntry(c Config) error {
	var errs []error
	switch c.Algorithm {
	case "", AlgorithmHashmod, AlgorithmKetama:
	default:
		errs = append(errs, fmt.Errorf("unknown algorithm %q; use %q or %q", c.Algorithm, AlgorithmHashmod, AlgorithmKetama))
	}
	glob := false
	switch c.TenantMatcherType {
	case "", TenantMatcherExact:
	case TenantMatcherGlob:
		glob = true
	default:
		errs = append(errs, fmt.Errorf("unknown tenant_matcher_type %q; use %q (or leave it out) or %q", c.TenantMatcherType, TenantMatcherExact, TenantMatcherGlob))
	}
	for _, t := range c.Tenants {
		if t == "" {
			errs = append(errs, errors.New("empty tenant in tenants; remove it"))
			continue
		}
		if glob {
			if _, err := filepath.Match(t, ""); err != nil {
				errs = append(errs, fmt.Errorf("tenant pattern %q is not a valid glob: %w", t, err))
			}
		}
	}
	if len(c.Endpoints) == 0 {
		errs = append(errs, errors.New("no endpoints; list the receive nodes' gRPC addresses in endpoints"))
	}
	seen := make(map[string]int, len(c.Endpoints))
	for j, e := range c.Endpoints {
		if strings.TrimSpace(e.Address) == "" {
			errs = append(errs, fmt.Errorf("endpoint %d has an empty address; give it as \"host:port\"", j))
			continue
		}
		if k, dup := seen[e.Address]; dup {
			errs = append(errs, fmt.Errorf("endpoint %q is listed twice (endpoints %d and %d); list each node once", e.Address, k, j))
			continue
		}
		seen[e.Address] = j
	}
	for _, name := range slices.Sorted(maps.Keys(c.ExternalLabels)) {
		value := c.ExternalLabels[name]
		switch {
		case name == "":
			errs = append(errs, errors.New("external_labels has an empty label name"))
		case strings.HasPrefix(name, "__"):
			errs = append(errs, fmt.Errorf("external label %q: names starting with __ are reserved", name))
		case value == "":
			errs = append(errs, fmt.Errorf("external label %q has an empty value; remove it or give it a value", name))
		}
	}
	return errors.Join(errs...)
}
