package hashring

import (
	"context"
	"log/slog"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/prometheus/client_golang/prometheus"
	"github.com/stretchr/testify/require"

	"github.com/strata-io/strata/internal/testkit"
)

// writeFile replaces path atomically, as a config map update does, so the
// watcher never reads half a file.
func writeFile(t *testing.T, path, content string) {
	t.Helper()
	tmp := path + ".tmp"
	require.NoError(t, os.WriteFile(tmp, []byte(content), 0o600))
	require.NoError(t, os.Rename(tmp, path))
}

func TestWatch(t *testing.T) {
	path := filepath.Join(t.TempDir(), "hashrings.json")
	writeFile(t, path, `[{"endpoints": ["a:1"]}]`)

	logs := &testkit.SyncBuffer{}
	reg := prometheus.NewRegistry()
	changes := make(chan []Config, 10)
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan error)
	go func() {
		done <- Watch(ctx, WatchConfig{
			Path:     path,
			Interval: 5 * time.Millisecond,
			// Rejected though valid JSON: the process's own check.
			Check: func(cfgs []Config) error {
				_, err := NewMulti(cfgs, Options{ReplicationFactor: 2})
				return err
			},
			Logger:     slog.New(slog.NewTextHandler(logs, nil)),
			Registerer: reg,
		}, func(cfgs []Config) { changes <- cfgs })
	}()
	defer func() {
		cancel()
		require.NoError(t, <-done)
	}()

	// The first file fails the check (one endpoint, replication factor
	// 2): nothing is reported, the reason is logged.
	require.Eventually(t, func() bool { return strings.Contains(logs.String(), "needs at least 2 endpoints") }, 5*time.Second, time.Millisecond)
	require.Empty(t, changes)

	writeFile(t, path, `[{"endpoints": ["a:1", "b:1"]}]`)
	got := receive(t, changes)
	require.Equal(t, []Endpoint{{Address: "a:1"}, {Address: "b:1"}}, got[0].Endpoints)
	require.Equal(t, 1.0, metric(reg, "strata_receive_config_last_reload_successful"))

	// An invalid file keeps the last good configuration and says why.
	writeFile(t, path, `[{"endpoints": ["a:1", "a:1"]}]`)
	require.Eventually(t, func() bool { return strings.Contains(logs.String(), `endpoint \"a:1\" is listed twice`) }, 5*time.Second, time.Millisecond)
	require.Eventually(t, func() bool {
		return metric(reg, "strata_receive_config_last_reload_successful") == 0
	}, 5*time.Second, time.Millisecond)
	// A broken file too, and a missing one.
	writeFile(t, path, `[{"endpoints": `)
	require.Eventually(t, func() bool { return strings.Contains(logs.String(), "parse hashrings JSON") }, 5*time.Second, time.Millisecond)
	require.NoError(t, os.Remove(path))
	require.Eventually(t, func() bool { return strings.Contains(logs.String(), "no such file") }, 5*time.Second, time.Millisecond)
	require.Empty(t, changes)

	// Back to the configuration in use: nothing to report.
	writeFile(t, path, `[{"endpoints": ["a:1", "b:1"]}]`)
	require.Eventually(t, func() bool {
		return metric(reg, "strata_receive_config_last_reload_successful") == 1
	}, 5*time.Second, time.Millisecond)
	require.Empty(t, changes)

	// A new valid file is reported once.
	writeFile(t, path, `[{"tenants": ["x"], "endpoints": ["c:1", "d:1"]}, {"endpoints": ["a:1", "b:1"]}]`)
	got = receive(t, changes)
	require.Len(t, got, 2)
	time.Sleep(50 * time.Millisecond)
	require.Empty(t, changes)
	require.Equal(t, 2.0, metric(reg, "strata_receive_hashrings_file_changes_total"))
}

func receive(t *testing.T, ch <-chan []Config) []Config {
	t.Helper()
	select {
	case c := <-ch:
		return c
	case <-time.After(5 * time.Second):
		t.Fatal("no configuration reported")
		return nil
	}
}

// metric returns the value of the counter or gauge name in reg, or -1 when
// reg has none. It may run in require.Eventually's goroutine, so it does
// not fail the test itself.
func metric(reg *prometheus.Registry, name string) float64 {
	families, err := reg.Gather()
	if err != nil {
		return -1
	}
	for _, f := range families {
		if f.GetName() != name {
			continue
		}
		m := f.GetMetric()[0]
		if c := m.GetCounter(); c != nil {
			return c.GetValue()
		}
		return m.GetGauge().GetValue()
	}
	return -1
}

func TestWatchConfigErrors(t *testing.T) {
	err := Watch(context.Background(), WatchConfig{}, func([]Config) {})
	require.ErrorContains(t, err, "--receive.hashrings-file")
	err = Watch(context.Background(), WatchConfig{Path: "x", Interval: -time.Second}, func([]Config) {})
	require.ErrorContains(t, err, "--receive.hashrings-file-refresh-interval")
}
