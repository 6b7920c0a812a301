package hashring

import (
	"fmt"
	"slices"
	"strconv"
	"strings"
	"testing"

	"github.com/cespare/xxhash/v2"
	"github.com/prometheus/prometheus/model/labels"
	"github.com/stretchr/testify/require"
	"go.uber.org/goleak"
)

func TestMain(m *testing.M) {
	goleak.VerifyTestMain(m)
}

// series returns n distinct label sets shaped like real ones.
func series(n int) []labels.Labels {
	out := make([]labels.Labels, n)
	for i := range out {
		out[i] = labels.FromStrings(
			"__name__", "metric_"+strconv.Itoa(i%97),
			"instance", "10.0.0."+strconv.Itoa(i%251)+":9100",
			"job", "node",
			"series", strconv.Itoa(i),
		)
	}
	return out
}

func endpoints(n int) []Endpoint {
	out := make([]Endpoint, n)
	for i := range out {
		out[i] = Endpoint{Address: fmt.Sprintf("receive-%d.receive.svc:10901", i)}
	}
	return out
}

// specHash builds the series hash input as the spec writes it, byte by
// byte, independently of Hash.
func specHash(tenant string, pairs ...string) uint64 {
	var sb strings.Builder
	sb.WriteString(tenant)
	sb.WriteByte(0xff)
	for _, p := range pairs {
		sb.WriteString(p)
		sb.WriteByte(0xff)
	}
	return xxhash.Sum64String(sb.String())
}

func TestHash(t *testing.T) {
	long := strings.Repeat("v", 3000)
	for _, tc := range []struct {
		tenant string
		pairs  []string
	}{
		{"default-tenant", []string{"__name__", "up", "instance", "a:9090", "job", "prometheus"}},
		{"", []string{"a", "b"}},
		{"t", nil},
		{"team-a", []string{"__name__", "big", "blob", long, "z", "1"}},
	} {
		require.Equal(t, specHash(tc.tenant, tc.pairs...), Hash(tc.tenant, labels.FromStrings(tc.pairs...)))
	}
	// Pinned values: the hash input is the contract with upstream
	// routers, so any change of it must fail here.
	require.Equal(t, uint64(0x5593cfae80357c27), Hash("default-tenant", labels.FromStrings("__name__", "up", "job", "prometheus")))
	require.Equal(t, uint64(0x95634172a60b7544), Hash("", labels.EmptyLabels()))
	// The tenant takes part: the same series of two tenants hash apart.
	lset := labels.FromStrings("a", "b")
	require.NotEqual(t, Hash("x", lset), Hash("y", lset))
	// Separators take part: moving a byte between name and value changes it.
	require.NotEqual(t, Hash("t", labels.FromStrings("ab", "c")), Hash("t", labels.FromStrings("a", "bc")))
}

func TestWriteQuorum(t *testing.T) {
	for rf, want := range map[uint64]uint64{1: 1, 2: 1, 3: 2, 4: 3, 5: 3, 6: 4, 7: 4} {
		require.Equal(t, want, WriteQuorum(rf), "replication factor %d", rf)
	}
}

func TestHashmodPlacement(t *testing.T) {
	eps := []Endpoint{{Address: "c:1"}, {Address: "a:1"}, {Address: "b:1"}, {Address: "d:1"}}
	sorted := []Endpoint{{Address: "a:1"}, {Address: "b:1"}, {Address: "c:1"}, {Address: "d:1"}}
	ring, err := New(AlgorithmHashmod, eps, 2)
	require.NoError(t, err)
	require.Equal(t, sorted, ring.Endpoints())
	// File order does not matter: the endpoints are sorted by address.
	slices.Reverse(eps)
	reordered, err := New("", eps, 2)
	require.NoError(t, err)

	for _, lset := range series(2000) {
		h := Hash("tenant", lset)
		for n := range uint64(4) {
			got, err := ring.GetN("tenant", lset, n)
			require.NoError(t, err)
			require.Equal(t, sorted[(h+n)%4], got)
			again, err := reordered.GetN("tenant", lset, n)
			require.NoError(t, err)
			require.Equal(t, got, again)
		}
		first, err := ring.Get("tenant", lset)
		require.NoError(t, err)
		require.Equal(t, sorted[h%4], first)
	}
	_, err = ring.GetN("tenant", series(1)[0], 4)
	require.ErrorIs(t, err, ErrInsufficientEndpoints)
	require.ErrorContains(t, err, "replica 4 of a series needs 5 endpoints, the hashring has 4")
}

