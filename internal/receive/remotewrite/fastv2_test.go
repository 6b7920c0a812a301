package remotewrite

import (
	"bytes"
	"math"
	"math/rand/v2"
	"testing"

	"github.com/prometheus/common/model"
	"github.com/prometheus/prometheus/model/metadata"
	writev2 "github.com/prometheus/prometheus/prompb/io/prometheus/write/v2"
	"github.com/stretchr/testify/require"
	"google.golang.org/protobuf/encoding/protowire"
)

// v2Gen writes random 2.0 messages straight in the wire format, as v1Gen
// writes 1.0 ones: labels_refs packed or not, out of the table now and
// then, samples and histograms in one series, metadata given twice.
type v2Gen struct {
	v1Gen
	syms []string
}

func (g *v2Gen) ref() uint32 {
	if g.r.IntN(40) == 0 {
		return uint32(len(g.syms) + g.r.IntN(3)) //nolint:gosec // small
	}
	return uint32(g.r.IntN(len(g.syms))) //nolint:gosec // small
}

// refsField appends labels_refs (field num) for the name-value pairs.
func (g *v2Gen) refsField(b []byte, num protowire.Number, series bool) []byte {
	var refs []uint32
	for _, l := range g.labels(series) {
		refs = append(refs, g.sym(l[0]), g.sym(l[1]))
	}
	if g.r.IntN(30) == 0 && len(refs) > 0 {
		refs = refs[:len(refs)-1] // odd
	}
	if g.r.IntN(30) == 0 {
		refs = append(refs, g.ref(), g.ref())
	}
	for len(refs) > 0 {
		k := len(refs)
		if g.r.IntN(4) == 0 { // split into several fields
			k = 1 + g.r.IntN(len(refs))
		}
		if g.r.IntN(3) == 0 {
			for _, r := range refs[:k] {
				b = protowire.AppendTag(b, num, protowire.VarintType)
				b = protowire.AppendVarint(b, uint64(r))
			}
		} else {
			var packed []byte
			for _, r := range refs[:k] {
				packed = protowire.AppendVarint(packed, uint64(r))
			}
			b = protowire.AppendTag(b, num, protowire.BytesType)
			b = protowire.AppendBytes(b, packed)
		}
		refs = refs[k:]
	}
	return b
}

// sym returns s's index in the table, adding it.
func (g *v2Gen) sym(s string) uint32 {
	for i, t := range g.syms {
		if t == s {
			return uint32(i) //nolint:gosec // small
		}
	}
	g.syms = append(g.syms, s)
	return uint32(len(g.syms) - 1) //nolint:gosec // small
}

func (g *v2Gen) sample() []byte {
	var b []byte
	if g.r.IntN(8) != 0 {
		b = protowire.AppendTag(b, fieldSampleV2Value, protowire.Fixed64Type)
		b = protowire.AppendFixed64(b, math.Float64bits(genFloats[g.r.IntN(len(genFloats))]))
	}
	b = g.maybeUnknown(b, 3)
	for _, f := range []protowire.Number{fieldSampleV2Timestamp, fieldSampleV2StartTimestamp} {
		if g.r.IntN(4) != 0 {
			b = protowire.AppendTag(b, f, protowire.VarintType)
			b = protowire.AppendVarint(b, uint64(g.r.Int64N(1<<45)-1<<44)) //nolint:gosec // negative too
		}
	}
	return b
}

func (g *v2Gen) exemplar() []byte {
	b := g.refsField(nil, fieldExemplarV2LabelsRefs, false)
	b = g.maybeUnknown(b, 3)
	b = protowire.AppendTag(b, fieldExemplarV2Value, protowire.Fixed64Type)
	b = protowire.AppendFixed64(b, math.Float64bits(genFloats[g.r.IntN(len(genFloats))]))
	if g.r.IntN(4) != 0 {
		b = protowire.AppendTag(b, fieldExemplarV2Timestamp, protowire.VarintType)
		b = protowire.AppendVarint(b, uint64(g.r.Int64N(1<<42))) //nolint:gosec // positive
	}
	return b
}

func (g *v2Gen) histogram(t testing.TB) []byte {
	h := testHistogram()
	h.Count += uint64(g.r.IntN(3)) //nolint:gosec // small
	var hp writev2.Histogram
	if g.r.IntN(2) == 0 {
		hp = writev2.FromIntHistogram(g.r.Int64N(1000), g.r.Int64N(1000), h)
	} else {
		hp = writev2.FromFloatHistogram(g.r.Int64N(1000), g.r.Int64N(1000), h.ToFloat(nil))
	}
	return marshal(t, &hp)
}

func (g *v2Gen) metadata() []byte {
	var b []byte
	if g.r.IntN(3) != 0 {
		b = protowire.AppendTag(b, fieldMetadataV2Type, protowire.VarintType)
		b = protowire.AppendVarint(b, uint64(g.r.IntN(10))) //nolint:gosec // small
	}
	for _, f := range []protowire.Number{fieldMetadataV2HelpRef, fieldMetadataV2UnitRef} {
		if g.r.IntN(2) == 0 {
			b = protowire.AppendTag(b, f, protowire.VarintType)
			b = protowire.AppendVarint(b, uint64(g.ref()))
		}
	}
	return g.maybeUnknown(b, 5)
}

