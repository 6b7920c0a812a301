package server

import (
	"context"
	"fmt"
	"io"
	"log/slog"
	"net"
	"net/http"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/prometheus/client_golang/prometheus"
	"github.com/stretchr/testify/require"
	"golang.org/x/crypto/bcrypt"
	"google.golang.org/grpc"
	"google.golang.org/grpc/codes"
	"google.golang.org/grpc/status"
	"google.golang.org/protobuf/proto"

	"github.com/strata-io/strata/internal/testkit"
	"github.com/strata-io/strata/pkg/storepb"
)

// requestLines returns the request log lines written to buf so far.
func requestLines(buf *testkit.SyncBuffer) []string {
	var out []string
	for _, l := range strings.Split(buf.String(), "\n") {
		if strings.Contains(l, " proto=") {
			out = append(out, l)
		}
	}
	return out
}

// startHTTP runs a server with cfg until the test ends.
func startHTTP(t *testing.T, cfg HTTPConfig, logger *slog.Logger, handle func(mux *http.ServeMux)) string {
	t.Helper()
	cfg.Address = "127.0.0.1:0"
	cfg.GracePeriod = time.Second
	srv, err := NewHTTP(cfg, nil, prometheus.NewRegistry(), logger)
	require.NoError(t, err)
	if handle != nil {
		handle(srv.Mux())
	}
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan error, 1)
	go func() { done <- srv.Run(ctx) }()
	t.Cleanup(func() {
		cancel()
		require.NoError(t, <-done)
	})
	return srv.Addr().String()
}

func TestHTTPRequestLog(t *testing.T) {
	var buf testkit.SyncBuffer
	logger := slog.New(slog.NewTextHandler(&buf, nil))
	addr := startHTTP(t, HTTPConfig{RequestLog: RequestLogConfig{SlowThreshold: 100 * time.Millisecond}}, logger, func(mux *http.ServeMux) {
		mux.HandleFunc("/fail", func(w http.ResponseWriter, r *http.Request) {
			_ = r.FormValue("query")
			w.WriteHeader(http.StatusServiceUnavailable)
		})
		mux.HandleFunc("/slow", func(w http.ResponseWriter, r *http.Request) {
			_ = r.ParseForm()
			time.Sleep(200 * time.Millisecond)
		})
		mux.HandleFunc("/fast", func(http.ResponseWriter, *http.Request) {})
	})
	base := "http://" + addr

	code, _ := get(t, base+"/fast?query=up")
	require.Equal(t, 200, code)
	require.Empty(t, requestLines(&buf), "a fast successful request is not logged")

	code, _ = get(t, base+"/fail?query="+`sum(rate(x[5m]))`)
	require.Equal(t, 503, code)
	resp, err := http.PostForm(base+"/slow", map[string][]string{"match[]": {`up{job="a"}`, "down"}})
	require.NoError(t, err)
	require.NoError(t, resp.Body.Close())

	lines := requestLines(&buf)
	require.Len(t, lines, 2, buf.String())
	require.Contains(t, lines[0], `level=WARN msg="request failed" proto=http method=GET path=/fail status=503 duration=`)
	require.Contains(t, lines[0], `remote=127.0.0.1:`)
	require.Contains(t, lines[0], `query=sum(rate(x[5m]))`)
	require.Contains(t, lines[1], `level=WARN msg="slow request" proto=http method=POST path=/slow status=200 duration=`)
	require.Contains(t, lines[1], `match="up{job=\"a\"}, down"`)
}

// fakeStream is a Series server stream that receives req once.
type fakeStream struct {
	grpc.ServerStream
	req *storepb.SeriesRequest
}

func (f *fakeStream) Context() context.Context { return context.Background() }
func (f *fakeStream) RecvMsg(m any) error {
	proto.Merge(m.(*storepb.SeriesRequest), f.req)
	return nil
}

func TestGRPCRequestLog(t *testing.T) {
	var buf testkit.SyncBuffer
	logger := slog.New(slog.NewTextHandler(&buf, nil))
	intercept := logStream(RequestLogConfig{SlowThreshold: 100 * time.Millisecond}, logger)
	req := &storepb.SeriesRequest{MinTime: 1000, MaxTime: 2000, Matchers: []*storepb.LabelMatcher{{Type: storepb.LabelMatcher_EQ, Name: "__name__", Value: "up"}}}
	info := &grpc.StreamServerInfo{FullMethod: "/thanos.Store/Series"}
	call := func(err error, sleep time.Duration) {
		_ = intercept(nil, &fakeStream{req: req}, info, func(_ any, ss grpc.ServerStream) error {
			var r storepb.SeriesRequest
			require.NoError(t, ss.RecvMsg(&r))
			time.Sleep(sleep)
			return err
		})
	}
	call(nil, 0)
	call(status.Error(codes.Canceled, "client left"), 0)
	require.Empty(t, requestLines(&buf), "fast and cancelled calls are not logged")

	call(status.Error(codes.Internal, "disk on fire"), 0)
	call(nil, 200*time.Millisecond)
	lines := requestLines(&buf)
	require.Len(t, lines, 2, buf.String())
	require.Contains(t, lines[0], `level=WARN msg="request failed" proto=grpc method=/thanos.Store/Series code=Internal duration=`)
	require.Contains(t, lines[0], `matchers="{__name__=\"up\"}" mint=1000 maxt=2000 err="rpc error: code = Internal desc = disk on fire"`)
	require.Contains(t, lines[1], `level=WARN msg="slow request" proto=grpc method=/thanos.Store/Series code=OK`)
}

