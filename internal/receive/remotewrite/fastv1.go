package remotewrite

import (
	"fmt"
	"math"
	"strings"
	"unsafe"

	"github.com/prometheus/prometheus/model/exemplar"
	"github.com/prometheus/prometheus/model/labels"
	"github.com/prometheus/prometheus/model/metadata"
	"github.com/prometheus/prometheus/prompb"
	"google.golang.org/protobuf/encoding/protowire"
)

// Remote write 1.0 is decoded in two steps. scan reads the protobuf wire
// format of prometheus.WriteRequest in place into a v1Wire: flat arrays of
// label pairs whose strings alias the message, samples, exemplars and
// metadata, and per series where its part of each array ends. Only then,
// the whole message being well formed (an invalid message is a protobuf
// error before any series is checked), build checks each series and turns
// it into the request, copying every string it keeps: the message is a
// pooled buffer.
//
// scan accepts only what gogo's generated WriteRequest.Unmarshal accepts,
// and reads it as that does (a field given twice: the last one wins;
// unknown fields skipped). It refuses some odd encodings gogo accepts
// (groups, over-long varints); for those, and for every invalid message,
// decodeV1 falls back to Unmarshal and the converter, so that errors are
// reported exactly as they were.

// Field numbers of remote write 1.0 (prompb's remote.proto, types.proto).
const (
	fieldWriteTimeseries = 1
	fieldWriteMetadata   = 3

	fieldSeriesLabels     = 1
	fieldSeriesSamples    = 2
	fieldSeriesExemplars  = 3
	fieldSeriesHistograms = 4

	fieldLabelName  = 1
	fieldLabelValue = 2

	fieldSampleValue     = 1
	fieldSampleTimestamp = 2

	fieldExemplarLabels    = 1
	fieldExemplarValue     = 2
	fieldExemplarTimestamp = 3

	fieldMetadataType   = 1
	fieldMetadataFamily = 2
	fieldMetadataHelp   = 4
	fieldMetadataUnit   = 5
)

// v1Wire is a scanned WriteRequest. Its slices are reused from request to
// request (Decoder.wires). Strings are spans of the message, so that the
// arrays hold no pointers (no write barriers, nothing for the GC to scan).
type v1Wire struct {
	msg        []byte
	series     []v1WireSeries
	pairs      []v1WirePair // series labels, in series order
	samples    []Sample
	exemplars  []v1WireExemplar
	exPairs    []v1WirePair // exemplar labels, in exemplar order
	histograms []prompb.Histogram
	metadata   []v1WireMetadata
}

// span is where a string is in the message.
type span struct{ off, len uint32 }

// v1WirePair is a Label.
type v1WirePair struct{ name, value span }

// span returns where b, a part of w.msg, is in it.
func (w *v1Wire) span(b []byte) span {
	// b's capacity runs to the end of w.msg's.
	return span{off: uint32(cap(w.msg) - cap(b)), len: uint32(len(b))} //nolint:gosec // scan refuses messages of 4 GiB
}

// str returns the string at s, aliasing the message.
func (w *v1Wire) str(s span) string { return alias(w.msg[s.off : s.off+s.len]) }

// appendLabels appends the labels pairs to dst, aliasing the message.
func (w *v1Wire) appendLabels(dst []labels.Label, pairs []v1WirePair) []labels.Label {
	for _, p := range pairs {
		dst = append(dst, labels.Label{Name: w.str(p.name), Value: w.str(p.value)})
	}
	return dst
}

// v1WireSeries says where a series' part of each of v1Wire's arrays ends;
// it starts where the previous series' part ends.
type v1WireSeries struct {
	pairs, samples, exemplars, histograms int
}

// v1WireExemplar is an exemplar; its labels end at exPairs[pairs].
type v1WireExemplar struct {
	pairs int
	value float64
	ts    int64
}

// v1WireMetadata is a MetricMetadata.
type v1WireMetadata struct {
	typ                int32
	family, help, unit span
}

// maxPooledWire keeps the arrays of rare huge requests out of the pool.
const maxPooledWire = 1 << 16

func (d *Decoder) getWire() *v1Wire {
	if w, ok := d.wires.Get().(*v1Wire); ok {
		return w
	}
	return &v1Wire{}
}

