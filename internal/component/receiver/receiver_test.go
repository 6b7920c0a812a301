package receiver

import (
	"bytes"
	"context"
	"encoding/json"
	"net/http"
	"net/http/httptest"
	"strings"
	"testing"
	"time"

	"github.com/alecthomas/kingpin/v2"
	"github.com/golang/snappy"
	"github.com/prometheus/prometheus/model/labels"
	"github.com/prometheus/prometheus/prompb"
	writev2 "github.com/prometheus/prometheus/prompb/io/prometheus/write/v2"
	"github.com/stretchr/testify/require"
	"github.com/thanos-io/objstore"
	"go.opentelemetry.io/collector/pdata/pcommon"
	"go.opentelemetry.io/collector/pdata/pmetric"
	"go.opentelemetry.io/collector/pdata/pmetric/pmetricotlp"
	"google.golang.org/grpc"

	"github.com/strata-io/strata/internal/receive/remotewrite"
	"github.com/strata-io/strata/internal/store/storetest"
	"github.com/strata-io/strata/pkg/metadata"
	"github.com/strata-io/strata/pkg/storepb"
)

// parse parses args as `receive` flags.
func parse(t *testing.T, args ...string) (Config, error) {
	t.Helper()
	app := kingpin.New("test", "")
	var cfg Config
	cfg.RegisterFlags(app.Command("receive", ""))
	_, err := app.Parse(append([]string{"receive"}, args...))
	return cfg, err
}

// The flags take upstream's names and value formats and land in the
// libraries' configurations.
func TestFlags(t *testing.T) {
	cfg, err := parse(t)
	require.NoError(t, err)
	require.Equal(t, "0.0.0.0:19291", cfg.RemoteWriteAddress)
	require.Equal(t, "THANOS-TENANT", cfg.RemoteWrite.TenantHeader)
	require.Equal(t, "default-tenant", cfg.RemoteWrite.DefaultTenant)
	require.Equal(t, "tenant_id", cfg.TSDB.TenantLabel)
	require.Equal(t, "./data", cfg.TSDB.Dir)
	require.Equal(t, 15*24*time.Hour, cfg.TSDB.Retention)
	require.Zero(t, cfg.TSDB.OutOfOrderWindow)
	require.True(t, cfg.TSDB.ExternalLabels.IsEmpty())
	require.NoError(t, cfg.Validate())

	cfg, err = parse(t, "--remote-write.address=127.0.0.1:1234", "--tsdb.path=/x",
		`--label=replica="r 1"`, "--label=cluster=eu", "--receive.tenant-header=X-Scope-OrgID",
		"--receive.default-tenant-id=anon", "--receive.tenant-label-name=tenant",
		"--tsdb.retention=2d", "--tsdb.out-of-order.time-window=30m", "--receive.max-concurrent-writes=3")
	require.NoError(t, err)
	require.Equal(t, "127.0.0.1:1234", cfg.RemoteWriteAddress)
	require.Equal(t, "/x", cfg.TSDB.Dir)
	require.Equal(t, labels.FromStrings("cluster", "eu", "replica", "r 1"), cfg.TSDB.ExternalLabels)
	require.Equal(t, "X-Scope-OrgID", cfg.RemoteWrite.TenantHeader)
	require.Equal(t, "anon", cfg.RemoteWrite.DefaultTenant)
	require.Equal(t, "tenant", cfg.TSDB.TenantLabel)
	require.Equal(t, 48*time.Hour, cfg.TSDB.Retention)
	require.Equal(t, 30*time.Minute, cfg.TSDB.OutOfOrderWindow)
	require.Equal(t, 3, cfg.MaxConcurrentWrites)
	require.NoError(t, cfg.Validate())

	for _, bad := range []string{"--label=novalue", `--label=a="unterminated`, "--label=__x=1", "--label=a="} {
		_, err := parse(t, bad)
		require.ErrorContains(t, err, "--label", bad)
	}
	_, err = parse(t, "--label=a=1", "--label=a=2")
	require.ErrorContains(t, err, "given twice")

	cfg, err = parse(t, "--label=tenant_id=x")
	require.NoError(t, err)
	require.ErrorContains(t, cfg.Validate(), "tenant label")
	cfg, err = parse(t, "--receive.max-concurrent-writes=0")
	require.NoError(t, err)
	require.ErrorContains(t, cfg.Validate(), "--receive.max-concurrent-writes")
}

