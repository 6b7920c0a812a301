package objstore_test

import (
	"context"
	"io"
	"maps"
	"strings"
	"testing"
	"time"

	"github.com/prometheus/client_golang/prometheus"
	"github.com/prometheus/client_golang/prometheus/testutil"
	"github.com/stretchr/testify/require"
	thanosobjstore "github.com/thanos-io/objstore"

	"github.com/strata-io/strata/internal/objstore"
	"github.com/strata-io/strata/internal/objstore/objstoretest"
	"github.com/strata-io/strata/internal/testkit"
)

// errorCase is a broken variant of a working configuration and what Check
// must say about it.
type errorCase struct {
	name     string
	mutate   func(cfg map[string]any)
	wantErr  error
	contains []string
}

// providers lists every provider with a function that starts its server (if
// any) and returns a configuration for an empty bucket, and the broken
// configurations Check must explain.
var providers = []struct {
	name       string
	start      func(t *testing.T) objstore.Config
	shared     bool // another bucket built from the same config sees the same objects
	errorCases func(t *testing.T, cfg objstore.Config) []errorCase
}{
	{
		name:   "FILESYSTEM",
		start:  func(t *testing.T) objstore.Config { return objstoretest.Filesystem(t) },
		shared: true,
		errorCases: func(t *testing.T, cfg objstore.Config) []errorCase {
			missing := cfg.Config["directory"].(string) + "/missing"
			return []errorCase{{
				name:     "missing directory",
				mutate:   func(c map[string]any) { c["directory"] = missing },
				wantErr:  objstore.ErrBucketNotFound,
				contains: []string{missing, "does not exist"},
			}}
		},
	},
	{
		name:  "MEMORY",
		start: func(*testing.T) objstore.Config { return objstore.Config{Type: objstore.MEMORY} },
	},
	{
		name:   "S3",
		start:  func(t *testing.T) objstore.Config { return objstoretest.StartS3(t) },
		shared: true,
		errorCases: func(t *testing.T, cfg objstore.Config) []errorCase {
			endpoint := cfg.Config["endpoint"].(string)
			closed := testkit.ClosedAddr(t)
			// max_retries: 1 because the S3 client retries network errors
			// with backoff (seconds) by default.
			return []errorCase{
				{
					name:     "wrong secret key",
					mutate:   func(c map[string]any) { c["secret_key"] = "not-the-secret" },
					wantErr:  objstore.ErrBadCredentials,
					contains: []string{"credentials", "secret_key", "SignatureDoesNotMatch", `"strata"`, endpoint},
				},
				{
					name:     "unknown access key",
					mutate:   func(c map[string]any) { c["access_key"] = "nobody" },
					wantErr:  objstore.ErrBadCredentials,
					contains: []string{"credentials", "access_key", `"strata"`, endpoint},
				},
				{
					name:     "missing bucket",
					mutate:   func(c map[string]any) { c["bucket"] = "no-such-bucket" },
					wantErr:  objstore.ErrBucketNotFound,
					contains: []string{`"no-such-bucket" does not exist`, endpoint},
				},
				{
					name:     "closed port",
					mutate:   func(c map[string]any) { c["endpoint"] = closed; c["max_retries"] = 1 },
					wantErr:  objstore.ErrUnreachable,
					contains: []string{"unreachable", closed, `"strata"`},
				},
				{
					// .invalid never resolves (RFC 2606).
					name:     "unknown host",
					mutate:   func(c map[string]any) { c["endpoint"] = "strata-no-such-host.invalid:9000"; c["max_retries"] = 1 },
					wantErr:  objstore.ErrUnreachable,
					contains: []string{"unreachable", "strata-no-such-host.invalid:9000", `"strata"`},
				},
			}
		},
	},
	{
		name:   "GCS",
		start:  func(t *testing.T) objstore.Config { return objstoretest.StartGCS(t) },
		shared: true,
		errorCases: func(t *testing.T, cfg objstore.Config) []errorCase {
			return []errorCase{{
				name:     "missing bucket",
				mutate:   func(c map[string]any) { c["bucket"] = "no-such-bucket" },
				wantErr:  objstore.ErrBucketNotFound,
				contains: []string{`"no-such-bucket" does not exist`},
			}}
		},
	},
	{
		name:   "AZURE",
		start:  func(t *testing.T) objstore.Config { return objstoretest.StartAzure(t) },
		shared: true,
		errorCases: func(t *testing.T, cfg objstore.Config) []errorCase {
			conn := cfg.Config["storage_connection_string"].(string)
			wrongKey := strings.Replace(conn, objstoretest.AzureAccountKey, "d3Jvbmcta2V5", 1)
			// A missing container is created by the provider by default, and
			// listed as empty by Azurite when storage_create_container is
			// false (Azure answers ContainerNotFound; see TestClassify).
			return []errorCase{
				{
					name:     "wrong account key",
					mutate:   func(c map[string]any) { c["storage_connection_string"] = wrongKey; c["max_retries"] = 1 },
					wantErr:  objstore.ErrBadCredentials,
					contains: []string{"credentials", "storage_account_key", `"strata"`},
				},
			}
		},
	},
}