func TestNewErrors(t *testing.T) {
	for _, tc := range []struct {
		name    string
		alg     Algorithm
		eps     []Endpoint
		rf      uint64
		wantIs  error
		wantErr string
	}{
		{"ketama too few", AlgorithmKetama, endpoints(2), 3, ErrInsufficientEndpoints, "--receive.replication-factor=3 needs at least 3 endpoints, the hashring has 2"},
		{"hashmod too few", AlgorithmHashmod, endpoints(1), 2, ErrInsufficientEndpoints, "needs at least 2 endpoints"},
		{"none", AlgorithmKetama, nil, 1, ErrInsufficientEndpoints, "no endpoints"},
		{"hashmod with az", AlgorithmHashmod, []Endpoint{{Address: "a:1", AZ: "z"}}, 1, ErrInvalidConfig, `set "algorithm": "ketama" or remove the az`},
		{"unknown", "maglev", endpoints(1), 1, ErrInvalidConfig, `unknown algorithm "maglev"`},
	} {
		t.Run(tc.name, func(t *testing.T) {
			_, err := New(tc.alg, tc.eps, tc.rf)
			require.ErrorIs(t, err, tc.wantIs)
			require.ErrorContains(t, err, tc.wantErr)
		})
	}
}

// referenceKetama places replica n of a series as the spec words it, with
// none of the shortcuts of ketama: fresh sections, a linear search and map
// bookkeeping.
func referenceKetama(eps []Endpoint, rf uint64) func(h uint64, n uint64) Endpoint {
	type sec struct {
		hash uint64
		ep   int
	}
	var secs []sec
	zones := map[string]bool{}
	for e, ep := range eps {
		zones[ep.AZ] = true
		for i := 1; i <= 1000; i++ {
			secs = append(secs, sec{xxhash.Sum64String(ep.Address + ":" + strconv.Itoa(i)), e})
		}
	}
	slices.SortFunc(secs, func(a, b sec) int {
		if a.hash < b.hash {
			return -1
		}
		if a.hash > b.hash {
			return 1
		}
		return 0
	})
	return func(h uint64, n uint64) Endpoint {
		start := 0
		for start < len(secs) && secs[start].hash < h {
			start++
		}
		if start == len(secs) {
			start = 0
		}
		taken := map[int]bool{}
		spread := map[string]int{}
		for z := range zones {
			spread[z] = 0
		}
		var list []int
		for j := start; uint64(len(list)) < rf; j = (j + 1) % len(secs) {
			e := secs[j].ep
			if taken[e] {
				continue
			}
			least := len(eps)
			for _, c := range spread {
				least = min(least, c)
			}
			if az := eps[e].AZ; len(spread) > 1 && spread[az] > 0 && spread[az] > least {
				continue
			}
			taken[e] = true
			spread[eps[e].AZ]++
			list = append(list, e)
		}
		return eps[list[n]]
	}
}

func TestKetamaMatchesReference(t *testing.T) {
	for _, tc := range []struct {
		name string
		eps  []Endpoint
		rf   uint64
	}{
		{"one endpoint", endpoints(1), 1},
		{"5 endpoints rf 1", endpoints(5), 1},
		{"5 endpoints rf 3", endpoints(5), 3},
		{"3 endpoints rf 3", endpoints(3), 3},
		{"zones 2+2+2 rf 3", withZones(endpoints(6), "z1", "z2", "z3", "z1", "z2", "z3"), 3},
		{"zones 3+1 rf 2", withZones(endpoints(4), "z1", "z1", "z1", "z2"), 2},
		{"zones with an unzoned endpoint", withZones(endpoints(4), "z1", "z2", "", "z1"), 3},
	} {
		t.Run(tc.name, func(t *testing.T) {
			ring, err := New(AlgorithmKetama, tc.eps, tc.rf)
			require.NoError(t, err)
			ref := referenceKetama(tc.eps, tc.rf)
			for _, lset := range series(300) {
				h := Hash("t", lset)
				for n := range tc.rf {
					got, err := ring.GetN("t", lset, n)
					require.NoError(t, err)
					require.Equal(t, ref(h, n), got, "series %s replica %d", lset, n)
				}
			}
		})
	}
}

