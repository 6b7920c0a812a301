package router

import (
	"context"
	"errors"
	"fmt"
	"net"
	"net/http"
	"slices"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/prometheus/prometheus/model/labels"
	"google.golang.org/grpc"

	"github.com/strata-io/strata/internal/receive/hashring"
	"github.com/strata-io/strata/internal/receive/multitsdb"
	"github.com/strata-io/strata/internal/receive/remotewrite"
	"github.com/strata-io/strata/pkg/storepb"
	"github.com/strata-io/strata/pkg/writepb"
)

// memStore is an Appender keeping what it stored, per tenant and series.
type memStore struct {
	mu      sync.Mutex
	samples map[string]map[string]int // tenant -> series -> samples stored
	last    map[string]int64          // series -> newest timestamp stored
	ooo     int                       // samples refused as out of order
	fail    error                     // returned by every Append when set
	delay   time.Duration             // before each Append (a slow node)
}

func newMemStore() *memStore {
	return &memStore{samples: map[string]map[string]int{}, last: map[string]int64{}}
}

func (m *memStore) Append(_ context.Context, tenant string, series []remotewrite.Series) (multitsdb.WriteStats, error) {
	m.mu.Lock()
	delay := m.delay
	m.mu.Unlock()
	time.Sleep(delay)
	m.mu.Lock()
	defer m.mu.Unlock()
	if m.fail != nil {
		return multitsdb.WriteStats{}, m.fail
	}
	if m.samples[tenant] == nil {
		m.samples[tenant] = map[string]int{}
	}
	var st multitsdb.WriteStats
	for _, s := range series {
		key := tenant + s.Labels.String()
		for _, smp := range s.Samples {
			if last, ok := m.last[key]; ok && smp.T <= last {
				m.ooo++ // a TSDB refuses it: this copy is lost
				continue
			}
			m.last[key] = smp.T
			m.samples[tenant][s.Labels.String()]++
			st.Samples++
		}
	}
	return st, nil
}

func (m *memStore) count(tenant string) (series, samples int) {
	m.mu.Lock()
	defer m.mu.Unlock()
	for _, n := range m.samples[tenant] {
		series++
		samples += n
	}
	return series, samples
}

func (m *memStore) setFail(err error) {
	m.mu.Lock()
	defer m.mu.Unlock()
	m.fail = err
}

// node is one receiver of a test hashring: its store behind a gRPC
// WriteableStore server on loopback.
type node struct {
	addr  string
	store *memStore
	srv   *grpc.Server
}

func startNode(t *testing.T, dec *remotewrite.Decoder) *node {
	t.Helper()
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	n := &node{addr: l.Addr().String(), store: newMemStore()}
	n.srv = grpc.NewServer(grpc.ForceServerCodecV2(storepb.Codec{}))
	writepb.RegisterWriteableStoreServer(n.srv, NewServer(dec, n.store))
	go func() { _ = n.srv.Serve(l) }()
	t.Cleanup(n.srv.Stop)
	return n
}

// cluster starts n nodes and a router on node 0 (its local store) with
// replication factor rf over all of them.
func cluster(t *testing.T, n int, rf uint64, algo hashring.Algorithm) (*Router, []*node) {
	t.Helper()
	dec, err := remotewrite.NewDecoder(remotewrite.DefaultConfig())
	if err != nil {
		t.Fatal(err)
	}
	nodes := make([]*node, n)
	var eps []hashring.Endpoint
	for i := range nodes {
		nodes[i] = startNode(t, dec)
		eps = append(eps, hashring.Endpoint{Address: nodes[i].addr})
	}
	peers, err := NewPeers(PeersConfig{Compression: "snappy"}, nil, nil)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { _ = peers.Close() })
	r, err := New(Config{LocalEndpoint: nodes[0].addr, ReplicationFactor: rf, Algorithm: algo, ForwardTimeout: time.Minute}, nodes[0].store, peers, nil, nil)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(r.Wait)
	if err := r.SetHashrings([]hashring.Config{{Hashring: "default", Endpoints: eps}}); err != nil {
		t.Fatal(err)
	}
	return r, nodes
}

// request returns n series with k samples each, scraped at an offset.
func request(n, k int, offset int64) []remotewrite.Series {
	out := make([]remotewrite.Series, n)
	for i := range out {
		out[i].Labels = labels.FromStrings("__name__", "http_requests_total", "pod", fmt.Sprintf("api-%d", i), "code", "200")
		for j := range k {
			out[i].Samples = append(out[i].Samples, remotewrite.Sample{T: offset + int64(j)*15000, V: float64(i + j)})
		}
	}
	return out
}

