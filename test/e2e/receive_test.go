package e2e

import (
	"bytes"
	"context"
	"encoding/binary"
	"errors"
	"fmt"
	"io"
	"maps"
	"math"
	"net/http"
	"net/url"
	"os"
	"path/filepath"
	"reflect"
	"slices"
	"strconv"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/golang/snappy"
	"github.com/prometheus/prometheus/model/value"
	"github.com/prometheus/prometheus/prompb"
	"github.com/stretchr/testify/require"

	"github.com/strata-io/strata/internal/objstore"
	"github.com/strata-io/strata/internal/testkit"
	"github.com/strata-io/strata/pkg/metadata"
	"github.com/strata-io/strata/test/e2e/e2eutil"
)

const (
	// receiveReplicaLabel tells the replicas of a receive hashring apart.
	receiveReplicaLabel = "receive_replica"
	// tenantHeader names a remote write's and a query's tenant.
	tenantHeader = "THANOS-TENANT"
	// tenantLabel is the label a receiver adds with the tenant.
	tenantLabel = "tenant_id"
)

// receiveNode is one `strata receive` process of a hashring.
type receiveNode struct {
	*e2eutil.Strata
	rwAddr string // --remote-write.address
}

// receiveURL is the node's remote-write endpoint.
func (n *receiveNode) receiveURL() string { return "http://" + n.rwAddr + "/api/v1/receive" }

// receiveRing is nodes sharing a hashrings file.
type receiveRing struct {
	nodes []*receiveNode
	file  string
}

// newReceiveRing picks the addresses of n nodes (the hashrings file must
// list their gRPC addresses before any starts) without starting them;
// extra flags go to every node.
func (e *env) newReceiveRing(name string, n int, rf int, extra ...string) *receiveRing {
	e.t.Helper()
	r := &receiveRing{file: filepath.Join(e.dir, name+"-hashrings.json")}
	for i := range n {
		node := &receiveNode{Strata: &e2eutil.Strata{
			Bin: bins.Strata, Name: fmt.Sprintf("%s-%d", name, i), Component: "receive", LogLevel: "info",
		}}
		node.Dir = filepath.Join(e.dir, node.Name)
		var err error
		for _, a := range []*string{&node.GRPCAddr, &node.HTTPAddr, &node.rwAddr} {
			*a, err = ports.Addr()
			require.NoError(e.t, err)
		}
		node.Args = []string{
			"--remote-write.address=" + node.rwAddr,
			"--tsdb.path=" + filepath.Join(node.Dir, "data"),
			fmt.Sprintf(`--label=%s="%d"`, receiveReplicaLabel, i),
			"--receive.hashrings-file=" + r.file,
			"--receive.hashrings-file-refresh-interval=1s",
			"--receive.local-endpoint=" + node.GRPCAddr,
			"--receive.replication-factor=" + strconv.Itoa(rf),
			"--receive.tenant-header=" + tenantHeader,
		}
		node.Args = append(node.Args, extra...)
		r.nodes = append(r.nodes, node)
	}
	return r
}

// writeHashrings (re)writes the hashrings file with the gRPC addresses of
// the given nodes, atomically (a watcher never reads half a file).
func (r *receiveRing) writeHashrings(t *testing.T, nodes ...*receiveNode) {
	t.Helper()
	var eps []string
	for _, n := range nodes {
		eps = append(eps, strconv.Quote(n.GRPCAddr))
	}
	content := fmt.Sprintf(`[{"hashring": "default", "algorithm": "ketama", "endpoints": [%s]}]`, strings.Join(eps, ", "))
	tmp := r.file + ".tmp"
	require.NoError(t, os.WriteFile(tmp, []byte(content), 0o644))
	require.NoError(t, os.Rename(tmp, r.file))
}

// startNode starts (or restarts, on the same addresses and --tsdb.path)
// a node and waits until it is ready.
func (e *env) startNode(n *receiveNode) {
	e.t.Helper()
	ctx, cancel := context.WithTimeout(e.ctx, readyTimeout)
	defer cancel()
	require.NoError(e.t, n.Restart(ctx), "start %s", n)
}

// startRing starts every node of r, watched by e.
func (e *env) startRing(r *receiveRing) {
	e.t.Helper()
	for _, n := range r.nodes {
		e.watch(n.Name, func() *e2eutil.Process { return n.Process })
	}
	var wg sync.WaitGroup
	errs := make([]error, len(r.nodes))
	for i, n := range r.nodes {
		wg.Go(func() {
			ctx, cancel := context.WithTimeout(e.ctx, readyTimeout)
			defer cancel()
			errs[i] = n.Restart(ctx)
		})
	}
	wg.Wait()
	for i, err := range errs {
		require.NoError(e.t, err, "start %s", r.nodes[i])
	}
}

// grpcAddrs returns the nodes' gRPC addresses.
func grpcAddrs(nodes ...*receiveNode) []string {
	var out []string
	for _, n := range nodes {
		out = append(out, n.GRPCAddr)
	}
	return out
}

