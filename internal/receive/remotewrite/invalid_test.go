package remotewrite

import (
	"bytes"
	"errors"
	"fmt"
	"io"
	"net/http"
	"net/http/httptest"
	"testing"

	"github.com/golang/snappy"
	"github.com/prometheus/common/model"
	"github.com/prometheus/prometheus/prompb"
	writev2 "github.com/prometheus/prometheus/prompb/io/prometheus/write/v2"
	"github.com/stretchr/testify/require"
)

func v1Body(t testing.TB, series ...prompb.TimeSeries) []byte {
	return marshal(t, &prompb.WriteRequest{Timeseries: series})
}

func TestDecodeInvalid(t *testing.T) {
	up := v1Labels("__name__", "up", "job", "api")
	badHist := prompb.FromIntHistogram(1, testHistogram())
	badHist.PositiveDeltas = badHist.PositiveDeltas[:1] // spans say 4 buckets

	v2 := func(build func(b *v2Builder)) []byte {
		b := newV2Builder()
		build(b)
		return marshal(t, b.build())
	}

	for _, tc := range []struct {
		name        string
		contentType string // ContentTypeV1 when empty
		encoding    string // snappy when empty
		body        []byte // compressed with snappy unless raw
		raw         []byte // the body as sent
		legacy      bool
		err         error
		status      int
		msg         string
	}{
		{name: "unknown proto", contentType: "application/x-protobuf;proto=io.prometheus.write.v3.Request",
			err: ErrUnsupportedContentType, status: 415, msg: `protobuf message "io.prometheus.write.v3.Request"`},
		{name: "other media type", contentType: "application/json",
			err: ErrUnsupportedContentType, status: 415, msg: `unsupported content type "application/json"`},
		{name: "malformed content type", contentType: "application/x-protobuf;proto",
			err: ErrUnsupportedContentType, status: 415},
		{name: "gzip", encoding: "gzip", err: ErrUnsupportedEncoding, status: 415, msg: `unsupported content encoding "gzip"`},
		{name: "bad snappy", raw: []byte("\x10not snappy at all"), err: ErrSnappy, status: 400, msg: "invalid snappy block"},
		{name: "empty body", raw: []byte{}, err: ErrSnappy, status: 400},
		{name: "bad protobuf v1", body: []byte("\x0a\xff\xff\xff"), err: ErrProtobuf, status: 400, msg: "invalid protobuf message: prometheus.WriteRequest"},
		{name: "bad protobuf v2", contentType: ContentTypeV2, body: []byte("\x2a\xff\xff\xff"), err: ErrProtobuf, status: 400, msg: "invalid protobuf message: io.prometheus.write.v2.Request"},
		{name: "missing metric name", body: v1Body(t, prompb.TimeSeries{Labels: v1Labels("job", "api")}, prompb.TimeSeries{}),
			err: ErrMissingMetricName, status: 400, msg: "series 0: missing metric name (__name__ label)"},
		{name: "empty metric name", body: v1Body(t, prompb.TimeSeries{Labels: up}, prompb.TimeSeries{Labels: v1Labels("__name__", "", "job", "api")}),
			err: ErrMissingMetricName, status: 400, msg: "series 1: missing metric name"},
		{name: "empty label name", body: v1Body(t, prompb.TimeSeries{Labels: v1Labels("", "x", "__name__", "up")}),
			err: ErrEmptyLabelName, status: 400, msg: `series 0 (metric "up"): empty label name`},
		{name: "invalid label name legacy", legacy: true, body: v1Body(t, prompb.TimeSeries{Labels: v1Labels("__name__", "up", "a-b", "x")}),
			err: ErrInvalidLabelName, status: 400, msg: `series 0 (metric "up"): label "a-b": invalid label name`},
		{name: "invalid UTF-8 label name", body: v1Body(t, prompb.TimeSeries{Labels: v1Labels("__name__", "up", "a\xff", "x")}),
			err: ErrInvalidLabelName, status: 400, msg: `label "a\xff": invalid label name`},
		{name: "invalid metric name legacy", legacy: true, body: v1Body(t, prompb.TimeSeries{Labels: v1Labels("__name__", "up.time")}),
			err: ErrInvalidMetricName, status: 400, msg: `label "__name__": invalid metric name "up.time"`},
		{name: "invalid UTF-8 value", body: v1Body(t, prompb.TimeSeries{Labels: v1Labels("__name__", "up", "job", "a\xffb")}),
			err: ErrInvalidLabelValue, status: 400, msg: `series 0 (metric "up"): label "job": label value is not valid UTF-8`},
		{name: "duplicate label v1", body: v1Body(t, prompb.TimeSeries{Labels: v1Labels("__name__", "up", "job", "a", "job", "b")}),
			err: ErrDuplicateLabelName, status: 400, msg: `series 0 (metric "up"): label "job": duplicate label name`},
		{name: "duplicate label one empty", body: v1Body(t, prompb.TimeSeries{Labels: v1Labels("__name__", "up", "job", "", "job", "b")}),
			err: ErrDuplicateLabelName, status: 400},
		{name: "unsorted labels v1", body: v1Body(t, prompb.TimeSeries{Labels: up}, prompb.TimeSeries{Labels: v1Labels("__name__", "up", "job", "api", "instance", "a")}),
			err: ErrUnsortedLabels, status: 400, msg: `series 1 (metric "up"): label "instance": labels not sorted by name: it comes after "job"`},
		{name: "invalid histogram", body: v1Body(t, prompb.TimeSeries{Labels: up, Histograms: []prompb.Histogram{badHist}}),
			err: ErrInvalidHistogram, status: 400, msg: `series 0 (metric "up"): histogram 0: invalid native histogram: `},
		{name: "invalid exemplar label", body: v1Body(t, prompb.TimeSeries{Labels: up, Exemplars: []prompb.Exemplar{{Labels: v1Labels("trace_id", "\xff")}}}),
			err: ErrInvalidLabelValue, status: 400, msg: `series 0 (metric "up"): label "trace_id": exemplar 0: label value is not valid UTF-8`},
		{name: "duplicate label v2", contentType: ContentTypeV2, body: v2(func(b *v2Builder) {
			b.add(writev2.TimeSeries{LabelsRefs: b.refs("job", "a", "__name__", "up", "job", "b")})
		}), err: ErrDuplicateLabelName, status: 400, msg: `series 0 (metric "up"): label "job": duplicate label name`},
		{name: "odd label refs", contentType: ContentTypeV2, body: v2(func(b *v2Builder) {
			b.add(writev2.TimeSeries{LabelsRefs: b.refs("__name__", "up", "job")})
		}), err: ErrLabelRefs, status: 400, msg: "series 0: odd number of label references: labels_refs has 3"},
		{name: "label ref out of range", contentType: ContentTypeV2, body: v2(func(b *v2Builder) {
			b.add(writev2.TimeSeries{LabelsRefs: append(b.refs("__name__", "up"), 1, 99)})
		}), err: ErrSymbolRef, status: 400, msg: "series 0: symbol reference outside the symbols table: labels_refs[2] is 99, the table has 3 symbols"},
		{name: "exemplar ref out of range", contentType: ContentTypeV2, body: v2(func(b *v2Builder) {
			b.add(writev2.TimeSeries{LabelsRefs: b.refs("__name__", "up"), Exemplars: []writev2.Exemplar{{LabelsRefs: []uint32{1, 7}}}})
		}), err: ErrSymbolRef, status: 400, msg: `series 0 (metric "up"): symbol reference outside the symbols table: exemplar 0: labels_refs[0] is 7`},
		{name: "help ref out of range", contentType: ContentTypeV2, body: v2(func(b *v2Builder) {
			b.add(writev2.TimeSeries{LabelsRefs: b.refs("__name__", "up"), Metadata: writev2.Metadata{HelpRef: 5}})
		}), err: ErrSymbolRef, status: 400, msg: "metadata help_ref is 5, the table has 3 symbols"},
		{name: "unit ref out of range", contentType: ContentTypeV2, body: v2(func(b *v2Builder) {
			b.add(writev2.TimeSeries{LabelsRefs: b.refs("__name__", "up"), Metadata: writev2.Metadata{UnitRef: 3}})
		}), err: ErrSymbolRef, status: 400, msg: "metadata unit_ref is 3"},
		{name: "symbols table without empty first", contentType: ContentTypeV2,
			body: marshal(t, &writev2.Request{Symbols: []string{"__name__", "up"}, Timeseries: []writev2.TimeSeries{{LabelsRefs: []uint32{0, 1}}}}),
			err:  ErrSymbolsTable, status: 400, msg: `first entry of the symbols table is not the empty string: it is "__name__"`},
		{name: "samples and histograms", contentType: ContentTypeV2, body: v2(func(b *v2Builder) {
			b.add(writev2.TimeSeries{LabelsRefs: b.refs("__name__", "up"), Samples: []writev2.Sample{{Value: 1}},
				Histograms: []writev2.Histogram{writev2.FromIntHistogram(0, 1, testHistogram())}})
		}), err: ErrSamplesAndHistograms, status: 400, msg: `series 0 (metric "up"): series has both float samples and histograms`},
		{name: "missing metric name v2", contentType: ContentTypeV2, body: v2(func(b *v2Builder) {
			b.add(writev2.TimeSeries{LabelsRefs: b.refs("job", "api")})
		}), err: ErrMissingMetricName, status: 400, msg: "series 0: missing metric name"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			d := newDecoder(t, func(c *Config) {
				if tc.legacy {
					c.NameValidation = model.LegacyValidation
				}
			})
			ct := tc.contentType
			if ct == "" {
				ct = ContentTypeV1
			}
			raw := tc.raw
			if raw == nil {
				body := tc.body
				if body == nil {
					body = v1Body(t, prompb.TimeSeries{Labels: v1Labels("__name__", "up")})
				}
				raw = snappy.Encode(nil, body)
			}
			r := httptest.NewRequest(http.MethodPost, "/api/v1/receive", bytes.NewReader(raw))
			r.Header.Set("Content-Type", ct)
			if tc.encoding != "" {
				r.Header.Set("Content-Encoding", tc.encoding)
			}
			req, err := d.Decode(r)
			require.Nil(t, req)
			require.ErrorIs(t, err, tc.err)
			require.Equal(t, tc.status, ErrorStatus(err))
			require.ErrorContains(t, err, tc.msg)
		})
	}
}

