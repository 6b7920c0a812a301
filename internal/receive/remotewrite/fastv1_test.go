package remotewrite

import (
	"bytes"
	"errors"
	"math"
	"math/rand/v2"
	"slices"
	"testing"

	"github.com/prometheus/common/model"
	"github.com/prometheus/prometheus/model/histogram"
	"github.com/prometheus/prometheus/model/labels"
	"github.com/prometheus/prometheus/model/metadata"
	"github.com/prometheus/prometheus/model/value"
	"github.com/prometheus/prometheus/prompb"
	"github.com/stretchr/testify/require"
	"google.golang.org/protobuf/encoding/protowire"
)

// decodeWith decodes the message msg of version v as decodeBody does,
// with the fast decoder or with gogo's unmarshalling and the converter.
func decodeWith(d *Decoder, v Version, msg []byte, fast bool) (*Request, error) {
	req := &Request{Version: v, Tenant: "t"}
	c := converter{scheme: d.cfg.NameValidation}
	var err error
	switch {
	case v == V1 && fast:
		err = d.decodeV1(&c, req, msg)
	case v == V1:
		err = c.slowV1(req, msg)
	case fast:
		err = d.decodeV2(&c, req, msg)
	default:
		err = c.slowV2(req, msg)
	}
	if err != nil {
		return nil, err
	}
	return req, nil
}

// checkSame decodes msg both ways and fails unless the results are the
// same. The fast decoder gets a copy of msg that is overwritten before the
// comparison, so that a result aliasing the message shows. It returns
// whether the message decoded without error.
func checkSame(t testing.TB, d *Decoder, v Version, msg []byte) bool {
	t.Helper()
	buf := bytes.Clone(msg)
	fastReq, fastErr := decodeWith(d, v, buf, true)
	for i := range buf {
		buf[i] = 0xa5
	}
	slowReq, slowErr := decodeWith(d, v, msg, false)
	if slowErr != nil || fastErr != nil {
		if slowErr == nil || fastErr == nil {
			t.Fatalf("fast decoder: %v, gogo: %v", fastErr, slowErr)
		}
		if fastErr.Error() != slowErr.Error() || ErrorStatus(fastErr) != ErrorStatus(slowErr) {
			t.Fatalf("fast decoder: %q (%d), gogo: %q (%d)", fastErr, ErrorStatus(fastErr), slowErr, ErrorStatus(slowErr))
		}
		var fse, sse *SeriesError
		if errors.As(slowErr, &sse) {
			if !errors.As(fastErr, &fse) {
				t.Fatalf("fast decoder: %q is not a *SeriesError", fastErr)
			}
			if fse.Series != sse.Series || fse.Metric != sse.Metric || fse.Label != sse.Label || !sameErrs(fse.Err, sse.Err) {
				t.Fatalf("fast decoder: %#v, gogo: %#v", fse, sse)
			}
		}
		return false
	}
	requireSameRequest(t, slowReq, fastReq)
	return true
}

func checkSameV1(t testing.TB, d *Decoder, msg []byte) bool {
	t.Helper()
	return checkSame(t, d, V1, msg)
}

// sameErrs reports whether a and b wrap the same package errors.
func sameErrs(a, b error) bool {
	for _, e := range []error{
		ErrProtobuf, ErrMissingMetricName, ErrInvalidMetricName, ErrEmptyLabelName, ErrInvalidLabelName,
		ErrInvalidLabelValue, ErrDuplicateLabelName, ErrUnsortedLabels, ErrInvalidHistogram,
		ErrLabelRefs, ErrSymbolRef, ErrSymbolsTable, ErrSamplesAndHistograms,
	} {
		if errors.Is(a, e) != errors.Is(b, e) {
			return false
		}
	}
	return a.Error() == b.Error()
}

