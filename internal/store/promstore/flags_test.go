package promstore

import (
	"context"
	"fmt"
	"net/http"
	"net/http/httptest"
	"net/url"
	"sync/atomic"
	"testing"
	"time"

	"github.com/stretchr/testify/require"
)

// flagsProm returns a Store over a Prometheus answering
// /api/v1/status/flags with status and body.
func flagsProm(t *testing.T, status int, body string) *Store {
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
	cfg := DefaultConfig()
	cfg.URL = u
	s, err := New(cfg, nil, nil, nil)
	require.NoError(t, err)
	return s
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
		{name: "not json", status: 200, body: "<html>", wantErr: "read prometheus flags"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			err := flagsProm(t, tc.status, tc.body).CheckBlockDurations(context.Background(), tc.uploadCompacted)
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
	err := flagsProm(t, 200, flagsBody("2h", "6h")).CheckBlockDurations(context.Background(), false)
	require.ErrorContains(t, err, "start Prometheus with both set to the same value (2h), or run the sidecar with --shipper.upload-compacted")
}

// Wait retries until Prometheus answers, and gives up at once when it has
// no external labels.
func TestWait(t *testing.T) {
	var calls atomic.Int32
	var ext atomic.Value
	ext.Store(`{"status":"success","data":{"yaml":"global:\n  external_labels:\n    cluster: eu\n"}}`)
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		switch {
		case calls.Add(1) < 3:
			http.Error(w, "starting", http.StatusServiceUnavailable)
		case r.URL.Path == "/api/v1/status/config":
			fmt.Fprint(w, ext.Load())
		default:
			fmt.Fprint(w, "# no metrics\n")
		}
	}))
	t.Cleanup(srv.Close)
	u, err := url.Parse(srv.URL)
	require.NoError(t, err)
	s, err := New(Config{URL: u}, nil, nil, nil)
	require.NoError(t, err)
	ctx, cancel := context.WithTimeout(t.Context(), 10*time.Second)
	defer cancel()
	require.NoError(t, s.Wait(ctx))
	require.Equal(t, "{cluster=\"eu\"}", s.ExternalLabels().String())

	ext.Store(`{"status":"success","data":{"yaml":"global: {}\n"}}`)
	require.ErrorIs(t, s.Wait(ctx), ErrNoExternalLabels)

	calls.Store(-1000)
	short, cancel := context.WithTimeout(t.Context(), 700*time.Millisecond)
	defer cancel()
	require.ErrorContains(t, s.Wait(short), "starting", "when time runs out, the last failure says why")
}
