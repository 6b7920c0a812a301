package sidecar

import (
	"context"
	"fmt"
	"net/http"
	"net/http/httptest"
	"os"
	"path/filepath"
	"sync/atomic"
	"testing"
	"time"

	"github.com/alecthomas/kingpin/v2"
	"github.com/prometheus/prometheus/model/labels"
	"github.com/prometheus/prometheus/storage"
	"github.com/prometheus/prometheus/tsdb/chunks"
	"github.com/stretchr/testify/require"

	"github.com/strata-io/strata/internal/objstore"
	"github.com/strata-io/strata/internal/store/promstore"
	"github.com/strata-io/strata/internal/testkit"
)

// parse parses args as `sidecar` flags.
func parse(t *testing.T, args ...string) Config {
	t.Helper()
	app := kingpin.New("test", "")
	var cfg Config
	cfg.RegisterFlags(app.Command("sidecar", ""))
	_, err := app.Parse(append([]string{"sidecar"}, args...))
	require.NoError(t, err)
	return cfg
}

func TestFlags(t *testing.T) {
	cfg := parse(t)
	require.Equal(t, "http://localhost:9090", cfg.Prometheus.URL.String())
	require.Equal(t, 5*time.Second, cfg.Prometheus.RefreshInterval)
	require.Equal(t, 10*time.Minute, cfg.ReadyTimeout)
	require.Equal(t, 30*time.Second, cfg.ShipInterval, "ships every 30s by default")
	require.NoError(t, cfg.Validate())

	cfg = parse(t, "--prometheus.url=http://prom:9091/prefix", "--tsdb.path=/prom", "--shipper.upload-compacted")
	require.Equal(t, "prom:9091", cfg.Prometheus.URL.Host)
	require.Equal(t, "/prom", cfg.Shipper.Dir)
	require.True(t, cfg.Shipper.UploadCompacted)

	for args, want := range map[string]string{
		"--prometheus.url=localhost:9090": "is not a URL like http://localhost:9090",
		"--shipper.interval=0s":           "--shipper.interval=0s must be positive",
	} {
		cfg := parse(t, args)
		require.ErrorContains(t, cfg.Validate(), want)
	}
}

// fakeProm is a Prometheus answering the sidecar's startup questions:
// its configuration (external labels), /metrics and its flags.
type fakeProm struct {
	srv       *httptest.Server
	ext       atomic.Value // external_labels YAML
	down      atomic.Bool
	minBlock  string
	maxBlock  string
	flagsSeen atomic.Int32
}

func newFakeProm(t *testing.T, ext, minBlock, maxBlock string) *fakeProm {
	fp := &fakeProm{minBlock: minBlock, maxBlock: maxBlock}
	fp.ext.Store(ext)
	fp.srv = httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if fp.down.Load() {
			http.Error(w, "starting", http.StatusServiceUnavailable)
			return
		}
		switch r.URL.Path {
		case "/api/v1/status/config":
			fmt.Fprintf(w, `{"status":"success","data":{"yaml":%q}}`, "global:\n  external_labels: "+fp.ext.Load().(string)+"\n")
		case "/api/v1/status/flags":
			fp.flagsSeen.Add(1)
			fmt.Fprintf(w, `{"status":"success","data":{"storage.tsdb.min-block-duration":%q,"storage.tsdb.max-block-duration":%q}}`, fp.minBlock, fp.maxBlock)
		case "/metrics":
			fmt.Fprint(w, "prometheus_tsdb_lowest_timestamp 0\n")
		default:
			http.NotFound(w, r)
		}
	}))
	t.Cleanup(fp.srv.Close)
	return fp
}

// openBucket opens a filesystem bucket in dir as the process does.
func openBucket(t *testing.T, dir string) *objstore.Bucket {
	t.Helper()
	f := objstore.Flags{ConfigYAML: "type: FILESYSTEM\nconfig:\n  directory: " + dir}
	bkt, err := f.Open(t.Context(), nil, nil, "sidecar")
	require.NoError(t, err)
	t.Cleanup(func() { require.NoError(t, bkt.Close()) })
	return bkt
}

// tsdbDir returns a Prometheus data directory holding one 2h block.
func tsdbDir(t *testing.T) (dir, id string) {
	dir = t.TempDir()
	var samples []chunks.Sample
	for ts := int64(0); ts < 7_200_000; ts += 60_000 {
		samples = append(samples, testkit.Sample{Time: ts, Value: 1})
	}
	blockDir, _ := testkit.CreateBlock(t, dir, 0, storage.NewListSeries(labels.FromStrings("__name__", "up"), samples))
	return dir, filepath.Base(blockDir)
}

