// Package objstore gives every Strata component its object-storage bucket:
// the configuration (flags and YAML), the bucket itself, built by
// github.com/thanos-io/objstore's providers and instrumented with metrics,
// and Check, which tells a user what is wrong when the bucket cannot be
// reached.
//
// # Configuration
//
// A bucket is described by one YAML document, the format of thanos-io/objstore,
// so that a Thanos bucket configuration works unchanged:
//
//	type: S3            # FILESYSTEM | S3 | GCS | AZURE | MEMORY, any letter case
//	prefix: ""          # optional: every object lives under "<prefix>/"
//	config: {...}       # provider settings, handed to the provider unchanged
//
// Commands take it with --objstore.config-file=<path> or, inline,
// --objstore.config=<yaml>; the two flags are mutually exclusive (see Flags).
// Unknown top-level keys and unknown provider keys are errors.
//
// FILESYSTEM keeps objects as files under a local directory. It is meant for
// tests, demos and single-machine setups, not for several hosts:
//
//	type: FILESYSTEM
//	config:
//	  directory: /var/lib/strata/bucket
//
// S3, or any S3-compatible server (MinIO, Ceph RGW, versitygw, ...):
//
//	type: S3
//	config:
//	  bucket: metrics
//	  endpoint: s3.eu-west-1.amazonaws.com   # host[:port], no scheme
//	  region: eu-west-1
//	  access_key: AKIA...       # empty: taken from the AWS environment
//	  secret_key: ...           # (env vars, ~/.aws, instance role)
//	  insecure: false           # true: plain HTTP (a local server)
//	  # also: session_token, signature_version2, bucket_lookup_type
//	  # (auto|virtual-hosted|path), sse_config, http_config, part_size,
//	  # max_retries, list_objects_version, put_user_metadata
//
// GCS:
//
//	type: GCS
//	config:
//	  bucket: metrics
//	  service_account: |-       # JSON key; empty: application default credentials
//	    {"type": "service_account", ...}
//	  # also: use_grpc, grpc_conn_pool_size, chunk_size_bytes, max_retries, http_config
//
// The GCS provider has no endpoint setting: to use an emulator such as
// fake-gcs-server, set the environment variable STORAGE_EMULATOR_HOST=host:port
// (read by Google's client library). The provider still needs credentials
// then; any service_account the client library accepts will do, because
// emulators do not check them (see objstoretest.StartGCS).
//
// AZURE (Blob Storage):
//
//	type: AZURE
//	config:
//	  storage_account: myaccount
//	  storage_account_key: ...        # or storage_connection_string, or nothing
//	  container: metrics              # (then managed identity / az_tenant_id,
//	  endpoint: blob.core.windows.net # client_id, client_secret)
//	  storage_create_container: true  # the default: creates a missing container
//	  # also: user_assigned_id, max_retries, reader_config, pipeline_config, http_config
//
// For Azurite or another endpoint that is not https://<account>.<endpoint>,
// give a connection string with a BlobEndpoint:
//
//	storage_connection_string: "DefaultEndpointsProtocol=http;AccountName=devstoreaccount1;AccountKey=...;BlobEndpoint=http://127.0.0.1:10000/devstoreaccount1;"
//
// MEMORY keeps objects in the process's memory and needs no config; for tests.
//
//	type: MEMORY
//
// With a prefix, several tenants or environments can share one bucket:
//
//	type: S3
//	prefix: team-a/prod
//	config: {bucket: metrics, endpoint: minio:9000, insecure: true, access_key: a, secret_key: b}
//
// # Metrics
//
// NewBucket registers objstore's bucket metrics with a strata_ prefix,
// labelled with the bucket name and the component:
// strata_objstore_bucket_operations_total, ..._operation_failures_total,
// ..._operation_duration_seconds, ..._operation_fetched_bytes_total,
// ..._operation_transferred_bytes, strata_objstore_bucket_last_successful_upload_time.
//
// # Errors
//
// Check lists the top level of the bucket and explains failures: errors wrap
// ErrUnreachable (connection refused, unknown host, timeout),
// ErrBadCredentials (S3 InvalidAccessKeyId / SignatureDoesNotMatch /
// AccessDenied, HTTP 401/403) or ErrBucketNotFound (NoSuchBucket, HTTP 404,
// ContainerNotFound, missing directory), and name the bucket and the endpoint.
//
// Test servers for every provider are in the objstoretest sub-package.
package objstore
