package multitsdb

import (
	"testing"

	"github.com/prometheus/prometheus/model/labels"
	"github.com/prometheus/prometheus/storage"
	"github.com/stretchr/testify/require"

	"github.com/strata-io/strata/internal/receive/remotewrite"
	"github.com/strata-io/strata/internal/store/storetest"
	"github.com/strata-io/strata/pkg/storepb"
)

// toRemoteWrite converts the suite's series into decoded remote-write
// series.
func toRemoteWrite(t *testing.T, series []storage.Series) []remotewrite.Series {
	out := make([]remotewrite.Series, 0, len(series))
	for _, s := range series {
		smps, err := storetest.SeriesSamples(s)
		require.NoError(t, err)
		rs := remotewrite.Series{Labels: s.Labels()}
		for _, x := range smps {
			if x.H != nil || x.FH != nil {
				rs.Histograms = append(rs.Histograms, remotewrite.Histogram{T: x.T, H: x.H, FH: x.FH})
				continue
			}
			rs.Samples = append(rs.Samples, remotewrite.Sample{T: x.T, V: x.F})
		}
		out = append(out, rs)
	}
	return out
}

// contractSetup writes the data set through Append into one tenant. The
// store's external labels are the suite's: the last one is made the tenant
// label, the others Config.ExternalLabels. A receiver always sets a tenant
// label, so the suite's case without external labels is left out
// (RequiresExternalLabels).
func contractSetup(flush bool) storetest.Setup {
	return func(t *testing.T, ext labels.Labels, series []storage.Series) storepb.StoreClient {
		var last labels.Label
		ext.Range(func(l labels.Label) { last = l })
		m, err := New(Config{
			Dir:            t.TempDir(),
			TenantLabel:    last.Name,
			ExternalLabels: labels.NewBuilder(ext).Del(last.Name).Labels(),
		}, nil, nil)
		require.NoError(t, err)
		t.Cleanup(func() { require.NoError(t, m.Close()) })
		stats, err := m.Append(t.Context(), last.Value, toRemoteWrite(t, series))
		require.NoError(t, err)
		require.Zero(t, stats.Conflicts)
		if flush {
			require.NoError(t, m.Flush(last.Value))
			require.NotEmpty(t, m.TenantDB(last.Value).Blocks())
		}
		return storepb.ServerAsClient(m.StoreServer())
	}
}

func TestContract(t *testing.T) {
	t.Run("head", func(t *testing.T) {
		storetest.RunContract(t, contractSetup(false), storetest.Options{RequiresExternalLabels: true})
	})
	t.Run("flushed", func(t *testing.T) {
		storetest.RunContract(t, contractSetup(true), storetest.Options{RequiresExternalLabels: true})
	})
}
