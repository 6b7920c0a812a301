package e2e

import (
	"encoding/json"
	"fmt"
	"io"
	"maps"
	"net/http"
	"net/http/httptest"
	"net/url"
	"os"
	"path/filepath"
	"slices"
	"sync/atomic"
	"testing"
	"time"

	"github.com/stretchr/testify/require"

	"github.com/strata-io/strata/test/e2e/e2eutil"
)

// ruleFile is evaluated by both rulers of TestRule. ClustersUp fires while
// the flip target of both clusters is up; the test resolves it by making
// the one of us1 fail its scrapes. LongPending stays pending throughout,
// across a restart of a ruler.
const ruleFile = `groups:
  - name: global
    interval: 1s
    rules:
      - record: cluster:up:count
        expr: count by (cluster) (up)
      - alert: ClustersUp
        expr: count(count by (cluster) (up{job="flip"} == 1)) >= 2
        for: 2s
        labels:
          severity: page
        annotations:
          summary: "{{ $value }} clusters are up"
  - name: restart
    interval: 1s
    rules:
      - alert: LongPending
        expr: vector(1)
        for: 1h
`

// rulesJSON is the data of /api/v1/rules.
type rulesJSON struct {
	Groups []ruleGroupJSON `json:"groups"`
}

// ruleGroupJSON is one group of /api/v1/rules.
type ruleGroupJSON struct {
	Name  string `json:"name"`
	File  string `json:"file"`
	Rules []struct {
		Name      string            `json:"name"`
		Type      string            `json:"type"`
		State     string            `json:"state"`
		Health    string            `json:"health"`
		LastError string            `json:"lastError"`
		Labels    map[string]string `json:"labels"`
		Alerts    []alertJSON       `json:"alerts"`
	} `json:"rules"`
}

// alertsJSON is the data of /api/v1/alerts.
type alertsJSON struct {
	Alerts []alertJSON `json:"alerts"`
}

// named returns the alerts named name.
func (a alertsJSON) named(name string) []alertJSON {
	var out []alertJSON
	for _, x := range a.Alerts {
		if x.Labels["alertname"] == name {
			out = append(out, x)
		}
	}
	return out
}

// alertJSON is one alert of /api/v1/alerts.
type alertJSON struct {
	Labels      map[string]string `json:"labels"`
	Annotations map[string]string `json:"annotations"`
	State       string            `json:"state"`
	ActiveAt    *time.Time        `json:"activeAt"`
	Value       string            `json:"value"`
}

// ruler starts `strata rule` with the ruler_replica external label set to
// replica, over the query API at queryURL, sending alerts to am.
func (e *env) ruler(name, replica, rules, queryURL string, am *e2eutil.Alertmanager) *e2eutil.Strata {
	e.t.Helper()
	dir := filepath.Join(e.dir, name)
	return e.strata(&e2eutil.Strata{Bin: bins.Strata, Name: name, Dir: dir, Component: "rule", Args: []string{
		"--query=" + queryURL,
		"--rule-file=" + rules,
		"--data-dir=" + filepath.Join(dir, "data"),
		"--eval-interval=1s",
		fmt.Sprintf("--label=ruler_replica=%q", replica),
		"--alert.label-drop=ruler_replica",
		"--alertmanagers.url=" + am.URL(),
	}}, true)
}

