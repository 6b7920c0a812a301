package endpoint

import (
	"context"
	"crypto/ecdsa"
	"crypto/elliptic"
	"crypto/rand"
	"crypto/tls"
	"crypto/x509"
	"crypto/x509/pkix"
	"encoding/pem"
	"errors"
	"fmt"
	"io"
	"math"
	"math/big"
	"net"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/prometheus/client_golang/prometheus"
	"github.com/prometheus/client_golang/prometheus/testutil"
	"github.com/prometheus/prometheus/model/labels"
	"github.com/stretchr/testify/require"
	"go.uber.org/goleak"
	"google.golang.org/grpc"
	"google.golang.org/grpc/connectivity"
	"google.golang.org/grpc/credentials"

	"github.com/strata-io/strata/internal/store/proxy"
	"github.com/strata-io/strata/pkg/infopb"
	"github.com/strata-io/strata/pkg/storepb"
)

func TestMain(m *testing.M) {
	goleak.VerifyTestMain(m)
}

// testServer is an in-process gRPC server serving Info and Store on 127.0.0.1.
type testServer struct {
	infopb.UnimplementedInfoServer
	storepb.UnimplementedStoreServer

	t    *testing.T
	addr string
	opts []grpc.ServerOption
	ext  labels.Labels

	mu  sync.Mutex
	srv *grpc.Server
}

func startServer(t *testing.T, ext labels.Labels, opts ...grpc.ServerOption) *testServer {
	t.Helper()
	s := &testServer{t: t, addr: "127.0.0.1:0", opts: opts, ext: ext}
	s.start()
	t.Cleanup(s.stop)
	return s
}

// start serves on s.addr (a fixed port after the first start).
func (s *testServer) start() {
	s.t.Helper()
	var lis net.Listener
	var err error
	// The port was ours a moment ago; retry briefly in case it lingers.
	for range 50 {
		if lis, err = net.Listen("tcp", s.addr); err == nil {
			break
		}
		time.Sleep(20 * time.Millisecond)
	}
	require.NoError(s.t, err)
	s.addr = lis.Addr().String()
	srv := grpc.NewServer(s.opts...)
	infopb.RegisterInfoServer(srv, s)
	storepb.RegisterStoreServer(srv, s)
	s.mu.Lock()
	s.srv = srv
	s.mu.Unlock()
	go func() { _ = srv.Serve(lis) }()
}

func (s *testServer) stop() {
	s.mu.Lock()
	defer s.mu.Unlock()
	if s.srv != nil {
		s.srv.Stop()
		s.srv = nil
	}
}

func (s *testServer) Info(context.Context, *infopb.InfoRequest) (*infopb.InfoResponse, error) {
	return &infopb.InfoResponse{
		LabelSets:     storepb.LabelSetsToProto([]labels.Labels{s.ext}),
		ComponentType: "sidecar",
		Store:         &infopb.StoreInfo{MinTime: 1000, MaxTime: 2000, SupportsWithoutReplicaLabels: true},
	}, nil
}

func (s *testServer) Series(_ *storepb.SeriesRequest, srv grpc.ServerStreamingServer[storepb.SeriesResponse]) error {
	lset := labels.NewBuilder(s.ext).Set("__name__", "up").Labels()
	return srv.Send(&storepb.SeriesResponse{Result: &storepb.SeriesResponse_Series{Series: &storepb.Series{Labels: storepb.LabelsToProto(lset)}}})
}

// fastConfig checks often and reconnects quickly.
func fastConfig(groups ...Group) Config {
	return Config{
		Groups:          groups,
		RefreshInterval: 50 * time.Millisecond,
		FileSDInterval:  20 * time.Millisecond,
		CheckInterval:   50 * time.Millisecond,
		InfoTimeout:     time.Second,
	}
}

// runSet starts s.Run and stops and closes it at the end of the test.
func runSet(t *testing.T, s *Set) {
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan error, 1)
	go func() { done <- s.Run(ctx) }()
	t.Cleanup(func() {
		cancel()
		require.NoError(t, <-done)
		require.NoError(t, s.Close())
	})
}

