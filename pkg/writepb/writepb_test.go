package writepb

import (
	"bytes"
	"testing"

	"github.com/prometheus/prometheus/model/histogram"
	"github.com/prometheus/prometheus/prompb"
	"google.golang.org/protobuf/encoding/protowire"
)

func series() []prompb.TimeSeries {
	h := &histogram.Histogram{Count: 3, Sum: 1.5, Schema: 0, ZeroThreshold: 0.001,
		PositiveSpans: []histogram.Span{{Offset: 0, Length: 2}}, PositiveBuckets: []int64{1, 1}}
	return []prompb.TimeSeries{
		{
			Labels:    []prompb.Label{{Name: "__name__", Value: "up"}, {Name: "job", Value: "api"}},
			Samples:   []prompb.Sample{{Timestamp: 1000, Value: 1}, {Timestamp: 16000, Value: 0}},
			Exemplars: []prompb.Exemplar{{Labels: []prompb.Label{{Name: "trace_id", Value: "abc"}}, Value: 1, Timestamp: 1000}},
		},
		{
			Labels:     []prompb.Label{{Name: "__name__", Value: "rpc_seconds"}},
			Histograms: []prompb.Histogram{prompb.FromIntHistogram(2000, h)},
		},
	}
}

// The series field has prometheus.WriteRequest's number and shape, so a
// request with series only encodes to the same bytes; tenant and replica
// follow as fields 2 and 3, and a decoded request equals the encoded one.
func TestWriteRequestWire(t *testing.T) {
	ts := series()
	want, err := (&prompb.WriteRequest{Timeseries: ts}).Marshal()
	if err != nil {
		t.Fatal(err)
	}
	got, err := (&WriteRequest{Timeseries: ts}).MarshalVT()
	if err != nil {
		t.Fatal(err)
	}
	if !bytes.Equal(got, want) {
		t.Fatalf("series-only request encodes differently from prometheus.WriteRequest:\n got %x\nwant %x", got, want)
	}

	req := &WriteRequest{Timeseries: ts, Tenant: "team-a", Replica: 2, TenantData: []TenantData{{Tenant: "team-b", Timeseries: ts[:1]}}}
	b, err := req.MarshalVT()
	if err != nil {
		t.Fatal(err)
	}
	if len(b) != req.SizeVT() {
		t.Fatalf("encoded %d bytes, SizeVT says %d", len(b), req.SizeVT())
	}
	// The tail after the series is tenant=2 "team-a", replica=3 2.
	tail := protowire.AppendTag(nil, 2, protowire.BytesType)
	tail = protowire.AppendString(tail, "team-a")
	tail = protowire.AppendTag(tail, 3, protowire.VarintType)
	tail = protowire.AppendVarint(tail, 2)
	if !bytes.HasPrefix(b, want) || !bytes.Contains(b, tail) {
		t.Fatalf("tenant and replica not encoded after the series as fields 2 and 3: %x", b)
	}

	var dec WriteRequest
	if err := dec.UnmarshalVT(b); err != nil {
		t.Fatal(err)
	}
	if dec.Tenant != "team-a" || dec.Replica != 2 || len(dec.Timeseries) != 2 || len(dec.TenantData) != 1 ||
		dec.TenantData[0].Tenant != "team-b" || len(dec.TenantData[0].Timeseries) != 1 {
		t.Fatalf("decoded %+v", dec)
	}
	if dec.Timeseries[1].Histograms[0].ToIntHistogram().Count != 3 || dec.Timeseries[0].Exemplars[0].Labels[0].Value != "abc" {
		t.Fatalf("series content lost: %+v", dec.Timeseries)
	}
}

// Truncated and garbage bytes are errors, not panics.
func TestWriteRequestMalformed(t *testing.T) {
	b, err := (&WriteRequest{Timeseries: series(), Tenant: "t"}).MarshalVT()
	if err != nil {
		t.Fatal(err)
	}
	for n := 1; n < len(b); n++ {
		var r WriteRequest
		_ = r.UnmarshalVT(b[:n]) // must not panic
	}
	var r WriteRequest
	if err := r.UnmarshalVT([]byte{0x0a, 0xff, 0xff, 0xff, 0xff, 0x0f}); err == nil {
		t.Fatal("a series declaring 4 GiB in 6 bytes decoded")
	}
}

// FuzzWriteRequest decodes arbitrary bytes as a forwarded write: an error
// or a request that encodes again to a decodable request, never a panic.
func FuzzWriteRequest(f *testing.F) {
	b, err := (&WriteRequest{Timeseries: series(), Tenant: "t", Replica: 1, TenantData: []TenantData{{Tenant: "u", Timeseries: series()[:1]}}}).MarshalVT()
	if err != nil {
		f.Fatal(err)
	}
	f.Add(b)
	f.Add([]byte{0x0a, 0x00, 0x12, 0x01, 'x'})
	f.Fuzz(func(t *testing.T, data []byte) {
		var r WriteRequest
		if err := r.UnmarshalVT(data); err != nil {
			return
		}
		out, err := r.MarshalVT()
		if err != nil {
			t.Fatalf("decoded request does not encode: %v", err)
		}
		var again WriteRequest
		if err := again.UnmarshalVT(out); err != nil {
			t.Fatalf("re-encoded request does not decode: %v", err)
		}
		if again.Tenant != r.Tenant || again.Replica != r.Replica || len(again.Timeseries) != len(r.Timeseries) || len(again.TenantData) != len(r.TenantData) {
			t.Fatalf("round trip changed the request: %+v -> %+v", r, again)
		}
	})
}
