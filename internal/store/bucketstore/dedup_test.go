package bucketstore_test

import (
	"fmt"
	"testing"

	"github.com/prometheus/prometheus/model/labels"
	"github.com/prometheus/prometheus/storage"
	"github.com/prometheus/prometheus/util/teststorage"
	"github.com/stretchr/testify/require"

	"github.com/strata-io/strata/internal/query"
	"github.com/strata-io/strata/internal/query/hatest"
	"github.com/strata-io/strata/internal/store"
	"github.com/strata-io/strata/internal/store/proxy"
	"github.com/strata-io/strata/internal/store/storetest"
	"github.com/strata-io/strata/internal/store/tsdbstore"
	"github.com/strata-io/strata/internal/testkit"
	"github.com/strata-io/strata/pkg/storepb"
)

// TestQueryDedupHAPair uploads the 2h blocks of an HA pair (replica 1 scrapes
// 7s later and counts 1,000 less, replica 0 was down for 20 minutes) and
// queries them through the querier with --query.replica-label=replica: one
// store gateway over the bucket both replicas upload to, one per replica, and
// a store gateway for old data next to sidecars (tsdbstores) for recent data.
func TestQueryDedupHAPair(t *testing.T) {
	const start = int64(1_700_006_400_000) // a 2h boundary
	ext := func(i int) labels.Labels { return labels.FromStrings("cluster", "eu1", "replica", fmt.Sprint(i)) }
	upload := func(t *testing.T, bkt *countingBucket, i int, series []storage.Series, ranges [][2]int64) {
		for _, dir := range writeBlocks(t, series, ranges, nil) {
			uploadBlock(t, bkt, dir, ext(i), 0)
		}
	}
	gateway := func(t *testing.T, bkt *countingBucket) store.Client {
		return testkit.NewLocalStore("store", newStore(t, testConfig(), bkt))
	}
	sidecar := func(t *testing.T, i int, series []storage.Series) store.Client {
		ts := teststorage.New(t)
		require.NoError(t, storetest.AppendSeries(t.Context(), ts.DB, series))
		s := tsdbstore.New(ts.DB, tsdbstore.Config{ExternalLabels: ext(i)}, nil)
		return testkit.NewLocalStore(fmt.Sprintf("sidecar-%d", i), s)
	}
	blocks := [][2]int64{{start, start + 2*hour - 1}, {start + 2*hour, start + 4*hour - 1}}
	replicas := [][]storage.Series{hatest.Replica(start, 0, false), hatest.Replica(start, 1, false)}

	for _, tc := range []struct {
		name    string
		clients func(t *testing.T) []store.Client
	}{
		{"one store gateway, both replicas in its bucket", func(t *testing.T) []store.Client {
			bkt := newCountingBucket()
			for i, r := range replicas {
				upload(t, bkt, i, r, blocks)
			}
			return []store.Client{gateway(t, bkt)}
		}},
		{"one store gateway per replica", func(t *testing.T) []store.Client {
			var out []store.Client
			for i, r := range replicas {
				bkt := newCountingBucket()
				upload(t, bkt, i, r, blocks)
				out = append(out, gateway(t, bkt))
			}
			return out
		}},
		{"store gateway for the first 2h, a sidecar per replica for the rest", func(t *testing.T) []store.Client {
			bkt := newCountingBucket()
			out := []store.Client{nil}
			for i, r := range replicas {
				old, recent := hatest.Split(r, start+2*hour)
				upload(t, bkt, i, old, blocks[:1])
				out = append(out, sidecar(t, i, recent))
			}
			out[0] = gateway(t, bkt)
			return out
		}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			clients := tc.clients(t)
			px := proxy.New(proxy.Config{}, func() []store.Client { return clients }, nil, nil)
			q := query.NewQueryableCreator(storepb.ServerAsClient(px), nil, nil)(query.Options{Deduplicate: true, ReplicaLabels: []string{hatest.ReplicaLabel}})
			hatest.Check(t, q, start)
		})
	}
}
