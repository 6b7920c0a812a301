package remotewrite

import (
	"math"
	"net/http"
	"testing"

	"github.com/alecthomas/kingpin/v2"
	"github.com/prometheus/common/model"
	"github.com/prometheus/prometheus/model/exemplar"
	"github.com/prometheus/prometheus/model/labels"
	"github.com/prometheus/prometheus/model/metadata"
	"github.com/prometheus/prometheus/model/value"
	"github.com/prometheus/prometheus/prompb"
	writev2 "github.com/prometheus/prometheus/prompb/io/prometheus/write/v2"
	"github.com/stretchr/testify/require"
)

func TestDecodeV1(t *testing.T) {
	h := testHistogram()
	fh := h.ToFloat(nil)
	wr := &prompb.WriteRequest{
		Timeseries: []prompb.TimeSeries{
			{
				Labels: v1Labels("__name__", "http_requests_total", "empty", "", "job", "api"),
				Samples: []prompb.Sample{
					{Timestamp: 1000, Value: 1},
					{Timestamp: 2000, Value: math.NaN()},
					{Timestamp: 3000, Value: math.Float64frombits(value.StaleNaN)},
				},
				Exemplars: []prompb.Exemplar{{Labels: v1Labels("trace_id", "abc"), Value: 1, Timestamp: 1000}},
			},
			{
				Labels: v1Labels("__name__", "latency_seconds", "job", "api"),
				Histograms: []prompb.Histogram{
					prompb.FromIntHistogram(1000, h),
					prompb.FromFloatHistogram(2000, fh),
				},
			},
		},
		Metadata: []prompb.MetricMetadata{{
			Type: prompb.MetricMetadata_COUNTER, MetricFamilyName: "http_requests", Help: "Requests.", Unit: "",
		}},
	}
	body := marshal(t, wr)

	for _, ct := range []string{"", ContentTypeV1, "application/x-protobuf;proto=prometheus.WriteRequest", "application/x-protobuf; proto=prometheus.WriteRequest"} {
		t.Run("content-type="+ct, func(t *testing.T) {
			req, err := newDecoder(t, nil).Decode(newHTTPRequest(body, ct))
			require.NoError(t, err)
			require.Equal(t, V1, req.Version)
			require.Equal(t, DefaultTenant, req.Tenant)
			require.Len(t, req.Series, 2)

			s := req.Series[0]
			require.Equal(t, labels.FromStrings("__name__", "http_requests_total", "job", "api"), s.Labels, "the empty-valued label is dropped")
			require.Len(t, s.Samples, 3)
			require.Equal(t, Sample{T: 1000, V: 1}, s.Samples[0])
			require.True(t, math.IsNaN(s.Samples[1].V))
			require.True(t, value.IsStaleNaN(s.Samples[2].V), "stale markers are valid samples")
			require.Equal(t, []exemplar.Exemplar{{Labels: labels.FromStrings("trace_id", "abc"), Value: 1, Ts: 1000, HasTs: true}}, s.Exemplars)
			require.Empty(t, s.Histograms)

			s = req.Series[1]
			require.Equal(t, labels.FromStrings("__name__", "latency_seconds", "job", "api"), s.Labels)
			require.Empty(t, s.Samples)
			require.Len(t, s.Histograms, 2)
			require.Equal(t, int64(1000), s.Histograms[0].T)
			require.Nil(t, s.Histograms[0].FH)
			require.True(t, h.Equals(s.Histograms[0].H), "got %v", s.Histograms[0].H)
			require.Nil(t, s.Histograms[1].H)
			require.True(t, fh.Equals(s.Histograms[1].FH), "got %v", s.Histograms[1].FH)

			require.Equal(t, []FamilyMetadata{{Family: "http_requests", Metadata: metadata.Metadata{Type: model.MetricTypeCounter, Help: "Requests."}}}, req.Metadata)
			require.Equal(t, WriteStats{Samples: 3, Histograms: 2, Exemplars: 1}, req.Stats())
			require.NoError(t, req.Validate(model.UTF8Validation))
		})
	}
}

