package e2e

import (
	"encoding/json"
	"fmt"
	"net/url"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/stretchr/testify/require"

	"github.com/strata-io/strata/test/e2e/e2eutil"
)

// TestGlobalView runs an HA pair eu1 (replicas 0 and 1) and us1 (replica 0),
// a sidecar each and one querier deduplicating on "replica", and checks what a
// user of the query API, of promtool and of a stacked querier sees.
func TestGlobalView(t *testing.T) {
	t.Parallel()
	e := newEnv(t, true)
	tp := e.startTopology(map[string]int{"eu1": 2, "us1": 1})
	q := tp.q
	// Let every target be scraped a few times, then query at a fixed time
	// slightly in the past, which every replica has ingested: repeated
	// queries see the same data.
	time.Sleep(6 * time.Second)
	at := time.Now().Add(-time.Second)

	t.Run("up deduplicated by default and with dedup=true", func(t *testing.T) {
		for _, params := range []url.Values{nil, {"dedup": {"true"}}} {
			d, resp, err := q.Query(e.ctx, "up", at, params)
			require.NoError(t, err)
			require.Empty(t, resp.Warnings)
			require.Equal(t, "vector", d.ResultType)
			perCluster := map[string]int{}
			seen := map[string]bool{}
			for _, s := range d.Result {
				require.NotContains(t, s.Metric, "replica", "dedup must drop the replica label: %s", s.Key())
				id := s.Metric["cluster"] + "/" + s.Metric["job"] + "/" + s.Metric["instance"]
				require.False(t, seen[id], "series %s twice with dedup on (params %v): %v", id, params, keys(d.Result))
				seen[id] = true
				perCluster[s.Metric["cluster"]]++
				require.Equal(t, "1", s.Value.V, "%s", s.Key())
			}
			require.Equal(t, map[string]int{"eu1": tp.targetsPerCluster("eu1"), "us1": tp.targetsPerCluster("us1")},
				perCluster, "series per cluster with params %v: %v", params, keys(d.Result))
		}
	})

	t.Run("up with dedup=false shows both eu1 replicas", func(t *testing.T) {
		d, _, err := q.Query(e.ctx, "up", at, url.Values{"dedup": {"false"}})
		require.NoError(t, err)
		perReplica := map[string]int{}
		for _, s := range d.Result {
			perReplica[s.Metric["cluster"]+"/"+s.Metric["replica"]]++
		}
		n := tp.targetsPerCluster("eu1")
		require.Equal(t, map[string]int{"eu1/0": n, "eu1/1": n, "us1/0": tp.targetsPerCluster("us1")},
			perReplica, "%v", keys(d.Result))
	})

	t.Run("series labels and label values", func(t *testing.T) {
		start, end := at.Add(-time.Minute), at
		series, err := q.Series(e.ctx, []string{`up{job="prometheus"}`}, start, end, nil)
		require.NoError(t, err)
		// eu1 has two Prometheus targets, us1 one; deduplicated by default.
		require.Len(t, series, 3, "%v", series)
		for _, s := range series {
			require.Equal(t, "up", s["__name__"])
			require.Contains(t, []string{"eu1", "us1"}, s["cluster"])
			require.NotContains(t, s, "replica")
		}
		series, err = q.Series(e.ctx, []string{`up{job="prometheus"}`}, start, end, url.Values{"dedup": {"false"}})
		require.NoError(t, err)
		require.Len(t, series, 5, "without dedup each eu1 replica has its own series: %v", series)

		names, err := q.Labels(e.ctx, start, end, nil)
		require.NoError(t, err)
		require.Subset(t, names, []string{"__name__", "cluster", "instance", "job"})

		values, err := q.LabelValues(e.ctx, "cluster", start, end, nil)
		require.NoError(t, err)
		require.Equal(t, []string{"eu1", "us1"}, values)

		values, err = q.LabelValues(e.ctx, "job", start, end, nil)
		require.NoError(t, err)
		require.Equal(t, []string{"prometheus", "query", "sidecar"}, values)
	})

	t.Run("replicaLabels and storeMatch parameters", func(t *testing.T) {
		// Deduplicating on cluster instead of replica: no series keeps a
		// cluster label, both eu1 replicas stay apart, and the querier target,
		// scraped in both clusters by a replica "0", collapses into one series.
		d, _, err := q.Query(e.ctx, "up", at, url.Values{"replicaLabels[]": {"cluster"}})
		require.NoError(t, err)
		for _, s := range d.Result {
			require.NotContains(t, s.Metric, "cluster", "%s", s.Key())
			require.Contains(t, s.Metric, "replica", "%s", s.Key())
		}
		n := 2*tp.targetsPerCluster("eu1") + tp.targetsPerCluster("us1") - 1
		require.Len(t, d.Result, n, "%v", keys(d.Result))

		d, _, err = q.Query(e.ctx, "up", at, url.Values{"storeMatch[]": {`{cluster="us1"}`}})
		require.NoError(t, err)
		require.Len(t, d.Result, tp.targetsPerCluster("us1"), "%v", keys(d.Result))
		for _, s := range d.Result {
			require.Equal(t, "us1", s.Metric["cluster"])
		}
	})

	t.Run("buildinfo and metadata", func(t *testing.T) {
		r, err := q.Get(e.ctx, "/api/v1/status/buildinfo", nil)
		require.NoError(t, err)
		require.NoError(t, r.Err())
		var info map[string]string
		require.NoError(t, json.Unmarshal(r.Data, &info))
		require.Contains(t, info, "version")
		require.NotEmpty(t, info["goVersion"])

		r, err = q.Get(e.ctx, "/api/v1/metadata", url.Values{"metric": {"prometheus_http_requests_total"}})
		require.NoError(t, err)
		require.NoError(t, r.Err())
		var md map[string][]map[string]string
		require.NoError(t, json.Unmarshal(r.Data, &md))
		require.Len(t, md["prometheus_http_requests_total"], 1, "metadata of all replicas is merged: %s", r.Data)
		require.Equal(t, "counter", md["prometheus_http_requests_total"][0]["type"])
	})

	t.Run("endpoints from a file SD file follow its changes", func(t *testing.T) {
		e := e.sub(t)
		sd := filepath.Join(e.dir, "endpoints.yml")
		var qsd *e2eutil.Client
		writeSD := func(rs ...*replica) {
			var b strings.Builder
			b.WriteString("- targets:\n")
			for _, r := range rs {
				fmt.Fprintf(&b, "    - %q\n", r.sidecar.GRPCAddr)
			}
			require.NoError(t, os.WriteFile(sd+".tmp", []byte(b.String()), 0o644))
			require.NoError(t, os.Rename(sd+".tmp", sd))
		}
		countUp := func(want int) func() error {
			return func() error {
				d, _, err := qsd.Query(e.ctx, "up", at, nil)
				if err != nil {
					return err
				}
				if len(d.Result) != want {
					return fmt.Errorf("want %d series, got %v", want, keys(d.Result))
				}
				return nil
			}
		}
		writeSD(tp.replicas...)
		qsd = e.client(e.querier("querier-file-sd", nil, "--store.sd-files="+sd).URL())
		e.eventually(dataTimeout, "all clusters through file SD", countUp(tp.targetsPerCluster("eu1")+tp.targetsPerCluster("us1")))
		writeSD(tp.replicas[len(tp.replicas)-1])
		e.eventually(dataTimeout, "only us1 after the file changed", countUp(tp.targetsPerCluster("us1")))
	})

	t.Run("stores lists the three sidecars", func(t *testing.T) {
		stores, err := q.Stores(e.ctx)
		require.NoError(t, err)
		got := map[string][]map[string]string{}
		for _, s := range stores["sidecar"] {
			got[s.Name] = s.LabelSets
			if s.LastError != nil {
				require.Empty(t, *s.LastError, "store %s", s.Name)
			}
			require.Less(t, s.MinTime, s.MaxTime, "store %s time range", s.Name)
		}
		want := map[string][]map[string]string{}
		for _, r := range tp.replicas {
			want[r.sidecar.GRPCAddr] = []map[string]string{{"cluster": r.cluster, "replica": r.replica}}
		}
		require.Equal(t, want, got, "all stores: %+v", stores)
	})

	t.Run("stacked querier answers like the first", func(t *testing.T) {
		e := e.sub(t)
		q2s := e.querier("querier-stacked", []string{tp.querier.GRPCAddr})
		q2 := e.client(q2s.URL())
		queries := []string{
			"up",
			`sum by (cluster, job) (rate(prometheus_http_requests_total[5s]))`,
			`prometheus_tsdb_head_series`,
		}
		end := time.Now().Add(-time.Second)
		start := end.Add(-5 * time.Second)
		for _, dedup := range []string{"true", "false"} {
			params := url.Values{"dedup": {dedup}}
			for _, expr := range queries {
				var first, second e2eutil.QueryData
				e.eventually(dataTimeout, "stacked querier sees the stores of the first", func() error {
					var err error
					if first, _, err = q.Query(e.ctx, expr, end, params); err != nil {
						return err
					}
					if second, _, err = q2.Query(e.ctx, expr, end, params); err != nil {
						return err
					}
					if len(first.Result) == 0 || len(second.Result) != len(first.Result) {
						return fmt.Errorf("%s dedup=%s: first has %d series, stacked %d", expr, dedup, len(first.Result), len(second.Result))
					}
					return nil
				})
				require.Equal(t, first.Sorted(), second.Sorted(), "instant %s dedup=%s", expr, dedup)

				r1, _, err := q.QueryRange(e.ctx, expr, start, end, time.Second, params)
				require.NoError(t, err)
				r2, _, err := q2.QueryRange(e.ctx, expr, start, end, time.Second, params)
				require.NoError(t, err)
				require.NotEmpty(t, r1.Result)
				require.Equal(t, "matrix", r2.ResultType)
				require.Equal(t, r1.Sorted(), r2.Sorted(), "range %s dedup=%s", expr, dedup)
			}
		}
	})

	t.Run("promtool queries the querier", func(t *testing.T) {
		out, err := exec.CommandContext(e.ctx, bins.Promtool, "query", "instant", tp.querier.URL(), "up").CombinedOutput()
		require.NoError(t, err, "promtool query instant: %s", out)
		lines := strings.Split(strings.TrimSpace(string(out)), "\n")
		require.Len(t, lines, tp.targetsPerCluster("eu1")+tp.targetsPerCluster("us1"), "%s", out)
		for _, l := range lines {
			require.True(t, strings.HasPrefix(l, "up{"), "line %q", l)
			require.Contains(t, l, "=> 1 @[", "line %q", l)
			require.NotContains(t, l, "replica=", "line %q", l)
		}
		require.Contains(t, string(out), `cluster="eu1"`)
		require.Contains(t, string(out), `cluster="us1"`)

		end := time.Now().Add(-time.Second)
		out, err = exec.CommandContext(e.ctx, bins.Promtool, "query", "range",
			"--start="+strconv.FormatInt(end.Add(-3*time.Second).Unix(), 10),
			"--end="+strconv.FormatInt(end.Unix(), 10), "--step=1s",
			tp.querier.URL(), `up{cluster="us1"}`).CombinedOutput()
		require.NoError(t, err, "promtool query range: %s", out)
		require.Equal(t, tp.targetsPerCluster("us1"), strings.Count(string(out), "up{"), "%s", out)
		require.Contains(t, string(out), `cluster="us1"`)
		require.Equal(t, 4*tp.targetsPerCluster("us1"), strings.Count(string(out), "1 @["), "4 steps per series: %s", out)
	})

	t.Run("down endpoint gives a partial response or an error", func(t *testing.T) {
		e := e.sub(t)
		dead, err := ports.ClosedAddr()
		require.NoError(t, err)
		us1 := tp.replicas[len(tp.replicas)-1]
		require.Equal(t, "us1", us1.cluster)
		qd := e.client(e.querier("querier-dead-endpoint", []string{us1.sidecar.GRPCAddr, dead}).URL())

		var resp *e2eutil.Response
		e.eventually(dataTimeout, "us1 series with a warning about "+dead, func() error {
			d, r, err := qd.Query(e.ctx, "up", time.Time{}, nil)
			if err != nil {
				return err
			}
			resp = r
			if len(d.Result) != tp.targetsPerCluster("us1") {
				return fmt.Errorf("want %d us1 series, got %v", tp.targetsPerCluster("us1"), keys(d.Result))
			}
			return nil
		})
		require.NotEmpty(t, resp.Warnings, "partial response must warn about %s", dead)
		require.Contains(t, strings.Join(resp.Warnings, "\n"), dead, "the warning must name the down endpoint")

		r, err := qd.Get(e.ctx, "/api/v1/query", url.Values{"query": {"up"}, "partial_response": {"false"}})
		require.NoError(t, err)
		require.Equal(t, "error", r.Status, "partial_response=false with a down endpoint must fail: %+v", r)
		require.GreaterOrEqual(t, r.HTTPStatus, 400)
		require.Contains(t, r.Error, dead, "the error must name the down endpoint")
	})
}