func newBucket(t *testing.T, cfg objstore.Config, reg prometheus.Registerer) *objstore.Bucket {
	t.Helper()
	bkt, err := objstore.NewBucket(context.Background(), cfg, nil, reg, "test")
	require.NoError(t, err)
	t.Cleanup(func() { require.NoError(t, bkt.Close()) })
	return bkt
}

func withConfig(cfg objstore.Config, mutate func(map[string]any)) objstore.Config {
	cfg.Config = maps.Clone(cfg.Config)
	if cfg.Config == nil {
		cfg.Config = map[string]any{}
	}
	mutate(cfg.Config)
	return cfg
}

// TestProviders runs objstore's acceptance test, Strata's own bucket tests
// and Check's error cases against every provider, each with its real server
// on loopback. Not parallel: StartGCS sets STORAGE_EMULATOR_HOST.
func TestProviders(t *testing.T) {
	for _, p := range providers {
		t.Run(p.name, func(t *testing.T) {
			cfg := p.start(t)
			// Generous: the emulators are slow on a loaded machine, and an
			// expired context would leave the acceptance test's objects
			// behind for the next subtest.
			ctx, cancel := context.WithTimeout(context.Background(), 3*time.Minute)
			defer cancel()

			t.Run("acceptance", func(t *testing.T) {
				bkt := newBucket(t, cfg, nil)
				require.NoError(t, objstore.Check(ctx, bkt))
				thanosobjstore.AcceptanceTest(t, bkt)
				thanosobjstore.EmptyBucket(t, context.Background(), bkt)
				requireIter(t, bkt, "", nil)
			})
			t.Run("upload and download", func(t *testing.T) {
				testUploadDownload(t, newBucket(t, cfg, nil))
			})
			t.Run("iter", func(t *testing.T) {
				testIter(t, newBucket(t, cfg, nil))
			})
			t.Run("prefix", func(t *testing.T) {
				prefixed := cfg
				prefixed.Prefix = "/tenant-a/"
				pb := newBucket(t, prefixed, nil)
				require.NoError(t, pb.Upload(ctx, "01BLOCK/meta.json", strings.NewReader("{}")))
				requireIter(t, pb, "", []string{"01BLOCK/"})
				requireIter(t, pb, "01BLOCK", []string{"01BLOCK/meta.json"})
				requireObject(t, pb, "01BLOCK/meta.json", "{}")
				if p.shared {
					raw := newBucket(t, cfg, nil)
					requireIter(t, raw, "", []string{"tenant-a/"})
					requireObject(t, raw, "tenant-a/01BLOCK/meta.json", "{}")
					ok, err := raw.Exists(ctx, "01BLOCK/meta.json")
					require.NoError(t, err)
					require.False(t, ok, "an object of a prefixed bucket must not appear outside the prefix")
				}
				require.NoError(t, pb.Delete(ctx, "01BLOCK/meta.json"))
				requireIter(t, pb, "", nil)
			})
			if p.errorCases == nil {
				return
			}
			for _, ec := range p.errorCases(t, cfg) {
				t.Run("check/"+ec.name, func(t *testing.T) {
					ctx, cancel := context.WithTimeout(context.Background(), 15*time.Second)
					defer cancel()
					// Some providers (Azure) contact the server in NewBucket.
					bkt, err := objstore.NewBucket(ctx, withConfig(cfg, ec.mutate), nil, nil, "test")
					if err == nil {
						err = objstore.Check(ctx, bkt)
						require.NoError(t, bkt.Close())
					}
					require.ErrorIs(t, err, ec.wantErr)
					for _, s := range ec.contains {
						require.Contains(t, err.Error(), s)
					}
				})
			}
		})
	}
}