func (d *Decoder) putWire(w *v1Wire) {
	if cap(w.pairs) > 16*maxPooledWire || cap(w.samples) > 16*maxPooledWire || cap(w.series) > maxPooledWire ||
		cap(w.exPairs) > maxPooledWire || cap(w.histograms) > maxPooledWire {
		return
	}
	// Drop references to the message and to the request's histograms.
	w.msg = nil
	clear(w.histograms)
	w.series = w.series[:0]
	w.pairs = w.pairs[:0]
	w.samples = w.samples[:0]
	w.exemplars = w.exemplars[:0]
	w.exPairs = w.exPairs[:0]
	w.histograms = w.histograms[:0]
	w.metadata = w.metadata[:0]
	d.wires.Put(w)
}

// decodeV1 decodes and converts the 1.0 message msg into req.
func (d *Decoder) decodeV1(c *converter, req *Request, msg []byte) error {
	w := d.getWire()
	defer d.putWire(w)
	if w.scan(msg) {
		return c.build(req, w)
	}
	return c.slowV1(req, msg)
}

// slowV1 decodes msg with gogo's unmarshalling, and converts it.
func (c *converter) slowV1(req *Request, msg []byte) error {
	var wr prompb.WriteRequest
	if err := wr.Unmarshal(msg); err != nil {
		return fmt.Errorf("%w: %s: %w", ErrProtobuf, protoV1, err)
	}
	return c.fromV1(req, &wr)
}

// scan reads msg, a WriteRequest, into w; false means it is invalid or
// encoded in a way scan leaves to gogo.
func (w *v1Wire) scan(msg []byte) bool {
	if int64(len(msg)) > math.MaxUint32 {
		return false
	}
	w.msg = msg
	for len(msg) > 0 {
		num, typ, n := consumeTag(msg)
		if n < 0 {
			return false
		}
		msg = msg[n:]
		switch {
		case num == fieldWriteTimeseries && typ == protowire.BytesType:
			b, n := consumeBytes(msg)
			if n < 0 || !w.scanSeries(b) {
				return false
			}
			msg = msg[n:]
		case num == fieldWriteMetadata && typ == protowire.BytesType:
			b, n := consumeBytes(msg)
			if n < 0 || !w.scanMetadata(b) {
				return false
			}
			msg = msg[n:]
		case num == fieldWriteTimeseries, num == fieldWriteMetadata:
			return false
		default:
			n := skipField(num, typ, msg)
			if n < 0 {
				return false
			}
			msg = msg[n:]
		}
	}
	return true
}

// scanSeries reads a TimeSeries.
func (w *v1Wire) scanSeries(msg []byte) bool {
	for len(msg) > 0 {
		num, typ, n := consumeTag(msg)
		if n < 0 {
			return false
		}
		msg = msg[n:]
		if num >= fieldSeriesLabels && num <= fieldSeriesHistograms {
			if typ != protowire.BytesType {
				return false
			}
			b, n := consumeBytes(msg)
			if n < 0 {
				return false
			}
			msg = msg[n:]
			var ok bool
			switch num {
			case fieldSeriesLabels:
				w.pairs, ok = w.appendPair(w.pairs, b)
			case fieldSeriesSamples:
				ok = w.scanSample(b)
			case fieldSeriesExemplars:
				ok = w.scanExemplar(b)
			default:
				w.histograms = append(w.histograms, prompb.Histogram{})
				ok = w.histograms[len(w.histograms)-1].Unmarshal(b) == nil
			}
			if !ok {
				return false
			}
			continue
		}
		n = skipField(num, typ, msg)
		if n < 0 {
			return false
		}
		msg = msg[n:]
	}
	w.series = append(w.series, v1WireSeries{
		pairs:      len(w.pairs),
		samples:    len(w.samples),
		exemplars:  len(w.exemplars),
		histograms: len(w.histograms),
	})
	return true
}

// appendPair reads a Label and appends it to pairs.
func (w *v1Wire) appendPair(pairs []v1WirePair, msg []byte) ([]v1WirePair, bool) {
	var name, value []byte
	for len(msg) > 0 {
		num, typ, n := consumeTag(msg)
		if n < 0 {
			return pairs, false
		}
		msg = msg[n:]
		switch {
		case (num == fieldLabelName || num == fieldLabelValue) && typ == protowire.BytesType:
			b, n := consumeBytes(msg)
			if n < 0 {
				return pairs, false
			}
			msg = msg[n:]
			if num == fieldLabelName {
				name = b
			} else {
				value = b
			}
		case num == fieldLabelName, num == fieldLabelValue:
			return pairs, false
		default:
			n := skipField(num, typ, msg)
			if n < 0 {
				return pairs, false
			}
			msg = msg[n:]
		}
	}
	return append(pairs, v1WirePair{name: w.span(name), value: w.span(value)}), true
}

