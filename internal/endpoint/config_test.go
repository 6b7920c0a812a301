package endpoint

import (
	"os"
	"path/filepath"
	"testing"

	"github.com/stretchr/testify/require"
)

func TestParseConfigFile(t *testing.T) {
	for _, tc := range []struct {
		name    string
		content string
		want    func(dir string) Config
		wantErr string
	}{
		{
			name: "groups with tls and files",
			content: `
groups:
  - name: eu
    addresses: [10.0.0.1:10901, "dns+sidecar.eu.svc:10901", "dnssrv+_grpc._tcp.store.eu.svc"]
    files: [targets/eu-*.yaml, /abs/targets.json]
    tls_config:
      ca_file: ca.pem
      cert_file: client.pem
      key_file: client-key.pem
      server_name: store.eu.example
  - addresses: ["[::1]:10901"]
  - addresses: [10.0.0.9:10901]
    tls_config: {enabled: false}
`,
			want: func(dir string) Config {
				return Config{Groups: []Group{
					{
						Name:      "eu",
						Addresses: []string{"10.0.0.1:10901", "dns+sidecar.eu.svc:10901", "dnssrv+_grpc._tcp.store.eu.svc"},
						Files:     []string{filepath.Join(dir, "targets/eu-*.yaml"), "/abs/targets.json"},
						TLS: TLSConfig{Enabled: true, CAFile: filepath.Join(dir, "ca.pem"), CertFile: filepath.Join(dir, "client.pem"),
							KeyFile: filepath.Join(dir, "client-key.pem"), ServerName: "store.eu.example"},
					},
					{Addresses: []string{"[::1]:10901"}},
					{Addresses: []string{"10.0.0.9:10901"}},
				}}
			},
		},
		{name: "empty file", content: "", want: func(string) Config { return Config{} }},
		{name: "typo in a key", content: "groups:\n  - adresses: [a:1]\n", wantErr: "field adresses not found"},
		{name: "address without port", content: "groups:\n  - addresses: [sidecar]\n", wantErr: `endpoint address "sidecar": want host:port`},
		{name: "group with nothing", content: "groups:\n  - name: x\n", wantErr: "no addresses and no files"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			dir := t.TempDir()
			path := filepath.Join(dir, "endpoints.yaml")
			require.NoError(t, os.WriteFile(path, []byte(tc.content), 0o600))
			got, err := ParseConfigFile(path)
			if tc.wantErr != "" {
				require.ErrorContains(t, err, tc.wantErr)
				return
			}
			require.NoError(t, err)
			require.Equal(t, tc.want(dir), got)
		})
	}

	_, err := ParseConfigFile(filepath.Join(t.TempDir(), "missing.yaml"))
	require.ErrorContains(t, err, "read endpoint config")
}

func TestNewRejectsBadAddresses(t *testing.T) {
	for _, addr := range []string{"no-port", "dns+no-port", "dnssrv+", ":10901"} {
		_, err := New(Config{Groups: []Group{{Name: "g", Addresses: []string{addr}}}}, nil, nil)
		require.ErrorContains(t, err, "endpoint group g: endpoint address", addr)
	}
}
