package tsdbstore_test

import (
	"testing"

	"github.com/prometheus/prometheus/model/labels"

	"github.com/strata-io/strata/internal/store/storetest"
	"github.com/strata-io/strata/internal/store/tsdbstore"
	"github.com/strata-io/strata/pkg/storepb"
)

// FuzzStoreAPI fuzzes Series, LabelNames and LabelValues requests against a
// small TSDB (its head) with external labels.
func FuzzStoreAPI(f *testing.F) {
	minT := storetest.DefaultMinTime
	db := openDB(f, storetest.FuzzDataset(minT), nil, false)
	s := tsdbstore.New(db, tsdbstore.Config{ExternalLabels: labels.FromStrings("region", "eu", "replica", "a"), ComponentType: "debug"}, nil)
	storetest.FuzzRequests(f, storepb.ServerAsClient(s), minT)
}