func (g *v2Gen) series(t testing.TB) []byte {
	b := g.refsField(nil, fieldSeriesV2LabelsRefs, true)
	field := func(num protowire.Number, v []byte) {
		b = protowire.AppendTag(b, num, protowire.BytesType)
		b = protowire.AppendBytes(b, v)
		b = g.maybeUnknown(b, 6)
	}
	if g.r.IntN(5) != 0 {
		for range g.r.IntN(4) {
			field(fieldSeriesV2Samples, g.sample())
		}
	}
	if g.r.IntN(5) == 0 {
		for range 1 + g.r.IntN(2) {
			field(fieldSeriesV2Histograms, g.histogram(t))
		}
	}
	if g.r.IntN(4) == 0 {
		for range 1 + g.r.IntN(2) {
			field(fieldSeriesV2Exemplars, g.exemplar())
		}
	}
	for range g.r.IntN(3) {
		field(fieldSeriesV2Metadata, g.metadata())
	}
	return b
}

func (g *v2Gen) request(t testing.TB) []byte {
	g.syms = g.syms[:0]
	if g.r.IntN(30) != 0 {
		g.syms = append(g.syms, "")
	}
	g.syms = append(g.syms, "help text", "seconds")
	var series []byte
	for range g.r.IntN(6) {
		series = protowire.AppendTag(series, fieldRequestTimeseries, protowire.BytesType)
		series = protowire.AppendBytes(series, g.series(t))
		series = g.maybeUnknown(series, 5)
	}
	var b []byte
	for _, s := range g.syms {
		b = protowire.AppendTag(b, fieldRequestSymbols, protowire.BytesType)
		b = protowire.AppendString(b, s)
	}
	if g.r.IntN(5) == 0 { // symbols after the series
		return append(series, b...)
	}
	return append(b, series...)
}

// TestFastV2Differential decodes many random 2.0 requests with the fast
// decoder and with gogo's unmarshalling: same request, or same error.
func TestFastV2Differential(t *testing.T) {
	g := &v2Gen{v1Gen: v1Gen{r: rand.New(rand.NewPCG(5, 6))}}
	for _, scheme := range []model.ValidationScheme{model.UTF8Validation, model.LegacyValidation} {
		d := newDecoder(t, func(c *Config) { c.NameValidation = scheme })
		var ok, failed, corrupt int
		for range 3000 {
			msg := g.request(t)
			var w v2Wire
			require.True(t, w.scan(msg), "the fast decoder leaves a generated request to gogo")
			if checkSame(t, d, V2, msg) {
				ok++
			} else {
				failed++
			}
			if len(msg) > 0 {
				bad := bytes.Clone(msg)
				if g.r.IntN(2) == 0 {
					bad[g.r.IntN(len(bad))] = byte(g.r.Uint32())
				} else {
					bad = bad[:g.r.IntN(len(bad))]
				}
				if !checkSame(t, d, V2, bad) {
					corrupt++
				}
			}
		}
		t.Logf("%s: %d decoded, %d refused, %d corrupted refused", scheme, ok, failed, corrupt)
		require.Greater(t, ok, 500)
		require.Greater(t, failed, 500)
	}
}

// TestFastV2NoAlias decodes into a buffer and overwrites it: nothing the
// request keeps may change.
func TestFastV2NoAlias(t *testing.T) {
	d := newDecoder(t, nil)
	b := newV2Builder()
	b.add(writev2.TimeSeries{
		LabelsRefs: b.refs("__name__", "up", "job", "api"),
		Samples:    []writev2.Sample{{Timestamp: 2, Value: 1, StartTimestamp: 1}},
		Exemplars:  []writev2.Exemplar{{LabelsRefs: b.refs("trace_id", "abc"), Value: 1, Timestamp: 1}},
		Metadata:   writev2.Metadata{Type: writev2.Metadata_METRIC_TYPE_GAUGE, HelpRef: b.syms.Symbolize("Up."), UnitRef: b.syms.Symbolize("s")},
	})
	buf := marshal(t, b.build())
	req, err := decodeWith(d, V2, buf, true)
	require.NoError(t, err)
	for i := range buf {
		buf[i] = 'x'
	}
	require.Equal(t, `{__name__="up", job="api"}`, req.Series[0].Labels.String())
	require.Equal(t, `{trace_id="abc"}`, req.Series[0].Exemplars[0].Labels.String())
	require.Equal(t, metadata.Metadata{Type: model.MetricTypeGauge, Unit: "s", Help: "Up."}, req.Series[0].Metadata)
	require.Equal(t, []Sample{{T: 2, V: 1, ST: 1}}, req.Series[0].Samples)
}

// FuzzDecodeV2Differential decodes arbitrary 2.0 messages with the fast
// decoder and with gogo's unmarshalling: same request, or same error.
func FuzzDecodeV2Differential(f *testing.F) {
	g := &v2Gen{v1Gen: v1Gen{r: rand.New(rand.NewPCG(7, 8))}}
	for range 8 {
		f.Add(g.request(f))
	}
	f.Add([]byte{})
	d := newDecoder(f, nil)
	f.Fuzz(func(t *testing.T, msg []byte) { checkSame(t, d, V2, msg) })
}