func withZones(eps []Endpoint, zones ...string) []Endpoint {
	for i := range eps {
		eps[i].AZ = zones[i]
	}
	return eps
}

// TestKetamaPinned pins placements of a fixed file so a change of the ring
// (section keys, sort, walk, zone rule) cannot pass unnoticed: routers of
// both systems sharing a file must agree.
func TestKetamaPinned(t *testing.T) {
	eps := []Endpoint{
		{Address: "receive-0:10901", AZ: "a"}, {Address: "receive-1:10901", AZ: "b"}, {Address: "receive-2:10901", AZ: "c"},
		{Address: "receive-3:10901", AZ: "a"}, {Address: "receive-4:10901", AZ: "b"},
	}
	ring, err := New(AlgorithmKetama, eps, 3)
	require.NoError(t, err)
	got := map[string][]string{}
	for _, lset := range []labels.Labels{
		labels.FromStrings("__name__", "up", "job", "prometheus"),
		labels.FromStrings("__name__", "up", "job", "node"),
		labels.FromStrings("__name__", "http_requests_total", "code", "200", "job", "api"),
		labels.FromStrings("__name__", "http_requests_total", "code", "500", "job", "api"),
	} {
		for n := range uint64(3) {
			ep, err := ring.GetN("default-tenant", lset, n)
			require.NoError(t, err)
			got[lset.String()] = append(got[lset.String()], ep.Address)
		}
	}
	require.Equal(t, map[string][]string{
		`{__name__="up", job="prometheus"}`:                       {"receive-0:10901", "receive-2:10901", "receive-1:10901"},
		`{__name__="up", job="node"}`:                             {"receive-4:10901", "receive-0:10901", "receive-2:10901"},
		`{__name__="http_requests_total", code="200", job="api"}`: {"receive-2:10901", "receive-0:10901", "receive-1:10901"},
		`{__name__="http_requests_total", code="500", job="api"}`: {"receive-3:10901", "receive-4:10901", "receive-2:10901"},
	}, got)
}

func TestKetamaReplicasDistinct(t *testing.T) {
	for _, tc := range []struct {
		name string
		eps  []Endpoint
		rf   uint64
	}{
		{"6 endpoints rf 3", endpoints(6), 3},
		{"4 endpoints rf 4", endpoints(4), 4},
		{"zones that cannot balance", withZones(endpoints(4), "z1", "z2", "z2", "z2"), 4},
	} {
		t.Run(tc.name, func(t *testing.T) {
			ring, err := New(AlgorithmKetama, tc.eps, tc.rf)
			require.NoError(t, err)
			for _, lset := range series(5000) {
				seen := map[string]bool{}
				for n := range tc.rf {
					ep, err := ring.GetN("t", lset, n)
					require.NoError(t, err)
					require.False(t, seen[ep.Address], "series %s: replica %d on %s again", lset, n, ep.Address)
					seen[ep.Address] = true
				}
			}
		})
	}
}

func TestKetamaZoneSpread(t *testing.T) {
	for _, tc := range []struct {
		name  string
		zones []string
		rf    uint64
		// want is the sorted count of replicas per zone every series gets.
		want []int
	}{
		{"3 zones of uneven size rf 3", []string{"z1", "z1", "z2", "z2", "z2", "z3", "z3", "z3", "z3"}, 3, []int{1, 1, 1}},
		{"2 zones rf 3", []string{"z1", "z1", "z1", "z2", "z2", "z2"}, 3, []int{1, 2}},
		{"3 zones rf 2", []string{"z1", "z2", "z3", "z1", "z2", "z3"}, 2, []int{1, 1}},
		{"2 zones rf 4", []string{"z1", "z1", "z1", "z2", "z2", "z2"}, 4, []int{2, 2}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			eps := withZones(endpoints(len(tc.zones)), tc.zones...)
			ring, err := New(AlgorithmKetama, eps, tc.rf)
			require.NoError(t, err)
			for _, lset := range series(5000) {
				perZone := map[string]int{}
				for n := range tc.rf {
					ep, err := ring.GetN("t", lset, n)
					require.NoError(t, err)
					perZone[ep.AZ]++
				}
				counts := slices.Sorted(func(yield func(int) bool) {
					for _, c := range perZone {
						if !yield(c) {
							return
						}
					}
				})
				require.Equal(t, tc.want, counts, "series %s", lset)
			}
		})
	}
}

