package e2e

import (
	"context"
	"fmt"
	"maps"
	"net/url"
	"path/filepath"
	"slices"
	"strconv"
	"testing"
	"time"

	"github.com/stretchr/testify/require"

	"github.com/strata-io/strata/test/e2e/e2eutil"
)

const (
	// readyTimeout bounds the wait for one process to become ready.
	readyTimeout = 60 * time.Second
	// dataTimeout bounds the wait for scraped data to show up through a querier.
	dataTimeout = 60 * time.Second
)

// env is one test's sandbox: a temp dir, a deadline, and cleanup of every
// process it starts (killed and waited for; logs printed when the test failed).
type env struct {
	t   *testing.T
	ctx context.Context
	dir string
}

func newEnv(t *testing.T, needStrata bool) *env {
	t.Helper()
	requireBinaries(t, needStrata)
	ctx, cancel := context.WithTimeout(context.Background(), 4*time.Minute)
	t.Cleanup(cancel)
	return &env{t: t, ctx: ctx, dir: t.TempDir()}
}

// sub returns the env for subtest t: failures and cleanups go to t.
func (e *env) sub(t *testing.T) *env {
	c := *e
	c.t = t
	return &c
}

// watch kills the process that get returns at cleanup and prints its log
// when the test failed. get is called at cleanup time, so restarts are seen.
func (e *env) watch(name string, get func() *e2eutil.Process) {
	e.t.Cleanup(func() {
		p := get()
		if p == nil {
			return
		}
		p.Kill()
		if e.t.Failed() {
			e.t.Logf("----- log of %s (%s) -----\n%s", name, p.LogPath(), tail(p.Logs(), 12<<10))
		}
	})
}

func tail(s string, n int) string {
	if len(s) <= n {
		return s
	}
	return "...(cut)...\n" + s[len(s)-n:]
}

// client returns an API client closed at cleanup.
func (e *env) client(baseURL string) *e2eutil.Client {
	c := e2eutil.NewClient(baseURL)
	e.t.Cleanup(c.Close)
	return c
}

// prometheus starts a Prometheus scraping itself every second, with the
// given external labels (none when nil), and waits until it is ready.
func (e *env) prometheus(name string, external map[string]string) *e2eutil.Prometheus {
	e.t.Helper()
	p := &e2eutil.Prometheus{
		Bin:        bins.Prometheus,
		Name:       name,
		Dir:        filepath.Join(e.dir, name),
		Config:     e2eutil.PromConfig{ExternalLabels: external, ScrapeInterval: time.Second},
		ScrapeSelf: "prometheus",
	}
	e.watch(name, func() *e2eutil.Process { return p.Process })
	ctx, cancel := context.WithTimeout(e.ctx, readyTimeout)
	defer cancel()
	require.NoError(e.t, p.Start(ctx, ports), "start %s", name)
	return p
}

// restartPrometheus starts p again on its address and data dir.
func (e *env) restartPrometheus(p *e2eutil.Prometheus) {
	e.t.Helper()
	ctx, cancel := context.WithTimeout(e.ctx, readyTimeout)
	defer cancel()
	require.NoError(e.t, p.Start(ctx, ports), "restart %s", p.Name)
}

// strata starts a strata component and, when waitReady, waits for /-/ready.
func (e *env) strata(s *e2eutil.Strata, waitReady bool) *e2eutil.Strata {
	e.t.Helper()
	e.watch(s.Name, func() *e2eutil.Process { return s.Process })
	ctx, cancel := context.WithTimeout(e.ctx, readyTimeout)
	defer cancel()
	require.NoError(e.t, s.Start(ctx, ports, waitReady), "start %s", s.Name)
	return s
}

func (e *env) sidecar(name string, p *e2eutil.Prometheus, extra ...string) *e2eutil.Strata {
	e.t.Helper()
	return e.strata(e2eutil.NewSidecar(bins.Strata, e.dir, name, p.URL(), extra...), true)
}