// headerTransport adds a header to every request.
type headerTransport struct {
	name, value string
	base        http.RoundTripper
}

func (h headerTransport) RoundTrip(r *http.Request) (*http.Response, error) {
	r = r.Clone(r.Context())
	r.Header.Set(h.name, h.value)
	return h.base.RoundTrip(r)
}

// tenantClient returns an API client sending THANOS-TENANT: tenant.
func (e *env) tenantClient(baseURL, tenant string) *e2eutil.Client {
	tr := &http.Transport{}
	c := &e2eutil.Client{BaseURL: baseURL, HTTP: &http.Client{Timeout: 30 * time.Second,
		Transport: headerTransport{name: tenantHeader, value: tenant, base: tr}}}
	e.t.Cleanup(tr.CloseIdleConnections)
	return c
}

// remoteWritingPrometheus starts a Prometheus at addr scraping jobs and
// remote-writing to url as tenant, with remote write 2.0 when v2.
func (e *env) remoteWritingPrometheus(name, addr string, jobs map[string][]string, url, tenant string, v2 bool) *e2eutil.Prometheus {
	e.t.Helper()
	p := &e2eutil.Prometheus{
		Bin: bins.Prometheus, Name: name, Dir: filepath.Join(e.dir, name), Addr: addr,
		Config: e2eutil.PromConfig{ScrapeInterval: time.Second, Jobs: jobs},
	}
	proto := ""
	if v2 {
		proto = "    protobuf_message: io.prometheus.write.v2.Request\n"
	}
	rw := fmt.Sprintf("remote_write:\n  - url: %q\n%s    headers:\n      %s: %q\n"+
		"    queue_config:\n      batch_send_deadline: 500ms\n      min_backoff: 100ms\n      max_backoff: 1s\n",
		url, proto, tenantHeader, tenant)
	e.watch(name, func() *e2eutil.Process { return p.Process })
	ctx, cancel := context.WithTimeout(e.ctx, readyTimeout)
	defer cancel()
	proc, err := e2eutil.StartReady(ctx, 1, func() (e2eutil.Spec, error) {
		spec, err := p.Spec() // writes the scrape config
		if err != nil {
			return spec, err
		}
		f, err := os.OpenFile(p.ConfigPath(), os.O_APPEND|os.O_WRONLY, 0)
		if err != nil {
			return spec, err
		}
		_, err = f.WriteString(rw)
		return spec, errors.Join(err, f.Close())
	})
	if proc != nil {
		p.Process = proc
	}
	require.NoError(e.t, err, "start %s", name)
	return p
}

// rwResult is the answer to one remote-write request.
type rwResult struct {
	ts     int64 // the sample's timestamp (ms)
	seq    int   // the sample's value
	phase  string
	status int // 0: transport error
	body   string
	took   time.Duration
}

// rwSender posts one counter sample per request, every interval, to url
// as tenant, recording every answer. The counter value is the request's
// sequence number; each request's timestamp is the time it is sent.
type rwSender struct {
	url, tenant, metric string
	series              int // series per request (label `s`)
	client              *http.Client

	mu      sync.Mutex
	phase   string
	results []rwResult

	cancel context.CancelFunc
	done   chan struct{}
}

func startSender(t *testing.T, url, tenant, metric string, series int, interval time.Duration) *rwSender {
	ctx, cancel := context.WithCancel(context.Background())
	s := &rwSender{url: url, tenant: tenant, metric: metric, series: series, phase: "start",
		client: &http.Client{Timeout: 10 * time.Second, Transport: &http.Transport{}},
		cancel: cancel, done: make(chan struct{})}
	go s.run(ctx, interval)
	t.Cleanup(s.stop)
	return s
}

func (s *rwSender) run(ctx context.Context, interval time.Duration) {
	defer close(s.done)
	tick := time.NewTicker(interval)
	defer tick.Stop()
	for seq := 1; ; seq++ {
		select {
		case <-ctx.Done():
			return
		case <-tick.C:
		}
		s.mu.Lock()
		phase := s.phase
		s.mu.Unlock()
		start := time.Now()
		ts := start.UnixMilli()
		var series []prompb.TimeSeries
		for i := range s.series {
			series = append(series, prompb.TimeSeries{
				Labels:  []prompb.Label{{Name: "__name__", Value: s.metric}, {Name: "s", Value: strconv.Itoa(i)}, {Name: "sender", Value: "go"}},
				Samples: []prompb.Sample{{Timestamp: ts, Value: float64(seq)}},
			})
		}
		status, body := postWrite(ctx, s.client, s.url, s.tenant, encodeWrite(series))
		if ctx.Err() != nil {
			return
		}
		s.mu.Lock()
		s.results = append(s.results, rwResult{ts: ts, seq: seq, phase: phase, status: status, body: body, took: time.Since(start)})
		s.mu.Unlock()
	}
}

