package proxy_test

import (
	"context"
	"fmt"
	"testing"

	"github.com/prometheus/prometheus/model/labels"
	"github.com/prometheus/prometheus/storage"
	"github.com/prometheus/prometheus/tsdb"
	"github.com/stretchr/testify/require"

	"github.com/strata-io/strata/internal/store"
	"github.com/strata-io/strata/internal/store/proxy"
	"github.com/strata-io/strata/internal/store/storetest"
	"github.com/strata-io/strata/internal/store/tsdbstore"
	"github.com/strata-io/strata/pkg/infopb"
	"github.com/strata-io/strata/pkg/storepb"
)

// endpoint adapts an in-process StoreServer with an Info to store.Client,
// as endpoint.Set does for remote ones.
type endpoint struct {
	storepb.StoreClient
	name      string
	info      *infopb.InfoResponse
	withoutRL bool
}

func newEndpoint(t testing.TB, name string, srv *tsdbstore.Store, withoutRL bool) *endpoint {
	info, err := srv.Info(t.Context(), &infopb.InfoRequest{})
	require.NoError(t, err)
	return &endpoint{StoreClient: storepb.ServerAsClient(srv), name: name, info: info,
		withoutRL: withoutRL && info.GetStore().GetSupportsWithoutReplicaLabels()}
}

func (e *endpoint) LabelSets() []labels.Labels {
	return storepb.LabelSetsFromProto(e.info.GetLabelSets())
}
func (e *endpoint) TimeRange() (int64, int64) {
	return e.info.GetStore().GetMinTime(), e.info.GetStore().GetMaxTime()
}
func (e *endpoint) SupportsWithoutReplicaLabels() bool { return e.withoutRL }
func (e *endpoint) String() string                     { return e.name }

func openDB(t testing.TB, series []storage.Series) *tsdb.DB {
	t.Helper()
	opts := tsdb.DefaultOptions()
	opts.RetentionDuration = 0
	opts.MinBlockDuration = 24 * 3600_000
	opts.MaxBlockDuration = 24 * 3600_000
	db, err := tsdb.Open(t.TempDir(), nil, nil, opts, nil)
	require.NoError(t, err)
	t.Cleanup(func() { require.NoError(t, db.Close()) })
	require.NoError(t, storetest.AppendSeries(context.Background(), db, series))
	return db
}

// proxySetup serves the data set through a proxy over n tsdbstore
// endpoints, series dealt round-robin among them. Only the first endpoint
// says it strips replica labels itself: the proxy strips them for the others.
func proxySetup(n int) storetest.Setup {
	return func(t *testing.T, ext labels.Labels, series []storage.Series) storepb.StoreClient {
		parts := make([][]storage.Series, n)
		for i, s := range series {
			parts[i%n] = append(parts[i%n], s)
		}
		var cs []store.Client
		for i, part := range parts {
			srv := tsdbstore.New(openDB(t, part), tsdbstore.Config{ExternalLabels: ext, ComponentType: "debug"}, nil)
			cs = append(cs, newEndpoint(t, fmt.Sprintf("tsdb-%d", i), srv, i == 0))
		}
		return storepb.ServerAsClient(proxy.New(proxy.Config{}, func() []store.Client { return cs }, nil, nil))
	}
}

// down is a storage whose backend is down.
type down struct{}

func (down) ChunkQuerier(int64, int64) (storage.ChunkQuerier, error) {
	return nil, fmt.Errorf("backend down")
}

func failing(t *testing.T) storepb.StoreClient {
	cs := []store.Client{newEndpoint(t, "down", tsdbstore.New(down{}, tsdbstore.Config{ComponentType: "debug"}, nil), true)}
	return storepb.ServerAsClient(proxy.New(proxy.Config{}, func() []store.Client { return cs }, nil, nil))
}

func TestContract(t *testing.T) {
	for _, tc := range []struct {
		name  string
		setup storetest.Setup
	}{
		{name: "one_endpoint", setup: proxySetup(1)},
		{name: "split_across_two_endpoints", setup: proxySetup(2)},
	} {
		t.Run(tc.name, func(t *testing.T) {
			storetest.RunContract(t, tc.setup, storetest.Options{Failing: failing})
		})
	}
}