func statusOf(s *Set, addr string) (Status, bool) {
	for _, st := range s.Status() {
		if st.Name == addr {
			return st, true
		}
	}
	return Status{}, false
}

func names(s *Set) []string {
	var out []string
	for _, st := range s.Status() {
		out = append(out, st.Name)
	}
	return out
}

func waitHealthy(t *testing.T, s *Set, addr string, want bool) Status {
	t.Helper()
	var st Status
	require.Eventually(t, func() bool {
		var ok bool
		st, ok = statusOf(s, addr)
		return ok && st.Healthy == want && !st.LastCheck.IsZero()
	}, 10*time.Second, 10*time.Millisecond, "endpoint %s never became healthy=%v (last: %+v)", addr, want, st)
	return st
}

func TestStaticEndpoints(t *testing.T) {
	eu := startServer(t, labels.FromStrings("region", "eu"))
	us := startServer(t, labels.FromStrings("region", "us"))
	// A port nobody listens on.
	lis, err := net.Listen("tcp", "127.0.0.1:0")
	require.NoError(t, err)
	dead := lis.Addr().String()
	require.NoError(t, lis.Close())

	reg := prometheus.NewRegistry()
	s, err := New(fastConfig(Group{Addresses: []string{eu.addr, us.addr, dead}}), nil, reg)
	require.NoError(t, err)

	// Known before any check: unbounded, no labels, so queries warn about them.
	cs := s.Clients()
	require.Len(t, cs, 3)
	for _, c := range cs {
		mint, maxt := c.TimeRange()
		require.Equal(t, []int64{math.MinInt64, math.MaxInt64}, []int64{mint, maxt})
		require.Empty(t, c.LabelSets())
	}

	runSet(t, s)
	st := waitHealthy(t, s, eu.addr, true)
	require.Equal(t, "sidecar", st.ComponentType)
	require.Equal(t, []labels.Labels{labels.FromStrings("region", "eu")}, st.LabelSets)
	require.Equal(t, []int64{1000, 2000}, []int64{st.MinTime, st.MaxTime})
	waitHealthy(t, s, us.addr, true)
	st = waitHealthy(t, s, dead, false)
	require.Contains(t, st.LastError, "connection refused")

	want := []string{eu.addr, us.addr, dead}
	require.ElementsMatch(t, want, names(s))
	require.IsNonDecreasing(t, names(s))
	require.Len(t, s.Clients(), 3, "unhealthy endpoints stay in Clients")
	require.Eventually(t, func() bool {
		return testutil.CollectAndCompare(reg, strings.NewReader(`
# HELP strata_endpoints Known StoreAPI endpoints, by health as of their last Info call.
# TYPE strata_endpoints gauge
strata_endpoints{state="healthy"} 2
strata_endpoints{state="unhealthy"} 1
`), "strata_endpoints") == nil
	}, 5*time.Second, 10*time.Millisecond)

	for _, c := range s.Clients() {
		if c.String() != eu.addr {
			continue
		}
		require.True(t, c.SupportsWithoutReplicaLabels())
		stream, err := c.Series(t.Context(), &storepb.SeriesRequest{})
		require.NoError(t, err)
		r, err := stream.Recv()
		require.NoError(t, err)
		require.Equal(t, `{__name__="up", region="eu"}`, storepb.LabelsFromProto(r.GetSeries().GetLabels()).String())
		_, err = stream.Recv()
		require.ErrorIs(t, err, io.EOF)
	}
}

func TestHealthFlip(t *testing.T) {
	srv := startServer(t, labels.FromStrings("region", "eu"))
	s, err := New(fastConfig(Group{Addresses: []string{srv.addr}}), nil, nil)
	require.NoError(t, err)
	runSet(t, s)

	waitHealthy(t, s, srv.addr, true)
	srv.stop()
	st := waitHealthy(t, s, srv.addr, false)
	require.NotEmpty(t, st.LastError)
	// What the last good Info said is kept while it is down.
	require.Equal(t, []labels.Labels{labels.FromStrings("region", "eu")}, st.LabelSets)
	srv.start()
	st = waitHealthy(t, s, srv.addr, true)
	require.Empty(t, st.LastError)
}

