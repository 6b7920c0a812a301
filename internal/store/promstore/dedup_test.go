package promstore

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

// TestQueryDedupHAPair queries an HA pair (replica 1 scrapes 7s later and
// counts 1,000 less, replica 0 was down for 20 minutes) through the querier
// with --query.replica-label=replica, each replica behind its sidecar, and
// with the first 2h of both replicas in one store (as a store gateway or a
// receiver holds them) next to the sidecars.
func TestQueryDedupHAPair(t *testing.T) {
	const start = int64(1_700_006_400_000)
	const twoHours = int64(2 * 3600_000)
	ext := func(i int) labels.Labels { return labels.FromStrings("cluster", "eu1", "replica", fmt.Sprint(i)) }
	sidecar := func(t *testing.T, i int, series []storage.Series) store.Client {
		fp := newFakeProm(t, ext(i), fakePromOptions{})
		fp.appendSeries(t, series)
		return testkit.NewLocalStore(fmt.Sprintf("sidecar-%d", i), newStore(t, fp, nil))
	}
	replicas := [][]storage.Series{hatest.Replica(start, 0, false), hatest.Replica(start, 1, false)}

	for _, tc := range []struct {
		name    string
		clients func(t *testing.T) []store.Client
	}{
		{"a sidecar per replica", func(t *testing.T) []store.Client {
			return []store.Client{sidecar(t, 0, replicas[0]), sidecar(t, 1, replicas[1])}
		}},
		{"one store with both replicas' old data next to the sidecars", func(t *testing.T) []store.Client {
			ts := teststorage.New(t)
			out := []store.Client{testkit.NewLocalStore("store", tsdbstore.New(ts.DB, tsdbstore.Config{}, nil))}
			for i, r := range replicas {
				_, recent := hatest.Split(r, start+twoHours)
				old, _ := hatest.Split(hatest.Replica(start, i, true), start+twoHours)
				require.NoError(t, storetest.AppendSeries(t.Context(), ts.DB, old))
				out = append(out, sidecar(t, i, recent))
			}
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
