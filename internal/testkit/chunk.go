package testkit

import (
	"testing"

	"github.com/prometheus/prometheus/model/histogram"
	"github.com/prometheus/prometheus/tsdb/chunkenc"
	"github.com/prometheus/prometheus/tsdb/chunks"
)

// FloatSample is what XORChunk encodes: a timestamp (ms) and a float value.
// The packages' own test sample types implement it.
type FloatSample interface {
	T() int64
	F() float64
}

// XORChunk encodes float samples, in the order given, into one XOR chunk.
func XORChunk[S FloatSample](t testing.TB, ss ...S) chunkenc.Chunk {
	t.Helper()
	c := chunkenc.NewXORChunk()
	app, err := c.Appender()
	if err != nil {
		t.Fatalf("xor appender: %v", err)
	}
	for _, s := range ss {
		app.Append(0, s.T(), s.F())
	}
	return c
}

// XORChunkMeta is XORChunk with the chunk's time range: that of the first
// and the last sample (ss must not be empty).
func XORChunkMeta[S FloatSample](t testing.TB, ss ...S) chunks.Meta {
	t.Helper()
	return chunks.Meta{MinTime: ss[0].T(), MaxTime: ss[len(ss)-1].T(), Chunk: XORChunk(t, ss...)}
}

// Sample is a float sample that implements chunks.Sample, for
// storage.NewListSeries and tsdb.CreateBlock.
type Sample struct {
	Time  int64
	Value float64
}

// T returns the sample's timestamp, ms.
func (s Sample) T() int64 { return s.Time }

// ST returns 0: the sample has no start timestamp.
func (Sample) ST() int64 { return 0 }

// F returns the sample's value.
func (s Sample) F() float64 { return s.Value }

// H returns nil: the sample is a float.
func (Sample) H() *histogram.Histogram { return nil }

// FH returns nil: the sample is a float.
func (Sample) FH() *histogram.FloatHistogram { return nil }

// Type returns chunkenc.ValFloat.
func (Sample) Type() chunkenc.ValueType { return chunkenc.ValFloat }

// Copy returns s, a value that shares nothing.
func (s Sample) Copy() chunks.Sample { return s }