func TestFileSD(t *testing.T) {
	a := startServer(t, labels.FromStrings("i", "a"))
	b := startServer(t, labels.FromStrings("i", "b"))
	dir := t.TempDir()
	yamlFile := filepath.Join(dir, "targets.yaml")
	jsonFile := filepath.Join(dir, "more.json")
	write := func(path, content string) {
		// Write aside and rename, as config management tools do.
		tmp := path + ".tmp"
		require.NoError(t, os.WriteFile(tmp, []byte(content), 0o600))
		require.NoError(t, os.Rename(tmp, path))
	}
	write(yamlFile, fmt.Sprintf("- targets: [%q]\n  labels: {team: x}\n", a.addr))

	s, err := New(fastConfig(Group{Files: []string{filepath.Join(dir, "*.yaml"), jsonFile}}), nil, nil)
	require.NoError(t, err)
	require.Empty(t, s.Status(), "file SD targets appear once Run starts")
	runSet(t, s)
	waitHealthy(t, s, a.addr, true)
	require.Len(t, s.Clients(), 1)
	oldConn := s.Clients()[0].(*client).conn

	write(yamlFile, fmt.Sprintf("- targets:\n  - %s\n", b.addr))
	require.Eventually(t, func() bool {
		n := names(s)
		return len(n) == 1 && n[0] == b.addr
	}, 10*time.Second, 10*time.Millisecond)
	waitHealthy(t, s, b.addr, true)
	require.Equal(t, connectivity.Shutdown, oldConn.GetState(), "the connection of a removed endpoint is closed")

	write(jsonFile, fmt.Sprintf(`[{"targets": [%q]}]`, a.addr))
	require.Eventually(t, func() bool { return len(names(s)) == 2 }, 10*time.Second, 10*time.Millisecond)

	// A broken file keeps its last targets.
	write(jsonFile, `[{"targets": [`)
	time.Sleep(100 * time.Millisecond)
	require.ElementsMatch(t, []string{a.addr, b.addr}, names(s))

	require.NoError(t, os.Remove(jsonFile))
	require.Eventually(t, func() bool {
		n := names(s)
		return len(n) == 1 && n[0] == b.addr
	}, 10*time.Second, 10*time.Millisecond)
}

// fakeResolver answers from maps; safe for concurrent use.
type fakeResolver struct {
	mu    sync.Mutex
	hosts map[string][]string
	srvs  map[string][]*net.SRV
}

func (r *fakeResolver) LookupHost(_ context.Context, host string) ([]string, error) {
	r.mu.Lock()
	defer r.mu.Unlock()
	if a, ok := r.hosts[host]; ok {
		return a, nil
	}
	return nil, &net.DNSError{Err: "no such host", Name: host, IsNotFound: true}
}

func (r *fakeResolver) LookupSRV(_ context.Context, service, proto, name string) (string, []*net.SRV, error) {
	r.mu.Lock()
	defer r.mu.Unlock()
	if service != "" || proto != "" {
		return "", nil, errors.New("expected a direct lookup of the full name")
	}
	if s, ok := r.srvs[name]; ok {
		return name, s, nil
	}
	return "", nil, &net.DNSError{Err: "no such host", Name: name, IsNotFound: true}
}

func (r *fakeResolver) set(f func()) {
	r.mu.Lock()
	defer r.mu.Unlock()
	f()
}

