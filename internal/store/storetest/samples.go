package storetest

import (
	"context"
	"errors"
	"fmt"
	"io"
	"math"
	"slices"

	"github.com/prometheus/prometheus/model/histogram"
	"github.com/prometheus/prometheus/model/labels"
	"github.com/prometheus/prometheus/storage"
	"github.com/prometheus/prometheus/tsdb/chunkenc"
	"github.com/prometheus/prometheus/tsdb/chunks"

	"github.com/strata-io/strata/pkg/storepb"
)

// Sample is one sample of a series: a float when H and FH are nil, else a
// native histogram with integer (H) or float (FH) counts.
type Sample struct {
	T  int64 // ms since epoch
	F  float64
	H  *histogram.Histogram
	FH *histogram.FloatHistogram
}

// String formats the sample for test failure messages.
func (s Sample) String() string {
	switch {
	case s.H != nil:
		return fmt.Sprintf("%d:%s", s.T, s.H)
	case s.FH != nil:
		return fmt.Sprintf("%d:%s", s.T, s.FH)
	}
	return fmt.Sprintf("%d:%g", s.T, s.F)
}

// Equal tells whether two samples hold the same data: same timestamp, same
// float bits (so NaNs compare), equal histograms. Counter reset hints are
// ignored: chunk encodings keep them only at chunk starts.
func (s Sample) Equal(o Sample) bool {
	if s.T != o.T {
		return false
	}
	switch {
	case s.H != nil || o.H != nil:
		if s.H == nil || o.H == nil {
			return false
		}
		a, b := s.H.Copy(), o.H.Copy()
		a.CounterResetHint, b.CounterResetHint = histogram.UnknownCounterReset, histogram.UnknownCounterReset
		return a.Equals(b)
	case s.FH != nil || o.FH != nil:
		if s.FH == nil || o.FH == nil {
			return false
		}
		a, b := s.FH.Copy(), o.FH.Copy()
		a.CounterResetHint, b.CounterResetHint = histogram.UnknownCounterReset, histogram.UnknownCounterReset
		return a.Equals(b)
	}
	return math.Float64bits(s.F) == math.Float64bits(o.F)
}

// DecodeChunk decodes one wire chunk (XOR, HISTOGRAM or FLOAT_HISTOGRAM).
func DecodeChunk(c *storepb.Chunk) ([]Sample, error) {
	if c == nil {
		return nil, errors.New("decode chunk: no chunk")
	}
	var enc chunkenc.Encoding
	switch c.GetType() {
	case storepb.Chunk_XOR:
		enc = chunkenc.EncXOR
	case storepb.Chunk_HISTOGRAM:
		enc = chunkenc.EncHistogram
	case storepb.Chunk_FLOAT_HISTOGRAM:
		enc = chunkenc.EncFloatHistogram
	default:
		return nil, fmt.Errorf("decode chunk: unknown encoding %s", c.GetType())
	}
	chk, err := storepb.ChunkFromData(enc, c.GetData())
	if err != nil {
		return nil, fmt.Errorf("decode %s chunk: %w", enc, err)
	}
	return iterSamples(storepb.SafeIterator(chk))
}

// DecodeSeries decodes the raw chunks of a wire series, in chunk order. It
// fails on a chunk without raw data (downsampled aggregates). Overlapping
// chunks give their samples twice; MergeSamples sorts them out.
func DecodeSeries(s *storepb.Series) ([]Sample, error) {
	var out []Sample
	for i, c := range s.GetChunks() {
		if c.GetRaw() == nil {
			return nil, fmt.Errorf("chunk %d [%d, %d] of series %v has no raw data", i, c.GetMinTime(), c.GetMaxTime(), s.GetLabels())
		}
		ss, err := DecodeChunk(c.GetRaw())
		if err != nil {
			return nil, fmt.Errorf("chunk %d [%d, %d]: %w", i, c.GetMinTime(), c.GetMaxTime(), err)
		}
		out = append(out, ss...)
	}
	return out, nil
}

// MergeSamples sorts samples by time and drops exact duplicates (as from
// overlapping chunks). It fails on two different samples at one timestamp.
func MergeSamples(in []Sample) ([]Sample, error) {
	out := slices.Clone(in)
	slices.SortStableFunc(out, func(a, b Sample) int { return cmpInt64(a.T, b.T) })
	var err error
	out = slices.CompactFunc(out, func(a, b Sample) bool {
		if a.T != b.T {
			return false
		}
		if !a.Equal(b) && err == nil {
			err = fmt.Errorf("two different samples at %d: %s and %s", a.T, a, b)
		}
		return true
	})
	return out, err
}

