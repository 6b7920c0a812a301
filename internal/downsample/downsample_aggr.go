package downsample

import (
	"errors"
	"fmt"
	"math"

	"github.com/prometheus/prometheus/tsdb/chunkenc"
	"github.com/prometheus/prometheus/tsdb/chunks"
)

// aggrWindow is one window of downsampled data.
type aggrWindow struct {
	t                         int64 // last sample in the window, ms
	count, sum, min, max, ctr float64
}

// Aggr aggregates the downsampled chunks of one series (for
// instance its 5m chunks, in time order, all five aggregates present) into
// windows of the coarser resolution (ms, a multiple of the input's) and
// returns its aggregate chunks in time order, like Downsample. Each output
// window sums the counts and sums, takes the smallest min and largest max of
// the input windows it covers and is stamped with the last one's timestamp.
//
// The counter is read with NewCounterIterator across all input chunks, so
// resets inside and between them are kept as increase. The first output
// chunk starts with the first raw sample of the input and the last one ends
// with the input's last raw value, so that a reset between this series' block
// and the next is still detected; between output chunks the repeated value
// equals the adjusted one (no reset in between).
func Aggr(in []AggrChunk, resolution int64) ([]chunks.Meta, error) {
	if resolution <= 0 {
		return nil, fmt.Errorf("downsample resolution %dms must be positive", resolution)
	}
	if len(in) == 0 {
		return nil, nil
	}
	var sections [NumAggrTypes][]chunkenc.Chunk
	for i, c := range in {
		for j, at := range AllAggrTypes {
			chk, err := c.Get(at)
			if err != nil {
				if errors.Is(err, ErrAbsent) {
					return nil, fmt.Errorf("input chunk %d: %w; downsample this series from raw data instead", i, err)
				}
				return nil, fmt.Errorf("input chunk %d: %w", i, err)
			}
			sections[j] = append(sections[j], chk)
		}
	}
	lastCtr := sections[AggrCounter-1][len(in)-1]
	rawLast, err := lastValue(lastCtr)
	if err != nil {
		return nil, fmt.Errorf("counter of the last input chunk: %w", err)
	}

	windows, firstT, firstV, err := mergeWindows(sections, resolution)
	if err != nil {
		return nil, err
	}
	if len(windows) == 0 {
		return nil, nil
	}
	var out []chunks.Meta
	for start := 0; start < len(windows); start += WindowsPerChunk {
		ws := windows[start:min(start+WindowsPerChunk, len(windows))]
		ft, fv := ws[0].t, ws[0].ctr
		if start == 0 {
			ft, fv = firstT, firstV
		}
		lv := ws[len(ws)-1].ctr
		if start+len(ws) == len(windows) {
			lv = rawLast
		}
		m, err := encodeWindows(ws, ft, fv, lv)
		if err != nil {
			return nil, err
		}
		out = append(out, m)
	}
	return out, nil
}

// mergeWindows reads the input windows of all five aggregates in lockstep and
// merges them into windows of resolution. It also returns the first counter
// sample of the input (the first raw sample).
func mergeWindows(sections [NumAggrTypes][]chunkenc.Chunk, resolution int64) (ws []aggrWindow, firstT int64, firstV float64, err error) {
	var its [AggrCounter - 1]chunkenc.Iterator
	for i := range its {
		its[i] = NewChunksIterator(sections[i])
	}
	ctr := NewCounterIterator(sections[AggrCounter-1])
	ctrOK := ctr.Next() == chunkenc.ValFloat
	if ctrOK {
		firstT, firstV = ctr.At()
	}
	curCtr := firstV
	cur := int64(math.MinInt64)
	for {
		var vals [AggrCounter - 1]float64
		var t int64
		done := 0
		for i, it := range its {
			if it.Next() == chunkenc.ValNone {
				if err := it.Err(); err != nil {
					return nil, 0, 0, fmt.Errorf("%s aggregate: %w", AllAggrTypes[i], err)
				}
				done++
				continue
			}
			ti, v := it.At()
			if i > 0 && ti != t {
				return nil, 0, 0, fmt.Errorf("%s sample at t=%d does not match the count sample at t=%d; the input chunk is corrupt", AllAggrTypes[i], ti, t)
			}
			t, vals[i] = ti, v
		}
		if done == len(its) {
			break
		}
		if done != 0 {
			return nil, 0, 0, fmt.Errorf("aggregates of the input end at different samples after t=%d; the input chunk is corrupt", t)
		}
		// The counter value at t: the last counter sample at or before t.
		for ctrOK {
			ct, cv := ctr.At()
			if ct > t {
				break
			}
			curCtr = cv
			ctrOK = ctr.Next() == chunkenc.ValFloat
		}
		if err := ctr.Err(); err != nil {
			return nil, 0, 0, err
		}
		if w := WindowStart(t, resolution); len(ws) == 0 || w != cur {
			cur = w
			ws = append(ws, aggrWindow{t: t, count: vals[0], sum: vals[1], min: vals[2], max: vals[3], ctr: curCtr})
			continue
		}
		last := &ws[len(ws)-1]
		last.t = t
		last.count += vals[0]
		last.sum += vals[1]
		if vals[2] < last.min || math.IsNaN(last.min) {
			last.min = vals[2]
		}
		if vals[3] > last.max || math.IsNaN(last.max) {
			last.max = vals[3]
		}
		last.ctr = curCtr
	}
	return ws, firstT, firstV, nil
}

// encodeWindows builds one output chunk whose counter starts with (firstT,
// firstV) and ends by repeating lastV at the last window's timestamp.
func encodeWindows(ws []aggrWindow, firstT int64, firstV, lastV float64) (chunks.Meta, error) {
	var parts [NumAggrTypes]chunkenc.Chunk
	var apps [NumAggrTypes]chunkenc.Appender
	for i := range parts {
		c := chunkenc.NewXORChunk()
		app, err := c.Appender()
		if err != nil {
			return chunks.Meta{}, fmt.Errorf("appender of a new XOR chunk: %w", err)
		}
		parts[i], apps[i] = c, app
	}
	ctr := apps[AggrCounter-1]
	ctr.Append(0, firstT, firstV)
	for _, w := range ws {
		apps[AggrCount-1].Append(0, w.t, w.count)
		apps[AggrSum-1].Append(0, w.t, w.sum)
		apps[AggrMin-1].Append(0, w.t, w.min)
		apps[AggrMax-1].Append(0, w.t, w.max)
		ctr.Append(0, w.t, w.ctr)
	}
	lastT := ws[len(ws)-1].t
	ctr.Append(0, lastT, lastV)
	data, err := EncodeAggrChunk(parts)
	if err != nil {
		return chunks.Meta{}, err
	}
	c := AggrChunk(data)
	return chunks.Meta{MinTime: firstT, MaxTime: lastT, Chunk: &c}, nil
}

// lastValue returns the value of the last sample of a float chunk.
func lastValue(c chunkenc.Chunk) (float64, error) {
	it := c.Iterator(nil)
	v, ok := 0.0, false
	for it.Next() == chunkenc.ValFloat {
		_, v = it.At()
		ok = true
	}
	if err := it.Err(); err != nil {
		return 0, err
	}
	if !ok {
		return 0, errors.New("chunk has no float samples")
	}
	return v, nil
}
