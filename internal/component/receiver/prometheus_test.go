package receiver

import (
	"context"
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"testing"
	"time"

	"github.com/prometheus/prometheus/model/labels"
	"github.com/stretchr/testify/require"

	"github.com/strata-io/strata/internal/testkit"
	"github.com/strata-io/strata/test/e2e/e2eutil"
)

// A real Prometheus scraping itself every second and remote-writing to the
// receiver with a tenant header, in protocol 1.0 and 2.0: within 30s its
// up and prometheus_build_info series are served over the receiver's
// StoreAPI with the tenant label.
func TestPrometheusRemoteWrite(t *testing.T) {
	root, err := e2eutil.RepoRoot()
	require.NoError(t, err)
	bin := filepath.Join(root, e2eutil.BinDir, "prometheus")
	_, err = os.Stat(bin)
	testkit.RequireOrSkip(t, "prometheus binary (make deps)", err)
	for _, msg := range []string{"prometheus.WriteRequest", "io.prometheus.write.v2.Request"} {
		t.Run(msg, func(t *testing.T) { testPrometheusRemoteWrite(t, bin, msg) })
	}
}

func testPrometheusRemoteWrite(t *testing.T, bin, protobufMessage string) {

	r := newReceiver(t, nil)
	r.Register(nil, grpcStub{})
	url := run(t, r)

	ctx, cancel := context.WithTimeout(t.Context(), time.Minute)
	defer cancel()
	p := &e2eutil.Prometheus{Bin: bin, Name: "prometheus", Dir: t.TempDir(), ScrapeSelf: "prometheus",
		Config: e2eutil.PromConfig{ScrapeInterval: time.Second}}
	ports := e2eutil.NewPorts()
	remoteWrite := fmt.Sprintf(`remote_write:
  - url: %q
    protobuf_message: %s
    headers:
      THANOS-TENANT: prom-tenant
    queue_config:
      batch_send_deadline: 1s
      min_backoff: 100ms
      max_backoff: 1s
`, url, protobufMessage)
	proc, err := e2eutil.StartReady(ctx, 3, func() (e2eutil.Spec, error) {
		addr, err := ports.Addr()
		if err != nil {
			return e2eutil.Spec{}, err
		}
		p.Addr = addr
		spec, err := p.Spec()
		if err != nil {
			return spec, err
		}
		f, err := os.OpenFile(p.ConfigPath(), os.O_APPEND|os.O_WRONLY, 0)
		if err != nil {
			return spec, err
		}
		_, err = f.WriteString(remoteWrite)
		return spec, errors.Join(err, f.Close())
	})
	if proc != nil {
		t.Cleanup(func() {
			if err := proc.Stop(30 * time.Second); err != nil {
				t.Logf("stop prometheus: %v", err)
			}
			if t.Failed() {
				t.Logf("prometheus log:\n%s", proc.Logs())
			}
		})
	}
	require.NoError(t, err)

	tenant := labels.MustNewMatcher(labels.MatchEqual, "tenant_id", "prom-tenant")
	want := map[string]bool{"up": false, "prometheus_build_info": false}
	deadline := time.Now().Add(30 * time.Second)
	for {
		for name := range want {
			got := series(t, r, labels.MustNewMatcher(labels.MatchEqual, "__name__", name), tenant)
			for ls, samples := range got {
				want[name] = want[name] || len(samples) > 0
				require.Contains(t, ls, `replica="r1"`)
			}
		}
		if want["up"] && want["prometheus_build_info"] {
			break
		}
		if time.Now().After(deadline) {
			t.Fatalf("after 30s, series found: %v (tenants %v)", want, r.db.Tenants())
		}
		time.Sleep(250 * time.Millisecond)
	}
	up := series(t, r, labels.MustNewMatcher(labels.MatchEqual, "__name__", "up"), tenant)
	require.Len(t, up, 1)
	for ls, samples := range up {
		require.Equal(t, fmt.Sprintf(`{__name__="up", instance=%q, job="prometheus", replica="r1", tenant_id="prom-tenant"}`, p.Addr), ls)
		require.Equal(t, 1.0, samples[len(samples)-1].F)
	}
	require.Equal(t, []string{"prom-tenant"}, r.db.Tenants(), "everything went to the header's tenant")
}
