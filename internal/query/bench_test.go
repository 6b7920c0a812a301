package query

import (
	"io"
	"strconv"
	"testing"

	"github.com/prometheus/prometheus/model/labels"
	"github.com/prometheus/prometheus/storage"
	"github.com/prometheus/prometheus/tsdb/chunkenc"

	"github.com/strata-io/strata/internal/dedup"
	"github.com/strata-io/strata/pkg/storepb"
)

// sliceStream replays frames as a Series stream.
type sliceStream struct {
	frames []*storepb.SeriesResponse
}

func (s *sliceStream) Recv() (*storepb.SeriesResponse, error) {
	if len(s.frames) == 0 {
		return nil, io.EOF
	}
	f := s.frames[0]
	s.frames = s.frames[1:]
	return f, nil
}

// benchFrames returns 100 series, each sent by two sources (offset by 5s),
// each copy with 4 chunks of 120 samples at 15s. With replicaLabel, the
// sources are replicas told apart by a replica label.
func benchFrames(b *testing.B, replicaLabel bool) []*storepb.SeriesResponse {
	var frames []*storepb.SeriesResponse
	for i := range 100 {
		for src := range 2 {
			lset := labels.FromStrings("__name__", "http_requests_total", "pod", "pod-"+strconv.Itoa(1000+i))
			if replicaLabel {
				lset = labels.FromStrings("__name__", "http_requests_total", "pod", "pod-"+strconv.Itoa(1000+i), "replica", strconv.Itoa(src))
			}
			var chunks []*storepb.AggrChunk
			for c := range 4 {
				start := int64(c*120*15_000 + src*5_000)
				chunks = append(chunks, wireXOR(b, floats(start, start+119*15_000, 15_000)...))
			}
			frames = append(frames, seriesFrame(lset, chunks...))
		}
	}
	return frames
}

func drainSet(b *testing.B, set storage.SeriesSet) int {
	n := 0
	var it chunkenc.Iterator
	for set.Next() {
		it = set.At().Iterator(it)
		for it.Next() != chunkenc.ValNone {
			n++
		}
		if err := it.Err(); err != nil {
			b.Fatal(err)
		}
	}
	if err := set.Err(); err != nil {
		b.Fatal(err)
	}
	return n
}

// BenchmarkMerge reads a Series answer and iterates every sample: copies of a
// series merged (no dedup) or deduplicated.
func BenchmarkMerge(b *testing.B) {
	frames := benchFrames(b, false)
	aggrs := aggrsFor("")
	b.Run("merge", func(b *testing.B) {
		b.ReportAllocs()
		for b.Loop() {
			resp, err := readSeries(&sliceStream{frames: frames}, nil, aggrs)
			if err != nil {
				b.Fatal(err)
			}
			if n := drainSet(b, &mergeSeriesSet{series: resp.series, aggrs: aggrs}); n != 100*2*4*120 {
				b.Fatalf("got %d samples", n)
			}
		}
	})
	b.Run("dedup", func(b *testing.B) {
		b.ReportAllocs()
		for b.Loop() {
			resp, err := readSeries(&sliceStream{frames: frames}, []string{"replica"}, aggrs)
			if err != nil {
				b.Fatal(err)
			}
			if n := drainSet(b, dedup.NewSeriesSet(&replicaSeriesSet{series: resp.series, aggrs: aggrs}, false)); n < 100*4*120 {
				b.Fatalf("got %d samples", n)
			}
		}
	})
	replicaFrames := benchFrames(b, true)
	b.Run("dedup-replica-labels", func(b *testing.B) {
		b.ReportAllocs()
		for b.Loop() {
			resp, err := readSeries(&sliceStream{frames: replicaFrames}, []string{"replica"}, aggrs)
			if err != nil {
				b.Fatal(err)
			}
			if n := drainSet(b, dedup.NewSeriesSet(&replicaSeriesSet{series: resp.series, aggrs: aggrs}, false)); n < 100*4*120 {
				b.Fatalf("got %d samples", n)
			}
		}
	})
}