// testUploadDownload writes a block-like set of objects and reads them back
// whole, by range and by attributes, then deletes them.
func testUploadDownload(t *testing.T, bkt thanosobjstore.Bucket) {
	ctx := context.Background()
	objects := map[string]string{
		"01UPLOAD/chunks/000001": strings.Repeat("chunk-data-", 1000),
		"01UPLOAD/index":         "index-bytes",
		"01UPLOAD/meta.json":     `{"ulid":"01UPLOAD","version":1}`,
	}
	for _, name := range []string{"01UPLOAD/chunks/000001", "01UPLOAD/index", "01UPLOAD/meta.json"} {
		require.NoError(t, bkt.Upload(ctx, name, strings.NewReader(objects[name])))
	}
	for name, want := range objects {
		requireObject(t, bkt, name, want)
		attrs, err := bkt.Attributes(ctx, name)
		require.NoError(t, err)
		require.Equal(t, int64(len(want)), attrs.Size, name)
	}

	rc, err := bkt.GetRange(ctx, "01UPLOAD/chunks/000001", 11, 22)
	require.NoError(t, err)
	got, err := io.ReadAll(rc)
	require.NoError(t, rc.Close())
	require.NoError(t, err)
	require.Equal(t, "chunk-data-chunk-data-", string(got))

	ok, err := bkt.Exists(ctx, "01UPLOAD/meta.json")
	require.NoError(t, err)
	require.True(t, ok)
	_, err = bkt.Get(ctx, "01UPLOAD/missing")
	require.True(t, bkt.IsObjNotFoundErr(err), "a missing object must be reported as not found, got %v", err)

	for name := range objects {
		require.NoError(t, bkt.Delete(ctx, name))
	}
	ok, err = bkt.Exists(ctx, "01UPLOAD/meta.json")
	require.NoError(t, err)
	require.False(t, ok)
}

// testIter checks directory-style and recursive listing.
func testIter(t *testing.T, bkt thanosobjstore.Bucket) {
	ctx := context.Background()
	t.Cleanup(func() { thanosobjstore.EmptyBucket(t, ctx, bkt) })
	for _, name := range []string{"01B/meta.json", "01A/index", "01A/chunks/000002", "01A/chunks/000001", "01A/meta.json"} {
		require.NoError(t, bkt.Upload(ctx, name, strings.NewReader(name)))
	}
	requireIter(t, bkt, "", []string{"01A/", "01B/"})
	requireIter(t, bkt, "01A", []string{"01A/chunks/", "01A/index", "01A/meta.json"})
	requireIter(t, bkt, "01A/chunks/", []string{"01A/chunks/000001", "01A/chunks/000002"})

	var all []string
	require.NoError(t, bkt.Iter(ctx, "", func(name string) error {
		all = append(all, name)
		return nil
	}, thanosobjstore.WithRecursiveIter()))
	require.ElementsMatch(t, []string{"01A/chunks/000001", "01A/chunks/000002", "01A/index", "01A/meta.json", "01B/meta.json"}, all)
}

