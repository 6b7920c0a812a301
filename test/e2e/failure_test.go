package e2e

import (
	"context"
	"fmt"
	"net/http"
	"net/url"
	"strings"
	"testing"
	"time"

	"github.com/stretchr/testify/require"

	"github.com/strata-io/strata/test/e2e/e2eutil"
)

// TestHAReplicaKilled kills -9 one replica of an HA pair in the middle of a
// range, restarts it on the same data dir, and checks that the deduplicated
// range has no gap while the raw replica shows one.
func TestHAReplicaKilled(t *testing.T) {
	t.Parallel()
	e := newEnv(t, true)
	tp := e.startTopology(map[string]int{"eu1": 2}, "--query.lookback-delta=6s")
	victim, survivor := tp.replicas[0], tp.replicas[1]
	n := tp.targetsPerCluster("eu1")
	side := e.client(victim.sidecar.URL())

	start := time.Now().Add(time.Second).Truncate(time.Second)
	time.Sleep(time.Until(start.Add(6 * time.Second)))

	victim.prom.Process.Kill()
	killedAt := time.Now()
	t.Logf("killed %s at %s", victim.prom.Name, killedAt.Format(time.RFC3339Nano))

	// While one replica is down, the other answers for every target.
	e.eventually(30*time.Second, "deduplicated up with the survivor only", func() error {
		d, _, err := tp.q.Query(e.ctx, "up", time.Time{}, nil)
		if err != nil {
			return err
		}
		if len(d.Result) != n {
			return fmt.Errorf("want %d series, got %v", n, keys(d.Result))
		}
		return nil
	})
	code, err := side.Status(e.ctx, "/-/healthy")
	require.NoError(t, err)
	require.Equal(t, http.StatusOK, code, "the sidecar process stays healthy while its Prometheus is down")

	time.Sleep(time.Until(killedAt.Add(15 * time.Second)))
	e.restartPrometheus(victim.prom)
	restartedAt := time.Now()
	t.Logf("restarted %s at %s", victim.prom.Name, restartedAt.Format(time.RFC3339Nano))

	// Wait until the querier sees fresh samples of the restarted replica.
	e.eventually(dataTimeout, "fresh samples of the restarted replica through the querier", func() error {
		d, _, err := tp.q.Query(e.ctx, `max_over_time(up{replica="0"}[3s])`, time.Time{}, url.Values{"dedup": {"false"}})
		if err != nil {
			return err
		}
		if len(d.Result) != n {
			return fmt.Errorf("want %d series of replica 0, got %v", n, keys(d.Result))
		}
		return nil
	})
	time.Sleep(3 * time.Second)
	end := time.Now().Add(-2 * time.Second).Truncate(time.Second)
	steps := int(end.Sub(start)/time.Second) + 1

	// max_over_time does not depend on the lookback delta; plain up relies on
	// the querier's --query.lookback-delta=6s to show the gap.
	for _, expr := range []string{`max_over_time(up{cluster="eu1"}[6s])`, `up{cluster="eu1"}`} {
		t.Run(expr, func(t *testing.T) {
			d, _, err := tp.q.QueryRange(e.ctx, expr, start, end, time.Second, url.Values{"dedup": {"true"}})
			require.NoError(t, err)
			require.Len(t, d.Result, n, "%v", keys(d.Result))
			for _, s := range d.Result {
				require.NotContains(t, s.Metric, "replica")
				require.Len(t, s.Values, steps, "deduplicated %s must have a value at every step of [%s, %s]; missing: %v",
					s.Key(), start.Format(time.TimeOnly), end.Format(time.TimeOnly), missingSteps(s, start, end))
			}

			d, _, err = tp.q.QueryRange(e.ctx, expr, start, end, time.Second, url.Values{"dedup": {"false"}})
			require.NoError(t, err)
			require.Len(t, d.Result, 2*n, "%v", keys(d.Result))
			for _, s := range d.Result {
				switch s.Metric["replica"] {
				case survivor.replica:
					require.Len(t, s.Values, steps, "survivor %s; missing: %v", s.Key(), missingSteps(s, start, end))
				case victim.replica:
					missing := missingSteps(s, start, end)
					require.GreaterOrEqual(t, len(missing), 5, "killed replica %s must show the gap", s.Key())
					require.Less(t, s.Values[0].T, killedAt.UnixMilli(), "%s has data from before the kill", s.Key())
					require.Greater(t, s.Values[len(s.Values)-1].T, restartedAt.UnixMilli(), "%s has data from after the restart", s.Key())
				default:
					t.Fatalf("unexpected series %s", s.Key())
				}
			}
		})
	}
}

// missingSteps lists the steps (1s) of [start, end] without a value in s.
func missingSteps(s e2eutil.Series, start, end time.Time) []string {
	have := map[int64]bool{}
	for _, p := range s.Values {
		have[p.T] = true
	}
	var out []string
	for ts := start; !ts.After(end); ts = ts.Add(time.Second) {
		if !have[ts.UnixMilli()] {
			out = append(out, ts.UTC().Format("15:04:05"))
		}
	}
	return out
}

// TestSidecarRequiresExternalLabels starts a sidecar next to a Prometheus
// without external labels: it must exit non-zero and say why.
func TestSidecarRequiresExternalLabels(t *testing.T) {
	t.Parallel()
	e := newEnv(t, true)
	p := e.prometheus("prom-no-labels", nil)
	s := e.strata(e2eutil.NewSidecar(bins.Strata, e.dir, "sidecar", p.URL()), false)

	ctx, cancel := context.WithTimeout(e.ctx, 30*time.Second)
	defer cancel()
	_ = s.Process.Wait(ctx)
	code, exited := s.Process.ExitCode()
	require.True(t, exited, "the sidecar must exit when Prometheus has no external labels")
	require.NotEqual(t, 0, code)
	require.Contains(t, strings.ToLower(s.Process.Logs()), "external label", "the error must name the problem")
}

// TestSidecarReadyFollowsPrometheus stops the sidecar's Prometheus: the
// sidecar reports not ready (503) until Prometheus is back. The sidecar
// checks Prometheus every --prometheus.refresh-interval (default 30s); 2s
// here keeps the test short.
func TestSidecarReadyFollowsPrometheus(t *testing.T) {
	t.Parallel()
	e := newEnv(t, true)
	p := e.prometheus("prom", map[string]string{"cluster": "c1", "replica": "0"})
	c := e.client(e.sidecar("sidecar", p, "--prometheus.refresh-interval=2s").URL())
	probe := func(path string, want int) func() error {
		return func() error {
			code, err := c.Status(e.ctx, path)
			if err != nil {
				return err
			}
			if code != want {
				return fmt.Errorf("GET %s: %d, want %d", path, code, want)
			}
			return nil
		}
	}

	begin := time.Now()
	require.NoError(t, p.Process.Stop(10*time.Second))
	t.Logf("prometheus stopped after %s", time.Since(begin))
	e.eventually(20*time.Second, "sidecar not ready while Prometheus is stopped", probe("/-/ready", http.StatusServiceUnavailable))
	require.NoError(t, probe("/-/healthy", http.StatusOK)())
	t.Logf("sidecar unready after %s", time.Since(begin))

	e.restartPrometheus(p)
	t.Logf("prometheus restarted after %s", time.Since(begin))
	e.eventually(20*time.Second, "sidecar ready after Prometheus restarted", probe("/-/ready", http.StatusOK))
	t.Logf("sidecar ready after %s", time.Since(begin))
}
