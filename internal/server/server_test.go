package server

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
	"io"
	"log/slog"
	"math/big"
	"net"
	"net/http"
	"os"
	"path/filepath"
	"strings"
	"sync/atomic"
	"testing"
	"time"

	"github.com/prometheus/client_golang/prometheus"
	"github.com/stretchr/testify/require"
	"go.uber.org/goleak"
	"google.golang.org/grpc"
	"google.golang.org/grpc/credentials"
	"google.golang.org/grpc/credentials/insecure"
	healthpb "google.golang.org/grpc/health/grpc_health_v1"
)

func TestMain(m *testing.M) {
	goleak.VerifyTestMain(m)
}

func discard() *slog.Logger { return slog.New(slog.DiscardHandler) }

func get(t *testing.T, url string) (int, string) {
	t.Helper()
	resp, err := http.Get(url)
	require.NoError(t, err)
	defer resp.Body.Close()
	b, err := io.ReadAll(resp.Body)
	require.NoError(t, err)
	return resp.StatusCode, string(b)
}

func TestHTTPProbesAndMetrics(t *testing.T) {
	var notReady atomic.Bool
	notReady.Store(true)
	reg := prometheus.NewRegistry()
	c := prometheus.NewCounter(prometheus.CounterOpts{Name: "strata_test_total", Help: "x"})
	reg.MustRegister(c)
	c.Inc()

	srv, err := NewHTTP(HTTPConfig{Address: "127.0.0.1:0", GracePeriod: time.Second}, func() error {
		if notReady.Load() {
			return errors.New("prometheus unreachable")
		}
		return nil
	}, reg, discard())
	require.NoError(t, err)
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan error, 1)
	go func() { done <- srv.Run(ctx) }()
	base := "http://" + srv.Addr().String()

	code, _ := get(t, base+"/-/healthy")
	require.Equal(t, http.StatusOK, code)
	code, body := get(t, base+"/-/ready")
	require.Equal(t, http.StatusServiceUnavailable, code)
	require.Contains(t, body, "prometheus unreachable", "the reason is shown")
	notReady.Store(false)
	code, _ = get(t, base+"/-/ready")
	require.Equal(t, http.StatusOK, code)
	code, body = get(t, base+"/metrics")
	require.Equal(t, http.StatusOK, code)
	require.Contains(t, body, "strata_test_total 1")

	cancel()
	require.NoError(t, <-done)
	_, err = http.Get(base + "/-/healthy")
	require.Error(t, err, "the server is stopped after the interrupt")
}

func TestHTTPPortInUse(t *testing.T) {
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	require.NoError(t, err)
	defer ln.Close()
	_, err = NewHTTP(HTTPConfig{Address: ln.Addr().String()}, nil, prometheus.NewRegistry(), discard())
	require.ErrorContains(t, err, "--http-address")
}

// testPKI is a CA with a server and a client certificate, written to files.
type testPKI struct {
	dir                       string
	caFile, certFile, keyFile string
	clientCert                tls.Certificate
	pool                      *x509.CertPool
}

func newPKI(t *testing.T) *testPKI {
	t.Helper()
	dir := t.TempDir()
	caKey, err := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	require.NoError(t, err)
	caTmpl := &x509.Certificate{
		SerialNumber: big.NewInt(1), Subject: pkix.Name{CommonName: "test ca"},
		NotBefore: time.Now().Add(-time.Hour), NotAfter: time.Now().Add(time.Hour),
		IsCA: true, BasicConstraintsValid: true, KeyUsage: x509.KeyUsageCertSign,
	}
	caDER, err := x509.CreateCertificate(rand.Reader, caTmpl, caTmpl, &caKey.PublicKey, caKey)
	require.NoError(t, err)
	caCert, err := x509.ParseCertificate(caDER)
	require.NoError(t, err)
	issue := func(cn string, usage x509.ExtKeyUsage, serial int64) ([]byte, *ecdsa.PrivateKey) {
		key, err := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
		require.NoError(t, err)
		tmpl := &x509.Certificate{
			SerialNumber: big.NewInt(serial), Subject: pkix.Name{CommonName: cn},
			NotBefore: time.Now().Add(-time.Hour), NotAfter: time.Now().Add(time.Hour),
			ExtKeyUsage: []x509.ExtKeyUsage{usage}, KeyUsage: x509.KeyUsageDigitalSignature,
			IPAddresses: []net.IP{net.ParseIP("127.0.0.1")},
		}
		der, err := x509.CreateCertificate(rand.Reader, tmpl, caCert, &key.PublicKey, caKey)
		require.NoError(t, err)
		return der, key
	}
	write := func(name, typ string, der []byte) string {
		p := filepath.Join(dir, name)
		require.NoError(t, os.WriteFile(p, pem.EncodeToMemory(&pem.Block{Type: typ, Bytes: der}), 0o600))
		return p
	}
	p := &testPKI{dir: dir, pool: x509.NewCertPool()}
	p.pool.AddCert(caCert)
	p.caFile = write("ca.pem", "CERTIFICATE", caDER)
	srvDER, srvKey := issue("server", x509.ExtKeyUsageServerAuth, 2)
	p.certFile = write("server.pem", "CERTIFICATE", srvDER)
	keyDER, err := x509.MarshalECPrivateKey(srvKey)
	require.NoError(t, err)
	p.keyFile = write("server-key.pem", "EC PRIVATE KEY", keyDER)
	cliDER, cliKey := issue("client", x509.ExtKeyUsageClientAuth, 3)
	p.clientCert = tls.Certificate{Certificate: [][]byte{cliDER}, PrivateKey: cliKey}
	return p
}