// setPhase labels the requests sent from now on.
func (s *rwSender) setPhase(p string) {
	s.mu.Lock()
	defer s.mu.Unlock()
	s.phase = p
}

// snapshot returns the answers so far.
func (s *rwSender) snapshot() []rwResult {
	s.mu.Lock()
	defer s.mu.Unlock()
	return slices.Clone(s.results)
}

func (s *rwSender) stop() {
	s.cancel()
	<-s.done
	s.client.CloseIdleConnections()
}

// encodeWrite returns the snappy-compressed remote write 1.0 request.
func encodeWrite(series []prompb.TimeSeries) []byte {
	b, err := (&prompb.WriteRequest{Timeseries: series}).Marshal()
	if err != nil {
		panic(err) // a prompb message always marshals
	}
	return snappy.Encode(nil, b)
}

// postWrite posts a remote write 1.0 body and returns the status (0 on a
// transport error) and the answer's body or the transport error.
func postWrite(ctx context.Context, c *http.Client, url, tenant string, body []byte) (int, string) {
	req, err := http.NewRequestWithContext(ctx, http.MethodPost, url, bytes.NewReader(body))
	if err != nil {
		return 0, err.Error()
	}
	req.Header.Set("Content-Type", "application/x-protobuf")
	req.Header.Set("Content-Encoding", "snappy")
	req.Header.Set("X-Prometheus-Remote-Write-Version", "0.1.0")
	req.Header.Set(tenantHeader, tenant)
	resp, err := c.Do(req)
	if err != nil {
		return 0, err.Error()
	}
	defer resp.Body.Close()
	b, _ := io.ReadAll(io.LimitReader(resp.Body, 4<<10))
	return resp.StatusCode, string(b)
}

// rawSamples returns the raw samples (timestamp -> value) of the series
// that expr (a range vector selector) selects at t; it fails unless exactly
// one series matches.
func rawSamples(ctx context.Context, c *e2eutil.Client, expr string, t time.Time) (map[int64]string, error) {
	d, _, err := c.Query(ctx, expr, t, nil)
	if err != nil {
		return nil, err
	}
	if len(d.Result) != 1 {
		return nil, fmt.Errorf("%s: want 1 series, got %v", expr, keys(d.Result))
	}
	out := map[int64]string{}
	for _, p := range d.Result[0].Values {
		out[p.T] = p.V
	}
	return out, nil
}

// withoutLabel indexes ss by their labels without the label name.
func withoutLabel(ss []e2eutil.Series, name string) map[string]e2eutil.Series {
	out := map[string]e2eutil.Series{}
	for _, s := range ss {
		m := map[string]string{}
		for k, v := range s.Metric {
			if k != name {
				m[k] = v
			}
		}
		out[e2eutil.LabelsKey(m)] = s
	}
	return out
}

