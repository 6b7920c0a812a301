package component_test

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"net/http"
	"os"
	"path/filepath"
	"testing"
	"time"

	"github.com/prometheus/client_golang/prometheus"
	"github.com/stretchr/testify/require"

	"github.com/strata-io/strata/internal/component"
	"github.com/strata-io/strata/internal/component/querier"
	"github.com/strata-io/strata/internal/component/sidecar"
	"github.com/strata-io/strata/internal/server"
	"github.com/strata-io/strata/internal/testkit"
	"github.com/strata-io/strata/pkg/rulespb"
	"github.com/strata-io/strata/test/e2e/e2eutil"
)

const haRuleFile = `groups:
  - name: availability
    interval: 1s
    rules:
      - record: strata:one
        expr: vector(1)
      - alert: AlwaysFiring
        expr: vector(1)
        labels:
          severity: page
`

// startRulesPrometheus starts a real Prometheus evaluating haRuleFile with
// the given external labels and returns its URL.
func startRulesPrometheus(t *testing.T, bin, ruleFile string, ports *e2eutil.Ports, ext map[string]string) string {
	t.Helper()
	p := &e2eutil.Prometheus{Bin: bin, Name: "prometheus-" + ext["replica"], Dir: t.TempDir(),
		Config: e2eutil.PromConfig{ExternalLabels: ext}}
	ctx, cancel := context.WithTimeout(t.Context(), time.Minute)
	defer cancel()
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
		_, err = f.WriteString("rule_files:\n  - " + ruleFile + "\n")
		return spec, errors.Join(err, f.Close())
	})
	if proc != nil {
		t.Cleanup(func() {
			if err := proc.Stop(30 * time.Second); err != nil {
				t.Logf("stop %s: %v", p.Name, err)
			}
			if t.Failed() {
				t.Logf("%s log:\n%s", p.Name, proc.Logs())
			}
		})
	}
	require.NoError(t, err)
	return p.URL()
}

// serveWithGRPC serves comps in one process and returns the HTTP and gRPC
// addresses.
func serveWithGRPC(t *testing.T, comps ...component.Component) (httpAddr, grpcAddr string) {
	t.Helper()
	httpAddr = fmt.Sprintf("127.0.0.1:%d", testkit.FreePort(t))
	grpcAddr = fmt.Sprintf("127.0.0.1:%d", testkit.FreePort(t))
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan error, 1)
	go func() {
		done <- component.Serve(ctx, component.ServeConfig{
			HTTP: server.HTTPConfig{Address: httpAddr, GracePeriod: time.Second},
			GRPC: &server.GRPCConfig{Address: grpcAddr, GracePeriod: time.Second},
		}, slog.New(slog.DiscardHandler), prometheus.NewRegistry(), comps...)
	}()
	t.Cleanup(func() {
		cancel()
		select {
		case err := <-done:
			require.NoError(t, err)
		case <-time.After(30 * time.Second):
			t.Error("Serve did not return within 30s of cancel")
		}
	})
	return httpAddr, grpcAddr
}

// Two real Prometheus servers of an HA pair, each behind a sidecar, and a
// querier over both: /api/v1/rules lists the pair's rules once, with the
// cluster label and without the replica label, and /api/v1/alerts its
// firing alert once.
func TestRulesOfSidecarsThroughQuerier(t *testing.T) {
	root, err := e2eutil.RepoRoot()
	require.NoError(t, err)
	bin := filepath.Join(root, e2eutil.BinDir, "prometheus")
	_, err = os.Stat(bin)
	testkit.RequireOrSkip(t, "prometheus binary (make deps)", err)

	ruleFile := filepath.Join(t.TempDir(), "rules.yml")
	require.NoError(t, os.WriteFile(ruleFile, []byte(haRuleFile), 0o644))
	ports := e2eutil.NewPorts()
	var endpoints []string
	for _, replica := range []string{"a", "b"} {
		promURL := startRulesPrometheus(t, bin, ruleFile, ports, map[string]string{"cluster": "eu", "replica": replica})
		var cfg sidecar.Config
		parseFlags(t, cfg.RegisterFlags, "--prometheus.url="+promURL)
		s, err := sidecar.New(cfg, sidecar.Deps{})
		require.NoError(t, err)
		_, grpcAddr := serveWithGRPC(t, s)
		endpoints = append(endpoints, "--endpoint="+grpcAddr)
	}
	var qcfg querier.Config
	parseFlags(t, qcfg.RegisterFlags, append(endpoints, "--query.replica-label=replica", "--endpoint.check-interval=200ms")...)
	q, err := querier.New(qcfg, querier.Deps{})
	require.NoError(t, err)
	httpAddr, _ := serveWithGRPC(t, q)

	client := &http.Client{Timeout: 10 * time.Second}
	t.Cleanup(client.CloseIdleConnections)
	get := func(path string, into any) (warnings []string, err error) {
		resp, err := client.Get("http://" + httpAddr + path)
		if err != nil {
			return nil, err
		}
		body, err := io.ReadAll(resp.Body)
		if err := errors.Join(err, resp.Body.Close()); err != nil {
			return nil, err
		}
		var env struct {
			Data     json.RawMessage `json:"data"`
			Warnings []string        `json:"warnings"`
		}
		if err := json.Unmarshal(body, &env); err != nil {
			return nil, fmt.Errorf("%s: %w", body, err)
		}
		return env.Warnings, json.Unmarshal(env.Data, into)
	}

	var rules rulespb.JSONRuleDiscovery
	require.Eventually(t, func() bool {
		warnings, err := get("/api/v1/rules", &rules)
		if err != nil || len(warnings) > 0 || len(rules.Groups) != 1 || len(rules.Groups[0].Rules) != 2 {
			return false
		}
		ar := rules.Groups[0].Rules[1].Alerting
		if ar == nil || ar.State != "firing" || len(ar.Alerts) != 1 {
			return false
		}
		// Both sidecars are known to the querier (their Info advertised
		// rules): without dedup each replica's recording rule is listed.
		var raw rulespb.JSONRuleDiscovery
		if _, err := get("/api/v1/rules?dedup=false&type=record", &raw); err != nil || len(raw.Groups) != 1 {
			return false
		}
		return len(raw.Groups[0].Rules) == 2
	}, time.Minute, 200*time.Millisecond, "both sidecars answer, the alert fires on both replicas")

	g := rules.Groups[0]
	require.Equal(t, "availability", g.Name)
	require.Equal(t, ruleFile, g.File)
	require.Equal(t, `{cluster="eu"}`, g.Rules[0].Recording.Labels.String())
	require.Equal(t, `{cluster="eu", severity="page"}`, g.Rules[1].Alerting.Labels.String())

	var alerts rulespb.JSONAlertDiscovery
	_, err = get("/api/v1/alerts", &alerts)
	require.NoError(t, err)
	require.Len(t, alerts.Alerts, 1, "one alert for the HA pair")
	require.Equal(t, `{alertname="AlwaysFiring", cluster="eu", severity="page"}`, alerts.Alerts[0].Labels.String())
	require.Equal(t, "firing", alerts.Alerts[0].State)

	_, err = get("/api/v1/rules?dedup=false&type=record", &rules)
	require.NoError(t, err)
	require.Len(t, rules.Groups[0].Rules, 2, "one recording rule per replica without dedup")
}
