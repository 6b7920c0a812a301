package objstore

import (
	"context"
	"errors"
	"fmt"
	"net"
	"os"
	"syscall"

	"cloud.google.com/go/storage"
	"github.com/Azure/azure-sdk-for-go/sdk/azcore"
	"github.com/minio/minio-go/v7"
	"github.com/thanos-io/objstore"
	"google.golang.org/api/googleapi"
)

// Errors Check wraps, so that callers can tell the causes apart with errors.Is.
var (
	// ErrUnreachable means no connection could be made to the endpoint
	// (connection refused, unknown host, no route, timeout).
	ErrUnreachable = errors.New("object storage endpoint unreachable")
	// ErrBadCredentials means the provider refused the credentials or the
	// access they grant (S3 InvalidAccessKeyId, SignatureDoesNotMatch,
	// AccessDenied; HTTP 401 or 403).
	ErrBadCredentials = errors.New("object storage rejected the credentials")
	// ErrBucketNotFound means the endpoint answered but the bucket, container
	// or directory does not exist.
	ErrBucketNotFound = errors.New("object storage bucket not found")
)

// errStopIter ends Check's listing after the first entry.
var errStopIter = errors.New("stop iteration")

// Check verifies that bkt can be listed: that its endpoint is reachable, the
// credentials are accepted and the bucket exists. It reads at most one page
// of the bucket's top level and writes nothing. Its errors wrap
// ErrUnreachable, ErrBadCredentials or ErrBucketNotFound when the cause is
// one of those, name the bucket and (for a *Bucket) the endpoint, and say
// what to fix. Check honours ctx's deadline; give it one, because providers
// retry failed requests.
func Check(ctx context.Context, bkt objstore.Bucket) error {
	typ, name, endpoint := Type(bkt.Provider()), bkt.Name(), "(unknown)"
	b, ok := bkt.(*Bucket)
	if ok {
		typ, name, endpoint = b.typ, b.bucket, b.endpoint
	}
	if ok && typ == FILESYSTEM {
		// The filesystem provider lists a missing directory as empty.
		if _, err := os.Stat(endpoint); errors.Is(err, os.ErrNotExist) {
			return fmt.Errorf("%w: FILESYSTEM directory %q does not exist: create it or fix `directory:` in the objstore config", ErrBucketNotFound, endpoint)
		}
	}
	err := bkt.Iter(ctx, "", func(string) error { return errStopIter })
	if err == nil || errors.Is(err, errStopIter) {
		return nil
	}
	return describe(err, typ, name, endpoint)
}

// describe turns a provider error into one that names the bucket and the
// endpoint and says what to fix.
func describe(err error, typ Type, bucket, endpoint string) error {
	switch code, cause := classify(err); cause {
	case ErrUnreachable:
		return fmt.Errorf("%w: cannot reach %s endpoint %s for bucket %q: check the endpoint in the objstore config and that the server is up and reachable from here: %w",
			ErrUnreachable, typ, endpoint, bucket, err)
	case ErrBadCredentials:
		return fmt.Errorf("%w: %s endpoint %s refused access to bucket %q (%s): check %s in the objstore config and that they grant access to this bucket: %w",
			ErrBadCredentials, typ, endpoint, bucket, code, credentialKeys(typ), err)
	case ErrBucketNotFound:
		return fmt.Errorf("%w: %s bucket %q does not exist at endpoint %s: create it or fix the bucket name in the objstore config: %w",
			ErrBucketNotFound, typ, bucket, endpoint, err)
	default:
		return fmt.Errorf("list %s bucket %q at endpoint %s: %w", typ, bucket, endpoint, err)
	}
}

// credentialKeys names the provider's credential settings.
func credentialKeys(typ Type) string {
	switch typ {
	case S3:
		return "the credentials (access_key and secret_key, or the AWS environment when they are empty)"
	case GCS:
		return "the credentials (service_account, or the Google application default credentials when it is empty)"
	case AZURE:
		return "the credentials (storage_account and storage_account_key, or storage_connection_string)"
	default:
		return "the credentials"
	}
}

// classify returns the provider's error code, for the message, and the
// sentinel error matching err's cause (nil when none does).
func classify(err error) (code string, cause error) {
	var s3Err minio.ErrorResponse
	if errors.As(err, &s3Err) {
		switch s3Err.Code {
		case "NoSuchBucket":
			return s3Err.Code, ErrBucketNotFound
		case "InvalidAccessKeyId", "SignatureDoesNotMatch", "AccessDenied", "InvalidToken", "ExpiredToken", "InvalidSecurity",
			"XAdminUserNotFound": // versitygw's answer (with HTTP 404) to an unknown access key
			return s3Err.Code, ErrBadCredentials
		}
		switch {
		case s3Err.StatusCode == 401 || s3Err.StatusCode == 403:
			return fmt.Sprintf("HTTP %d %s", s3Err.StatusCode, s3Err.Code), ErrBadCredentials
		case s3Err.StatusCode == 404 && s3Err.Code == "":
			return "HTTP 404", ErrBucketNotFound
		}
		return s3Err.Code, nil
	}
	if errors.Is(err, storage.ErrBucketNotExist) {
		return "HTTP 404", ErrBucketNotFound
	}
	var gErr *googleapi.Error
	if errors.As(err, &gErr) {
		switch gErr.Code {
		case 401, 403:
			return fmt.Sprintf("HTTP %d", gErr.Code), ErrBadCredentials
		case 404:
			return "HTTP 404", ErrBucketNotFound
		}
		return fmt.Sprintf("HTTP %d", gErr.Code), nil
	}
	var azErr *azcore.ResponseError
	if errors.As(err, &azErr) {
		switch {
		case azErr.ErrorCode == "ContainerNotFound" || azErr.StatusCode == 404:
			return azErr.ErrorCode, ErrBucketNotFound
		case azErr.StatusCode == 401 || azErr.StatusCode == 403:
			return azErr.ErrorCode, ErrBadCredentials
		}
		return azErr.ErrorCode, nil
	}
	var dnsErr *net.DNSError
	var opErr *net.OpError
	switch {
	case errors.As(err, &dnsErr):
		return "DNS", ErrUnreachable
	case errors.Is(err, syscall.ECONNREFUSED):
		return "connection refused", ErrUnreachable
	case errors.Is(err, syscall.EHOSTUNREACH), errors.Is(err, syscall.ENETUNREACH):
		return "no route", ErrUnreachable
	case errors.As(err, &opErr) && opErr.Op == "dial":
		return "dial", ErrUnreachable
	case errors.Is(err, context.DeadlineExceeded):
		return "timeout", ErrUnreachable
	}
	return "", nil
}