// TestReceive runs a 3-node receive hashring with replication factor 3
// behind a querier deduplicating on receive_replica, fed by two real
// Prometheus servers (remote write 1.0 and 2.0, one tenant each) and a Go
// sender, and checks what a user sees: the Prometheus data through the
// querier, writes acknowledged while one node is down and refused with 503
// without a quorum, no acknowledged sample lost, WAL replay, a hashring
// change under load, tenancy enforced by the querier, hostile bodies, and
// at the end the blocks the nodes ship to a bucket on shutdown, served by a
// store gateway.
func TestReceive(t *testing.T) {
	t.Parallel()
	began := time.Now()
	e := newEnv(t, true)
	bucket := objstore.Config{Type: objstore.FILESYSTEM, Config: map[string]any{"directory": filepath.Join(e.dir, "bucket")}}
	require.NoError(t, os.MkdirAll(filepath.Join(e.dir, "bucket"), 0o755))
	ring := e.newReceiveRing("recv", 3, 3, "--objstore.config="+marshal(t, bucket))
	ring.writeHashrings(t, ring.nodes...)
	e.startRing(ring)
	qArgs := []string{"--query.replica-label=" + receiveReplicaLabel}
	querier := e.querier("querier", grpcAddrs(ring.nodes...), qArgs...)
	q := e.client(querier.URL())
	tq := e.querier("querier-tenancy", grpcAddrs(ring.nodes...), append(qArgs, "--query.enforce-tenancy",
		"--query.tenant-header="+tenantHeader, "--query.tenant-label-name="+tenantLabel)...)

	// Two Prometheus servers scraping themselves and each other: A writes
	// 1.0 to node 0 as team-a, B writes 2.0 to node 1 as team-b.
	addrA, err := ports.Addr()
	require.NoError(t, err)
	addrB, err := ports.Addr()
	require.NoError(t, err)
	jobs := map[string][]string{"prometheus": {addrA, addrB}}
	proms := map[string]*e2eutil.Prometheus{
		"team-a": e.remoteWritingPrometheus("prom-a", addrA, jobs, ring.nodes[0].receiveURL(), "team-a", false),
		"team-b": e.remoteWritingPrometheus("prom-b", addrB, jobs, ring.nodes[1].receiveURL(), "team-b", true),
	}
	e.eventually(dataTimeout, "up of both targets of both tenants through the querier", func() error {
		d, _, err := q.Query(e.ctx, "up", time.Time{}, nil)
		if err != nil {
			return err
		}
		if len(d.Result) != 4 {
			return fmt.Errorf("want 4 series, got %v", keys(d.Result))
		}
		return nil
	})
	time.Sleep(4 * time.Second)
	at := time.Now().Add(-3 * time.Second).Truncate(time.Second)

	t.Run("prometheus remote write 1.0 and 2.0 through the hashring", func(t *testing.T) {
		e := e.sub(t)
		d, _, err := q.Query(e.ctx, "up", at, nil)
		require.NoError(t, err)
		perTenant := map[string]int{}
		for _, s := range d.Result {
			require.NotContains(t, s.Metric, receiveReplicaLabel, "dedup drops the replica label: %s", s.Key())
			perTenant[s.Metric[tenantLabel]]++
		}
		require.Equal(t, map[string]int{"team-a": 2, "team-b": 2}, perTenant, "one up series per target and tenant: %v", keys(d.Result))

		d, _, err = q.Query(e.ctx, `up{tenant_id="team-a"}`, at, url.Values{"dedup": {"false"}})
		require.NoError(t, err)
		require.Len(t, d.Result, 6, "each node holds every series (RF=3): %v", keys(d.Result))

		for tenant, p := range proms {
			pc := e.client(p.URL())
			sel := fmt.Sprintf(`{tenant_id=%q}`, tenant)
			for _, c := range []struct{ own, theirs string }{
				{"up[10s]", "up" + sel + "[10s]"},
				{"prometheus_build_info", "prometheus_build_info" + sel},
				{"count by (job) (up)", "count by (job) (up" + sel + ")"},
				{"prometheus_tsdb_head_series[10s]", "prometheus_tsdb_head_series" + sel + "[10s]"},
			} {
				e.eventually(20*time.Second, tenant+": "+c.theirs+" equal to Prometheus' own", func() error {
					want, _, err := pc.Query(e.ctx, c.own, at, nil)
					if err != nil {
						return err
					}
					got, _, err := q.Query(e.ctx, c.theirs, at, nil)
					if err != nil {
						return err
					}
					return sameSeries(want.Result, got.Result)
				})
			}
			e.eventually(20*time.Second, tenant+": query_range equal to Prometheus' own", func() error {
				want, _, err := pc.QueryRange(e.ctx, "prometheus_tsdb_head_series", at.Add(-8*time.Second), at, time.Second, nil)
				if err != nil {
					return err
				}
				got, _, err := q.QueryRange(e.ctx, "prometheus_tsdb_head_series"+sel, at.Add(-8*time.Second), at, time.Second, nil)
				if err != nil {
					return err
				}
				return sameSeries(want.Result, got.Result)
			})
		}
	})

	t.Run("tenancy enforced by the querier", func(t *testing.T) {
		e := e.sub(t)
		a := e.tenantClient(tq.URL(), "team-a")
		start, end := at.Add(-10*time.Second), at
		d, _, err := a.Query(e.ctx, "up", at, nil)
		require.NoError(t, err)
		require.Len(t, d.Result, 2, "%v", keys(d.Result))
		for _, s := range d.Result {
			require.Equal(t, "team-a", s.Metric[tenantLabel], s.Key())
		}
		d, _, err = a.QueryRange(e.ctx, `{__name__="up"}`, start, end, time.Second, nil)
		require.NoError(t, err)
		require.Len(t, d.Result, 2, "%v", keys(d.Result))
		for _, s := range d.Result {
			require.Equal(t, "team-a", s.Metric[tenantLabel], s.Key())
		}
		series, err := a.Series(e.ctx, []string{"up", "prometheus_build_info"}, start, end, nil)
		require.NoError(t, err)
		require.Len(t, series, 4, "%v", series)
		for _, s := range series {
			require.Equal(t, "team-a", s[tenantLabel], "%v", s)
		}
		vals, err := a.LabelValues(e.ctx, tenantLabel, start, end, nil)
		require.NoError(t, err)
		require.Equal(t, []string{"team-a"}, vals)
		names, err := a.Labels(e.ctx, start, end, nil)
		require.NoError(t, err)
		require.Contains(t, names, tenantLabel)
		require.Contains(t, names, "instance")

		d, _, err = a.Query(e.ctx, `up{tenant_id="team-b"}`, at, nil)
		require.NoError(t, err, "a selector naming another tenant answers, with nothing")
		require.Empty(t, d.Result, "team-a must not see team-b's series")
		d, _, err = a.QueryRange(e.ctx, `up{tenant_id="team-b"}`, start, end, time.Second, nil)
		require.NoError(t, err)
		require.Empty(t, d.Result)
		series, err = a.Series(e.ctx, []string{`{tenant_id="team-b"}`}, start, end, nil)
		require.NoError(t, err)
		require.Empty(t, series)

		// Without enforcement the same querier data has both tenants.
		vals, err = q.LabelValues(e.ctx, tenantLabel, start, end, nil)
		require.NoError(t, err)
		require.Subset(t, vals, []string{"team-a", "team-b"})
	})

	t.Run("hostile bodies are refused and store nothing", func(t *testing.T) {
		e := e.sub(t)
		testHostileWrites(e, ring.nodes[2], q)
	})

	var acked []rwResult
	t.Run("availability with one and two nodes down", func(t *testing.T) {
		e := e.sub(t)
		acked = testReceiveAvailability(e, ring, q, qArgs)
	})

	t.Run("hashring file change under load", func(t *testing.T) {
		e := e.sub(t)
		testHashringChange(e)
	})

	t.Run("blocks shipped on shutdown are served by a store gateway", func(t *testing.T) {
		e := e.sub(t)
		if len(acked) == 0 {
			t.Fatal("no acknowledged write to check: the availability subtest failed before acknowledging one")
		}
		testShippedOnShutdown(e, ring, slices.Collect(maps.Values(proms)), q, bucket, began, acked)
	})
}