func (e *env) querier(name string, endpoints []string, extra ...string) *e2eutil.Strata {
	e.t.Helper()
	return e.strata(e2eutil.NewQuerier(bins.Strata, e.dir, name, endpoints, extra...), true)
}

// replica is one Prometheus of a cluster with its sidecar.
type replica struct {
	cluster, replica string
	prom             *e2eutil.Prometheus
	sidecar          *e2eutil.Strata
}

// topology is HA Prometheus pairs with sidecars behind one querier. Every
// Prometheus scrapes the Prometheus servers and sidecars of its own cluster
// and the querier, so the replicas of a cluster scrape the same targets.
type topology struct {
	replicas []*replica
	querier  *e2eutil.Strata
	q        *e2eutil.Client
}

// targetsPerCluster is how many `up` series one replica of the cluster has.
func (tp *topology) targetsPerCluster(cluster string) int {
	n := 0
	for _, r := range tp.replicas {
		if r.cluster == cluster {
			n += 2 // its Prometheus and its sidecar
		}
	}
	return n + 1 // the querier
}

// startTopology starts Prometheus+sidecar for each cluster replica
// (clusters maps name to replica count), a querier over the sidecars with
// querierArgs, wires the scrape targets and waits until `up` of every
// target of every replica is visible through the querier.
func (e *env) startTopology(clusters map[string]int, querierArgs ...string) *topology {
	e.t.Helper()
	tp := &topology{}
	for _, c := range slices.Sorted(maps.Keys(clusters)) {
		for i := range clusters[c] {
			r := &replica{cluster: c, replica: strconv.Itoa(i)}
			name := fmt.Sprintf("prom-%s-%d", c, i)
			r.prom = e.prometheus(name, map[string]string{"cluster": c, "replica": r.replica})
			tp.replicas = append(tp.replicas, r)
		}
	}
	var endpoints []string
	for _, r := range tp.replicas {
		r.sidecar = e.sidecar(fmt.Sprintf("sidecar-%s-%s", r.cluster, r.replica), r.prom)
		endpoints = append(endpoints, r.sidecar.GRPCAddr)
	}
	tp.querier = e.querier("querier", endpoints, querierArgs...)
	tp.q = e.client(tp.querier.URL())

	for _, r := range tp.replicas {
		jobs := map[string][]string{"query": {tp.querier.HTTPAddr}}
		for _, o := range tp.replicas {
			if o.cluster == r.cluster {
				jobs["prometheus"] = append(jobs["prometheus"], o.prom.Addr)
				jobs["sidecar"] = append(jobs["sidecar"], o.sidecar.HTTPAddr)
			}
		}
		r.prom.Config.Jobs = jobs
		require.NoError(e.t, r.prom.Reload(e.ctx))
	}

	want := 0
	for _, r := range tp.replicas {
		want += tp.targetsPerCluster(r.cluster)
	}
	e.eventually(dataTimeout, fmt.Sprintf("%d up series (dedup=false) through the querier", want), func() error {
		d, _, err := tp.q.Query(e.ctx, "up", time.Time{}, url.Values{"dedup": {"false"}})
		if err != nil {
			return err
		}
		if len(d.Result) != want {
			return fmt.Errorf("got %d series: %v", len(d.Result), keys(d.Result))
		}
		return nil
	})
	return tp
}

// eventually retries f every 250ms until it returns nil, failing the test
// with f's last error after timeout.
func (e *env) eventually(timeout time.Duration, what string, f func() error) {
	e.t.Helper()
	deadline := time.Now().Add(timeout)
	for {
		err := f()
		if err == nil {
			return
		}
		if time.Now().After(deadline) || e.ctx.Err() != nil {
			e.t.Fatalf("waited %s for %s: %v", timeout, what, err)
		}
		time.Sleep(250 * time.Millisecond)
	}
}

func keys(ss []e2eutil.Series) []string {
	out := make([]string, 0, len(ss))
	for _, s := range ss {
		out = append(out, s.Key())
	}
	slices.Sort(out)
	return out
}
