package promstore

import (
	"testing"

	"github.com/stretchr/testify/require"

	"github.com/strata-io/strata/internal/store/storetest"
	"github.com/strata-io/strata/pkg/storepb"
)

// FuzzStoreAPI fuzzes Series, LabelNames and LabelValues requests against a
// sidecar store in front of a fake Prometheus (the real remote-read and API
// handlers over a small TSDB).
func FuzzStoreAPI(f *testing.F) {
	minT := storetest.DefaultMinTime
	fp := newFakeProm(f, extLabels, fakePromOptions{})
	require.NoError(f, storetest.AppendSeries(f.Context(), fp.db, storetest.FuzzDataset(minT)))
	storetest.FuzzRequests(f, storepb.ServerAsClient(newStore(f, fp, nil)), minT)
}