// sameSeries compares two query results by labels (ignoring tenant_id on
// got) and values.
func sameSeries(want, got []e2eutil.Series) error {
	w, g := withoutLabel(want, tenantLabel), withoutLabel(got, tenantLabel)
	if len(w) != len(g) || len(w) == 0 {
		return fmt.Errorf("series differ: Prometheus %v, querier %v", keys(want), keys(got))
	}
	for k, ws := range w {
		gs, ok := g[k]
		if !ok {
			return fmt.Errorf("series %s missing from the querier: %v", k, keys(got))
		}
		if ws.Value != nil && (gs.Value == nil || *ws.Value != *gs.Value) {
			return fmt.Errorf("%s: Prometheus %v, querier %v", k, ws.Value, gs.Value)
		}
		if !slices.Equal(ws.Values, gs.Values) {
			return fmt.Errorf("%s: Prometheus %v, querier %v", k, ws.Values, gs.Values)
		}
	}
	return nil
}

// testHostileWrites posts invalid bodies to node: each gets a 4xx and
// stores nothing; NaN and stale markers are stored.
func testHostileWrites(e *env, node *receiveNode, q *e2eutil.Client) {
	t := e.t
	client := &http.Client{Timeout: 10 * time.Second, Transport: &http.Transport{}}
	t.Cleanup(client.CloseIdleConnections)
	now := time.Now().UnixMilli()
	one := func(name string, lbls ...string) []prompb.TimeSeries {
		ls := []prompb.Label{{Name: "__name__", Value: name}}
		for i := 0; i < len(lbls); i += 2 {
			ls = append(ls, prompb.Label{Name: lbls[i], Value: lbls[i+1]})
		}
		return []prompb.TimeSeries{{Labels: ls, Samples: []prompb.Sample{{Timestamp: now, Value: 1}}}}
	}
	// A snappy header declaring 1 GiB, then garbage.
	huge := binary.AppendUvarint(nil, 1<<30)
	huge = append(huge, bytes.Repeat([]byte{0xfe}, 64)...)
	for _, c := range []struct {
		name string
		body []byte
	}{
		{"bad snappy", []byte("this is not a snappy block")},
		{"snappy header declaring 1 GiB", huge},
		{"not protobuf", snappy.Encode(nil, []byte("\xff\xff\xff\xff garbage"))},
		{"invalid UTF-8 label name", encodeWrite(one("e2e_hostile_utf8", "a\xffb", "v"))},
		{"invalid UTF-8 label value", encodeWrite(one("e2e_hostile_utf8_value", "a", "v\xff"))},
		{"duplicate labels", encodeWrite(one("e2e_hostile_dup", "a", "1", "a", "2"))},
		{"unsorted labels", encodeWrite(one("e2e_hostile_unsorted", "zz", "1", "aa", "2"))},
		{"no metric name", encodeWrite([]prompb.TimeSeries{{Labels: []prompb.Label{{Name: "a", Value: "1"}},
			Samples: []prompb.Sample{{Timestamp: now, Value: 1}}}})},
	} {
		status, body := postWrite(e.ctx, client, node.receiveURL(), "team-hostile", c.body)
		t.Logf("%s: HTTP %d %q", c.name, status, strings.TrimSpace(body))
		require.True(t, status >= 400 && status < 500, "%s: want a 4xx, got HTTP %d %q", c.name, status, body)
	}
	series, err := q.Series(e.ctx, []string{`{tenant_id="team-hostile"}`, `{__name__=~"e2e_hostile.*"}`},
		time.Now().Add(-time.Hour), time.Now().Add(time.Hour), nil)
	require.NoError(t, err)
	require.Empty(t, series, "refused writes store nothing")

	// A sample a year ahead, to a tenant of its own, then one at the
	// current time.
	future := one("e2e_future")
	future[0].Samples[0].Timestamp = time.Now().Add(365 * 24 * time.Hour).UnixMilli()
	status, body := postWrite(e.ctx, client, node.receiveURL(), "team-future", encodeWrite(future))
	require.Equal(t, http.StatusConflict, status, "a sample a year ahead is refused: %s", body)
	require.Contains(t, body, "too far in the future")
	// It did not move the tenant's head forward: current samples are taken.
	status, body = postWrite(e.ctx, client, node.receiveURL(), "team-future", encodeWrite(one("e2e_future_now")))
	require.Equal(t, http.StatusNoContent, status, "a sample at the current time after a refused future one: %s", body)

	// NaN and a stale marker are samples like any other.
	t0 := time.Now().Add(-2 * time.Second).Truncate(time.Second)
	nan := []prompb.TimeSeries{{
		Labels:  []prompb.Label{{Name: "__name__", Value: "e2e_nan"}},
		Samples: []prompb.Sample{{Timestamp: t0.UnixMilli(), Value: math.NaN()}},
	}, {
		Labels: []prompb.Label{{Name: "__name__", Value: "e2e_stale"}},
		Samples: []prompb.Sample{{Timestamp: t0.UnixMilli(), Value: 7},
			{Timestamp: t0.Add(time.Second).UnixMilli(), Value: math.Float64frombits(value.StaleNaN)}},
	}}
	status, body = postWrite(e.ctx, client, node.receiveURL(), "team-nan", encodeWrite(nan))
	require.Equal(t, http.StatusNoContent, status, "NaN and stale markers are accepted: %s", body)
	d, _, err := q.Query(e.ctx, "e2e_nan", t0.Add(500*time.Millisecond), nil)
	require.NoError(t, err)
	require.Len(t, d.Result, 1, "%v", keys(d.Result))
	require.Equal(t, "NaN", d.Result[0].Value.V)
	d, _, err = q.Query(e.ctx, "e2e_stale", t0.Add(500*time.Millisecond), nil)
	require.NoError(t, err)
	require.Len(t, d.Result, 1, "the sample before the stale marker: %v", keys(d.Result))
	require.Equal(t, "7", d.Result[0].Value.V)
	d, _, err = q.Query(e.ctx, "e2e_stale", t0.Add(1500*time.Millisecond), nil)
	require.NoError(t, err)
	require.Empty(t, d.Result, "after its stale marker the series is gone (without the marker the lookback would still show 7)")
}