// With RF=3 on 3 nodes every node stores every series once; with RF=2 on
// 4 nodes every series is stored exactly twice.
func TestRouterReplicates(t *testing.T) {
	for _, tc := range []struct {
		nodes int
		rf    uint64
		algo  hashring.Algorithm
	}{{3, 3, hashring.AlgorithmKetama}, {4, 2, hashring.AlgorithmKetama}, {4, 2, hashring.AlgorithmHashmod}, {3, 1, hashring.AlgorithmKetama}} {
		t.Run(fmt.Sprintf("%d nodes rf %d %s", tc.nodes, tc.rf, tc.algo), func(t *testing.T) {
			r, nodes := cluster(t, tc.nodes, tc.rf, tc.algo)
			const series, samples = 200, 3
			st, err := r.Append(context.Background(), "team-a", request(series, samples, 1_000_123))
			if err != nil {
				t.Fatal(err)
			}
			if st.Samples != series*samples {
				t.Fatalf("stats report %d samples, want %d", st.Samples, series*samples)
			}
			r.Wait()
			total := 0
			for i, n := range nodes {
				s, k := n.store.count("team-a")
				if k != s*samples {
					t.Fatalf("node %d: %d samples for %d series, want %d each", i, k, s, samples)
				}
				if s == 0 {
					t.Fatalf("node %d stores nothing: the series are not spread", i)
				}
				total += s
			}
			if total != series*int(tc.rf) {
				t.Fatalf("%d series replicas stored, want %d (%d series x rf %d)", total, series*int(tc.rf), series, tc.rf)
			}
		})
	}
}

// A slow replica still gets every series' samples in order: a request is
// acknowledged only when all replicas answered, so the sender's next
// request cannot overtake the previous one on the slow node (which would
// refuse the older samples as out of order and lose its copy).
func TestRouterSlowReplicaKeepsOrder(t *testing.T) {
	r, nodes := cluster(t, 3, 3, hashring.AlgorithmKetama)
	nodes[2].store.mu.Lock()
	nodes[2].store.delay = 30 * time.Millisecond
	nodes[2].store.mu.Unlock()
	const rounds = 10
	for i := range rounds {
		if _, err := r.Append(context.Background(), "t", request(20, 1, int64(i)*15000)); err != nil {
			t.Fatal(err)
		}
	}
	r.Wait()
	for i, n := range nodes {
		s, k := n.store.count("t")
		if s != 20 || k != 20*rounds || n.store.ooo != 0 {
			t.Fatalf("node %d: %d series, %d samples, %d refused out of order; want 20, %d, 0", i, s, k, n.store.ooo, 20*rounds)
		}
	}
}

// RF=3 with one node down: every write is acknowledged and both live nodes
// hold everything. With two down: a fast 503 naming the quorum, then
// success again once a second node is back.
func TestRouterQuorum(t *testing.T) {
	r, nodes := cluster(t, 3, 3, hashring.AlgorithmKetama)
	down := errors.New("disk on fire")
	nodes[2].srv.Stop() // killed: nothing listens any more

	for round := range 5 {
		if _, err := r.Append(context.Background(), "t", request(50, 1, int64(round)*15000)); err != nil {
			t.Fatalf("round %d with one node down: %v", round, err)
		}
	}
	r.Wait()
	for i := range 2 {
		if s, k := nodes[i].store.count("t"); s != 50 || k != 250 {
			t.Fatalf("node %d holds %d series, %d samples; want 50, 250", i, s, k)
		}
	}

	nodes[1].store.setFail(&Error{Status: http.StatusServiceUnavailable, Err: down})
	ctx, cancel := context.WithTimeout(context.Background(), 20*time.Second)
	defer cancel()
	for range 3 {
		_, err := r.Append(ctx, "t", request(50, 1, 10*15000))
		if err == nil {
			t.Fatal("write acknowledged with two of three replicas down")
		}
		if StatusOf(err) != http.StatusServiceUnavailable {
			t.Fatalf("status %d, want 503: %v", StatusOf(err), err)
		}
		if ctx.Err() != nil {
			t.Fatalf("the write waited for the request's deadline instead of failing fast: %v", err)
		}
		if msg := err.Error(); !contains(msg, "write quorum is 2") || !contains(msg, "disk on fire") {
			t.Fatalf("error does not explain the quorum and the cause: %v", err)
		}
	}

	nodes[1].store.setFail(nil)
	// The peer backs off after its failures; within the maximum backoff
	// writes succeed again.
	deadline := time.Now().Add(3 * maxPeerBackoff)
	for {
		_, err := r.Append(context.Background(), "t", request(50, 1, 11*15000))
		if err == nil {
			break
		}
		if time.Now().After(deadline) {
			t.Fatalf("writes still fail with two nodes up again: %v", err)
		}
		time.Sleep(100 * time.Millisecond)
	}
}

