package bucketstore_test

import (
	"testing"

	"github.com/prometheus/prometheus/model/labels"

	"github.com/strata-io/strata/internal/store/storetest"
	"github.com/strata-io/strata/pkg/storepb"
)

// FuzzStoreAPI fuzzes Series, LabelNames and LabelValues requests against a
// store gateway over an in-memory bucket holding one small block.
func FuzzStoreAPI(f *testing.F) {
	minT := storetest.DefaultMinTime
	bkt := newCountingBucket()
	for _, dir := range writeBlocks(f, storetest.FuzzDataset(minT), [][2]int64{{minT, minT + hour}}, nil) {
		uploadBlock(f, bkt, dir, labels.FromStrings("region", "eu", "replica", "a"), 0)
	}
	s := newStore(f, testConfig(), bkt)
	storetest.FuzzRequests(f, storepb.ServerAsClient(s), minT)
}
