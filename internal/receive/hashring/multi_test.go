package hashring

import (
	"path/filepath"
	"strconv"
	"sync"
	"testing"

	"github.com/prometheus/prometheus/model/labels"
	"github.com/stretchr/testify/require"
)

func mustParse(t *testing.T, s string) []Config {
	t.Helper()
	cfgs, err := Parse([]byte(s))
	require.NoError(t, err)
	return cfgs
}

func TestMultiRouting(t *testing.T) {
	cfgs := mustParse(t, `[
		{"hashring": "exact", "tenants": ["acme", "team-special"], "endpoints": ["exact-0:1", "exact-1:1"]},
		{"hashring": "teams", "tenants": ["team-*", "ops-?"], "tenant_matcher_type": "glob", "endpoints": ["teams-0:1", "teams-1:1"], "algorithm": "ketama"},
		{"hashring": "brackets", "tenants": ["[xy]z"], "tenant_matcher_type": "glob", "endpoints": ["br-0:1"]},
		{"hashring": "default", "endpoints": ["default-0:1", "default-1:1"], "external_labels": {"ring": "default"}}
	]`)
	m, err := NewMulti(cfgs, Options{ReplicationFactor: 1})
	require.NoError(t, err)

	for tenant, want := range map[string]string{
		"acme":           "exact",
		"team-special":   "exact", // the first matching entry wins over the glob after it
		"team-a":         "teams",
		"team-":          "teams",
		"ops-1":          "teams",
		"ops-12":         "default", // ? is one character
		"xz":             "brackets",
		"zz":             "default",
		"acme2":          "default",
		"default-tenant": "default",
		"":               "default",
	} {
		cfg, err := m.Config(tenant)
		require.NoError(t, err, tenant)
		require.Equal(t, want, cfg.Hashring, "tenant %q", tenant)
		// Twice: the second answer comes from the cache.
		cfg, err = m.Config(tenant)
		require.NoError(t, err, tenant)
		require.Equal(t, want, cfg.Hashring, "tenant %q", tenant)

		ep, err := m.Get(tenant, labels.FromStrings("__name__", "up"))
		require.NoError(t, err)
		require.Contains(t, addresses(cfg.Endpoints), ep.Address, "tenant %q", tenant)
	}
	cfg, err := m.Config("other")
	require.NoError(t, err)
	require.Equal(t, map[string]string{"ring": "default"}, cfg.ExternalLabels)

	require.Equal(t, []string{"br-0:1", "default-0:1", "default-1:1", "exact-0:1", "exact-1:1", "teams-0:1", "teams-1:1"}, addresses(m.Endpoints()))
}

func addresses(eps []Endpoint) []string {
	out := make([]string, len(eps))
	for i, e := range eps {
		out[i] = e.Address
	}
	return out
}

func TestMultiPlacesAsTheEntryRing(t *testing.T) {
	cfgs := mustParse(t, `[
		{"tenants": ["k"], "endpoints": ["a:1", "b:1", "c:1", "d:1"], "algorithm": "ketama"},
		{"endpoints": ["a:1", "b:1", "c:1", "d:1"]}
	]`)
	m, err := NewMulti(cfgs, Options{ReplicationFactor: 2})
	require.NoError(t, err)
	ketama, err := New(AlgorithmKetama, cfgs[0].Endpoints, 2)
	require.NoError(t, err)
	hashmod, err := New(AlgorithmHashmod, cfgs[1].Endpoints, 2)
	require.NoError(t, err)
	for _, lset := range series(500) {
		for n := range uint64(2) {
			got, err := m.GetN("k", lset, n)
			require.NoError(t, err)
			want, err := ketama.GetN("k", lset, n)
			require.NoError(t, err)
			require.Equal(t, want, got)

			got, err = m.GetN("other", lset, n)
			require.NoError(t, err)
			want, err = hashmod.GetN("other", lset, n)
			require.NoError(t, err)
			require.Equal(t, want, got)
		}
	}
}

