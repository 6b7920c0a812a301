package sidecar

import (
	"context"
	"fmt"
	"log/slog"
	"net/http"
	"net/http/httptest"
	"net/url"
	"path/filepath"
	"testing"
	"time"

	"github.com/alecthomas/kingpin/v2"
	"github.com/prometheus/client_golang/prometheus"
	"github.com/prometheus/prometheus/model/labels"
	"github.com/prometheus/prometheus/storage"
	"github.com/prometheus/prometheus/tsdb/chunks"
	"github.com/stretchr/testify/require"

	"github.com/strata-io/strata/internal/testkit"
)

func flagsServer(t *testing.T, status int, body string) *url.URL {
	t.Helper()
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if r.URL.Path != "/api/v1/status/flags" {
			http.NotFound(w, r)
			return
		}
		w.WriteHeader(status)
		fmt.Fprint(w, body)
	}))
	t.Cleanup(srv.Close)
	u, err := url.Parse(srv.URL)
	require.NoError(t, err)
	return u
}

func flagsBody(minDur, maxDur string) string {
	return fmt.Sprintf(`{"status":"success","data":{"storage.tsdb.min-block-duration":%q,"storage.tsdb.max-block-duration":%q,"web.enable-lifecycle":"false"}}`, minDur, maxDur)
}

func TestCheckBlockDurations(t *testing.T) {
	for _, tc := range []struct {
		name            string
		status          int
		body            string
		uploadCompacted bool
		wantErr         string
	}{
		{name: "equal", status: 200, body: flagsBody("2h", "2h")},
		{name: "equal in other units", status: 200, body: flagsBody("120m", "2h")},
		{
			name: "prometheus defaults", status: 200, body: flagsBody("2h", "1d"),
			wantErr: "--storage.tsdb.min-block-duration=2h, --storage.tsdb.max-block-duration=1d",
		},
		{name: "differ but compacted uploaded", status: 200, body: flagsBody("2h", "1d"), uploadCompacted: true},
		{name: "flags missing", status: 200, body: `{"status":"success","data":{}}`, wantErr: "reports no usable --storage.tsdb.min-block-duration"},
		{name: "http error", status: 500, body: "boom", wantErr: "HTTP 500: boom"},
		{name: "not json", status: 200, body: "<html>", wantErr: "decode prometheus flags"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			u := flagsServer(t, tc.status, tc.body)
			err := checkBlockDurations(context.Background(), http.DefaultClient, u, tc.uploadCompacted)
			if tc.wantErr == "" {
				require.NoError(t, err)
				return
			}
			require.ErrorContains(t, err, tc.wantErr)
		})
	}
}

// The refusal tells the user both ways out.
func TestCheckBlockDurationsMessage(t *testing.T) {
	err := checkBlockDurations(context.Background(), http.DefaultClient, flagsServer(t, 200, flagsBody("2h", "6h")), false)
	require.ErrorContains(t, err, "start Prometheus with both set to the same value (2h), or run the sidecar with --shipper.upload-compacted")
}

func TestShipperFlagsValidate(t *testing.T) {
	for _, tc := range []struct {
		name    string
		args    []string
		enabled bool
		wantErr string
	}{
		{name: "no bucket", args: nil},
		{name: "tsdb path without bucket", args: []string{"--tsdb.path=/prom"}},
		{name: "bucket and tsdb path", args: []string{"--tsdb.path=/prom", "--objstore.config=type: MEMORY"}, enabled: true},
		{name: "bucket without tsdb path", args: []string{"--objstore.config=type: MEMORY"}, enabled: true, wantErr: "--tsdb.path is not"},
		{name: "bad bucket config", args: []string{"--tsdb.path=/prom", "--objstore.config=type: FTP"}, enabled: true, wantErr: `unknown object storage type "FTP"`},
		{name: "bad interval", args: []string{"--tsdb.path=/prom", "--objstore.config=type: MEMORY", "--shipper.interval=0s"}, enabled: true, wantErr: "--shipper.interval=0s must be positive"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			app := kingpin.New("test", "")
			var cfg Config
			cfg.RegisterFlags(app.Command("sidecar", ""))
			_, err := app.Parse(append([]string{"sidecar"}, tc.args...))
			require.NoError(t, err)
			if tc.name != "bad interval" {
				require.Equal(t, 30*time.Second, cfg.Shipper.Interval, "ships every 30s by default")
			}
			require.Equal(t, tc.enabled, cfg.Shipper.Enabled())
			err = cfg.Validate()
			if tc.wantErr == "" {
				require.NoError(t, err)
				return
			}
			require.ErrorContains(t, err, tc.wantErr)
		})
	}
}

func TestSetupShipper(t *testing.T) {
	ctx := context.Background()
	logger := slog.New(slog.DiscardHandler)
	ext := func() labels.Labels { return labels.FromStrings("cluster", "eu-1") }

	tsdbDir := t.TempDir()
	var samples []chunks.Sample
	for ts := int64(0); ts < 7_200_000; ts += 60_000 {
		samples = append(samples, testkit.Sample{Time: ts, Value: 1})
	}
	blockDir, _ := testkit.CreateBlock(t, tsdbDir, 0, storage.NewListSeries(labels.FromStrings("__name__", "up"), samples))
	id := filepath.Base(blockDir)
	bucketDir := t.TempDir()
	bucketYAML := "type: FILESYSTEM\nconfig:\n  directory: " + bucketDir

	for _, tc := range []struct {
		name     string
		tsdbPath string
		bucket   string
		flags    string
		wantErr  string
	}{
		{name: "disabled", tsdbPath: tsdbDir, flags: flagsBody("2h", "2h")},
		{name: "ships", tsdbPath: tsdbDir, bucket: bucketYAML, flags: flagsBody("2h", "2h")},
		{name: "durations differ", tsdbPath: tsdbDir, bucket: bucketYAML, flags: flagsBody("2h", "1d"), wantErr: "--shipper.upload-compacted"},
		{name: "missing tsdb dir", tsdbPath: filepath.Join(tsdbDir, "nope"), bucket: bucketYAML, flags: flagsBody("2h", "2h"), wantErr: "is not a readable directory"},
		{name: "missing bucket dir", tsdbPath: tsdbDir, bucket: "type: FILESYSTEM\nconfig:\n  directory: " + filepath.Join(bucketDir, "nope"), flags: flagsBody("2h", "2h"), wantErr: "does not exist"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			cfg := ShipperConfig{TSDBPath: tc.tsdbPath, Interval: time.Second}
			cfg.Objstore.ConfigYAML = tc.bucket
			sh, closeBkt, err := setupShipper(ctx, cfg, flagsServer(t, 200, tc.flags), ext, logger, prometheus.NewRegistry())
			if tc.wantErr != "" {
				require.ErrorContains(t, err, tc.wantErr)
				return
			}
			require.NoError(t, err)
			defer closeBkt()
			if tc.bucket == "" {
				require.Nil(t, sh, "no bucket, no shipper")
				return
			}
			n, err := sh.Sync(ctx)
			require.NoError(t, err)
			require.Equal(t, 1, n)
			require.FileExists(t, filepath.Join(bucketDir, id, "meta.json"))
			require.FileExists(t, filepath.Join(tsdbDir, "thanos.shipper.json"))
		})
	}
}