// TestRule runs an HA pair of rulers over a querier of two clusters (eu1 an
// HA pair, us1 one Prometheus) and checks what a user sees: the alert in
// Alertmanager once and notified, the recorded series, rules and alerts
// through a querier deduplicating the rulers, the resolved notification, and
// the for state of a pending alert across a restart of a ruler.
func TestRule(t *testing.T) {
	t.Parallel()
	e := newEnv(t, true)
	requireAlertmanager(t)
	tp := e.startTopology(map[string]int{"eu1": 2, "us1": 1})
	flips := e.flipTargets(tp)
	am := e.alertmanager("alertmanager", e2eutil.AlertmanagerConfig{})

	rules := filepath.Join(e.dir, "rules.yml")
	require.NoError(t, os.WriteFile(rules, []byte(ruleFile), 0o644))
	rulerA := e.ruler("ruler-a", "a", rules, tp.querier.URL(), am)
	rulerB := e.ruler("ruler-b", "b", rules, tp.querier.URL(), am)

	// A querier over the sidecars and the rulers, deduplicating both pairs.
	endpoints := []string{rulerA.GRPCAddr, rulerB.GRPCAddr}
	for _, r := range tp.replicas {
		endpoints = append(endpoints, r.sidecar.GRPCAddr)
	}
	q2 := e.client(e.querier("querier-rules", endpoints, "--query.replica-label=ruler_replica").URL())

	wantAlert := map[string]string{"alertname": "ClustersUp", "severity": "page"}

	t.Run("the alert reaches Alertmanager once and is notified", func(t *testing.T) {
		e := e.sub(t)
		e.eventually(notifyTimeout, "ClustersUp listed by Alertmanager", func() error {
			alerts, err := am.Alerts(e.ctx)
			if err != nil {
				return err
			}
			if len(alerts) != 1 {
				return fmt.Errorf("want 1 alert, got %+v", alerts)
			}
			return nil
		})
		alerts, err := am.Alerts(e.ctx)
		require.NoError(t, err)
		require.Len(t, alerts, 1, "both rulers send the alert; Alertmanager lists it once")
		require.Equal(t, wantAlert, alerts[0].Labels, "ruler_replica is dropped, no other external label")
		require.Equal(t, "2 clusters are up", alerts[0].Annotations["summary"])
		require.Equal(t, "active", alerts[0].Status.State)

		msg := e.waitNotification(am, "a firing ClustersUp notification", func(m e2eutil.WebhookMessage) error {
			if m.Status != "firing" || !slices.Equal(m.AlertNames("firing"), []string{"ClustersUp"}) {
				return fmt.Errorf("got %s notification of %v", m.Status, m.AlertNames(""))
			}
			return nil
		})
		require.Len(t, msg.Alerts, 1, "the alert of both rulers is notified once")
		require.Equal(t, wantAlert, msg.Alerts[0].Labels)
	})

	t.Run("recorded series through the querier, deduplicated", func(t *testing.T) {
		e := e.sub(t)
		want := map[string]string{
			"eu1": fmt.Sprint(tp.targetsPerCluster("eu1") + 1), // + its flip target
			"us1": fmt.Sprint(tp.targetsPerCluster("us1") + 1),
		}
		// Without dedup each ruler's copy is there, with its external label.
		e.eventually(dataTimeout, "cluster:up:count of both rulers with dedup=false", func() error {
			d, _, err := q2.Query(e.ctx, "cluster:up:count", time.Time{}, url.Values{"dedup": {"false"}})
			if err != nil {
				return err
			}
			replicas := map[string]int{}
			for _, s := range d.Result {
				replicas[s.Metric["ruler_replica"]]++
			}
			if !maps.Equal(replicas, map[string]int{"a": 2, "b": 2}) {
				return fmt.Errorf("got %v", keys(d.Result))
			}
			return nil
		})
		e.eventually(dataTimeout, "cluster:up:count of both clusters", func() error {
			d, resp, err := q2.Query(e.ctx, "cluster:up:count", time.Time{}, nil)
			if err != nil {
				return err
			}
			if len(resp.Warnings) > 0 {
				return fmt.Errorf("warnings: %v", resp.Warnings)
			}
			got := map[string]string{}
			for _, s := range d.Result {
				if _, ok := got[s.Metric["cluster"]]; ok {
					return fmt.Errorf("cluster %s twice: %v", s.Metric["cluster"], keys(d.Result))
				}
				got[s.Metric["cluster"]] = s.Value.V
				wantLabels := map[string]string{"__name__": "cluster:up:count", "cluster": s.Metric["cluster"]}
				if !maps.Equal(s.Metric, wantLabels) {
					return fmt.Errorf("series %s, want %s", s.Key(), e2eutil.LabelsKey(wantLabels))
				}
			}
			if !maps.Equal(got, want) {
				return fmt.Errorf("got %v, want %v", got, want)
			}
			return nil
		})
	})

	t.Run("rules and alerts through the querier, deduplicated", func(t *testing.T) {
		e := e.sub(t)
		e.eventually(dataTimeout, "the global group once, healthy", func() error {
			var rs rulesJSON
			if err := getJSON(e, q2, "/api/v1/rules", &rs); err != nil {
				return err
			}
			names := map[string]int{}
			for _, g := range rs.Groups {
				names[g.Name]++
			}
			if !maps.Equal(names, map[string]int{"global": 1, "restart": 1}) {
				return fmt.Errorf("want the groups global and restart once each, got %v", names)
			}
			i := slices.IndexFunc(rs.Groups, func(g ruleGroupJSON) bool { return g.Name == "global" })
			g := rs.Groups[i]
			if g.Name != "global" || g.File != rules || len(g.Rules) != 2 {
				return fmt.Errorf("got group %q of %q with %d rules", g.Name, g.File, len(g.Rules))
			}
			for _, r := range g.Rules {
				if r.Health != "ok" {
					return fmt.Errorf("rule %s: health %q: %s", r.Name, r.Health, r.LastError)
				}
				if _, ok := r.Labels["ruler_replica"]; ok {
					return fmt.Errorf("rule %s keeps the replica label: %v", r.Name, r.Labels)
				}
			}
			if g.Rules[0].Name != "cluster:up:count" || g.Rules[0].Type != "recording" ||
				g.Rules[1].Name != "ClustersUp" || g.Rules[1].Type != "alerting" || g.Rules[1].State != "firing" {
				return fmt.Errorf("got rules %+v", g.Rules)
			}
			return nil
		})

		var as alertsJSON
		require.NoError(t, getJSON(e, q2, "/api/v1/alerts", &as))
		up := as.named("ClustersUp")
		require.Len(t, up, 1, "%+v", as.Alerts)
		require.Equal(t, wantAlert, up[0].Labels)
		require.Equal(t, "firing", up[0].State)
		require.Equal(t, "2e+00", up[0].Value, "Prometheus' format of alert values")
		require.Len(t, as.named("LongPending"), 1, "%+v", as.Alerts)
		require.Equal(t, "pending", as.named("LongPending")[0].State)

		as = alertsJSON{}
		require.NoError(t, getJSON(e, q2, "/api/v1/alerts?dedup=false", &as))
		require.Len(t, as.named("ClustersUp"), 2, "without dedup each ruler's alert is listed: %+v", as.Alerts)
	})

	t.Run("resolved once the flip target of us1 is down", func(t *testing.T) {
		e := e.sub(t)
		flips["us1"].Store(false)
		e.waitNotification(am, "a resolved ClustersUp notification", func(m e2eutil.WebhookMessage) error {
			if m.Status != "resolved" || !slices.Equal(m.AlertNames("resolved"), []string{"ClustersUp"}) {
				return fmt.Errorf("got %s notification of %v", m.Status, m.AlertNames(""))
			}
			return nil
		})
		msgs, err := am.Notifications()
		require.NoError(t, err)
		firing := 0
		for _, m := range msgs {
			if m.Status == "firing" {
				firing++
			}
		}
		require.Equal(t, 1, firing, "one firing notification for the alert of both rulers: %+v", msgs)
		alerts, err := am.Alerts(e.ctx)
		require.NoError(t, err)
		require.Empty(t, alerts, "resolved alerts are not listed")
		e.eventually(dataTimeout, "no alert listed by the querier", func() error {
			var as alertsJSON
			if err := getJSON(e, q2, "/api/v1/alerts", &as); err != nil {
				return err
			}
			if up := as.named("ClustersUp"); len(up) > 0 {
				return fmt.Errorf("got %+v", up)
			}
			return nil
		})
	})

	t.Run("a restarted ruler keeps the for state of a pending alert", func(t *testing.T) {
		e := e.sub(t)
		before := longPendingSince(e, rulerA)
		// Pending long enough that a reset could not be mistaken for a restore.
		time.Sleep(time.Until(before.Add(10 * time.Second)))
		require.NoError(t, rulerA.Process.Stop(30*time.Second), "SIGTERM: a clean exit")
		restart := time.Now()
		e.strata(rulerA, true)
		e.eventually(dataTimeout, "LongPending restored as pending since before the restart", func() error {
			since := longPendingSince(e, rulerA)
			if !since.Before(restart) {
				return fmt.Errorf("pending since %s, after the restart at %s (was since %s)", since, restart, before)
			}
			return nil
		})
	})
}

