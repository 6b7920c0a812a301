package downsample

import (
	"errors"
	"fmt"
	"math"

	"github.com/prometheus/prometheus/model/value"
	"github.com/prometheus/prometheus/tsdb/chunkenc"
	"github.com/prometheus/prometheus/tsdb/chunks"

	"github.com/strata-io/strata/pkg/metadata"
)

// Resolutions of downsampled blocks, in ms (meta.json
// thanos.downsample.resolution): the values pkg/metadata defines.
const (
	ResolutionRaw = metadata.ResolutionRaw
	Resolution5m  = metadata.Resolution5m
	Resolution1h  = metadata.Resolution1h
)

// WindowsPerChunk is the largest number of windows Downsample puts in one
// output chunk (10h at 5m, 5d at 1h).
const WindowsPerChunk = 120

// ErrHistogram is wrapped by the error Downsample returns for a series of
// native histograms.
//
// TODO(downsample): aggregate native histograms (count and sum of
// observations per window, counter semantics for the histogram itself).
var ErrHistogram = errors.New("downsampling native histograms is not supported yet")

// WindowStart returns the start (ms, inclusive) of the window of the given
// resolution (ms, > 0) that holds t: windows are aligned to the Unix epoch and
// window w covers [w, w+resolution-1].
func WindowStart(t, resolution int64) int64 {
	w := t - t%resolution
	if t < 0 && t%resolution != 0 {
		w -= resolution
	}
	return w
}

// Downsample aggregates the float samples of one raw series, read from it in
// timestamp order, into windows of resolution ms and returns its aggregate
// chunks in time order, each holding at most WindowsPerChunk windows. Each
// returned chunks.Meta has MinTime/MaxTime (ms, inclusive) of the first and
// last raw sample it covers and Chunk set to an *AggrChunk with all five
// aggregates; Ref is zero. See doc.go for the values of each aggregate.
//
// Stale markers are skipped; for other NaN values see doc.go.
// A histogram sample fails with an error wrapping ErrHistogram; samples not
// strictly increasing in time fail with an error. It returns nil for a series
// without samples.
func Downsample(it chunkenc.Iterator, resolution int64) ([]chunks.Meta, error) {
	if resolution <= 0 {
		return nil, fmt.Errorf("downsample resolution %dms must be positive", resolution)
	}
	var (
		out []chunks.Meta
		b   *chunkBuilder
		w   window
	)
	for vt := it.Next(); vt != chunkenc.ValNone; vt = it.Next() {
		if vt != chunkenc.ValFloat {
			return nil, fmt.Errorf("series holds %s samples: %w", vt, ErrHistogram)
		}
		t, v := it.At()
		if value.IsStaleNaN(v) {
			continue
		}
		if b != nil && t <= b.lastT {
			return nil, fmt.Errorf("sample at t=%d is not after the previous sample at t=%d; the input series is out of order", t, b.lastT)
		}
		if start := WindowStart(t, resolution); w.count == 0 || start != w.start {
			if w.count > 0 {
				b.addWindow(&w)
				if b.windows == WindowsPerChunk {
					m, err := b.finish()
					if err != nil {
						return nil, err
					}
					out = append(out, m)
					b = nil
				}
			}
			w = window{start: start}
		}
		if b == nil {
			b = newChunkBuilder(t, v)
		}
		w.add(t, v, b.observe(t, v))
	}
	if err := it.Err(); err != nil {
		return nil, fmt.Errorf("read raw samples: %w", err)
	}
	if w.count > 0 {
		b.addWindow(&w)
	}
	if b != nil {
		m, err := b.finish()
		if err != nil {
			return nil, err
		}
		out = append(out, m)
	}
	return out, nil
}

// window accumulates the raw samples of one window.
type window struct {
	start              int64
	lastT              int64
	count              int
	sum, min, max, ctr float64
}

func (w *window) add(t int64, v, counter float64) {
	if w.count == 0 {
		w.min, w.max = v, v
	} else {
		// math.Min/Max would let one NaN hide every other value of the window.
		if v < w.min || math.IsNaN(w.min) {
			w.min = v
		}
		if v > w.max || math.IsNaN(w.max) {
			w.max = v
		}
	}
	w.count++
	w.sum += v
	w.lastT = t
	w.ctr = counter
}

// chunkBuilder appends windows to the five aggregate chunks of one output
// chunk and tracks the counter state within it.
type chunkBuilder struct {
	chks    [NumAggrTypes]*chunkenc.XORChunk
	apps    [NumAggrTypes]chunkenc.Appender
	windows int
	minT    int64
	lastT   int64   // timestamp of the last raw sample observed
	lastRaw float64 // value of the last raw sample observed
	resets  float64 // sum of the raw values before each reset in this chunk
}

// newChunkBuilder starts a chunk whose first raw sample is (t, v): the
// counter section starts with it.
func newChunkBuilder(t int64, v float64) *chunkBuilder {
	b := &chunkBuilder{minT: t, lastT: math.MinInt64, lastRaw: v}
	for i := range b.chks {
		b.chks[i] = chunkenc.NewXORChunk()
		app, err := b.chks[i].Appender()
		if err != nil {
			panic(fmt.Sprintf("appender of a new XOR chunk: %v", err)) // cannot happen for an empty chunk
		}
		b.apps[i] = app
	}
	b.apps[AggrCounter-1].Append(0, t, v)
	return b
}

// observe records a raw sample and returns the counter value made monotonic
// since the chunk's first sample.
func (b *chunkBuilder) observe(t int64, v float64) float64 {
	if v < b.lastRaw {
		b.resets += b.lastRaw
	}
	b.lastT, b.lastRaw = t, v
	return v + b.resets
}

func (b *chunkBuilder) addWindow(w *window) {
	b.apps[AggrCount-1].Append(0, w.lastT, float64(w.count))
	b.apps[AggrSum-1].Append(0, w.lastT, w.sum)
	b.apps[AggrMin-1].Append(0, w.lastT, w.min)
	b.apps[AggrMax-1].Append(0, w.lastT, w.max)
	b.apps[AggrCounter-1].Append(0, w.lastT, w.ctr)
	b.windows++
}

// finish appends the repeated last raw value to the counter section and
// encodes the chunk.
func (b *chunkBuilder) finish() (chunks.Meta, error) {
	b.apps[AggrCounter-1].Append(0, b.lastT, b.lastRaw)
	var in [NumAggrTypes]chunkenc.Chunk
	for i, c := range b.chks {
		in[i] = c
	}
	data, err := EncodeAggrChunk(in)
	if err != nil {
		return chunks.Meta{}, err
	}
	c := AggrChunk(data)
	return chunks.Meta{MinTime: b.minT, MaxTime: b.lastT, Chunk: &c}, nil
}
