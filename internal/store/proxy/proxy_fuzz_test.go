package proxy_test

import (
	"testing"

	"github.com/prometheus/prometheus/model/labels"

	"github.com/strata-io/strata/internal/store"
	"github.com/strata-io/strata/internal/store/proxy"
	"github.com/strata-io/strata/internal/store/storetest"
	"github.com/strata-io/strata/internal/store/tsdbstore"
	"github.com/strata-io/strata/pkg/storepb"
)

// FuzzStoreAPI fuzzes Series, LabelNames and LabelValues requests against a
// proxy over two small TSDB stores, HA replicas of each other: one strips
// replica labels itself, the proxy strips them for the other.
func FuzzStoreAPI(f *testing.F) {
	minT := storetest.DefaultMinTime
	var cs []store.Client
	for i, replica := range []string{"a", "b"} {
		srv := tsdbstore.New(openDB(f, storetest.FuzzDataset(minT)),
			tsdbstore.Config{ExternalLabels: labels.FromStrings("region", "eu", "replica", replica), ComponentType: "debug"}, nil)
		cs = append(cs, newEndpoint(f, "tsdb-"+replica, srv, i == 0))
	}
	p := proxy.New(proxy.Config{}, func() []store.Client { return cs }, nil, nil)
	storetest.FuzzRequests(f, storepb.ServerAsClient(p), minT)
}