// requireSameRequest compares requests: labels with labels.Equal, floats
// bit for bit.
func requireSameRequest(t testing.TB, want, got *Request) {
	t.Helper()
	require.Equal(t, want.Version, got.Version)
	require.Equal(t, want.Tenant, got.Tenant)
	require.Len(t, got.Series, len(want.Series))
	for i := range want.Series {
		w, g := &want.Series[i], &got.Series[i]
		require.Truef(t, labels.Equal(w.Labels, g.Labels), "series %d: labels %s, want %s", i, g.Labels, w.Labels)
		require.Equal(t, w.Samples == nil, g.Samples == nil, "series %d samples", i)
		require.Len(t, g.Samples, len(w.Samples))
		for j := range w.Samples {
			require.Equal(t, w.Samples[j].T, g.Samples[j].T)
			require.Equal(t, w.Samples[j].ST, g.Samples[j].ST)
			require.Equal(t, math.Float64bits(w.Samples[j].V), math.Float64bits(g.Samples[j].V))
		}
		require.Equal(t, w.Histograms, g.Histograms, "series %d histograms", i)
		require.Equal(t, w.Exemplars == nil, g.Exemplars == nil, "series %d exemplars", i)
		require.Len(t, g.Exemplars, len(w.Exemplars))
		for j := range w.Exemplars {
			we, ge := w.Exemplars[j], g.Exemplars[j]
			require.Truef(t, labels.Equal(we.Labels, ge.Labels), "series %d exemplar %d: labels %s, want %s", i, j, ge.Labels, we.Labels)
			require.Equal(t, math.Float64bits(we.Value), math.Float64bits(ge.Value))
			require.Equal(t, we.Ts, ge.Ts)
			require.Equal(t, we.HasTs, ge.HasTs)
		}
		require.Equal(t, w.Metadata, g.Metadata)
	}
	require.Equal(t, want.Metadata, got.Metadata)
}

// v1Gen writes random 1.0 messages straight in the wire format: fields in
// any order, given twice, missing or unknown, labels invalid in every way
// the converter checks.
type v1Gen struct{ r *rand.Rand }

var (
	genNames  = []string{"__name__", "__name__", "job", "instance", "le", "a", "zz", "", "a-b", "a\xff", "trace_id", "ä"}
	genValues = []string{"up", "up", "x", "api", "", "a\xffb", "up.time", "1", "http_requests_total", "ö"}
	genFloats = []float64{0, 1, -2.5, math.NaN(), math.Float64frombits(value.StaleNaN), math.Inf(1), math.Inf(-1), 1e300}
)

func (g *v1Gen) pick(xs []string) string { return xs[g.r.IntN(len(xs))] }

// maybeUnknown appends an unknown field now and then.
func (g *v1Gen) maybeUnknown(b []byte, known int) []byte {
	if g.r.IntN(8) != 0 {
		return b
	}
	num := protowire.Number(known + 1 + g.r.IntN(20))
	switch g.r.IntN(4) {
	case 0:
		b = protowire.AppendTag(b, num, protowire.VarintType)
		return protowire.AppendVarint(b, g.r.Uint64())
	case 1:
		b = protowire.AppendTag(b, num, protowire.Fixed32Type)
		return protowire.AppendFixed32(b, g.r.Uint32())
	case 2:
		b = protowire.AppendTag(b, num, protowire.Fixed64Type)
		return protowire.AppendFixed64(b, g.r.Uint64())
	}
	b = protowire.AppendTag(b, num, protowire.BytesType)
	return protowire.AppendString(b, "unknown")
}

func (g *v1Gen) label(name, val string) []byte {
	var b []byte
	fields := []func(){
		func() {
			if g.r.IntN(10) == 0 { // given twice: the last one wins
				b = protowire.AppendTag(b, fieldLabelName, protowire.BytesType)
				b = protowire.AppendString(b, g.pick(genNames))
			}
			if name != "" || g.r.IntN(2) == 0 {
				b = protowire.AppendTag(b, fieldLabelName, protowire.BytesType)
				b = protowire.AppendString(b, name)
			}
		},
		func() {
			if val != "" || g.r.IntN(2) == 0 {
				b = protowire.AppendTag(b, fieldLabelValue, protowire.BytesType)
				b = protowire.AppendString(b, val)
			}
		},
	}
	if g.r.IntN(5) == 0 {
		fields[0], fields[1] = fields[1], fields[0]
	}
	for _, f := range fields {
		f()
		b = g.maybeUnknown(b, 2)
	}
	return b
}

func (g *v1Gen) labels(series bool) [][2]string {
	n := g.r.IntN(5)
	var ls [][2]string
	if series && g.r.IntN(10) != 0 {
		ls = append(ls, [2]string{"__name__", g.pick(genValues[:4])})
	}
	for range n {
		ls = append(ls, [2]string{g.pick(genNames), g.pick(genValues)})
	}
	if g.r.IntN(6) != 0 {
		slices.SortFunc(ls, func(a, b [2]string) int { return compareNames(labels.Label{Name: a[0]}, labels.Label{Name: b[0]}) })
	}
	if g.r.IntN(3) != 0 { // mostly without duplicates
		ls = slices.CompactFunc(ls, func(a, b [2]string) bool { return a[0] == b[0] })
	}
	return ls
}

