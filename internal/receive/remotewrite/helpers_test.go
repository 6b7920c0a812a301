package remotewrite

import (
	"bytes"
	"net/http"
	"net/http/httptest"
	"testing"

	"github.com/golang/snappy"
	"github.com/prometheus/prometheus/model/histogram"
	"github.com/prometheus/prometheus/prompb"
	writev2 "github.com/prometheus/prometheus/prompb/io/prometheus/write/v2"
	"github.com/stretchr/testify/require"
)

// marshaler is either protobuf message.
type marshaler interface{ Marshal() ([]byte, error) }

func marshal(t testing.TB, m marshaler) []byte {
	t.Helper()
	b, err := m.Marshal()
	require.NoError(t, err)
	return b
}

// newHTTPRequest returns a POST with a snappy-compressed body and the
// content type of the message's version.
func newHTTPRequest(body []byte, contentType string) *http.Request {
	r := httptest.NewRequest(http.MethodPost, "/api/v1/receive", bytes.NewReader(snappy.Encode(nil, body)))
	if contentType != "" {
		r.Header.Set("Content-Type", contentType)
	}
	r.Header.Set("Content-Encoding", "snappy")
	return r
}

func newDecoder(t testing.TB, edit func(*Config)) *Decoder {
	t.Helper()
	cfg := DefaultConfig()
	if edit != nil {
		edit(&cfg)
	}
	d, err := NewDecoder(cfg)
	require.NoError(t, err)
	return d
}

func v1Labels(kv ...string) []prompb.Label {
	var ls []prompb.Label
	for i := 0; i < len(kv); i += 2 {
		ls = append(ls, prompb.Label{Name: kv[i], Value: kv[i+1]})
	}
	return ls
}

// v2Builder builds a 2.0 request with its symbols table.
type v2Builder struct {
	syms writev2.SymbolsTable
	req  writev2.Request
}

func newV2Builder() *v2Builder { return &v2Builder{syms: writev2.NewSymbolTable()} }

// refs symbolizes name-value pairs in the order given.
func (b *v2Builder) refs(kv ...string) []uint32 {
	var r []uint32
	for _, s := range kv {
		r = append(r, b.syms.Symbolize(s))
	}
	return r
}

func (b *v2Builder) add(ts writev2.TimeSeries) *v2Builder {
	b.req.Timeseries = append(b.req.Timeseries, ts)
	return b
}

func (b *v2Builder) build() *writev2.Request {
	b.req.Symbols = b.syms.Symbols()
	return &b.req
}

func testHistogram() *histogram.Histogram {
	return &histogram.Histogram{
		Schema:          1,
		ZeroThreshold:   0.001,
		ZeroCount:       2,
		Count:           10,
		Sum:             18.4,
		PositiveSpans:   []histogram.Span{{Offset: 0, Length: 2}, {Offset: 1, Length: 2}},
		PositiveBuckets: []int64{1, 1, -1, 0},
		NegativeSpans:   []histogram.Span{{Offset: 0, Length: 2}},
		NegativeBuckets: []int64{2, -1},
	}
}