func runGRPC(t *testing.T, cfg GRPCConfig) *GRPC {
	t.Helper()
	srv, err := NewGRPC(cfg, nil, discard())
	require.NoError(t, err)
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan error, 1)
	go func() { done <- srv.Run(ctx) }()
	t.Cleanup(func() {
		cancel()
		require.NoError(t, <-done)
	})
	return srv
}

func healthCheck(addr string, creds credentials.TransportCredentials) error {
	conn, err := grpc.NewClient(addr, grpc.WithTransportCredentials(creds))
	if err != nil {
		return err
	}
	defer conn.Close()
	ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
	defer cancel()
	_, err = healthpb.NewHealthClient(conn).Check(ctx, &healthpb.HealthCheckRequest{}, grpc.WaitForReady(false))
	return err
}

func TestGRPCPlaintextAndGracefulStop(t *testing.T) {
	srv := runGRPC(t, GRPCConfig{Address: "127.0.0.1:0", GracePeriod: time.Second})
	require.Eventually(t, func() bool {
		return healthCheck(srv.Addr().String(), insecure.NewCredentials()) == nil
	}, 5*time.Second, 20*time.Millisecond)
}

func TestGRPCMutualTLS(t *testing.T) {
	pki := newPKI(t)
	srv := runGRPC(t, GRPCConfig{
		Address: "127.0.0.1:0", GracePeriod: time.Second,
		TLSCert: pki.certFile, TLSKey: pki.keyFile, TLSClientCA: pki.caFile,
	})
	addr := srv.Addr().String()

	withCert := credentials.NewTLS(&tls.Config{RootCAs: pki.pool, Certificates: []tls.Certificate{pki.clientCert}})
	require.Eventually(t, func() bool { return healthCheck(addr, withCert) == nil }, 5*time.Second, 20*time.Millisecond,
		"a client with a certificate from the CA is served")

	withoutCert := credentials.NewTLS(&tls.Config{RootCAs: pki.pool})
	require.Error(t, healthCheck(addr, withoutCert), "a client without a certificate is refused")
	require.Error(t, healthCheck(addr, insecure.NewCredentials()), "a plaintext client is refused")
}

func TestTLSConfigErrors(t *testing.T) {
	pki := newPKI(t)
	for _, tc := range []struct {
		name          string
		cert, key, ca string
		wantErr       string
	}{
		{name: "none"},
		{name: "cert without key", cert: pki.certFile, wantErr: "set both --grpc-server-tls-cert and --grpc-server-tls-key"},
		{name: "client ca alone", ca: pki.caFile, wantErr: "--grpc-server-tls-client-ca needs"},
		{name: "missing file", cert: filepath.Join(pki.dir, "nope.pem"), key: pki.keyFile, wantErr: "load grpc server certificate"},
		{name: "ca not pem", cert: pki.certFile, key: pki.keyFile, ca: pki.keyFile, wantErr: "no PEM certificate"},
		{name: "mtls", cert: pki.certFile, key: pki.keyFile, ca: pki.caFile},
	} {
		t.Run(tc.name, func(t *testing.T) {
			cfg, err := TLSConfig(tc.cert, tc.key, tc.ca)
			if tc.wantErr != "" {
				require.Error(t, err)
				require.True(t, strings.Contains(err.Error(), tc.wantErr), err.Error())
				return
			}
			require.NoError(t, err)
			if tc.ca != "" {
				require.Equal(t, tls.RequireAndVerifyClientCert, cfg.ClientAuth)
			}
		})
	}
}
