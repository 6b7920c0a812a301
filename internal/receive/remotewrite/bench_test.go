package remotewrite

import (
	"bytes"
	"fmt"
	"net/http"
	"net/http/httptest"
	"testing"

	"github.com/golang/snappy"
	"github.com/prometheus/prometheus/model/labels"
	"github.com/prometheus/prometheus/prompb"
	writev2 "github.com/prometheus/prometheus/prompb/io/prometheus/write/v2"
)

// benchSeries is a batch as Prometheus' queue manager sends it by default
// (max_samples_per_send 2000): 2000 series of one sample each, with the
// labels of a typical scraped target.
const benchSeries = 2000

func benchLabels(i int) labels.Labels {
	return labels.FromStrings(
		"__name__", fmt.Sprintf("http_request_duration_seconds_bucket_%d", i%50),
		"cluster", "eu-west-1",
		"code", fmt.Sprint(200+i%5),
		"handler", fmt.Sprintf("/api/v1/endpoint/%d", i%20),
		"instance", fmt.Sprintf("10.0.%d.%d:9090", i/250, i%250),
		"job", "api-server",
		"le", fmt.Sprint(i%12),
		"method", "GET",
		"namespace", "production",
		"pod", fmt.Sprintf("api-server-7d9f8b6c5-%05d", i%40),
	)
}

func benchV1(b *testing.B) []byte {
	wr := &prompb.WriteRequest{}
	for i := range benchSeries {
		wr.Timeseries = append(wr.Timeseries, prompb.TimeSeries{
			Labels:  prompb.FromLabels(benchLabels(i), nil),
			Samples: []prompb.Sample{{Timestamp: 1700000000000 + int64(i), Value: float64(i)}},
		})
	}
	return snappy.Encode(nil, marshal(b, wr))
}

func benchV2(b *testing.B) []byte {
	syms := writev2.NewSymbolTable()
	req := &writev2.Request{}
	for i := range benchSeries {
		req.Timeseries = append(req.Timeseries, writev2.TimeSeries{
			LabelsRefs: syms.SymbolizeLabels(benchLabels(i), nil),
			Samples:    []writev2.Sample{{Timestamp: 1700000000000 + int64(i), Value: float64(i)}},
			Metadata:   writev2.Metadata{Type: writev2.Metadata_METRIC_TYPE_HISTOGRAM},
		})
	}
	req.Symbols = syms.Symbols()
	return snappy.Encode(nil, marshal(b, req))
}

func benchDecode(b *testing.B, body []byte, contentType string) {
	d := newDecoder(b, nil)
	r := httptest.NewRequest(http.MethodPost, "/api/v1/receive", nil)
	r.Header.Set("Content-Type", contentType)
	r.Header.Set("Content-Encoding", "snappy")
	r.ContentLength = int64(len(body))
	b.SetBytes(int64(len(body)))
	b.ReportAllocs()
	for b.Loop() {
		r.Body = readCloser{bytes.NewReader(body)}
		req, err := d.Decode(r)
		if err != nil {
			b.Fatal(err)
		}
		if len(req.Series) != benchSeries {
			b.Fatalf("%d series", len(req.Series))
		}
	}
}

type readCloser struct{ *bytes.Reader }

func (readCloser) Close() error { return nil }

// BenchmarkDecodeV1 decodes a 2000-series 1.0 request.
func BenchmarkDecodeV1(b *testing.B) { benchDecode(b, benchV1(b), ContentTypeV1) }

// BenchmarkDecodeV2 decodes a 2000-series 2.0 request.
func BenchmarkDecodeV2(b *testing.B) { benchDecode(b, benchV2(b), ContentTypeV2) }

// BenchmarkMessage decodes and converts a decompressed 2000-series message
// with the fast decoder and with gogo's unmarshalling, in one run so that
// they compare under the same load.
func BenchmarkMessage(b *testing.B) {
	d := newDecoder(b, nil)
	for _, v := range []Version{V1, V2} {
		body := benchV1(b)
		if v == V2 {
			body = benchV2(b)
		}
		msg, err := snappy.Decode(nil, body)
		if err != nil {
			b.Fatal(err)
		}
		for _, fast := range []bool{true, false} {
			name := "v1"
			if v == V2 {
				name = "v2"
			}
			if fast {
				name += "/fast"
			} else {
				name += "/gogo"
			}
			b.Run(name, func(b *testing.B) {
				b.SetBytes(int64(len(msg)))
				b.ReportAllocs()
				for b.Loop() {
					if _, err := decodeWith(d, v, msg, fast); err != nil {
						b.Fatal(err)
					}
				}
			})
		}
	}
}
