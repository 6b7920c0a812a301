package e2e

import (
	"fmt"
	"testing"
	"time"

	"github.com/stretchr/testify/require"
)

// TestHarnessPrometheus checks the harness' own Prometheus setup: a server
// started with a generated config scrapes itself every second and picks up
// new targets on reload. When this fails, the strata tests cannot pass.
func TestHarnessPrometheus(t *testing.T) {
	t.Parallel()
	e := newEnv(t, false)
	a := e.prometheus("prom-a", map[string]string{"cluster": "test"})
	b := e.prometheus("prom-b", nil)
	c := e.client(a.URL())

	a.Config.Jobs = map[string][]string{"other": {b.Addr}}
	require.NoError(t, a.Reload(e.ctx))
	e.eventually(dataTimeout, "up of both targets on prom-a", func() error {
		d, _, err := c.Query(e.ctx, "up == 1", time.Time{}, nil)
		if err != nil {
			return err
		}
		if len(d.Result) != 2 {
			return fmt.Errorf("want 2 series, got %v", keys(d.Result))
		}
		return nil
	})
	// External labels are not attached to local query results.
	d, _, err := c.Query(e.ctx, `up{job="other"}`, time.Time{}, nil)
	require.NoError(t, err)
	require.Len(t, d.Result, 1)
	require.Equal(t, b.Addr, d.Result[0].Metric["instance"])
	require.NotContains(t, d.Result[0].Metric, "cluster")
}