func TestDNSDiscovery(t *testing.T) {
	a := startServer(t, labels.FromStrings("i", "a"))
	b := startServer(t, labels.FromStrings("i", "b"))
	port := func(addr string) uint16 {
		_, p, err := net.SplitHostPort(addr)
		require.NoError(t, err)
		var n uint16
		_, err = fmt.Sscan(p, &n)
		require.NoError(t, err)
		return n
	}
	_, bPort, err := net.SplitHostPort(b.addr)
	require.NoError(t, err)

	r := &fakeResolver{
		hosts: map[string][]string{"store-0.example": {"127.0.0.1"}, "sidecar.example": {"127.0.0.1"}},
		srvs:  map[string][]*net.SRV{"_grpc._tcp.store.example": {{Target: "store-0.example.", Port: port(a.addr)}}},
	}
	cfg := fastConfig(Group{Addresses: []string{"dnssrv+_grpc._tcp.store.example", "dns+sidecar.example:" + bPort}})
	cfg.Resolver = r
	s, err := New(cfg, nil, nil)
	require.NoError(t, err)
	runSet(t, s)

	waitHealthy(t, s, a.addr, true)
	waitHealthy(t, s, b.addr, true)

	// The SRV record goes away: its endpoint is removed. The A record fails
	// to resolve: the last answer is kept.
	r.set(func() {
		r.srvs["_grpc._tcp.store.example"] = nil
		delete(r.hosts, "sidecar.example")
	})
	require.Eventually(t, func() bool {
		n := names(s)
		return len(n) == 1 && n[0] == b.addr
	}, 10*time.Second, 10*time.Millisecond)
}

func TestMutualTLS(t *testing.T) {
	dir := t.TempDir()
	ca := newCA(t)
	caFile := writePEM(t, dir, "ca.pem", "CERTIFICATE", ca.cert.Raw)
	serverCert := ca.issue(t, "server", x509.ExtKeyUsageServerAuth)
	clientCert := ca.issue(t, "client", x509.ExtKeyUsageClientAuth)
	certFile := writePEM(t, dir, "client.pem", "CERTIFICATE", clientCert.Certificate[0])
	keyDER, err := x509.MarshalPKCS8PrivateKey(clientCert.PrivateKey)
	require.NoError(t, err)
	keyFile := writePEM(t, dir, "client-key.pem", "PRIVATE KEY", keyDER)

	pool := x509.NewCertPool()
	pool.AddCert(ca.cert)
	srv := startServer(t, labels.FromStrings("region", "eu"), grpc.Creds(credentials.NewTLS(&tls.Config{
		Certificates: []tls.Certificate{serverCert},
		ClientCAs:    pool,
		ClientAuth:   tls.RequireAndVerifyClientCert,
		MinVersion:   tls.VersionTLS12,
	})))

	for _, tc := range []struct {
		name    string
		tls     TLSConfig
		healthy bool
		wantErr string
	}{
		{"client certificate", TLSConfig{Enabled: true, CAFile: caFile, CertFile: certFile, KeyFile: keyFile, ServerName: "localhost"}, true, ""},
		{"no client certificate is refused", TLSConfig{Enabled: true, CAFile: caFile, ServerName: "localhost"}, false, "code = Unavailable"}, // "certificate required", or a broken pipe when TLS 1.3 reports it late,
		{"plaintext is refused", TLSConfig{}, false, "code = Unavailable"},
		{"wrong server name is refused", TLSConfig{Enabled: true, CAFile: caFile, CertFile: certFile, KeyFile: keyFile, ServerName: "evil.example"}, false, "not evil.example"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			cfg := fastConfig(Group{Addresses: []string{srv.addr}, TLS: tc.tls})
			cfg.InfoTimeout = 500 * time.Millisecond
			s, err := New(cfg, nil, nil)
			require.NoError(t, err)
			runSet(t, s)
			st := waitHealthy(t, s, srv.addr, tc.healthy)
			if tc.healthy {
				require.Equal(t, "sidecar", st.ComponentType)
				return
			}
			// It stays refused.
			time.Sleep(150 * time.Millisecond)
			st, _ = statusOf(s, srv.addr)
			require.False(t, st.Healthy)
			require.Contains(t, st.LastError, tc.wantErr)
		})
	}

	t.Run("unreadable files are config errors", func(t *testing.T) {
		_, err := New(Config{Groups: []Group{{Addresses: []string{srv.addr}, TLS: TLSConfig{Enabled: true, CAFile: filepath.Join(dir, "missing.pem")}}}}, nil, nil)
		require.ErrorContains(t, err, "read CA file")
		_, err = New(Config{Groups: []Group{{Addresses: []string{srv.addr}, TLS: TLSConfig{Enabled: true, CertFile: certFile}}}}, nil, nil)
		require.ErrorContains(t, err, "both cert_file and key_file")
	})
}