func TestSeriesErrorFields(t *testing.T) {
	body := v1Body(t, prompb.TimeSeries{Labels: v1Labels("__name__", "up")}, prompb.TimeSeries{Labels: v1Labels("__name__", "up", "job", "\xff")})
	_, err := newDecoder(t, nil).Decode(newHTTPRequest(body, ""))
	var serr *SeriesError
	require.ErrorAs(t, err, &serr)
	require.Equal(t, SeriesError{Series: 1, Metric: "up", Label: "job", Err: ErrInvalidLabelValue}, *serr)
}

func TestErrorStatus(t *testing.T) {
	require.Equal(t, http.StatusOK, ErrorStatus(nil))
	require.Equal(t, http.StatusInternalServerError, ErrorStatus(errors.New("disk full")))
	require.Equal(t, http.StatusBadRequest, ErrorStatus(fmt.Errorf("wrapped: %w", &SeriesError{Err: ErrDuplicateLabelName})))
	require.Equal(t, http.StatusRequestEntityTooLarge, ErrorStatus(&http.MaxBytesError{Limit: 1}))
}

func TestDecodeBodyBounds(t *testing.T) {
	body := snappy.Encode(nil, v1Body(t, prompb.TimeSeries{Labels: v1Labels("__name__", "up")}))
	limit := int64(len(body) - 1)
	d := newDecoder(t, func(c *Config) { c.MaxBodyBytes = limit })

	t.Run("declared length over the bound", func(t *testing.T) {
		r := httptest.NewRequest(http.MethodPost, "/", &neverRead{t: t})
		r.ContentLength = limit + 1
		_, err := d.Decode(r)
		require.ErrorIs(t, err, ErrBodyTooLarge)
		require.Equal(t, http.StatusRequestEntityTooLarge, ErrorStatus(err))
		require.ErrorContains(t, err, fmt.Sprintf("Content-Length is %d bytes, the limit is %d", limit+1, limit))
	})
	t.Run("undeclared length over the bound", func(t *testing.T) {
		r := httptest.NewRequest(http.MethodPost, "/", io.MultiReader(bytes.NewReader(body)))
		r.ContentLength = -1
		_, err := d.Decode(r)
		require.ErrorIs(t, err, ErrBodyTooLarge)
		require.Equal(t, http.StatusRequestEntityTooLarge, ErrorStatus(err))
	})
	t.Run("at the bound", func(t *testing.T) {
		d := newDecoder(t, func(c *Config) { c.MaxBodyBytes = int64(len(body)) })
		r := httptest.NewRequest(http.MethodPost, "/", io.MultiReader(bytes.NewReader(body)))
		r.ContentLength = -1
		_, err := d.Decode(r)
		require.NoError(t, err)
	})
	t.Run("server's MaxBytesReader", func(t *testing.T) {
		r := httptest.NewRequest(http.MethodPost, "/", bytes.NewReader(body))
		r.Body = http.MaxBytesReader(httptest.NewRecorder(), r.Body, 3)
		r.ContentLength = -1
		_, err := newDecoder(t, nil).Decode(r)
		require.ErrorIs(t, err, ErrBodyTooLarge)
		require.Equal(t, http.StatusRequestEntityTooLarge, ErrorStatus(err))
	})
	t.Run("read error", func(t *testing.T) {
		r := httptest.NewRequest(http.MethodPost, "/", io.MultiReader(bytes.NewReader(body[:3]), errReader{}))
		_, err := newDecoder(t, nil).Decode(r)
		require.ErrorIs(t, err, ErrReadBody)
		require.Equal(t, http.StatusBadRequest, ErrorStatus(err))
	})
}