// newReceiver builds a receiver over a fresh directory, listening on a
// loopback port when run, with external label replica="r1".
func newReceiver(t *testing.T, bkt objstore.Bucket) *Receiver {
	t.Helper()
	cfg := DefaultConfig()
	cfg.RemoteWriteAddress = "127.0.0.1:0"
	cfg.TSDB.Dir = t.TempDir()
	cfg.TSDB.ExternalLabels = labels.FromStrings("replica", "r1")
	r, err := New(cfg, Deps{Bucket: bkt})
	require.NoError(t, err)
	t.Cleanup(func() { require.NoError(t, r.Close()) })
	return r
}

type marshaler interface{ Marshal() ([]byte, error) }

// body returns m marshalled and snappy-compressed.
func body(t testing.TB, m marshaler) []byte {
	t.Helper()
	b, err := m.Marshal()
	require.NoError(t, err)
	return snappy.Encode(nil, b)
}

// v1Request is one 1.0 series name{job="app"} with a sample at each ts.
func v1Request(name string, ts ...int64) *prompb.WriteRequest {
	s := prompb.TimeSeries{Labels: []prompb.Label{{Name: "__name__", Value: name}, {Name: "job", Value: "app"}}}
	for _, at := range ts {
		s.Samples = append(s.Samples, prompb.Sample{Timestamp: at, Value: float64(at % 1000)})
	}
	return &prompb.WriteRequest{Timeseries: []prompb.TimeSeries{s}}
}

// v2Request is one 2.0 series name{job="app"} with a sample at each ts.
func v2Request(name string, ts ...int64) *writev2.Request {
	syms := writev2.NewSymbolTable()
	s := writev2.TimeSeries{LabelsRefs: syms.SymbolizeLabels(labels.FromStrings("__name__", name, "job", "app"), nil)}
	for _, at := range ts {
		s.Samples = append(s.Samples, writev2.Sample{Timestamp: at, Value: float64(at % 1000)})
	}
	return &writev2.Request{Symbols: syms.Symbols(), Timeseries: []writev2.TimeSeries{s}}
}

// post sends a remote-write request to h.
func post(h http.Handler, method string, body []byte, contentType, tenant string) *httptest.ResponseRecorder {
	req := httptest.NewRequest(method, ReceivePath, bytes.NewReader(body))
	req.Header.Set("Content-Type", contentType)
	req.Header.Set("Content-Encoding", "snappy")
	if tenant != "" {
		req.Header.Set(remotewrite.DefaultTenantHeader, tenant)
	}
	rec := httptest.NewRecorder()
	h.ServeHTTP(rec, req)
	return rec
}

// series reads every series of the receiver's StoreAPI matching ms, as
// label set -> samples.
func series(t *testing.T, r *Receiver, ms ...*labels.Matcher) map[string][]storetest.Sample {
	t.Helper()
	if len(ms) == 0 {
		ms = []*labels.Matcher{labels.MustNewMatcher(labels.MatchRegexp, "__name__", ".+")}
	}
	pms, err := storepb.MatchersToProto(ms...)
	require.NoError(t, err)
	got, warns, _, err := storetest.CollectSeries(t.Context(), storepb.ServerAsClient(r.StoreServer()), &storepb.SeriesRequest{
		MinTime: 0, MaxTime: time.Now().Add(time.Hour).UnixMilli(), Matchers: pms,
		PartialResponseStrategy: storepb.PartialResponseStrategy_ABORT,
	})
	require.NoError(t, err)
	require.Empty(t, warns)
	out := map[string][]storetest.Sample{}
	for _, s := range got {
		smps, err := storetest.DecodeSeries(s)
		require.NoError(t, err)
		k := storepb.LabelsFromProto(s.GetLabels()).String()
		out[k] = append(out[k], smps...)
	}
	return out
}

