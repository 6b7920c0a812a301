package receiver

import (
	"fmt"
	"net/http"
	"testing"

	"github.com/prometheus/prometheus/prompb"
	"github.com/stretchr/testify/require"
)

// Limits from --receive.limits-config: a request over its tenant's series
// limit is 413 naming the limit and stores nothing; a tenant at its head
// series limit gets 429 while another tenant still writes.
func TestLimits(t *testing.T) {
	cfg := DefaultConfig()
	cfg.RemoteWriteAddress = "127.0.0.1:0"
	cfg.TSDB.Dir = t.TempDir()
	cfg.LimitsContent = `
write:
  default:
    request:
      series_limit: 5
    head_series_limit: 8
  tenants:
    big:
      request:
        series_limit: 0
      head_series_limit: 0
`
	r, err := New(cfg, Deps{})
	require.NoError(t, err)
	t.Cleanup(func() { require.NoError(t, r.Close()) })

	req := func(first, n int) *prompb.WriteRequest {
		wr := &prompb.WriteRequest{}
		for i := range n {
			wr.Timeseries = append(wr.Timeseries, prompb.TimeSeries{
				Labels:  []prompb.Label{{Name: "__name__", Value: "up"}, {Name: "pod", Value: fmt.Sprint(first + i)}},
				Samples: []prompb.Sample{{Timestamp: 1000, Value: 1}},
			})
		}
		return wr
	}
	const v1 = "application/x-protobuf"

	rec := post(r.Handler(), http.MethodPost, body(t, req(0, 6)), v1, "small")
	require.Equal(t, http.StatusRequestEntityTooLarge, rec.Code, rec.Body.String())
	require.Contains(t, rec.Body.String(), "series_limit 5")
	require.Nil(t, r.db.TenantDB("small"), "a refused request opened the tenant")

	for _, first := range []int{0, 5} {
		rec = post(r.Handler(), http.MethodPost, body(t, req(first, 5)), v1, "small")
		require.Equal(t, http.StatusNoContent, rec.Code, rec.Body.String())
	}
	rec = post(r.Handler(), http.MethodPost, body(t, req(10, 1)), v1, "small")
	require.Equal(t, http.StatusTooManyRequests, rec.Code, rec.Body.String())
	require.Contains(t, rec.Body.String(), "head_series_limit is 8")

	rec = post(r.Handler(), http.MethodPost, body(t, req(0, 20)), v1, "big")
	require.Equal(t, http.StatusNoContent, rec.Code, rec.Body.String())
}