func TestKetamaGetNErrors(t *testing.T) {
	ring, err := New(AlgorithmKetama, endpoints(4), 2)
	require.NoError(t, err)
	lset := series(1)[0]
	_, err = ring.GetN("t", lset, 1)
	require.NoError(t, err)
	_, err = ring.GetN("t", lset, 2)
	require.ErrorIs(t, err, ErrInsufficientEndpoints)
	require.ErrorContains(t, err, "ring was built for 2 replicas")
	_, err = ring.GetN("t", lset, 4)
	require.ErrorIs(t, err, ErrInsufficientEndpoints)
	require.ErrorContains(t, err, "needs 5 endpoints, the hashring has 4")
}

// TestKetamaMovement adds one endpoint to rings of N=3..10 and checks that
// about 1/(N+1) of the series move, all of them to the new endpoint, and
// that the new ring is balanced; hashmod, for contrast, moves about N/(N+1).
func TestKetamaMovement(t *testing.T) {
	const numSeries = 100_000
	all := series(numSeries)
	for n := 3; n <= 10; n++ {
		before, err := New(AlgorithmKetama, endpoints(n), 1)
		require.NoError(t, err)
		after, err := New(AlgorithmKetama, endpoints(n+1), 1)
		require.NoError(t, err)
		newcomer := endpoints(n + 1)[n]

		moved := 0
		load := map[string]int{}
		for _, lset := range all {
			a, err := before.Get("t", lset)
			require.NoError(t, err)
			b, err := after.Get("t", lset)
			require.NoError(t, err)
			load[b.Address]++
			if a != b {
				moved++
				require.Equal(t, newcomer, b, "a series moved between old endpoints")
			}
		}
		ratio := float64(moved) / numSeries
		ideal := 1 / float64(n+1)
		t.Logf("ketama N=%d->%d: moved %.4f of the series (ideal %.4f, ratio %.2f)", n, n+1, ratio, ideal, ratio/ideal)
		require.InDelta(t, ideal, ratio, 0.1*ideal, "N=%d", n)
		for addr, c := range load {
			share := float64(c) / numSeries
			require.InDelta(t, ideal, share, 0.2*ideal, "N+1=%d endpoint %s", n+1, addr)
		}
	}

	hmBefore, err := New(AlgorithmHashmod, endpoints(5), 1)
	require.NoError(t, err)
	hmAfter, err := New(AlgorithmHashmod, endpoints(6), 1)
	require.NoError(t, err)
	moved := 0
	for _, lset := range all[:20_000] {
		a, _ := hmBefore.Get("t", lset)
		b, _ := hmAfter.Get("t", lset)
		if a != b {
			moved++
		}
	}
	t.Logf("hashmod N=5->6: moved %.4f of the series", float64(moved)/20_000)
}

func TestDeterministic(t *testing.T) {
	for alg, eps := range map[Algorithm][]Endpoint{
		AlgorithmHashmod: endpoints(5),
		AlgorithmKetama:  withZones(endpoints(5), "a", "b", "c", "a", "b"),
	} {
		r1, err := New(alg, eps, 3)
		require.NoError(t, err)
		r2, err := New(alg, slices.Clone(eps), 3)
		require.NoError(t, err)
		for _, lset := range series(2000) {
			for n := range uint64(3) {
				a, err := r1.GetN("t", lset, n)
				require.NoError(t, err)
				b, err := r2.GetN("t", lset, n)
				require.NoError(t, err)
				require.Equal(t, a, b, "%s: series %s replica %d", alg, lset, n)
			}
		}
	}
}

func BenchmarkKetamaGet(b *testing.B) {
	ring, err := New(AlgorithmKetama, endpoints(10), 3)
	require.NoError(b, err)
	all := series(1024)
	b.ReportAllocs()
	b.ResetTimer()
	for i := 0; b.Loop(); i++ {
		if _, err := ring.GetN("tenant", all[i%len(all)], uint64(i%3)); err != nil {
			b.Fatal(err)
		}
	}
}
