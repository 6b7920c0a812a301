package remotewrite

import (
	"bytes"
	"math"
	"net/http"
	"net/http/httptest"
	"testing"

	"github.com/golang/snappy"
	"github.com/prometheus/prometheus/prompb"
	writev2 "github.com/prometheus/prometheus/prompb/io/prometheus/write/v2"
)

// FuzzDecode decodes arbitrary requests: Decode never panics, every error
// maps to a 4xx, and every decoded request validates. With compress, the
// payload is snappy-compressed first, so that the fuzzer explores protobuf
// messages; without, it explores snappy blocks.
func FuzzDecode(f *testing.F) {
	v1 := marshal(f, &prompb.WriteRequest{
		Timeseries: []prompb.TimeSeries{{
			Labels:     v1Labels("__name__", "up", "job", "api"),
			Samples:    []prompb.Sample{{Timestamp: 1, Value: 1}, {Timestamp: 2, Value: math.NaN()}},
			Exemplars:  []prompb.Exemplar{{Labels: v1Labels("trace_id", "abc"), Value: 1, Timestamp: 1}},
			Histograms: []prompb.Histogram{prompb.FromIntHistogram(3, testHistogram())},
		}},
		Metadata: []prompb.MetricMetadata{{Type: prompb.MetricMetadata_GAUGE, MetricFamilyName: "up", Help: "Up."}},
	})
	b := newV2Builder()
	b.add(writev2.TimeSeries{
		LabelsRefs: b.refs("__name__", "up", "job", "api"),
		Samples:    []writev2.Sample{{Timestamp: 1, Value: 1, StartTimestamp: 1}},
		Exemplars:  []writev2.Exemplar{{LabelsRefs: b.refs("trace_id", "abc"), Value: 1, Timestamp: 1}},
		Metadata:   writev2.Metadata{Type: writev2.Metadata_METRIC_TYPE_GAUGE, HelpRef: b.syms.Symbolize("Up.")},
	})
	b.add(writev2.TimeSeries{
		LabelsRefs: b.refs("__name__", "h"),
		Histograms: []writev2.Histogram{writev2.FromFloatHistogram(0, 1, testHistogram().ToFloat(nil))},
	})
	v2 := marshal(f, b.build())

	for _, ct := range []string{"", ContentTypeV1, ContentTypeV2} {
		for _, msg := range [][]byte{v1, v2} {
			f.Add(ct, "snappy", true, msg)
			f.Add(ct, "", false, snappy.Encode(nil, msg))
		}
	}
	f.Add("text/plain", "gzip", false, []byte{})
	f.Add(ContentTypeV2, "snappy", false, append(binaryUvarint(1<<30), 0, 0, 0))

	d := newDecoder(f, func(c *Config) {
		c.MaxBodyBytes = 1 << 20
		c.MaxDecodedBytes = 1 << 20
	})
	f.Fuzz(func(t *testing.T, contentType, encoding string, compress bool, payload []byte) {
		body := payload
		if compress {
			body = snappy.Encode(nil, payload)
		}
		r := httptest.NewRequest(http.MethodPost, "/api/v1/receive", bytes.NewReader(body))
		r.Header.Set("Content-Type", contentType)
		r.Header.Set("Content-Encoding", encoding)
		req, err := d.Decode(r)
		if err != nil {
			if s := ErrorStatus(err); s < 400 || s > 499 {
				t.Fatalf("error %q maps to %d, not a 4xx", err, s)
			}
			return
		}
		if err := req.Validate(d.Config().NameValidation); err != nil {
			t.Fatalf("decoded request does not validate: %v", err)
		}
		_ = req.Stats()
	})
}