// scanSample reads a Sample.
func (w *v1Wire) scanSample(msg []byte) bool {
	var s Sample
	for len(msg) > 0 {
		num, typ, n := consumeTag(msg)
		if n < 0 {
			return false
		}
		msg = msg[n:]
		switch {
		case num == fieldSampleValue && typ == protowire.Fixed64Type:
			v, n := protowire.ConsumeFixed64(msg)
			if n < 0 {
				return false
			}
			msg = msg[n:]
			s.V = math.Float64frombits(v)
		case num == fieldSampleTimestamp && typ == protowire.VarintType:
			v, n := consumeVarint(msg)
			if n < 0 {
				return false
			}
			msg = msg[n:]
			s.T = int64(v)
		case num == fieldSampleValue, num == fieldSampleTimestamp:
			return false
		default:
			n := skipField(num, typ, msg)
			if n < 0 {
				return false
			}
			msg = msg[n:]
		}
	}
	w.samples = append(w.samples, s)
	return true
}

// scanExemplar reads an Exemplar.
func (w *v1Wire) scanExemplar(msg []byte) bool {
	var e v1WireExemplar
	for len(msg) > 0 {
		num, typ, n := consumeTag(msg)
		if n < 0 {
			return false
		}
		msg = msg[n:]
		switch {
		case num == fieldExemplarLabels && typ == protowire.BytesType:
			b, n := consumeBytes(msg)
			if n < 0 {
				return false
			}
			msg = msg[n:]
			var ok bool
			if w.exPairs, ok = w.appendPair(w.exPairs, b); !ok {
				return false
			}
		case num == fieldExemplarValue && typ == protowire.Fixed64Type:
			v, n := protowire.ConsumeFixed64(msg)
			if n < 0 {
				return false
			}
			msg = msg[n:]
			e.value = math.Float64frombits(v)
		case num == fieldExemplarTimestamp && typ == protowire.VarintType:
			v, n := consumeVarint(msg)
			if n < 0 {
				return false
			}
			msg = msg[n:]
			e.ts = int64(v)
		case num >= fieldExemplarLabels && num <= fieldExemplarTimestamp:
			return false
		default:
			n := skipField(num, typ, msg)
			if n < 0 {
				return false
			}
			msg = msg[n:]
		}
	}
	e.pairs = len(w.exPairs)
	w.exemplars = append(w.exemplars, e)
	return true
}

// scanMetadata reads a MetricMetadata.
func (w *v1Wire) scanMetadata(msg []byte) bool {
	var m v1WireMetadata
	for len(msg) > 0 {
		num, typ, n := consumeTag(msg)
		if n < 0 {
			return false
		}
		msg = msg[n:]
		switch {
		case num == fieldMetadataType && typ == protowire.VarintType:
			v, n := consumeVarint(msg)
			if n < 0 {
				return false
			}
			msg = msg[n:]
			m.typ = int32(v) //nolint:gosec // an enum is the low 32 bits, as gogo reads it
		case (num == fieldMetadataFamily || num == fieldMetadataHelp || num == fieldMetadataUnit) && typ == protowire.BytesType:
			b, n := consumeBytes(msg)
			if n < 0 {
				return false
			}
			msg = msg[n:]
			switch num {
			case fieldMetadataFamily:
				m.family = w.span(b)
			case fieldMetadataHelp:
				m.help = w.span(b)
			default:
				m.unit = w.span(b)
			}
		case num == fieldMetadataType, num == fieldMetadataFamily, num == fieldMetadataHelp, num == fieldMetadataUnit:
			return false
		default:
			n := skipField(num, typ, msg)
			if n < 0 {
				return false
			}
			msg = msg[n:]
		}
	}
	w.metadata = append(w.metadata, m)
	return true
}

