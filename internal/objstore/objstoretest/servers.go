package objstoretest

import (
	"context"
	"errors"
	"net/http"
	"net/http/httptest"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"testing"
	"time"

	"github.com/Azure/azure-sdk-for-go/sdk/storage/azblob/container"

	"github.com/strata-io/strata/internal/objstore"
	"github.com/strata-io/strata/internal/testkit"
)

// Credentials and names of the test servers.
const (
	// BucketName is the bucket (GCS, S3) or container (Azure) every Start*
	// function creates.
	BucketName = "strata"
	// S3AccessKey and S3SecretKey are the root credentials of the S3 server.
	S3AccessKey = "strata-access"
	S3SecretKey = "strata-secret-key"
	// AzureAccount and AzureAccountKey are Azurite's well-known development
	// account, documented by Microsoft; not a secret.
	AzureAccount    = "devstoreaccount1"
	AzureAccountKey = "Eby8vdM02xNOcqFlqUwJPLlmEtlCDXJ1OUzFT50uSRZ6IFsuFq2UVErCz4I6tq/K1SZFPTOtr/KBHBeksoGMGw=="
)

// Filesystem returns a FILESYSTEM configuration for an empty directory
// removed at the end of the test.
func Filesystem(t testing.TB) objstore.Config {
	return objstore.Config{Type: objstore.FILESYSTEM, Config: map[string]any{"directory": t.TempDir()}}
}

// StartS3 runs versitygw (an S3 gateway that checks request signatures and
// stores objects as plain files) with a posix backend in a temporary
// directory, creates BucketName, and returns a configuration for it.
// The configuration's Config map is the caller's to modify.
func StartS3(t testing.TB) objstore.Config {
	t.Helper()
	bin := Binary(t, "versitygw")
	root := t.TempDir()
	// The posix backend serves every top-level directory as a bucket.
	if err := os.Mkdir(filepath.Join(root, BucketName), 0o755); err != nil {
		t.Fatalf("create S3 bucket directory: %v", err)
	}
	addr := startProcess(t, "versitygw", func(port int) *exec.Cmd {
		return exec.Command(bin,
			"--access", S3AccessKey, "--secret", S3SecretKey,
			"--port", "127.0.0.1:"+strconv.Itoa(port), "--quiet",
			"posix", root)
	})
	return objstore.Config{Type: objstore.S3, Config: map[string]any{
		"bucket":     BucketName,
		"endpoint":   addr,
		"access_key": S3AccessKey,
		"secret_key": S3SecretKey,
		"insecure":   true,
		"region":     "us-east-1",
	}}
}

// StartGCS runs fake-gcs-server in memory with BucketName, and returns a
// configuration for it. objstore's GCS provider has no endpoint setting, so
// StartGCS points the Google client library at the server with
// t.Setenv("STORAGE_EMULATOR_HOST"): the calling test must not be parallel,
// and processes the test starts inherit the variable (pass it on when
// building their environment by hand).
// The provider also insists on credentials even for an emulator, so the
// configuration carries a dummy `authorized_user` service_account whose
// token endpoint is a local HTTP server answering every request with a
// dummy token.
func StartGCS(t testing.TB) objstore.Config {
	t.Helper()
	bin := Binary(t, "fake-gcs-server")
	data := t.TempDir()
	// fake-gcs-server creates a bucket per directory under -data.
	if err := os.Mkdir(filepath.Join(data, BucketName), 0o755); err != nil {
		t.Fatalf("create GCS bucket directory: %v", err)
	}
	addr := startProcess(t, "fake-gcs-server", func(port int) *exec.Cmd {
		return exec.Command(bin,
			"-scheme", "http", "-host", "127.0.0.1", "-port", strconv.Itoa(port),
			"-backend", "memory", "-data", data, "-log-level", "warn",
			// Reads use the XML API at <host>/<bucket>/<object>; the server
			// serves that path style only for its public host.
			"-public-host", "127.0.0.1:"+strconv.Itoa(port))
	})
	tokens := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, _ *http.Request) {
		w.Header().Set("Content-Type", "application/json")
		_, _ = w.Write([]byte(`{"access_token":"strata-test-token","token_type":"Bearer","expires_in":3600}`))
	}))
	t.Cleanup(tokens.Close)
	t.Setenv("STORAGE_EMULATOR_HOST", addr)
	return objstore.Config{Type: objstore.GCS, Config: map[string]any{
		"bucket": BucketName,
		"service_account": `{"type":"authorized_user","client_id":"strata-test","client_secret":"strata-test",` +
			`"refresh_token":"strata-test","token_uri":"` + tokens.URL + `/token"}`,
	}}
}

// StartAzure runs Azurite's blob service in memory (npm package installed
// under .bin/node_modules; needs node on PATH), creates the container
// BucketName with the well-known development account, and returns a
// configuration for it.
func StartAzure(t testing.TB) objstore.Config {
	t.Helper()
	bin := Binary(t, filepath.Join("node_modules", ".bin", "azurite-blob"))
	if _, err := exec.LookPath("node"); err != nil {
		testkit.RequireOrSkip(t, "node", errors.New("node is not installed: Azurite needs it (apt-get install nodejs)"))
	}
	workspace := t.TempDir()
	addr := startProcess(t, "azurite-blob", func(port int) *exec.Cmd {
		cmd := exec.Command(bin,
			"--blobHost", "127.0.0.1", "--blobPort", strconv.Itoa(port),
			"--inMemoryPersistence", "--disableTelemetry",
			"--skipApiVersionCheck", "--loose", "--silent")
		cmd.Dir = workspace
		return cmd
	})
	conn := "DefaultEndpointsProtocol=http;AccountName=" + AzureAccount + ";AccountKey=" + AzureAccountKey +
		";BlobEndpoint=http://" + addr + "/" + AzureAccount + ";"
	cli, err := container.NewClientFromConnectionString(conn, BucketName, nil)
	if err != nil {
		t.Fatalf("azure container client: %v", err)
	}
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	if _, err := cli.Create(ctx, nil); err != nil {
		t.Fatalf("create Azure container %s: %v", BucketName, err)
	}
	return objstore.Config{Type: objstore.AZURE, Config: map[string]any{
		"storage_account":           AzureAccount,
		"storage_connection_string": conn,
		"container":                 BucketName,
	}}
}