func (g *v1Gen) sample() []byte {
	var b []byte
	if g.r.IntN(8) != 0 {
		b = protowire.AppendTag(b, fieldSampleValue, protowire.Fixed64Type)
		b = protowire.AppendFixed64(b, math.Float64bits(genFloats[g.r.IntN(len(genFloats))]))
	}
	b = g.maybeUnknown(b, 2)
	if g.r.IntN(8) != 0 {
		b = protowire.AppendTag(b, fieldSampleTimestamp, protowire.VarintType)
		b = protowire.AppendVarint(b, uint64(g.r.Int64N(1<<45)-1<<44)) //nolint:gosec // negative timestamps too
	}
	return b
}

func (g *v1Gen) exemplar() []byte {
	var b []byte
	for _, l := range g.labels(false) {
		b = protowire.AppendTag(b, fieldExemplarLabels, protowire.BytesType)
		b = protowire.AppendBytes(b, g.label(l[0], l[1]))
	}
	b = g.maybeUnknown(b, 3)
	b = protowire.AppendTag(b, fieldExemplarValue, protowire.Fixed64Type)
	b = protowire.AppendFixed64(b, math.Float64bits(genFloats[g.r.IntN(len(genFloats))]))
	if g.r.IntN(4) != 0 {
		b = protowire.AppendTag(b, fieldExemplarTimestamp, protowire.VarintType)
		b = protowire.AppendVarint(b, uint64(g.r.Int64N(1<<42))) //nolint:gosec // positive
	}
	return b
}

func (g *v1Gen) histogram(t testing.TB) []byte {
	h := testHistogram()
	h.Count += uint64(g.r.IntN(3)) //nolint:gosec // small
	var hp prompb.Histogram
	switch g.r.IntN(3) {
	case 0:
		hp = prompb.FromIntHistogram(g.r.Int64N(1000), h)
	case 1:
		hp = prompb.FromFloatHistogram(g.r.Int64N(1000), h.ToFloat(nil))
	default:
		hp = prompb.FromIntHistogram(g.r.Int64N(1000), &histogram.Histogram{Schema: 0, Count: 1, PositiveSpans: []histogram.Span{{Length: 2}}, PositiveBuckets: []int64{1}})
	}
	return marshal(t, &hp)
}

func (g *v1Gen) series(t testing.TB) []byte {
	var b []byte
	var parts [][]byte
	for _, l := range g.labels(true) {
		parts = append(parts, protowire.AppendBytes(protowire.AppendTag(nil, fieldSeriesLabels, protowire.BytesType), g.label(l[0], l[1])))
	}
	for range g.r.IntN(4) {
		parts = append(parts, protowire.AppendBytes(protowire.AppendTag(nil, fieldSeriesSamples, protowire.BytesType), g.sample()))
	}
	if g.r.IntN(4) == 0 {
		for range 1 + g.r.IntN(2) {
			parts = append(parts, protowire.AppendBytes(protowire.AppendTag(nil, fieldSeriesExemplars, protowire.BytesType), g.exemplar()))
		}
	}
	if g.r.IntN(6) == 0 {
		for range 1 + g.r.IntN(2) {
			parts = append(parts, protowire.AppendBytes(protowire.AppendTag(nil, fieldSeriesHistograms, protowire.BytesType), g.histogram(t)))
		}
	}
	if g.r.IntN(4) == 0 { // fields of one kind stay in order; kinds mix
		slices.SortStableFunc(parts, func(a, b []byte) int { return g.r.IntN(3) - 1 })
	}
	for _, p := range parts {
		b = append(b, p...)
		b = g.maybeUnknown(b, 4)
	}
	return b
}

func (g *v1Gen) metadata() []byte {
	var b []byte
	b = protowire.AppendTag(b, fieldMetadataType, protowire.VarintType)
	b = protowire.AppendVarint(b, uint64(g.r.IntN(10))) //nolint:gosec // small
	for _, f := range []protowire.Number{fieldMetadataFamily, fieldMetadataHelp, fieldMetadataUnit} {
		if g.r.IntN(4) != 0 {
			b = protowire.AppendTag(b, f, protowire.BytesType)
			b = protowire.AppendString(b, g.pick(genValues))
		}
	}
	return g.maybeUnknown(b, 5)
}

func (g *v1Gen) request(t testing.TB) []byte {
	var b []byte
	for range g.r.IntN(6) {
		if g.r.IntN(5) == 0 {
			b = protowire.AppendTag(b, fieldWriteMetadata, protowire.BytesType)
			b = protowire.AppendBytes(b, g.metadata())
		}
		b = protowire.AppendTag(b, fieldWriteTimeseries, protowire.BytesType)
		b = protowire.AppendBytes(b, g.series(t))
		b = g.maybeUnknown(b, 3)
	}
	return b
}