// testReceiveAvailability kills -9 nodes of ring while a sender writes to
// node 0: acknowledged with one node down, 503 without a quorum, back once a
// node returns, and no acknowledged sample lost. It returns the
// acknowledged requests.
func testReceiveAvailability(e *env, ring *receiveRing, q *e2eutil.Client, qArgs []string) []rwResult {
	t := e.t
	n0, n1, n2 := ring.nodes[0], ring.nodes[1], ring.nodes[2]
	const metric = "e2e_sender_total"
	s := startSender(t, n0.receiveURL(), "team-avail", metric, 1, 50*time.Millisecond)
	s.setPhase("all up")
	time.Sleep(2 * time.Second)

	n1.Process.Kill()
	kill1 := time.Now()
	s.setPhase("one down")
	time.Sleep(3 * time.Second)

	n2.Process.Kill()
	s.setPhase("two down")
	time.Sleep(3 * time.Second)

	s.setPhase("restarting")
	// The node comes back on its --tsdb.path: its tenants open at start
	// (WAL replay) with their hashring's labels.
	e.startNode(n1)
	s.setPhase("one back")
	restarted := time.Now()
	e.eventually(15*time.Second, "writes acknowledged again after a node came back", func() error {
		for _, r := range slices.Backward(s.snapshot()) {
			if r.phase == "one back" && r.status/100 == 2 {
				return nil
			}
		}
		return fmt.Errorf("no 2xx since %s restarted", n1.Name)
	})
	t.Logf("writes acknowledged again %s after %s was ready", time.Since(restarted).Round(time.Millisecond), n1.Name)
	e.startNode(n2)
	s.setPhase("all back")
	time.Sleep(2 * time.Second)
	s.stop()

	byPhase := map[string][]rwResult{}
	var acked []rwResult
	for _, r := range s.snapshot() {
		byPhase[r.phase] = append(byPhase[r.phase], r)
		if r.status/100 == 2 {
			acked = append(acked, r)
		}
	}
	for _, p := range []string{"all up", "one down", "all back"} {
		require.NotEmpty(t, byPhase[p], p)
		for _, r := range byPhase[p] {
			require.Equal(t, http.StatusNoContent, r.status, "phase %q: request at %s: %s", p, time.UnixMilli(r.ts).Format(time.TimeOnly), r.body)
		}
	}
	refused := byPhase["two down"]
	require.NotEmpty(t, refused)
	var slowest time.Duration
	for _, r := range refused {
		slowest = max(slowest, r.took)
		require.Less(t, r.took, 5*time.Second, "a refusal without quorum comes fast")
		require.Contains(t, r.body, "quorum", "HTTP %d", r.status)
		require.Equal(t, http.StatusServiceUnavailable, r.status, "without a quorum a write is refused with 503: %s", r.body)
	}
	t.Logf("%d requests acknowledged; with two nodes down %d refused, the slowest in %s; per phase: %s",
		len(acked), len(refused), slowest, phaseCounts(byPhase))

	// Every acknowledged sample is readable through the querier.
	last := time.UnixMilli(acked[len(acked)-1].ts)
	sel := fmt.Sprintf(`%s{tenant_id="team-avail"}[2m]`, metric)
	e.eventually(20*time.Second, "every acknowledged sample through the deduplicating querier", func() error {
		got, err := rawSamples(e.ctx, q, sel, last)
		if err != nil {
			return err
		}
		return missingAcked(got, acked, time.Time{})
	})

	// The node killed first replayed its WAL: alone, it still has what it
	// stored before the kill (every sample acknowledged a second before it).
	single := e.querier("querier-"+n1.Name, grpcAddrs(n1), qArgs...)
	sq := e.client(single.URL())
	e.eventually(20*time.Second, n1.Name+" alone has the samples acknowledged before its kill", func() error {
		got, err := rawSamples(e.ctx, sq, sel, last)
		if err != nil {
			return err
		}
		return missingAcked(got, acked, kill1.Add(-time.Second))
	})
	return acked
}