// TestDecodeHugeDeclaredLength sends a 20-byte body whose snappy header
// declares 1 GiB: it is refused from the header, allocating next to nothing.
func TestDecodeHugeDeclaredLength(t *testing.T) {
	body := append(binaryUvarint(1<<30), bytes.Repeat([]byte{0}, 15)...)
	require.Len(t, body, 20)
	d := newDecoder(t, nil)
	decode := func() error {
		r := httptest.NewRequest(http.MethodPost, "/", bytes.NewReader(body))
		_, err := d.Decode(r)
		return err
	}
	err := decode()
	require.ErrorIs(t, err, ErrDecodedTooLarge)
	require.Equal(t, http.StatusRequestEntityTooLarge, ErrorStatus(err))
	require.ErrorContains(t, err, "snappy header declares 1073741824 bytes, the limit is 33554432")

	allocs := testing.AllocsPerRun(100, func() { _ = decode() })
	t.Logf("%.0f allocations per refused request", allocs)
	require.Less(t, allocs, 40.0)

	const runs = 20
	bytesPerRun := allocatedBytes(func() {
		for range runs {
			_ = decode()
		}
	}) / runs
	t.Logf("%d bytes allocated per refused request", bytesPerRun)
	require.Less(t, bytesPerRun, uint64(128<<10), "a refused 1 GiB declaration must not allocate for it")
}

// TestDecodeDecodedBound: a message above MaxDecodedBytes is refused.
func TestDecodeDecodedBound(t *testing.T) {
	body := v1Body(t, prompb.TimeSeries{Labels: v1Labels("__name__", "up")})
	d := newDecoder(t, func(c *Config) { c.MaxDecodedBytes = int64(len(body) - 1) })
	_, err := d.Decode(newHTTPRequest(body, ""))
	require.ErrorIs(t, err, ErrDecodedTooLarge)
	d = newDecoder(t, func(c *Config) { c.MaxDecodedBytes = int64(len(body)) })
	_, err = d.Decode(newHTTPRequest(body, ""))
	require.NoError(t, err)
}

func binaryUvarint(v uint64) []byte {
	var b []byte
	for v >= 0x80 {
		b = append(b, byte(v)|0x80)
		v >>= 7
	}
	return append(b, byte(v))
}

type neverRead struct{ t *testing.T }

func (n *neverRead) Read([]byte) (int, error) {
	n.t.Error("the body was read")
	return 0, io.EOF
}

type errReader struct{}

func (errReader) Read([]byte) (int, error) { return 0, errors.New("connection reset") }