func floats(ts ...int64) []storetest.Sample {
	var out []storetest.Sample
	for _, at := range ts {
		out = append(out, storetest.Sample{T: at, F: float64(at % 1000)})
	}
	return out
}

// A 1.0 write without tenant header goes to the default tenant and a 2.0
// write with one to that tenant; both are read back over the StoreAPI
// with the external and tenant labels.
func TestWriteV1AndV2ReadBack(t *testing.T) {
	r := newReceiver(t, nil)
	now := time.Now().UnixMilli()
	t1, t2 := now-60_000, now-30_000

	rec := post(r.Handler(), http.MethodPost, body(t, v1Request("up", t1, t2)), remotewrite.ContentTypeV1, "")
	require.Equal(t, http.StatusNoContent, rec.Code, rec.Body.String())
	require.Empty(t, rec.Header().Get(remotewrite.SamplesWrittenHeader), "1.0 answers carry no written counts")

	rec = post(r.Handler(), http.MethodPost, body(t, v2Request("requests_total", t1, t2)), remotewrite.ContentTypeV2, "team-b")
	require.Equal(t, http.StatusNoContent, rec.Code, rec.Body.String())
	require.Equal(t, "2", rec.Header().Get(remotewrite.SamplesWrittenHeader))
	require.Equal(t, "0", rec.Header().Get(remotewrite.HistogramsWrittenHeader))
	require.Equal(t, "0", rec.Header().Get(remotewrite.ExemplarsWrittenHeader))

	require.Equal(t, map[string][]storetest.Sample{
		`{__name__="requests_total", job="app", replica="r1", tenant_id="team-b"}`: floats(t1, t2),
		`{__name__="up", job="app", replica="r1", tenant_id="default-tenant"}`:     floats(t1, t2),
	}, series(t, r))
	require.Equal(t, map[string][]storetest.Sample{
		`{__name__="requests_total", job="app", replica="r1", tenant_id="team-b"}`: floats(t1, t2),
	}, series(t, r, labels.MustNewMatcher(labels.MatchEqual, "tenant_id", "team-b")))
	require.Equal(t, []string{"default-tenant", "team-b"}, r.db.Tenants())
}

// A body that is not snappy, an unknown content type and an invalid
// tenant are 4xx and store nothing; a method other than POST is a 405.
func TestBadRequestsStoreNothing(t *testing.T) {
	r := newReceiver(t, nil)
	now := time.Now().UnixMilli()

	rec := post(r.Handler(), http.MethodPost, []byte("not snappy at all"), remotewrite.ContentTypeV1, "")
	require.Equal(t, http.StatusBadRequest, rec.Code)
	require.Contains(t, rec.Body.String(), "snappy")

	rec = post(r.Handler(), http.MethodPost, body(t, v1Request("up", now)), "application/json", "")
	require.Equal(t, http.StatusUnsupportedMediaType, rec.Code)

	rec = post(r.Handler(), http.MethodPost, body(t, v1Request("up", now)), remotewrite.ContentTypeV1, "../escape")
	require.Equal(t, http.StatusBadRequest, rec.Code)

	rec = post(r.Handler(), http.MethodGet, nil, "", "")
	require.Equal(t, http.StatusMethodNotAllowed, rec.Code)
	require.Equal(t, http.MethodPost, rec.Header().Get("Allow"))

	require.Empty(t, series(t, r))
	require.Empty(t, r.db.Tenants(), "no tenant TSDB was opened")
}

