package objstore_test

import (
	"errors"
	"os"
	"path/filepath"
	"testing"

	"github.com/alecthomas/kingpin/v2"
	"github.com/stretchr/testify/require"

	"github.com/strata-io/strata/internal/objstore"
)

func TestParseConfig(t *testing.T) {
	for _, tc := range []struct {
		name    string
		yaml    string
		want    objstore.Config
		wantErr string
	}{
		{
			name: "filesystem",
			yaml: "type: FILESYSTEM\nconfig:\n  directory: /data/bucket\n",
			want: objstore.Config{Type: objstore.FILESYSTEM, Config: map[string]any{"directory": "/data/bucket"}},
		},
		{
			name: "s3 in lower case with prefix",
			yaml: `
type: s3
prefix: tenant-a
config:
  bucket: metrics
  endpoint: s3.eu-west-1.amazonaws.com
  access_key: AK
  secret_key: SK
  insecure: false
  http_config:
    idle_conn_timeout: 90s
`,
			want: objstore.Config{Type: objstore.S3, Prefix: "tenant-a", Config: map[string]any{
				"bucket": "metrics", "endpoint": "s3.eu-west-1.amazonaws.com", "access_key": "AK", "secret_key": "SK",
				"insecure": false, "http_config": map[string]any{"idle_conn_timeout": "90s"},
			}},
		},
		{
			name: "gcs in mixed case",
			yaml: "type: Gcs\nconfig:\n  bucket: metrics\n",
			want: objstore.Config{Type: objstore.GCS, Config: map[string]any{"bucket": "metrics"}},
		},
		{
			name: "azure",
			yaml: "type: azure\nconfig:\n  storage_account: acct\n  storage_account_key: a2V5\n  container: metrics\n",
			want: objstore.Config{Type: objstore.AZURE, Config: map[string]any{"storage_account": "acct", "storage_account_key": "a2V5", "container": "metrics"}},
		},
		{
			name: "memory needs no config",
			yaml: "type: memory\n",
			want: objstore.Config{Type: objstore.MEMORY},
		},
		{
			name:    "unknown type lists the supported ones",
			yaml:    "type: swift\nconfig:\n  container: x\n",
			wantErr: `unknown object storage type "swift": supported types are FILESYSTEM, S3, GCS, AZURE, MEMORY`,
		},
		{
			name:    "missing type",
			yaml:    "config:\n  bucket: x\n",
			wantErr: "has no `type:`: set one of FILESYSTEM, S3, GCS, AZURE, MEMORY",
		},
		{
			name:    "empty document",
			yaml:    "",
			wantErr: "object storage config is empty",
		},
		{
			name:    "unknown top-level key",
			yaml:    "type: S3\nbucket: x\n",
			wantErr: "expected keys: type, config, prefix",
		},
		{
			name:    "config is not a mapping",
			yaml:    "type: S3\nconfig: bucket\n",
			wantErr: "parse object storage config",
		},
	} {
		t.Run(tc.name, func(t *testing.T) {
			got, err := objstore.ParseConfig([]byte(tc.yaml))
			if tc.wantErr != "" {
				require.ErrorContains(t, err, tc.wantErr)
				return
			}
			require.NoError(t, err)
			require.Equal(t, tc.want, got)

			// What Marshal writes parses back to the same configuration,
			// so a config can be handed to another process.
			out, err := got.Marshal()
			require.NoError(t, err)
			again, err := objstore.ParseConfig(out)
			require.NoError(t, err)
			require.Equal(t, got, again)
		})
	}
}

func TestFlags(t *testing.T) {
	dir := t.TempDir()
	file := filepath.Join(dir, "bucket.yml")
	require.NoError(t, os.WriteFile(file, []byte("type: FILESYSTEM\nconfig:\n  directory: /data\n"), 0o600))
	bad := filepath.Join(dir, "bad.yml")
	require.NoError(t, os.WriteFile(bad, []byte("type: ftp\n"), 0o600))

	fsCfg := objstore.Config{Type: objstore.FILESYSTEM, Config: map[string]any{"directory": "/data"}}
	for _, tc := range []struct {
		name    string
		args    []string
		want    objstore.Config
		wantSet bool
		wantErr string
		notConf bool
	}{
		{name: "config file", args: []string{"--objstore.config-file=" + file}, want: fsCfg, wantSet: true},
		{name: "inline config", args: []string{"--objstore.config=type: MEMORY"}, want: objstore.Config{Type: objstore.MEMORY}, wantSet: true},
		{
			name:    "both flags",
			args:    []string{"--objstore.config-file=" + file, "--objstore.config=type: MEMORY"},
			wantSet: true,
			wantErr: "--objstore.config-file and --objstore.config are mutually exclusive",
		},
		{name: "neither flag", wantErr: "give --objstore.config-file=<path> or --objstore.config=<yaml>", notConf: true},
		{name: "missing file", args: []string{"--objstore.config-file=" + dir + "/nope.yml"}, wantSet: true, wantErr: "nope.yml"},
		{name: "bad file", args: []string{"--objstore.config-file=" + bad}, wantSet: true, wantErr: "bad.yml: unknown object storage type \"ftp\""},
		{name: "bad inline", args: []string{"--objstore.config=type: [S3"}, wantSet: true, wantErr: "--objstore.config: parse object storage config"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			app := kingpin.New("strata", "")
			var f objstore.Flags
			f.RegisterFlags(app.Command("store", ""))
			_, err := app.Parse(append([]string{"store"}, tc.args...))
			require.NoError(t, err)
			require.Equal(t, tc.wantSet, f.IsSet())

			got, err := f.Load()
			if tc.wantErr != "" {
				require.ErrorContains(t, err, tc.wantErr)
				require.Equal(t, tc.notConf, errors.Is(err, objstore.ErrNotConfigured))
				return
			}
			require.NoError(t, err)
			require.Equal(t, tc.want, got)
		})
	}
}