type testCA struct {
	cert *x509.Certificate
	key  *ecdsa.PrivateKey
}

func newCA(t *testing.T) *testCA {
	key, err := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	require.NoError(t, err)
	tmpl := &x509.Certificate{
		SerialNumber:          big.NewInt(1),
		Subject:               pkix.Name{CommonName: "strata test CA"},
		NotBefore:             time.Now().Add(-time.Hour),
		NotAfter:              time.Now().Add(time.Hour),
		IsCA:                  true,
		KeyUsage:              x509.KeyUsageCertSign,
		BasicConstraintsValid: true,
	}
	der, err := x509.CreateCertificate(rand.Reader, tmpl, tmpl, &key.PublicKey, key)
	require.NoError(t, err)
	cert, err := x509.ParseCertificate(der)
	require.NoError(t, err)
	return &testCA{cert: cert, key: key}
}

func (ca *testCA) issue(t *testing.T, cn string, usage x509.ExtKeyUsage) tls.Certificate {
	key, err := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	require.NoError(t, err)
	tmpl := &x509.Certificate{
		SerialNumber: big.NewInt(time.Now().UnixNano()),
		Subject:      pkix.Name{CommonName: cn},
		NotBefore:    time.Now().Add(-time.Hour),
		NotAfter:     time.Now().Add(time.Hour),
		KeyUsage:     x509.KeyUsageDigitalSignature,
		ExtKeyUsage:  []x509.ExtKeyUsage{usage},
		DNSNames:     []string{"localhost"},
		IPAddresses:  []net.IP{net.ParseIP("127.0.0.1")},
	}
	der, err := x509.CreateCertificate(rand.Reader, tmpl, ca.cert, &key.PublicKey, ca.key)
	require.NoError(t, err)
	return tls.Certificate{Certificate: [][]byte{der}, PrivateKey: key}
}

func writePEM(t *testing.T, dir, name, typ string, der []byte) string {
	path := filepath.Join(dir, name)
	require.NoError(t, os.WriteFile(path, pem.EncodeToMemory(&pem.Block{Type: typ, Bytes: der}), 0o600))
	return path
}

func TestProxyOverSet(t *testing.T) {
	up := startServer(t, labels.FromStrings("region", "eu"))
	down := startServer(t, labels.FromStrings("region", "us"))
	s, err := New(fastConfig(Group{Addresses: []string{up.addr, down.addr}}), nil, nil)
	require.NoError(t, err)
	runSet(t, s)
	waitHealthy(t, s, up.addr, true)
	waitHealthy(t, s, down.addr, true)
	down.stop()
	waitHealthy(t, s, down.addr, false)

	p := proxy.New(proxy.Config{ResponseTimeout: 5 * time.Second}, s.Clients, nil, nil)
	stream, err := storepb.ServerAsClient(p).Series(t.Context(), &storepb.SeriesRequest{MinTime: 1000, MaxTime: 2000})
	require.NoError(t, err)
	var got, warnings []string
	for {
		r, err := stream.Recv()
		if errors.Is(err, io.EOF) {
			break
		}
		require.NoError(t, err)
		if w := r.GetWarning(); w != "" {
			warnings = append(warnings, w)
		}
		if ser := r.GetSeries(); ser != nil {
			got = append(got, storepb.LabelsFromProto(ser.GetLabels()).String())
		}
	}
	require.Equal(t, []string{`{__name__="up", region="eu"}`}, got)
	require.Len(t, warnings, 1)
	require.Contains(t, warnings[0], "endpoint "+down.addr+" (sidecar): rpc error: code = Unavailable")
}