func TestPprofOptInAndBehindAuth(t *testing.T) {
	hash, err := bcrypt.GenerateFromPassword([]byte("s3cret"), bcrypt.MinCost)
	require.NoError(t, err)
	webCfg := filepath.Join(t.TempDir(), "web.yml")
	require.NoError(t, os.WriteFile(webCfg, fmt.Appendf(nil, "basic_auth_users:\n  admin: %s\n", hash), 0o600))

	off := startHTTP(t, HTTPConfig{}, discard(), nil)
	code, _ := get(t, "http://"+off+"/debug/pprof/")
	require.Equal(t, http.StatusNotFound, code, "pprof is off by default")

	on := startHTTP(t, HTTPConfig{EnablePprof: true, WebConfigFile: webCfg}, discard(), nil)
	code, _ = get(t, "http://"+on+"/debug/pprof/")
	require.Equal(t, http.StatusUnauthorized, code, "pprof needs the web config's credentials")
	req, err := http.NewRequest(http.MethodGet, "http://"+on+"/debug/pprof/goroutine?debug=1", nil)
	require.NoError(t, err)
	req.SetBasicAuth("admin", "s3cret")
	resp, err := http.DefaultClient.Do(req)
	require.NoError(t, err)
	b, err := io.ReadAll(resp.Body)
	require.NoError(t, err)
	require.NoError(t, resp.Body.Close())
	require.Equal(t, http.StatusOK, resp.StatusCode)
	require.Contains(t, string(b), "goroutine profile:")
}

// A client that trickles its request body is cut off by ReadTimeout, not
// served for as long as it keeps sending.
func TestHTTPSlowBodyTimesOut(t *testing.T) {
	addr := startHTTP(t, HTTPConfig{ReadTimeout: 300 * time.Millisecond}, discard(), func(mux *http.ServeMux) {
		mux.HandleFunc("/api", func(w http.ResponseWriter, r *http.Request) {
			if _, err := io.ReadAll(r.Body); err != nil {
				w.WriteHeader(http.StatusRequestTimeout)
			}
		})
	})
	conn, err := net.Dial("tcp", addr)
	require.NoError(t, err)
	defer conn.Close()
	const bodyLen = 40
	_, err = fmt.Fprintf(conn, "POST /api HTTP/1.1\r\nHost: x\r\nContent-Type: application/x-www-form-urlencoded\r\nContent-Length: %d\r\n\r\n", bodyLen)
	require.NoError(t, err)

	start := time.Now()
	closed := make(chan struct{})
	go func() {
		defer close(closed)
		_, _ = io.Copy(io.Discard, conn) // until the server closes
	}()
	for i := 0; i < bodyLen; i++ {
		select {
		case <-closed:
			i = bodyLen
			continue
		case <-time.After(100 * time.Millisecond):
		}
		if _, err := conn.Write([]byte("a")); err != nil {
			break
		}
	}
	<-closed
	require.Less(t, time.Since(start), 2*time.Second, "a %d-byte body trickled at 10 bytes/s must not keep the request open", bodyLen)
}

// A request still running when the grace period ends has its context
// cancelled, so that its work stops and shutdown completes promptly.
func TestHTTPShutdownCancelsRequestsAfterGrace(t *testing.T) {
	srv, err := NewHTTP(HTTPConfig{Address: "127.0.0.1:0", GracePeriod: 200 * time.Millisecond}, nil, prometheus.NewRegistry(), discard())
	require.NoError(t, err)
	started, stopped := make(chan struct{}), make(chan error, 1)
	srv.Mux().HandleFunc("/query", func(w http.ResponseWriter, r *http.Request) {
		close(started)
		select {
		case <-r.Context().Done():
			stopped <- r.Context().Err()
		case <-time.After(time.Minute):
			stopped <- nil
		}
	})
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan error, 1)
	go func() { done <- srv.Run(ctx) }()
	go func() {
		resp, err := http.Get("http://" + srv.Addr().String() + "/query")
		if err == nil {
			_ = resp.Body.Close()
		}
	}()
	<-started
	begin := time.Now()
	cancel()
	select {
	case err := <-stopped:
		require.ErrorIs(t, err, context.Canceled)
	case <-time.After(10 * time.Second):
		t.Fatal("the request kept running after shutdown")
	}
	require.NoError(t, <-done)
	require.Less(t, time.Since(begin), 5*time.Second)
}