func TestNewShipping(t *testing.T) {
	bkt := openBucket(t, t.TempDir())
	dir, _ := tsdbDir(t)
	for _, tc := range []struct {
		name    string
		args    []string
		bucket  bool
		wantErr string
	}{
		{name: "no bucket"},
		{name: "tsdb path without bucket", args: []string{"--tsdb.path=" + dir}},
		{name: "bucket and tsdb path", args: []string{"--tsdb.path=" + dir}, bucket: true},
		{name: "bucket without tsdb path", bucket: true, wantErr: "--tsdb.path is not"},
		{name: "missing tsdb dir", args: []string{"--tsdb.path=" + filepath.Join(dir, "nope")}, bucket: true, wantErr: "is not a readable directory"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			deps := Deps{}
			if tc.bucket {
				deps.Bucket = bkt
			}
			s, err := New(parse(t, tc.args...), deps)
			if tc.wantErr != "" {
				require.ErrorContains(t, err, tc.wantErr)
				return
			}
			require.NoError(t, err)
			require.Equal(t, tc.bucket, s.shipper != nil, "ships when given a bucket")
		})
	}
}

// start runs s until the test ends; the channel gets Run's result.
func start(t *testing.T, s *Sidecar) <-chan error {
	ctx, cancel := context.WithCancel(t.Context())
	done := make(chan error, 1)
	finished := make(chan struct{})
	go func() {
		defer close(finished)
		done <- s.Run(ctx)
	}()
	t.Cleanup(func() {
		cancel()
		<-finished
	})
	return done
}

// The sidecar waits for Prometheus, is ready once it answered, and ships
// its blocks.
func TestRunShips(t *testing.T) {
	fp := newFakeProm(t, "{cluster: eu}", "2h", "2h")
	fp.down.Store(true)
	bucketDir := t.TempDir()
	dir, id := tsdbDir(t)
	s, err := New(parse(t, "--prometheus.url="+fp.srv.URL, "--tsdb.path="+dir, "--shipper.interval=100ms"), Deps{Bucket: openBucket(t, bucketDir)})
	require.NoError(t, err)
	done := start(t, s)
	require.Error(t, s.Ready(), "not ready before Prometheus answers")

	fp.down.Store(false)
	require.Eventually(t, func() bool { return s.Ready() == nil }, 10*time.Second, 20*time.Millisecond)
	require.Eventually(t, func() bool {
		return fileExists(filepath.Join(bucketDir, id, "meta.json")) && fileExists(filepath.Join(dir, "thanos.shipper.json"))
	}, 10*time.Second, 20*time.Millisecond, "the block is shipped, and the shipper's state written")
	require.Equal(t, int32(1), fp.flagsSeen.Load(), "block durations are checked once, at start")
	select {
	case err := <-done:
		t.Fatalf("Run returned: %v", err)
	default:
	}
}

func TestRunRefuses(t *testing.T) {
	for _, tc := range []struct {
		name     string
		ext      string
		maxBlock string
		args     []string
		bucket   bool
		wantErr  string
	}{
		{name: "no external labels", ext: "{}", maxBlock: "2h", wantErr: "has no external labels"},
		{name: "durations differ", ext: "{cluster: eu}", maxBlock: "1d", bucket: true, wantErr: "--shipper.upload-compacted"},
		{name: "prometheus never answers", ext: "{cluster: eu}", maxBlock: "2h", args: []string{"--prometheus.ready_timeout=300ms"}, wantErr: "did not answer within --prometheus.ready_timeout=300ms"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			fp := newFakeProm(t, tc.ext, "2h", tc.maxBlock)
			fp.down.Store(tc.name == "prometheus never answers")
			deps := Deps{}
			args := append([]string{"--prometheus.url=" + fp.srv.URL}, tc.args...)
			if tc.bucket {
				dir, _ := tsdbDir(t)
				args = append(args, "--tsdb.path="+dir)
				deps.Bucket = openBucket(t, t.TempDir())
			}
			s, err := New(parse(t, args...), deps)
			require.NoError(t, err)
			select {
			case err := <-start(t, s):
				require.ErrorContains(t, err, tc.wantErr)
				if tc.ext == "{}" {
					require.ErrorIs(t, err, promstore.ErrNoExternalLabels)
				}
			case <-time.After(10 * time.Second):
				t.Fatal("Run did not fail")
			}
			require.Error(t, s.Ready())
		})
	}
}

// Without a bucket, Prometheus' block durations do not matter.
func TestRunWithoutBucketIgnoresBlockDurations(t *testing.T) {
	fp := newFakeProm(t, "{cluster: eu}", "2h", "1d")
	s, err := New(parse(t, "--prometheus.url="+fp.srv.URL), Deps{})
	require.NoError(t, err)
	start(t, s)
	require.Eventually(t, func() bool { return s.Ready() == nil }, 10*time.Second, 20*time.Millisecond)
	require.Zero(t, fp.flagsSeen.Load())
	require.Equal(t, "{cluster=\"eu\"}", s.prom.ExternalLabels().String())
}

func fileExists(path string) bool {
	_, err := os.Stat(path)
	return err == nil
}