// SeriesSamples reads all samples of a storage series.
func SeriesSamples(s storage.Series) ([]Sample, error) {
	return iterSamples(s.Iterator(nil))
}

func iterSamples(it chunkenc.Iterator) ([]Sample, error) {
	var out []Sample
	for vt := it.Next(); vt != chunkenc.ValNone; vt = it.Next() {
		switch vt {
		case chunkenc.ValFloat:
			t, f := it.At()
			out = append(out, Sample{T: t, F: f})
		case chunkenc.ValHistogram:
			t, h := it.AtHistogram(nil)
			out = append(out, Sample{T: t, H: h})
		case chunkenc.ValFloatHistogram:
			t, fh := it.AtFloatHistogram(nil)
			out = append(out, Sample{T: t, FH: fh})
		default:
			return nil, fmt.Errorf("unknown value type %s", vt)
		}
	}
	return out, it.Err()
}

// NewSeries returns a storage.Series holding samples, which must be sorted
// by time.
func NewSeries(lset labels.Labels, samples []Sample) storage.Series {
	cs := make([]chunks.Sample, 0, len(samples))
	for _, s := range samples {
		cs = append(cs, chunksSample{s})
	}
	return storage.NewListSeries(lset, cs)
}

// AppendSeries appends every sample of series to app in one transaction
// and commits it. Series must not repeat.
func AppendSeries(ctx context.Context, app storage.Appendable, series []storage.Series) (err error) {
	a := app.Appender(ctx)
	defer func() {
		if err != nil {
			err = errors.Join(err, a.Rollback())
		}
	}()
	for _, s := range series {
		lset := s.Labels()
		ss, err := SeriesSamples(s)
		if err != nil {
			return fmt.Errorf("read series %s: %w", lset, err)
		}
		var ref storage.SeriesRef
		for _, smp := range ss {
			if smp.H != nil || smp.FH != nil {
				ref, err = a.AppendHistogram(ref, lset, smp.T, smp.H, smp.FH)
			} else {
				ref, err = a.Append(ref, lset, smp.T, smp.F)
			}
			if err != nil {
				return fmt.Errorf("append sample %d of series %s: %w", smp.T, lset, err)
			}
		}
	}
	return a.Commit()
}

// CollectSeries calls Series on c and reads the stream to its end. It
// returns the series of series and batch frames in the order received, the
// warnings, and the number of batch frames.
func CollectSeries(ctx context.Context, c storepb.StoreClient, req *storepb.SeriesRequest) (series []*storepb.Series, warnings []string, batches int, err error) {
	ctx, cancel := context.WithCancel(ctx)
	defer cancel()
	stream, err := c.Series(ctx, req)
	if err != nil {
		return nil, nil, 0, err
	}
	for {
		r, err := stream.Recv()
		if errors.Is(err, io.EOF) {
			return series, warnings, batches, nil
		}
		if err != nil {
			return series, warnings, batches, err
		}
		switch res := r.GetResult().(type) {
		case *storepb.SeriesResponse_Series:
			series = append(series, res.Series)
		case *storepb.SeriesResponse_Batch:
			batches++
			series = append(series, res.Batch.GetSeries()...)
		case *storepb.SeriesResponse_Warning:
			warnings = append(warnings, res.Warning)
		}
	}
}

func cmpInt64(a, b int64) int {
	switch {
	case a < b:
		return -1
	case a > b:
		return 1
	}
	return 0
}

// chunksSample adapts Sample to chunks.Sample.
type chunksSample struct{ s Sample }

func (c chunksSample) T() int64                      { return c.s.T }
func (chunksSample) ST() int64                       { return 0 }
func (c chunksSample) F() float64                    { return c.s.F }
func (c chunksSample) H() *histogram.Histogram       { return c.s.H }
func (c chunksSample) FH() *histogram.FloatHistogram { return c.s.FH }

func (c chunksSample) Type() chunkenc.ValueType {
	switch {
	case c.s.H != nil:
		return chunkenc.ValHistogram
	case c.s.FH != nil:
		return chunkenc.ValFloatHistogram
	}
	return chunkenc.ValFloat
}

func (c chunksSample) Copy() chunks.Sample {
	out := c
	if c.s.H != nil {
		out.s.H = c.s.H.Copy()
	}
	if c.s.FH != nil {
		out.s.FH = c.s.FH.Copy()
	}
	return out
}
