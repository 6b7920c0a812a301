package hashring

import (
	"os"
	"path/filepath"
	"testing"

	"github.com/stretchr/testify/require"
)

func TestLoadFile(t *testing.T) {
	cfgs, err := LoadFile(filepath.Join("testdata", "hashrings.json"))
	require.NoError(t, err)
	require.Equal(t, []Config{
		{
			Hashring:       "team-a",
			Tenants:        []string{"tenant-a", "tenant-b"},
			Endpoints:      []Endpoint{{Address: "receive-a-0:10901"}, {Address: "receive-a-1:10901"}, {Address: "receive-a-2:10901"}},
			Algorithm:      AlgorithmKetama,
			ExternalLabels: map[string]string{"team": "a"},
		},
		{
			Hashring:          "globbed",
			Tenants:           []string{"team-*"},
			TenantMatcherType: TenantMatcherGlob,
			Endpoints: []Endpoint{
				{Address: "receive-z-0:10901", AZ: "zone-1"},
				{Address: "receive-z-1:10901", AZ: "zone-2"},
				{Address: "receive-z-2:10901", AZ: "zone-3", CapNProtoAddress: "receive-z-2:19391"},
			},
			Algorithm: AlgorithmKetama,
		},
		{
			Hashring:  "default",
			Endpoints: []Endpoint{{Address: "receive-0:10901"}, {Address: "receive-1:10901"}, {Address: "receive-2:10901"}},
		},
	}, cfgs)

	_, err = LoadFile(filepath.Join(t.TempDir(), "missing.json"))
	require.ErrorIs(t, err, os.ErrNotExist)
	require.ErrorContains(t, err, "--receive.hashrings-file")
}

func TestParse(t *testing.T) {
	for _, tc := range []struct {
		name string
		in   string
		// wantErr is a part of the error; "" means the file is valid.
		wantErr string
		// invalid says the error wraps ErrInvalidConfig (the file is
		// JSON but says something wrong).
		invalid bool
	}{
		{name: "minimal", in: `[{"endpoints": ["a:1"]}]`},
		{name: "upstream example with unknown field", in: `[{"hashring": "h", "endpoints": ["a:1", "b:1"], "shuffle_sharding_config": {"shard_size": 2}}]`},
		{name: "exact spelled out", in: `[{"tenants": ["x"], "tenant_matcher_type": "exact", "endpoints": ["a:1"]}, {"endpoints": ["b:1"]}]`},
		{name: "tenant entries only", in: `[{"tenants": ["x"], "endpoints": ["a:1"]}, {"tenants": ["y"], "endpoints": ["b:1"]}]`},
		{name: "same endpoint in two hashrings", in: `[{"tenants": ["x"], "endpoints": ["a:1"]}, {"endpoints": ["a:1"]}]`},

		{name: "empty file", in: "  \n", wantErr: "the file is empty", invalid: true},
		{name: "not JSON", in: `{"endpoints": ["a:1"]}`, wantErr: "JSON array of hashrings is expected"},
		{name: "no hashrings", in: `[]`, wantErr: "lists no hashrings", invalid: true},
		{name: "no endpoints", in: `[{"hashring": "h"}]`, wantErr: `hashring 0 ("h"): no endpoints`, invalid: true},
		{name: "empty endpoints", in: `[{"endpoints": []}]`, wantErr: "no endpoints", invalid: true},
		{name: "empty address", in: `[{"endpoints": ["a:1", ""]}]`, wantErr: "endpoint 1 has an empty address", invalid: true},
		{name: "object without address", in: `[{"endpoints": [{"az": "z"}]}]`, wantErr: "endpoint 0 has an empty address", invalid: true},
		{name: "endpoint of wrong type", in: `[{"endpoints": [42]}]`, wantErr: "endpoint must be a \"host:port\" string or an object"},
		{name: "duplicate endpoint", in: `[{"endpoints": ["a:1", "b:1", {"address": "a:1", "az": "z"}]}]`, wantErr: `endpoint "a:1" is listed twice (endpoints 0 and 2)`, invalid: true},
		{name: "unknown algorithm", in: `[{"endpoints": ["a:1"], "algorithm": "rendezvous"}]`, wantErr: `unknown algorithm "rendezvous"; use "hashmod" or "ketama"`, invalid: true},
		{name: "unknown matcher", in: `[{"tenants": ["x"], "tenant_matcher_type": "regex", "endpoints": ["a:1"]}]`, wantErr: `unknown tenant_matcher_type "regex"`, invalid: true},
		{name: "bad glob", in: `[{"tenants": ["team-[a"], "tenant_matcher_type": "glob", "endpoints": ["a:1"]}]`, wantErr: `tenant pattern "team-[a" is not a valid glob`, invalid: true},
		{name: "bracket is fine when exact", in: `[{"tenants": ["team-[a"], "endpoints": ["a:1"]}]`},
		{name: "empty tenant", in: `[{"tenants": [""], "endpoints": ["a:1"]}]`, wantErr: "empty tenant", invalid: true},
		{name: "two defaults", in: `[{"hashring": "one", "endpoints": ["a:1"]}, {"hashring": "two", "endpoints": ["b:1"]}]`, wantErr: `hashring 1 ("two") has no tenants, like hashring 0 ("one"): only one default hashring is allowed`, invalid: true},
		{name: "default not last", in: `[{"endpoints": ["a:1"]}, {"tenants": ["x"], "endpoints": ["b:1"]}]`, wantErr: "move it to the end of the file", invalid: true},
		{name: "reserved external label", in: `[{"endpoints": ["a:1"], "external_labels": {"__name__": "x"}}]`, wantErr: `external label "__name__": names starting with __ are reserved`, invalid: true},
		{name: "empty external label value", in: `[{"endpoints": ["a:1"], "external_labels": {"dc": ""}}]`, wantErr: `external label "dc" has an empty value`, invalid: true},
		{
			name:    "every problem reported at once",
			in:      `[{"hashring": "h", "algorithm": "x", "endpoints": ["a:1", "a:1"]}]`,
			wantErr: `hashring 0 ("h"): unknown algorithm "x"; use "hashmod" or "ketama"` + "\n" + `endpoint "a:1" is listed twice`,
			invalid: true,
		},
	} {
		t.Run(tc.name, func(t *testing.T) {
			cfgs, err := Parse([]byte(tc.in))
			if tc.wantErr == "" {
				require.NoError(t, err)
				require.NotEmpty(t, cfgs)
				return
			}
			require.ErrorContains(t, err, tc.wantErr)
			if tc.invalid {
				require.ErrorIs(t, err, ErrInvalidConfig)
			}
		})
	}
}

func TestEndpointUnmarshalForms(t *testing.T) {
	cfgs, err := Parse([]byte(`[{"endpoints": ["a:1", {"address": "b:1", "az": "z1"}, {"address": "c:1"}]}]`))
	require.NoError(t, err)
	require.Equal(t, []Endpoint{{Address: "a:1"}, {Address: "b:1", AZ: "z1"}, {Address: "c:1"}}, cfgs[0].Endpoints)
}
