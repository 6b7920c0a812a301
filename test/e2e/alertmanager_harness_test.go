package e2e

import (
	"cmp"
	"context"
	"fmt"
	"os/exec"
	"path/filepath"
	"slices"
	"testing"
	"time"

	"github.com/stretchr/testify/require"

	"github.com/strata-io/strata/test/e2e/e2eutil"
)

// notifyTimeout bounds the wait for a webhook notification (group_wait and
// group_interval are 1s in the harness' Alertmanager).
const notifyTimeout = 20 * time.Second

// alertmanager starts an Alertmanager routing every alert to its webhook and
// waits until it is ready; it is killed and its webhook closed at cleanup.
func (e *env) alertmanager(name string, cfg e2eutil.AlertmanagerConfig) *e2eutil.Alertmanager {
	e.t.Helper()
	requireAlertmanager(e.t)
	am := e2eutil.NewAlertmanager(amBin, e.dir, name)
	am.Config = cfg
	e.t.Cleanup(am.Close)
	e.watch(name, func() *e2eutil.Process { return am.Process })
	ctx, cancel := context.WithTimeout(e.ctx, readyTimeout)
	defer cancel()
	require.NoError(e.t, am.Start(ctx, ports), "start %s", name)
	return am
}

// waitNotification waits for a webhook message for which match returns nil
// and returns it; on timeout the test fails with match's last error.
func (e *env) waitNotification(am *e2eutil.Alertmanager, what string, match func(e2eutil.WebhookMessage) error) e2eutil.WebhookMessage {
	e.t.Helper()
	var found e2eutil.WebhookMessage
	e.eventually(notifyTimeout, what, func() error {
		msgs, err := am.Notifications()
		if err != nil {
			return err
		}
		last := fmt.Errorf("no notification yet")
		for _, m := range msgs {
			if last = match(m); last == nil {
				found = m
				return nil
			}
		}
		return last
	})
	return found
}

// TestHarnessAlertmanager checks the harness' own Alertmanager: alerts posted
// as two HA rulers post them (the same alert twice, once the replica label is
// dropped) are listed once, notified together in one group, and a resolved
// alert is notified as resolved. When this fails, the ruler tests cannot pass.
func TestHarnessAlertmanager(t *testing.T) {
	t.Parallel()
	e := newEnv(t, false)
	am := e.alertmanager("alertmanager", e2eutil.AlertmanagerConfig{})

	amtool := filepath.Join(filepath.Dir(amBin), "amtool")
	out, err := exec.CommandContext(e.ctx, amtool, "check-config", am.ConfigPath()).CombinedOutput()
	require.NoError(t, err, "amtool check-config: %s", out)

	start := time.Now().Add(-time.Minute).UTC().Truncate(time.Second)
	disk := e2eutil.PostableAlert{
		Labels:       map[string]string{"alertname": "DiskFull", "cluster": "eu1", "severity": "page"},
		Annotations:  map[string]string{"summary": "disk of eu1 is full"},
		StartsAt:     start,
		GeneratorURL: "http://strata-query:10902/graph?g0.expr=disk_free+%3D%3D+0",
	}
	down := e2eutil.PostableAlert{
		Labels:   map[string]string{"alertname": "TargetDown", "cluster": "us1", "severity": "ticket"},
		StartsAt: start,
	}
	require.NoError(t, am.PostAlerts(e.ctx, disk), "ruler a")
	require.NoError(t, am.PostAlerts(e.ctx, disk, down), "ruler b")

	var listed []e2eutil.GettableAlert
	e.eventually(notifyTimeout, "two active alerts", func() error {
		var err error
		if listed, err = am.Alerts(e.ctx); err != nil {
			return err
		}
		if len(listed) != 2 {
			return fmt.Errorf("want 2 alerts, got %+v", listed)
		}
		for _, a := range listed {
			if a.Status.State != "active" {
				return fmt.Errorf("alert %s is %q", a.Labels["alertname"], a.Status.State)
			}
		}
		return nil
	})
	slices.SortFunc(listed, func(a, b e2eutil.GettableAlert) int {
		return cmp.Compare(a.Labels["alertname"], b.Labels["alertname"])
	})
	require.Equal(t, disk.Labels, listed[0].Labels)
	require.Equal(t, disk.Annotations, listed[0].Annotations)
	require.Equal(t, disk.GeneratorURL, listed[0].GeneratorURL)
	require.True(t, start.Equal(listed[0].StartsAt), "startsAt %s, want %s", listed[0].StartsAt, start)
	require.True(t, listed[0].EndsAt.After(time.Now()), "endsAt %s of a firing alert is not in the future", listed[0].EndsAt)
	require.Equal(t, down.Labels, listed[1].Labels)
	require.NotEqual(t, listed[0].Fingerprint, listed[1].Fingerprint)

	firing := e.waitNotification(am, "one notification with both alerts firing", func(m e2eutil.WebhookMessage) error {
		if m.Status != "firing" || !slices.Equal(m.AlertNames("firing"), []string{"DiskFull", "TargetDown"}) {
			return fmt.Errorf("got %s notification of %v", m.Status, m.AlertNames(""))
		}
		return nil
	})
	require.Len(t, firing.Alerts, 2, "the alert both rulers posted is notified once")
	require.Equal(t, "harness", firing.Receiver)

	// The rulers resolve DiskFull: its end time is now in the past.
	resolved := disk
	resolved.EndsAt = time.Now().Add(-time.Second)
	require.NoError(t, am.PostAlerts(e.ctx, resolved))
	e.waitNotification(am, "DiskFull notified as resolved", func(m e2eutil.WebhookMessage) error {
		if !slices.Equal(m.AlertNames("resolved"), []string{"DiskFull"}) ||
			!slices.Equal(m.AlertNames("firing"), []string{"TargetDown"}) {
			return fmt.Errorf("got %s notification with resolved %v, firing %v",
				m.Status, m.AlertNames("resolved"), m.AlertNames("firing"))
		}
		return nil
	})
	listed, err = am.Alerts(e.ctx)
	require.NoError(t, err)
	require.Len(t, listed, 1, "resolved alerts are not listed")
	require.Equal(t, "TargetDown", listed[0].Labels["alertname"])
}