// TestFastV1Differential decodes many random requests with the fast
// decoder and with gogo's unmarshalling: same request, or same error.
func TestFastV1Differential(t *testing.T) {
	g := &v1Gen{r: rand.New(rand.NewPCG(1, 2))}
	for _, scheme := range []model.ValidationScheme{model.UTF8Validation, model.LegacyValidation} {
		d := newDecoder(t, func(c *Config) { c.NameValidation = scheme })
		var ok, failed, corrupt int
		for range 3000 {
			msg := g.request(t)
			var w v1Wire
			require.True(t, w.scan(msg), "the fast decoder leaves a generated request to gogo")
			if checkSameV1(t, d, msg) {
				ok++
			} else {
				failed++
			}
			// And a corrupted copy: a byte changed, or the end cut off.
			if len(msg) > 0 {
				bad := bytes.Clone(msg)
				if g.r.IntN(2) == 0 {
					bad[g.r.IntN(len(bad))] = byte(g.r.Uint32())
				} else {
					bad = bad[:g.r.IntN(len(bad))]
				}
				if !checkSameV1(t, d, bad) {
					corrupt++
				}
			}
		}
		t.Logf("%s: %d decoded, %d refused, %d corrupted refused", scheme, ok, failed, corrupt)
		require.Greater(t, ok, 500)
		require.Greater(t, failed, 500)
	}
}

// TestFastV1Odd checks encodings the fast decoder leaves to gogo, and
// messages gogo refuses.
func TestFastV1Odd(t *testing.T) {
	d := newDecoder(t, nil)
	up := v1Body(t, prompb.TimeSeries{Labels: v1Labels("__name__", "up"), Samples: []prompb.Sample{{Value: 1, Timestamp: 2}}})
	for name, msg := range map[string][]byte{
		"group":            append(bytes.Clone(up), 0x3b, 0x08, 0x01, 0x3c), // field 7 group with a varint inside
		"end group":        append(bytes.Clone(up), 0x3c),
		"long varint":      append(bytes.Clone(up), 0x38, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0x7f),
		"field 0":          append(bytes.Clone(up), 0x00, 0x01),
		"wrong wire type":  append(bytes.Clone(up), 0x08, 0x01),
		"truncated":        up[:len(up)-1],
		"metadata varint":  append(bytes.Clone(up), 0x18, 0x01),
		"huge field":       append(bytes.Clone(up), 0xf8, 0xff, 0xff, 0xff, 0x0f, 0x01),
		"reserved wire 6":  append(bytes.Clone(up), 0x3e),
		"length past end":  append(bytes.Clone(up), 0x0a, 0x7f),
		"empty":            {},
		"empty series":     {0x0a, 0x00},
		"unknown repeated": append(append(bytes.Clone(up), 0x12, 0x01, 0x00), up...),
	} {
		t.Run(name, func(t *testing.T) { checkSameV1(t, d, msg) })
	}
}

// TestFastV1NoAlias decodes into a pooled buffer and reuses it: nothing the
// request keeps may change.
func TestFastV1NoAlias(t *testing.T) {
	d := newDecoder(t, nil)
	msg := marshal(t, &prompb.WriteRequest{
		Timeseries: []prompb.TimeSeries{{
			Labels:    v1Labels("__name__", "up", "job", "api"),
			Samples:   []prompb.Sample{{Timestamp: 1, Value: 1}},
			Exemplars: []prompb.Exemplar{{Labels: v1Labels("trace_id", "abc"), Value: 1, Timestamp: 1}},
		}},
		Metadata: []prompb.MetricMetadata{{Type: prompb.MetricMetadata_GAUGE, MetricFamilyName: "up", Help: "Up.", Unit: "s"}},
	})
	buf := bytes.Clone(msg)
	req, err := decodeWith(d, V1, buf, true)
	require.NoError(t, err)
	for i := range buf {
		buf[i] = 'x'
	}
	require.Equal(t, `{__name__="up", job="api"}`, req.Series[0].Labels.String())
	require.Equal(t, `{trace_id="abc"}`, req.Series[0].Exemplars[0].Labels.String())
	require.Equal(t, FamilyMetadata{Family: "up", Metadata: metadata.Metadata{Type: model.MetricTypeGauge, Unit: "s", Help: "Up."}}, req.Metadata[0])
}

// FuzzDecodeV1Differential decodes arbitrary 1.0 messages with the fast
// decoder and with gogo's unmarshalling: same request, or same error.
func FuzzDecodeV1Differential(f *testing.F) {
	g := &v1Gen{r: rand.New(rand.NewPCG(3, 4))}
	for range 8 {
		f.Add(g.request(f))
	}
	f.Add([]byte{})
	d := newDecoder(f, nil)
	f.Fuzz(func(t *testing.T, msg []byte) { checkSameV1(t, d, msg) })
}
