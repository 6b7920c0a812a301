package otlp

import (
	"bytes"
	"compress/gzip"
	"context"
	"net/http"
	"net/http/httptest"
	"slices"
	"sync"
	"testing"
	"time"

	"github.com/stretchr/testify/require"
	"go.opentelemetry.io/collector/pdata/pcommon"
	"go.opentelemetry.io/collector/pdata/pmetric"
	"go.opentelemetry.io/collector/pdata/pmetric/pmetricotlp"

	"github.com/strata-io/strata/internal/receive/multitsdb"
	"github.com/strata-io/strata/internal/receive/remotewrite"
)

// recordingStore keeps what it was given, per tenant.
type recordingStore struct {
	mu     sync.Mutex
	series map[string][]remotewrite.Series
}

func (s *recordingStore) Append(_ context.Context, tenant string, series []remotewrite.Series) (multitsdb.WriteStats, error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	s.series[tenant] = append(s.series[tenant], series...)
	return multitsdb.WriteStats{}, nil
}

// metrics is what an OpenTelemetry SDK exports for service "checkout":
// a monotonic counter, a gauge and an explicit-bucket histogram.
func metrics(at time.Time) pmetric.Metrics {
	md := pmetric.NewMetrics()
	rm := md.ResourceMetrics().AppendEmpty()
	rm.Resource().Attributes().PutStr("service.name", "checkout")
	rm.Resource().Attributes().PutStr("service.instance.id", "pod-1")
	sm := rm.ScopeMetrics().AppendEmpty()
	ts := pcommon.NewTimestampFromTime(at)

	c := sm.Metrics().AppendEmpty()
	c.SetName("http.server.requests")
	c.SetUnit("1")
	sum := c.SetEmptySum()
	sum.SetIsMonotonic(true)
	sum.SetAggregationTemporality(pmetric.AggregationTemporalityCumulative)
	dp := sum.DataPoints().AppendEmpty()
	dp.SetTimestamp(ts)
	dp.SetDoubleValue(42)
	dp.Attributes().PutStr("http.method", "GET")

	g := sm.Metrics().AppendEmpty()
	g.SetName("queue.length")
	gdp := g.SetEmptyGauge().DataPoints().AppendEmpty()
	gdp.SetTimestamp(ts)
	gdp.SetIntValue(7)

	h := sm.Metrics().AppendEmpty()
	h.SetName("rpc.duration")
	h.SetUnit("s")
	hist := h.SetEmptyHistogram()
	hist.SetAggregationTemporality(pmetric.AggregationTemporalityCumulative)
	hdp := hist.DataPoints().AppendEmpty()
	hdp.SetTimestamp(ts)
	hdp.SetCount(5)
	hdp.SetSum(2.5)
	hdp.ExplicitBounds().FromRaw([]float64{0.1, 1})
	hdp.BucketCounts().FromRaw([]uint64{1, 3, 1})
	return md
}

func newHandler(t *testing.T) (*Handler, *recordingStore) {
	t.Helper()
	dec, err := remotewrite.NewDecoder(remotewrite.DefaultConfig())
	require.NoError(t, err)
	st := &recordingStore{series: map[string][]remotewrite.Series{}}
	return New(dec, st, nil), st
}

// An OTLP export (protobuf, gzip or JSON) is stored as Prometheus series
// named as Prometheus' OTLP endpoint names them, with job and instance
// from the resource, under the tenant of the tenant header.
func TestExport(t *testing.T) {
	at := time.Now().Truncate(time.Millisecond)
	req := pmetricotlp.NewExportRequestFromMetrics(metrics(at))
	pb, err := req.MarshalProto()
	require.NoError(t, err)
	js, err := req.MarshalJSON()
	require.NoError(t, err)
	var gz bytes.Buffer
	zw := gzip.NewWriter(&gz)
	_, err = zw.Write(pb)
	require.NoError(t, err)
	require.NoError(t, zw.Close())

	for _, tc := range []struct {
		name, ct, enc string
		body          []byte
	}{
		{"protobuf", "application/x-protobuf", "", pb},
		{"gzip", "application/x-protobuf", "gzip", gz.Bytes()},
		{"json", "application/json", "", js},
	} {
		t.Run(tc.name, func(t *testing.T) {
			h, st := newHandler(t)
			r := httptest.NewRequest(http.MethodPost, MetricsPath, bytes.NewReader(tc.body))
			r.Header.Set("Content-Type", tc.ct)
			r.Header.Set("Content-Encoding", tc.enc)
			r.Header.Set("THANOS-TENANT", "shop")
			w := httptest.NewRecorder()
			h.ServeHTTP(w, r)
			require.Equal(t, http.StatusOK, w.Code, w.Body.String())

			got := map[string]float64{}
			var names []string
			for _, s := range st.series["shop"] {
				require.Equal(t, "checkout", s.Labels.Get("job"), s.Labels.String())
				require.Equal(t, "pod-1", s.Labels.Get("instance"), s.Labels.String())
				name := s.Labels.Get("__name__")
				names = append(names, name)
				if len(s.Samples) == 1 && s.Labels.Get("le") == "" {
					require.Equal(t, at.UnixMilli(), s.Samples[0].T)
					got[name] = s.Samples[0].V
				}
			}
			require.Equal(t, 42.0, got["http_server_requests_total"], "counter (names %v)", names)
			require.Equal(t, 7.0, got["queue_length"], "gauge (names %v)", names)
			require.Equal(t, 5.0, got["rpc_duration_seconds_count"], "histogram count (names %v)", names)
			require.True(t, slices.Contains(names, "rpc_duration_seconds_bucket"), "histogram buckets (names %v)", names)
		})
	}
}

// What cannot be decoded is a 4xx and stores nothing.
func TestExportRefused(t *testing.T) {
	h, st := newHandler(t)
	for _, tc := range []struct {
		ct, enc string
		body    []byte
		want    int
	}{
		{"application/x-protobuf", "", []byte{0xff, 0xff, 0xff}, http.StatusBadRequest},
		{"application/json", "", []byte("{not json"), http.StatusBadRequest},
		{"application/x-protobuf", "gzip", []byte("not gzip"), http.StatusBadRequest},
		{"text/plain", "", []byte("x"), http.StatusUnsupportedMediaType},
		{"application/x-protobuf", "br", []byte("x"), http.StatusUnsupportedMediaType},
	} {
		r := httptest.NewRequest(http.MethodPost, MetricsPath, bytes.NewReader(tc.body))
		r.Header.Set("Content-Type", tc.ct)
		r.Header.Set("Content-Encoding", tc.enc)
		w := httptest.NewRecorder()
		h.ServeHTTP(w, r)
		require.Equal(t, tc.want, w.Code, "%s %s: %s", tc.ct, tc.enc, w.Body.String())
	}
	require.Empty(t, st.series)
}