func TestDecodeV2(t *testing.T) {
	h := testHistogram()
	fh := h.ToFloat(nil)
	b := newV2Builder()
	b.add(writev2.TimeSeries{
		// Unsorted on purpose: 2.0 labels are sorted on decoding.
		LabelsRefs: b.refs("job", "api", "__name__", "http_requests_total", "empty", ""),
		Samples:    []writev2.Sample{{Timestamp: 1000, Value: 1, StartTimestamp: 500}, {Timestamp: 2000, Value: math.Float64frombits(value.StaleNaN)}},
		Exemplars:  []writev2.Exemplar{{LabelsRefs: b.refs("trace_id", "abc"), Value: 1, Timestamp: 1000}},
		Metadata: writev2.Metadata{
			Type:    writev2.Metadata_METRIC_TYPE_COUNTER,
			HelpRef: b.syms.Symbolize("Requests."),
			UnitRef: b.syms.Symbolize("requests"),
		},
	})
	b.add(writev2.TimeSeries{
		LabelsRefs: b.refs("__name__", "latency_seconds", "job", "api"),
		Histograms: []writev2.Histogram{writev2.FromIntHistogram(100, 1000, h), writev2.FromFloatHistogram(0, 2000, fh)},
		Metadata:   writev2.Metadata{Type: writev2.Metadata_METRIC_TYPE_HISTOGRAM},
	})
	body := marshal(t, b.build())

	r := newHTTPRequest(body, ContentTypeV2)
	r.Header.Set("THANOS-TENANT", "team-a")
	req, err := newDecoder(t, nil).Decode(r)
	require.NoError(t, err)
	require.Equal(t, V2, req.Version)
	require.Equal(t, "team-a", req.Tenant)
	require.Len(t, req.Series, 2)

	s := req.Series[0]
	require.Equal(t, labels.FromStrings("__name__", "http_requests_total", "job", "api"), s.Labels)
	require.Equal(t, Sample{T: 1000, V: 1, ST: 500}, s.Samples[0])
	require.True(t, value.IsStaleNaN(s.Samples[1].V))
	require.Equal(t, []exemplar.Exemplar{{Labels: labels.FromStrings("trace_id", "abc"), Value: 1, Ts: 1000, HasTs: true}}, s.Exemplars)
	require.Equal(t, metadata.Metadata{Type: model.MetricTypeCounter, Help: "Requests.", Unit: "requests"}, s.Metadata)

	s = req.Series[1]
	require.Len(t, s.Histograms, 2)
	require.Equal(t, int64(1000), s.Histograms[0].T)
	require.Equal(t, int64(100), s.Histograms[0].ST)
	require.True(t, h.Equals(s.Histograms[0].H))
	require.True(t, fh.Equals(s.Histograms[1].FH))
	require.Equal(t, metadata.Metadata{Type: model.MetricTypeHistogram}, s.Metadata)

	require.Nil(t, req.Metadata)
	require.Equal(t, WriteStats{Samples: 2, Histograms: 2, Exemplars: 1}, req.Stats())
	require.NoError(t, req.Validate(model.UTF8Validation))
}

func TestDecodeTenant(t *testing.T) {
	body := marshal(t, &prompb.WriteRequest{Timeseries: []prompb.TimeSeries{{Labels: v1Labels("__name__", "up")}}})
	d := newDecoder(t, func(c *Config) { c.TenantHeader = "X-Scope-OrgID"; c.DefaultTenant = "anonymous" })

	req, err := d.Decode(newHTTPRequest(body, ""))
	require.NoError(t, err)
	require.Equal(t, "anonymous", req.Tenant)

	r := newHTTPRequest(body, "")
	r.Header.Set("X-Scope-OrgID", "team-b")
	r.Header.Set("THANOS-TENANT", "ignored")
	req, err = d.Decode(r)
	require.NoError(t, err)
	require.Equal(t, "team-b", req.Tenant)

	for _, bad := range []string{"..", "a/b", `a\b`, "\xff"} {
		r := newHTTPRequest(body, "")
		r.Header.Set("X-Scope-OrgID", bad)
		_, err := d.Decode(r)
		require.ErrorIs(t, err, ErrInvalidTenant, bad)
		require.Equal(t, http.StatusBadRequest, ErrorStatus(err))
	}
}

func TestDecodeEmptyRequest(t *testing.T) {
	for _, ct := range []string{ContentTypeV1, ContentTypeV2} {
		req, err := newDecoder(t, nil).Decode(newHTTPRequest(nil, ct))
		require.NoError(t, err, ct)
		require.Empty(t, req.Series)
	}
}

func TestConfigValidate(t *testing.T) {
	require.NoError(t, DefaultConfig().Validate())
	cfg := DefaultConfig()
	cfg.TenantHeader = ""
	cfg.DefaultTenant = "a/b"
	cfg.MaxBodyBytes = 0
	err := cfg.Validate()
	require.ErrorContains(t, err, "--receive.tenant-header")
	require.ErrorContains(t, err, "--receive.default-tenant-id")
	require.ErrorContains(t, err, "max body bytes is 0")
	_, err = NewDecoder(cfg)
	require.Error(t, err)
}

func TestWriteStatsSetHeaders(t *testing.T) {
	h := http.Header{}
	WriteStats{Samples: 3, Histograms: 2, Exemplars: 1}.Add(WriteStats{Samples: 1}).SetHeaders(h)
	require.Equal(t, "4", h.Get("X-Prometheus-Remote-Write-Samples-Written"))
	require.Equal(t, "2", h.Get("X-Prometheus-Remote-Write-Histograms-Written"))
	require.Equal(t, "1", h.Get("X-Prometheus-Remote-Write-Exemplars-Written"))
}

func TestVersionString(t *testing.T) {
	require.Equal(t, "prometheus.WriteRequest", V1.String())
	require.Equal(t, "io.prometheus.write.v2.Request", V2.String())
	require.Equal(t, "Version(7)", Version(7).String())
}

func TestRegisterFlags(t *testing.T) {
	app := kingpin.New("strata", "")
	cmd := app.Command("receive", "")
	cfg := DefaultConfig()
	cfg.RegisterFlags(cmd)
	_, err := app.Parse([]string{"receive"})
	require.NoError(t, err)
	require.Equal(t, DefaultConfig(), cfg)

	_, err = app.Parse([]string{"receive", "--receive.tenant-header=X-Scope-OrgID", "--receive.default-tenant-id=anonymous"})
	require.NoError(t, err)
	require.Equal(t, "X-Scope-OrgID", cfg.TenantHeader)
	require.Equal(t, "anonymous", cfg.DefaultTenant)
}