// A retried write succeeds; a different value for a stored timestamp is a
// 409, which senders do not retry, while the request's other samples are
// stored.
func TestConflictIs409(t *testing.T) {
	r := newReceiver(t, nil)
	now := time.Now().UnixMilli()
	b := body(t, v1Request("up", now-2000))
	require.Equal(t, http.StatusNoContent, post(r.Handler(), http.MethodPost, b, remotewrite.ContentTypeV1, "").Code)
	require.Equal(t, http.StatusNoContent, post(r.Handler(), http.MethodPost, b, remotewrite.ContentTypeV1, "").Code, "a retry is a success")

	req := v1Request("up", now-2000, now-1000)
	req.Timeseries[0].Samples[0].Value = 42
	rec := post(r.Handler(), http.MethodPost, body(t, req), remotewrite.ContentTypeV1, "")
	require.Equal(t, http.StatusConflict, rec.Code, rec.Body.String())
	require.Contains(t, rec.Body.String(), "1 samples refused")
	require.Equal(t, map[string][]storetest.Sample{
		`{__name__="up", job="app", replica="r1", tenant_id="default-tenant"}`: floats(now-2000, now-1000),
	}, series(t, r))
}

// run runs r until the test ends and returns the remote-write URL once it
// listens.
func run(t *testing.T, r *Receiver) string {
	t.Helper()
	require.Error(t, r.Ready(), "not ready before the listener is bound")
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan error, 1)
	go func() { done <- r.Run(ctx) }()
	t.Cleanup(func() {
		cancel()
		select {
		case err := <-done:
			require.NoError(t, err)
		case <-time.After(time.Minute):
			t.Error("Run did not return within a minute of cancellation")
		}
	})
	deadline := time.Now().Add(10 * time.Second)
	for r.Ready() != nil {
		if time.Now().After(deadline) {
			t.Fatalf("not ready after 10s: %v", r.Ready())
		}
		select {
		case err := <-done:
			t.Fatalf("Run returned early: %v", err)
		case <-time.After(10 * time.Millisecond):
		}
	}
	return "http://" + r.RemoteWriteAddr() + ReceivePath
}

// Run serves the endpoint on --remote-write.address, and only on the
// receive path; it stops cleanly when cancelled.
func TestRunServesRemoteWrite(t *testing.T) {
	r := newReceiver(t, nil)
	r.Register(http.NewServeMux(), grpcStub{})
	url := run(t, r)
	now := time.Now().UnixMilli()

	req, err := http.NewRequestWithContext(t.Context(), http.MethodPost, url, bytes.NewReader(body(t, v1Request("up", now))))
	require.NoError(t, err)
	req.Header.Set("Content-Type", remotewrite.ContentTypeV1)
	req.Header.Set("Content-Encoding", "snappy")
	resp, err := http.DefaultClient.Do(req)
	require.NoError(t, err)
	require.NoError(t, resp.Body.Close())
	require.Equal(t, http.StatusNoContent, resp.StatusCode)
	require.Len(t, series(t, r), 1)

	resp, err = http.Get("http://" + r.RemoteWriteAddr() + "/metrics")
	require.NoError(t, err)
	require.NoError(t, resp.Body.Close())
	require.Equal(t, http.StatusNotFound, resp.StatusCode, "the remote-write listener serves the write paths only")

	// OTLP on the same listener, as an OpenTelemetry Collector's otlphttp
	// exporter with endpoint http://<addr>/api/v1/otlp posts it.
	md := pmetric.NewMetrics()
	rm := md.ResourceMetrics().AppendEmpty()
	rm.Resource().Attributes().PutStr("service.name", "checkout")
	m := rm.ScopeMetrics().AppendEmpty().Metrics().AppendEmpty()
	m.SetName("queue.length")
	dp := m.SetEmptyGauge().DataPoints().AppendEmpty()
	dp.SetTimestamp(pcommon.NewTimestampFromTime(time.UnixMilli(now)))
	dp.SetIntValue(7)
	pb, err := pmetricotlp.NewExportRequestFromMetrics(md).MarshalProto()
	require.NoError(t, err)
	resp, err = http.Post("http://"+r.RemoteWriteAddr()+"/api/v1/otlp/v1/metrics", "application/x-protobuf", bytes.NewReader(pb))
	require.NoError(t, err)
	require.NoError(t, resp.Body.Close())
	require.Equal(t, http.StatusOK, resp.StatusCode)
	got := series(t, r)
	require.Len(t, got, 2)
	found := false
	for lset := range got {
		found = found || strings.Contains(lset, `__name__="queue_length"`) && strings.Contains(lset, `job="checkout"`)
	}
	require.True(t, found, "OTLP gauge stored as queue_length{job=\"checkout\"}: %v", got)
}