// requireIter checks the entries of one directory level. Providers differ in
// the order in which they list objects and sub-directories, so the order is
// not checked.
func requireIter(t *testing.T, bkt thanosobjstore.Bucket, dir string, want []string) {
	t.Helper()
	var got []string
	require.NoError(t, bkt.Iter(context.Background(), dir, func(name string) error {
		got = append(got, name)
		return nil
	}))
	require.ElementsMatch(t, want, got, "listing of %q", dir)
}

func requireObject(t *testing.T, bkt thanosobjstore.Bucket, name, want string) {
	t.Helper()
	rc, err := bkt.Get(context.Background(), name)
	require.NoError(t, err)
	got, err := io.ReadAll(rc)
	require.NoError(t, rc.Close())
	require.NoError(t, err)
	require.Equal(t, want, string(got), name)
}

func TestBucketMetrics(t *testing.T) {
	reg := prometheus.NewRegistry()
	bkt := newBucket(t, objstore.Config{Type: objstore.MEMORY}, reg)
	require.NoError(t, bkt.Upload(context.Background(), "a", strings.NewReader("x")))
	_, err := bkt.Get(context.Background(), "missing")
	require.Error(t, err)

	require.NoError(t, testutil.GatherAndCompare(reg, strings.NewReader(`
# HELP strata_objstore_bucket_operations_total Total number of all attempted operations against a bucket.
# TYPE strata_objstore_bucket_operations_total counter
strata_objstore_bucket_operations_total{bucket="inmem",component="test",operation="attributes"} 0
strata_objstore_bucket_operations_total{bucket="inmem",component="test",operation="delete"} 0
strata_objstore_bucket_operations_total{bucket="inmem",component="test",operation="exists"} 0
strata_objstore_bucket_operations_total{bucket="inmem",component="test",operation="get"} 1
strata_objstore_bucket_operations_total{bucket="inmem",component="test",operation="get_range"} 0
strata_objstore_bucket_operations_total{bucket="inmem",component="test",operation="iter"} 0
strata_objstore_bucket_operations_total{bucket="inmem",component="test",operation="upload"} 1
`), "strata_objstore_bucket_operations_total"))
	require.NoError(t, testutil.GatherAndCompare(reg, strings.NewReader(`
# HELP strata_objstore_bucket_operation_failures_total Total number of operations against a bucket that failed, but were not expected to fail in certain way from caller perspective. Those errors have to be investigated.
# TYPE strata_objstore_bucket_operation_failures_total counter
strata_objstore_bucket_operation_failures_total{bucket="inmem",component="test",operation="attributes"} 0
strata_objstore_bucket_operation_failures_total{bucket="inmem",component="test",operation="delete"} 0
strata_objstore_bucket_operation_failures_total{bucket="inmem",component="test",operation="exists"} 0
strata_objstore_bucket_operation_failures_total{bucket="inmem",component="test",operation="get"} 1
strata_objstore_bucket_operation_failures_total{bucket="inmem",component="test",operation="get_range"} 0
strata_objstore_bucket_operation_failures_total{bucket="inmem",component="test",operation="iter"} 0
strata_objstore_bucket_operation_failures_total{bucket="inmem",component="test",operation="upload"} 0
`), "strata_objstore_bucket_operation_failures_total"))
}

func TestNewBucketErrors(t *testing.T) {
	for _, tc := range []struct {
		name     string
		cfg      objstore.Config
		contains string
	}{
		{"unknown type", objstore.Config{Type: "SWIFT"}, "supported types are FILESYSTEM, S3, GCS, AZURE, MEMORY"},
		{"filesystem without directory", objstore.Config{Type: objstore.FILESYSTEM}, "missing directory"},
		{"s3 unknown key", objstore.Config{Type: objstore.S3, Config: map[string]any{"bucket": "b", "endpont": "x"}}, "endpont"},
		{"azure without container", objstore.Config{Type: objstore.AZURE, Config: map[string]any{"storage_account": "a", "storage_account_key": "a2V5"}}, "no container"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			_, err := objstore.NewBucket(context.Background(), tc.cfg, nil, nil, "test")
			require.ErrorContains(t, err, tc.contains)
		})
	}
}
