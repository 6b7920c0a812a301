package promstore

import (
	"testing"

	"github.com/prometheus/prometheus/model/labels"
	"github.com/prometheus/prometheus/storage"
	"github.com/prometheus/prometheus/util/teststorage"
	"github.com/stretchr/testify/require"

	"github.com/strata-io/strata/internal/store/storetest"
	"github.com/strata-io/strata/pkg/storepb"
)

// contractSetup serves series from a TSDB behind a fake Prometheus (the real
// remote-read handler) through a Store. The sidecar refuses a Prometheus
// without external labels (TestNoExternalLabels), so the suite runs with
// RequiresExternalLabels.
func contractSetup(opts fakePromOptions) storetest.Setup {
	return func(t *testing.T, ext labels.Labels, series []storage.Series) storepb.StoreClient {
		fp := newFakeProm(t, ext, opts)
		require.NoError(t, storetest.AppendSeries(t.Context(), fp.db, series))
		return storepb.ServerAsClient(newStore(t, fp, nil))
	}
}

// failingSetup is a store that knew its Prometheus, which is now down.
func failingSetup(t *testing.T) storepb.StoreClient {
	fp := newFakeProm(t, extLabels, fakePromOptions{})
	s := newStore(t, fp, nil)
	fp.stop()
	return storepb.ServerAsClient(s)
}

func TestContract(t *testing.T) {
	t.Run("xor", func(t *testing.T) {
		storetest.RunContract(t, contractSetup(fakePromOptions{}), storetest.Options{Failing: failingSetup, RequiresExternalLabels: true})
	})
	t.Run("xor2_reencoded", func(t *testing.T) {
		if testing.Short() {
			t.Skip("the re-encoding path runs the suite a second time")
		}
		storetest.RunContract(t, contractSetup(fakePromOptions{tsdbOpts: []teststorage.Option{withXOR2()}}), storetest.Options{RequiresExternalLabels: true})
	})
}