// build checks the scanned request w as fromV1 checks an unmarshalled one,
// in the same order, and converts it into req.
func (c *converter) build(req *Request, w *v1Wire) error {
	// Added strings alias the message: a labels implementation that keeps
	// them (slicelabels) must copy them. The default one always copies.
	c.b.SetUnsafeAdd(true)
	if cap(c.pairs) < 32 {
		c.pairs = make([]labels.Label, 0, 32)
	}
	st := newStore(counts{len(w.samples), len(w.histograms), len(w.exemplars)})
	st.samples = append(st.samples, w.samples...)
	req.Series = make([]Series, len(w.series))
	var prev v1WireSeries
	for i, ws := range w.series {
		s := &req.Series[i]
		c.pairs = w.appendLabels(c.pairs[:0], w.pairs[prev.pairs:ws.pairs])
		metric := metricName(c.pairs)
		// The error's strings must not alias the message.
		serr := func(label string, err error) error {
			return &SeriesError{Series: i, Metric: strings.Clone(metric), Label: strings.Clone(label), Err: err}
		}
		ls, lerr := c.labels(true, true)
		if lerr != nil {
			return serr(lerr.label, lerr.err)
		}
		s.Labels = ls

		if ws.samples > prev.samples {
			s.Samples = st.samples[prev.samples:ws.samples:ws.samples]
		}
		if ws.histograms > prev.histograms {
			for j := prev.histograms; j < ws.histograms; j++ {
				hp := &w.histograms[j]
				h := Histogram{T: hp.Timestamp}
				if hp.IsFloatHistogram() {
					h.FH = hp.ToFloatHistogram()
				} else {
					h.H = hp.ToIntHistogram()
				}
				if err := validateHistogram(&h); err != nil {
					return serr("", fmt.Errorf("histogram %d: %w", j-prev.histograms, err))
				}
				st.histograms = append(st.histograms, h)
			}
			s.Histograms = st.histograms[prev.histograms:ws.histograms:ws.histograms]
		}
		if ws.exemplars > prev.exemplars {
			exPrev := 0
			if prev.exemplars > 0 {
				exPrev = w.exemplars[prev.exemplars-1].pairs
			}
			for j := prev.exemplars; j < ws.exemplars; j++ {
				ep := &w.exemplars[j]
				c.pairs = w.appendLabels(c.pairs[:0], w.exPairs[exPrev:ep.pairs])
				exPrev = ep.pairs
				ls, lerr := c.labels(false, false)
				if lerr != nil {
					return serr(lerr.label, fmt.Errorf("exemplar %d: %w", j-prev.exemplars, lerr.err))
				}
				st.exemplars = append(st.exemplars, exemplar.Exemplar{Labels: ls, Value: ep.value, Ts: ep.ts, HasTs: true})
			}
			s.Exemplars = st.exemplars[prev.exemplars:ws.exemplars:ws.exemplars]
		}
		prev = ws
	}
	clear(c.pairs)
	if len(w.metadata) > 0 {
		req.Metadata = make([]FamilyMetadata, len(w.metadata))
		for i, m := range w.metadata {
			req.Metadata[i] = FamilyMetadata{
				Family: strings.Clone(w.str(m.family)),
				Metadata: metadata.Metadata{
					Type: v1MetricType(prompb.MetricMetadata_MetricType(m.typ)),
					Unit: strings.Clone(w.str(m.unit)),
					Help: strings.Clone(w.str(m.help)),
				},
			}
		}
	}
	return nil
}

// alias returns b as a string without copying it: the string is valid only
// as long as b is not modified.
func alias(b []byte) string {
	if len(b) == 0 {
		return ""
	}
	return unsafe.String(unsafe.SliceData(b), len(b))
}

// consumeVarint is protowire.ConsumeVarint, quicker for one byte.
func consumeVarint(b []byte) (uint64, int) {
	if len(b) > 0 && b[0] < 0x80 {
		return uint64(b[0]), 1
	}
	return protowire.ConsumeVarint(b)
}

// consumeTag is protowire.ConsumeTag, quicker for one byte. It refuses
// field number 0 as gogo does.
func consumeTag(b []byte) (protowire.Number, protowire.Type, int) {
	if len(b) > 0 && b[0] < 0x80 && b[0] >= 8 {
		return protowire.Number(b[0] >> 3), protowire.Type(b[0] & 7), 1
	}
	return protowire.ConsumeTag(b)
}

// consumeBytes is protowire.ConsumeBytes, quicker for a one-byte length.
func consumeBytes(b []byte) ([]byte, int) {
	if len(b) > 0 && b[0] < 0x80 {
		m := int(b[0])
		if m > len(b)-1 {
			return nil, -1
		}
		return b[1 : 1+m], 1 + m
	}
	return protowire.ConsumeBytes(b)
}

// skipField returns the length of an unknown field's value, or -1; groups
// are left to gogo.
func skipField(num protowire.Number, typ protowire.Type, b []byte) int {
	if typ == protowire.StartGroupType {
		return -1
	}
	return protowire.ConsumeFieldValue(num, typ, b)
}