// A process serving no gRPC cannot serve the receiver's StoreAPI.
func TestNotReadyWithoutGRPC(t *testing.T) {
	r := newReceiver(t, nil)
	r.Register(http.NewServeMux(), nil)
	require.ErrorContains(t, r.Ready(), "gRPC")
}

// With a bucket, each tenant's finished blocks are uploaded with source
// receive and the external labels plus the tenant label.
func TestShipsTenantBlocks(t *testing.T) {
	bkt := objstore.NewInMemBucket()
	r := newReceiver(t, bkt)
	now := time.Now().UnixMilli()
	for _, tenant := range []string{"a", "b"} {
		rec := post(r.Handler(), http.MethodPost, body(t, v1Request("up", now-2000, now-1000)), remotewrite.ContentTypeV1, tenant)
		require.Equal(t, http.StatusNoContent, rec.Code, rec.Body.String())
		require.NoError(t, r.db.Flush(tenant))
	}
	require.NoError(t, r.SyncBlocks(t.Context()))

	var metas []metadata.Meta
	require.NoError(t, bkt.Iter(t.Context(), "", func(name string) error {
		rc, err := bkt.Get(t.Context(), name+"meta.json")
		if err != nil {
			return err
		}
		defer rc.Close()
		var m metadata.Meta
		if err := json.NewDecoder(rc).Decode(&m); err != nil {
			return err
		}
		metas = append(metas, m)
		return nil
	}))
	require.Len(t, metas, 2)
	tenants := map[string]bool{}
	for _, m := range metas {
		require.Equal(t, metadata.ReceiveSource, m.Thanos.Source)
		require.Equal(t, "r1", m.Thanos.Labels["replica"])
		tenants[m.Thanos.Labels["tenant_id"]] = true
		require.Equal(t, int64(2), int64(m.Stats.NumSamples))
	}
	require.Equal(t, map[string]bool{"a": true, "b": true}, tenants)

	require.NoError(t, r.SyncBlocks(t.Context()), "a second sync uploads nothing again")
	n := 0
	require.NoError(t, bkt.Iter(t.Context(), "", func(string) error { n++; return nil }))
	require.Equal(t, 2, n)
}

// grpcStub is a gRPC server that registers nothing.
type grpcStub struct{}

func (grpcStub) RegisterService(*grpc.ServiceDesc, any) {}

// With a bucket, stopping the receiver flushes every tenant's head into a
// block and uploads it.
func TestShutdownFlushesAndShips(t *testing.T) {
	bkt := objstore.NewInMemBucket()
	r := newReceiver(t, bkt)
	r.Register(http.NewServeMux(), grpcStub{})
	ctx, cancel := context.WithCancel(t.Context())
	done := make(chan error, 1)
	go func() { done <- r.Run(ctx) }()
	require.Eventually(t, func() bool { return r.Ready() == nil }, 10*time.Second, 10*time.Millisecond)

	now := time.Now().UnixMilli()
	rec := post(r.Handler(), http.MethodPost, body(t, v1Request("up", now-1000)), remotewrite.ContentTypeV1, "")
	require.Equal(t, http.StatusNoContent, rec.Code, rec.Body.String())
	cancel()
	select {
	case err := <-done:
		require.NoError(t, err)
	case <-time.After(time.Minute):
		t.Fatal("Run did not return within a minute")
	}
	var metas []string
	require.NoError(t, bkt.Iter(t.Context(), "", func(name string) error { metas = append(metas, name); return nil }))
	require.Len(t, metas, 1, "the head of the one tenant was uploaded as one block")
}