// missingAcked reports acknowledged samples (before `before`, unless zero)
// not in got, or with another value.
func missingAcked(got map[int64]string, acked []rwResult, before time.Time) error {
	var missing []string
	n := 0
	for _, r := range acked {
		if !before.IsZero() && r.ts >= before.UnixMilli() {
			continue
		}
		n++
		if v, ok := got[r.ts]; !ok || v != strconv.Itoa(r.seq) {
			missing = append(missing, fmt.Sprintf("%s=%d (got %q)", time.UnixMilli(r.ts).UTC().Format("15:04:05.000"), r.seq, v))
		}
	}
	if len(missing) > 0 {
		return fmt.Errorf("%d of %d acknowledged samples missing: %v", len(missing), n, missing)
	}
	return nil
}

func phaseCounts(m map[string][]rwResult) string {
	var parts []string
	for _, p := range []string{"all up", "one down", "two down", "restarting", "one back", "all back"} {
		ok := 0
		for _, r := range m[p] {
			if r.status/100 == 2 {
				ok++
			}
		}
		parts = append(parts, fmt.Sprintf("%s %d/%d ok", p, ok, len(m[p])))
	}
	return strings.Join(parts, ", ")
}

// testHashringChange runs a second ring (RF=1) whose file lists two of
// its three nodes, then all three, while a sender writes 20 series per
// request: every request is acknowledged and the added node gets series.
func testHashringChange(e *env) {
	t := e.t
	ring := e.newReceiveRing("ring2", 3, 1)
	ring.writeHashrings(t, ring.nodes[:2]...)
	e.startRing(ring)
	added := ring.nodes[2]
	aq := e.client(e.querier("querier-"+added.Name, grpcAddrs(added), "--query.replica-label="+receiveReplicaLabel).URL())

	s := startSender(t, ring.nodes[0].receiveURL(), "team-ring", "e2e_ring_total", 20, 50*time.Millisecond)
	s.setPhase("two nodes")
	time.Sleep(2 * time.Second)
	d, _, err := aq.Query(e.ctx, "count(e2e_ring_total)", time.Time{}, nil)
	require.NoError(t, err)
	require.Empty(t, d.Result, "a node the hashrings do not list stores nothing")

	ring.writeHashrings(t, ring.nodes...)
	changed := time.Now()
	s.setPhase("three nodes")
	e.eventually(15*time.Second, "series on the added node", func() error {
		d, _, err := aq.Query(e.ctx, "count(e2e_ring_total)", time.Time{}, nil)
		if err != nil {
			return err
		}
		if len(d.Result) == 0 {
			return fmt.Errorf("no series on %s", added.Name)
		}
		t.Logf("%s has %s of 20 series %s after the change", added.Name, d.Result[0].Value.V, time.Since(changed).Round(time.Millisecond))
		return nil
	})
	time.Sleep(time.Second)
	s.stop()
	results := s.snapshot()
	require.NotEmpty(t, results)
	for _, r := range results {
		require.Equal(t, http.StatusNoContent, r.status, "phase %q: request at %s: %s", r.phase, time.UnixMilli(r.ts).Format(time.TimeOnly), r.body)
	}
	t.Logf("%d requests, all acknowledged, through the hashrings change", len(results))
}