// longPendingSince returns when LongPending became active according to
// the ruler's own /api/v1/alerts, failing the test unless it is pending.
func longPendingSince(e *env, ruler *e2eutil.Strata) time.Time {
	e.t.Helper()
	var since time.Time
	c := e.client(ruler.URL())
	e.eventually(dataTimeout, "LongPending pending on "+ruler.Name, func() error {
		var as alertsJSON
		if err := getJSON(e, c, "/api/v1/alerts", &as); err != nil {
			return err
		}
		lp := as.named("LongPending")
		if len(lp) != 1 || lp[0].State != "pending" || lp[0].ActiveAt == nil {
			return fmt.Errorf("got %+v", as.Alerts)
		}
		since = *lp[0].ActiveAt
		return nil
	})
	return since
}

// flipTargets serves one scrape target per cluster of tp, scraped by the
// cluster's Prometheus servers under job "flip", and waits until their `up`
// is 1 through the querier. Storing false in a cluster's flag makes its
// target answer 503, so its `up` turns 0.
func (e *env) flipTargets(tp *topology) map[string]*atomic.Bool {
	e.t.Helper()
	flips := map[string]*atomic.Bool{}
	addrs := map[string]string{}
	for _, r := range tp.replicas {
		if flips[r.cluster] != nil {
			continue
		}
		ok := &atomic.Bool{}
		ok.Store(true)
		srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, _ *http.Request) {
			if !ok.Load() {
				http.Error(w, "flipped off", http.StatusServiceUnavailable)
				return
			}
			w.Header().Set("Content-Type", "text/plain; version=0.0.4; charset=utf-8")
			_, _ = io.WriteString(w, "# TYPE flip gauge\nflip 1\n")
		}))
		e.t.Cleanup(srv.Close)
		flips[r.cluster] = ok
		addrs[r.cluster] = srv.Listener.Addr().String()
	}
	for _, r := range tp.replicas {
		r.prom.Config.Jobs["flip"] = []string{addrs[r.cluster]}
		require.NoError(e.t, r.prom.Reload(e.ctx))
	}
	e.eventually(dataTimeout, "up of every flip target through the querier", func() error {
		d, _, err := tp.q.Query(e.ctx, `up{job="flip"} == 1`, time.Time{}, nil)
		if err != nil {
			return err
		}
		if len(d.Result) != len(flips) {
			return fmt.Errorf("got %v", keys(d.Result))
		}
		return nil
	})
	return flips
}

// getJSON decodes the data of an API answer of c at path.
func getJSON(e *env, c *e2eutil.Client, path string, into any) error {
	r, err := c.Get(e.ctx, path, nil)
	if err != nil {
		return err
	}
	if err := r.Err(); err != nil {
		return fmt.Errorf("%s: %w", path, err)
	}
	if err := json.Unmarshal(r.Data, into); err != nil {
		return fmt.Errorf("decode %s: %w: %.300s", path, err, r.Data)
	}
	return nil
}
