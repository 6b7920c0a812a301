package api

import (
	"context"
	"encoding/json"
	"net/http"
	"net/http/httptest"
	"net/url"
	"slices"
	"testing"

	"github.com/prometheus/prometheus/model/labels"
	"github.com/prometheus/prometheus/model/metadata"
	"github.com/prometheus/prometheus/util/annotations"
	"github.com/prometheus/prometheus/util/teststorage"
	"github.com/stretchr/testify/require"

	"github.com/strata-io/strata/internal/tenancy"
)

// metadataFunc is a MetadataFetcher calling itself.
type metadataFunc func(ctx context.Context, metric string, limit int) (map[string][]metadata.Metadata, annotations.Annotations, error)

func (f metadataFunc) MetricMetadata(ctx context.Context, metric string, limit int) (map[string][]metadata.Metadata, annotations.Annotations, error) {
	return f(ctx, metric, limit)
}

// With tenancy enforced, /api/v1/metadata lists only the metric families
// the request's tenant has series of (a histogram's family by its _bucket
// series, a counter's by its _total series), and limit counts what the
// tenant sees.
func TestMetadataScopedToTenant(t *testing.T) {
	s := teststorage.New(t)
	app := s.Appender(context.Background())
	for _, lset := range []labels.Labels{
		labels.FromStrings("__name__", "http_requests_total", "tenant_id", "team-a"),
		labels.FromStrings("__name__", "rpc_seconds_bucket", "le", "1", "tenant_id", "team-a"),
		labels.FromStrings("__name__", "up", "tenant_id", "team-a"),
		labels.FromStrings("__name__", "secret_jobs", "tenant_id", "team-b"),
	} {
		_, err := app.Append(0, lset, 60_000, 1)
		require.NoError(t, err)
	}
	require.NoError(t, app.Commit())

	md := metadataFunc(func(context.Context, string, int) (map[string][]metadata.Metadata, annotations.Annotations, error) {
		return map[string][]metadata.Metadata{
			"http_requests": {{Type: "counter", Help: "Requests."}},
			"rpc_seconds":   {{Type: "histogram", Help: "RPC latency."}},
			"up":            {{Type: "gauge", Help: "Up."}},
			"secret_jobs":   {{Type: "gauge", Help: "team-b's own metric."}},
		}, nil, nil
	})
	cfg := DefaultConfig()
	cfg.Tenancy = tenancy.DefaultConfig()
	cfg.Tenancy.Enforce = true
	f := newFixture(t, cfg, s, nil, md)

	get := func(tenant string, params url.Values) []string {
		req, err := http.NewRequest(http.MethodGet, "/api/v1/metadata?"+params.Encode(), nil)
		require.NoError(t, err)
		req.Header.Set(tenancy.DefaultHeader, tenant)
		w := httptest.NewRecorder()
		f.mux.ServeHTTP(w, req)
		require.Equal(t, http.StatusOK, w.Code, w.Body.String())
		var out struct {
			Data map[string]json.RawMessage `json:"data"`
		}
		require.NoError(t, json.Unmarshal(w.Body.Bytes(), &out))
		var names []string
		for n := range out.Data {
			names = append(names, n)
		}
		slices.Sort(names)
		return names
	}
	require.Equal(t, []string{"http_requests", "rpc_seconds", "up"}, get("team-a", nil))
	require.Equal(t, []string{"secret_jobs"}, get("team-b", nil))
	require.Empty(t, get("team-c", nil))
	require.Len(t, get("team-a", url.Values{"limit": {"2"}}), 2)
}
