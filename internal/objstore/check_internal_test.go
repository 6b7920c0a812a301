package objstore

import (
	"bytes"
	"errors"
	"fmt"
	"log/slog"
	"net"
	"net/url"
	"syscall"
	"testing"

	"cloud.google.com/go/storage"
	"github.com/Azure/azure-sdk-for-go/sdk/azcore"
	"github.com/go-kit/log/level"
	"github.com/minio/minio-go/v7"
	"github.com/stretchr/testify/require"
	"google.golang.org/api/googleapi"
)

// TestClassify covers provider answers the loopback servers cannot produce
// (real Azure's ContainerNotFound, GCS 403, DNS failures).
func TestClassify(t *testing.T) {
	for _, tc := range []struct {
		name string
		err  error
		want error
	}{
		{"s3 no such bucket", minio.ErrorResponse{Code: "NoSuchBucket", StatusCode: 404}, ErrBucketNotFound},
		{"s3 bad signature", minio.ErrorResponse{Code: "SignatureDoesNotMatch", StatusCode: 403}, ErrBadCredentials},
		{"s3 unknown key", minio.ErrorResponse{Code: "InvalidAccessKeyId", StatusCode: 403}, ErrBadCredentials},
		{"s3 bare 403", minio.ErrorResponse{StatusCode: 403}, ErrBadCredentials},
		{"s3 slow down is none of them", minio.ErrorResponse{Code: "SlowDown", StatusCode: 503}, nil},
		{"gcs bucket missing", fmt.Errorf("iter: %w", storage.ErrBucketNotExist), ErrBucketNotFound},
		{"gcs forbidden", &googleapi.Error{Code: 403}, ErrBadCredentials},
		{"gcs unauthenticated", &googleapi.Error{Code: 401}, ErrBadCredentials},
		{"azure container missing", &azcore.ResponseError{ErrorCode: "ContainerNotFound", StatusCode: 404}, ErrBucketNotFound},
		{"azure bad key", &azcore.ResponseError{ErrorCode: "AuthenticationFailed", StatusCode: 403}, ErrBadCredentials},
		{"dns", &url.Error{Op: "Get", URL: "http://nohost", Err: &net.DNSError{Err: "no such host", Name: "nohost"}}, ErrUnreachable},
		{"refused", &url.Error{Op: "Get", URL: "http://x", Err: &net.OpError{Op: "dial", Err: syscall.ECONNREFUSED}}, ErrUnreachable},
		{"other", errors.New("boom"), nil},
	} {
		t.Run(tc.name, func(t *testing.T) {
			_, got := classify(tc.err)
			require.Equal(t, tc.want, got)
			err := describe(tc.err, S3, "metrics", "s3.example.com")
			require.ErrorIs(t, err, tc.err, "the provider's error stays in the chain")
			require.Contains(t, err.Error(), `"metrics"`)
			require.Contains(t, err.Error(), "s3.example.com")
			if tc.want != nil {
				require.ErrorIs(t, err, tc.want)
			}
		})
	}
}

func TestEndpointOf(t *testing.T) {
	for _, tc := range []struct {
		cfg  Config
		want string
	}{
		{Config{Type: S3, Config: map[string]any{"endpoint": "minio:9000"}}, "minio:9000"},
		{Config{Type: S3}, "s3.amazonaws.com"},
		{Config{Type: AZURE, Config: map[string]any{"storage_account": "acct"}}, "acct.blob.core.windows.net"},
		{Config{Type: AZURE, Config: map[string]any{"storage_connection_string": "AccountName=a;BlobEndpoint=http://127.0.0.1:1/a;"}}, "http://127.0.0.1:1/a"},
		{Config{Type: FILESYSTEM, Config: map[string]any{"directory": "/data"}}, "/data"},
		{Config{Type: MEMORY}, "memory"},
	} {
		require.Equal(t, tc.want, endpointOf(tc.cfg))
	}
}

// TestKitLogger checks that the providers' go-kit log lines reach slog with
// their level, message and fields.
func TestKitLogger(t *testing.T) {
	var buf bytes.Buffer
	l := kitLogger{slog.New(slog.NewTextHandler(&buf, &slog.HandlerOptions{Level: slog.LevelDebug}))}
	require.NoError(t, level.Warn(l).Log("msg", "retrying", "attempt", 2))
	require.NoError(t, level.Debug(l).Log("msg", "listing"))
	require.Contains(t, buf.String(), `level=WARN msg=retrying attempt=2`)
	require.Contains(t, buf.String(), `level=DEBUG msg=listing`)
}