// Refusals a retry cannot fix (409 on two of three replicas) come back as
// 409, not 503, so the sender does not retry forever.
func TestRouterRefusalIsNotRetryable(t *testing.T) {
	r, nodes := cluster(t, 3, 3, hashring.AlgorithmKetama)
	conflict := &multitsdb.ConflictError{}
	nodes[0].store.setFail(conflict)
	nodes[1].store.setFail(conflict)
	_, err := r.Append(context.Background(), "t", request(20, 1, 0))
	if got := StatusOf(err); got != http.StatusConflict {
		t.Fatalf("status %d, want 409: %v", got, err)
	}
	// One conflict and one unavailable node: a retry may succeed.
	nodes[1].store.setFail(&Error{Status: http.StatusServiceUnavailable, Err: errors.New("restarting")})
	_, err = r.Append(context.Background(), "t", request(20, 1, 0))
	if got := StatusOf(err); got != http.StatusServiceUnavailable {
		t.Fatalf("status %d, want 503: %v", got, err)
	}
}

// A router without a local endpoint forwards everything; a hashrings file
// that cannot hold the replication factor is refused and the old rings
// stay.
func TestRouterOnlyAndBadRing(t *testing.T) {
	_, nodes := cluster(t, 3, 3, hashring.AlgorithmKetama)
	peers, err := NewPeers(PeersConfig{}, nil, nil)
	if err != nil {
		t.Fatal(err)
	}
	defer peers.Close()
	r, err := New(Config{ReplicationFactor: 3}, nil, peers, nil, nil)
	if err != nil {
		t.Fatal(err)
	}
	defer r.Wait()
	if _, err := r.Append(context.Background(), "t", request(1, 1, 0)); StatusOf(err) != http.StatusServiceUnavailable {
		t.Fatalf("write without hashrings: %v, want 503", err)
	}
	if r.Ready() == nil {
		t.Fatal("ready without hashrings")
	}
	eps := []hashring.Endpoint{{Address: nodes[0].addr}, {Address: nodes[1].addr}, {Address: nodes[2].addr}}
	if err := r.SetHashrings([]hashring.Config{{Endpoints: eps}}); err != nil {
		t.Fatal(err)
	}
	if err := r.SetHashrings([]hashring.Config{{Endpoints: eps[:2]}}); err == nil {
		t.Fatal("a ring of 2 endpoints accepted for replication factor 3")
	}
	if _, err := r.Append(context.Background(), "t", request(30, 2, 0)); err != nil {
		t.Fatal(err)
	}
	r.Wait()
	for i, n := range nodes {
		if s, _ := n.store.count("t"); s != 30 {
			t.Fatalf("node %d holds %d series, want 30 (the 3-node ring must still be in use)", i, s)
		}
	}
}

// Forwarded series get the checks a sender's request gets: a forwarded
// series with unsorted labels is refused as 400 by the peer and reported
// as such.
func TestServerValidatesForwardedSeries(t *testing.T) {
	_, nodes := cluster(t, 1, 1, hashring.AlgorithmKetama)
	peers, err := NewPeers(PeersConfig{}, nil, nil)
	if err != nil {
		t.Fatal(err)
	}
	defer peers.Close()
	bad := request(1, 1, 0)
	bad[0].Labels = labels.New(labels.Label{Name: "b", Value: "1"}, labels.Label{Name: "__name__", Value: "x"})
	// labels.New sorts; build the proto by hand to send them unsorted.
	ts := remotewrite.ToProto(bad)
	slices.Reverse(ts[0].Labels)
	pr, err := peers.get(nodes[0].addr)
	if err != nil {
		t.Fatal(err)
	}
	_, err = pr.client.RemoteWrite(context.Background(), &writepb.WriteRequest{Timeseries: ts, Tenant: "t"})
	if werr := fromGRPC(nodes[0].addr, err); werr.Status != http.StatusBadRequest {
		t.Fatalf("unsorted forwarded labels: status %d (%v), want 400", werr.Status, err)
	}
	if s, _ := nodes[0].store.count("t"); s != 0 {
		t.Fatalf("refused request stored %d series", s)
	}
}

func contains(s, sub string) bool { return strings.Contains(s, sub) }