// testShippedOnShutdown stops the Prometheus senders, records what the
// ring's querier answers, stops every node of ring with SIGTERM (each must
// exit 0 after cutting its tenants' heads into blocks and uploading them to
// bucket), checks the blocks' meta.json, and expects a store gateway on
// the bucket, behind a querier deduplicating on receive_replica, to answer
// exactly as the ring did, with every acknowledged sample of the
// availability sender.
func testShippedOnShutdown(e *env, ring *receiveRing, proms []*e2eutil.Prometheus, q *e2eutil.Client,
	bucket objstore.Config, began time.Time, acked []rwResult) {
	t := e.t
	for _, p := range proms {
		require.NoError(t, p.Process.Stop(30*time.Second), "%s exits cleanly on SIGTERM", p.Name)
	}

	// What the receivers answer once nothing writes any more.
	end := time.Now()
	window := fmt.Sprintf("[%ds]", int(end.Sub(began).Seconds())+5)
	selectors := []string{
		`e2e_sender_total{tenant_id="team-avail"}`,
		`up{tenant_id="team-a"}`,
		`up{tenant_id="team-b"}`,
		`prometheus_tsdb_head_series{tenant_id="team-b"}`,
		`{tenant_id="team-nan"}`,
		`{tenant_id="team-future"}`,
	}
	before := map[string][]e2eutil.Series{}
	for _, sel := range selectors {
		d, _, err := q.Query(e.ctx, sel+window, end, nil)
		require.NoError(t, err)
		require.NotEmpty(t, d.Result, "%s through the receivers", sel)
		before[sel] = d.Sorted()
	}

	var wg sync.WaitGroup
	errs := make([]error, len(ring.nodes))
	stopped := time.Now()
	for i, n := range ring.nodes {
		wg.Go(func() { errs[i] = n.Process.Stop(30 * time.Second) })
	}
	wg.Wait()
	for i, n := range ring.nodes {
		require.NoError(t, errs[i], "%s exits 0 on SIGTERM after shipping its blocks", n.Name)
		require.Contains(t, n.Process.Logs(), "flushed and shipped the tenants' heads on shutdown", n.Name)
	}
	t.Logf("the %d nodes exited %s after SIGTERM", len(ring.nodes), time.Since(stopped).Round(time.Millisecond))

	// One block or more per node and tenant, labelled with both.
	bkt, err := objstore.NewBucket(e.ctx, bucket, nil, nil, "")
	require.NoError(t, err)
	t.Cleanup(func() { _ = bkt.Close() })
	metas := testkit.BucketMetas(t, bkt)
	got := map[string]int{}
	for _, m := range metas {
		require.Equal(t, metadata.ReceiveSource, m.Thanos.Source, "thanos.source of %s", m.ULID)
		require.Len(t, m.Thanos.Labels, 2, "thanos.labels of %s are --label and the tenant: %v", m.ULID, m.Thanos.Labels)
		require.Contains(t, m.Thanos.Labels, tenantLabel, "block %s", m.ULID)
		require.Contains(t, m.Thanos.Labels, receiveReplicaLabel, "block %s", m.ULID)
		require.NotZero(t, m.Stats.NumSamples, "block %s has samples", m.ULID)
		got[m.Thanos.Labels[tenantLabel]+"/"+m.Thanos.Labels[receiveReplicaLabel]]++
	}
	want := map[string]int{}
	for _, tenant := range []string{"team-a", "team-b", "team-avail", "team-nan", "team-future"} {
		for i := range ring.nodes {
			want[fmt.Sprintf("%s/%d", tenant, i)] = 1
		}
	}
	require.Equal(t, want, got, "one block per tenant and node (RF=3: every node has every tenant); refused writes left no tenant behind")

	store := e.strata(e2eutil.NewStore(bins.Strata, e.dir, "store-recv", "--objstore.config="+marshal(t, bucket)), true)
	sq := e.client(e.querier("querier-store-recv", []string{store.GRPCAddr}, "--query.replica-label="+receiveReplicaLabel).URL())
	for _, sel := range selectors {
		e.eventually(20*time.Second, sel+" through the store gateway as through the receivers", func() error {
			d, _, err := sq.Query(e.ctx, sel+window, end, nil)
			if err != nil {
				return err
			}
			if after := d.Sorted(); !reflect.DeepEqual(before[sel], after) {
				return fmt.Errorf("receivers %v, store gateway %v", before[sel], after)
			}
			return nil
		})
	}

	// Deduplicated: one series, each timestamp once, every acknowledged
	// sample with its value.
	d, _, err := sq.Query(e.ctx, selectors[0]+window, end, nil)
	require.NoError(t, err)
	require.Len(t, d.Result, 1, "%v", keys(d.Result))
	require.NotContains(t, d.Result[0].Metric, receiveReplicaLabel)
	vals := d.Result[0].Values
	samples := map[int64]string{}
	for i, p := range vals {
		require.False(t, i > 0 && p.T <= vals[i-1].T, "timestamps strictly increase: %d after %d", p.T, vals[max(i-1, 0)].T)
		samples[p.T] = p.V
	}
	require.NoError(t, missingAcked(samples, acked, time.Time{}))
	t.Logf("%d blocks shipped; the store gateway returns %d samples of %s, all %d acknowledged among them",
		len(metas), len(vals), selectors[0], len(acked))
}