func TestMultiDefaultAlgorithm(t *testing.T) {
	cfgs := mustParse(t, `[{"endpoints": ["a:1", "b:1", "c:1"]}]`)
	m, err := NewMulti(cfgs, Options{Algorithm: AlgorithmKetama})
	require.NoError(t, err)
	ketama, err := New(AlgorithmKetama, cfgs[0].Endpoints, 1)
	require.NoError(t, err)
	for _, lset := range series(200) {
		got, err := m.Get("t", lset)
		require.NoError(t, err)
		want, err := ketama.Get("t", lset)
		require.NoError(t, err)
		require.Equal(t, want, got)
	}
}

func TestMultiErrors(t *testing.T) {
	// No default entry: an unknown tenant has nowhere to go.
	m, err := NewMulti(mustParse(t, `[{"tenants": ["a"], "endpoints": ["a:1"]}]`), Options{})
	require.NoError(t, err)
	_, err = m.Get("b", labels.FromStrings("x", "y"))
	require.ErrorIs(t, err, ErrNoHashring)
	require.ErrorContains(t, err, `tenant "b" matches no entry`)
	_, err = m.Config("b")
	require.ErrorIs(t, err, ErrNoHashring)

	// The replication factor is checked against every entry.
	_, err = NewMulti(mustParse(t, `[{"hashring": "small", "tenants": ["a"], "endpoints": ["a:1"]}, {"endpoints": ["a:1", "b:1", "c:1"]}]`), Options{ReplicationFactor: 3})
	require.ErrorIs(t, err, ErrInsufficientEndpoints)
	require.ErrorContains(t, err, `hashring 0 ("small"): insufficient endpoints: --receive.replication-factor=3 needs at least 3 endpoints, the hashring has 1`)

	// AZs need ketama, also when hashmod comes from Options.
	cfgs := mustParse(t, `[{"endpoints": [{"address": "a:1", "az": "z"}]}]`)
	_, err = NewMulti(cfgs, Options{Algorithm: AlgorithmHashmod})
	require.ErrorIs(t, err, ErrInvalidConfig)
	_, err = NewMulti(cfgs, Options{Algorithm: AlgorithmKetama})
	require.NoError(t, err)

	// Configurations built by hand are validated too.
	_, err = NewMulti(nil, Options{})
	require.ErrorIs(t, err, ErrInvalidConfig)
}

func TestMultiConcurrent(t *testing.T) {
	cfgs, err := LoadFile(filepath.Join("testdata", "hashrings.json"))
	require.NoError(t, err)
	m, err := NewMulti(cfgs, Options{ReplicationFactor: 3})
	require.NoError(t, err)
	all := series(200)
	var wg sync.WaitGroup
	for g := range 4 {
		wg.Go(func() {
			for i, lset := range all {
				tenant := []string{"tenant-a", "team-x", "other", "default-tenant"}[(i+g)%4]
				for n := range uint64(3) {
					if _, err := m.GetN(tenant, lset, n); err != nil {
						t.Error(err)
						return
					}
				}
			}
		})
	}
	wg.Wait()
}

func TestMultiCacheIsBounded(t *testing.T) {
	m, err := NewMulti(mustParse(t, `[{"tenants": ["team-*"], "tenant_matcher_type": "glob", "endpoints": ["a:1"]}, {"endpoints": ["b:1"]}]`), Options{})
	require.NoError(t, err)
	for i := range maxCachedTenants + 100 {
		tenant := "team-" + strconv.Itoa(i)
		if i%2 == 1 {
			tenant = "other-" + strconv.Itoa(i)
		}
		cfg, err := m.Config(tenant)
		require.NoError(t, err)
		require.Equal(t, i%2 == 0, cfg.Tenants != nil, tenant)
	}
	require.Len(t, m.cache, maxCachedTenants)
}
