package promstore

import (
	"context"
	"fmt"
	"math"
	"testing"

	"github.com/prometheus/prometheus/model/labels"
	"github.com/prometheus/prometheus/storage"
	"github.com/stretchr/testify/require"
	"google.golang.org/grpc"

	"github.com/strata-io/strata/pkg/storepb"
)

// discardSeriesServer counts what a Series call sends and drops it.
type discardSeriesServer struct {
	grpc.ServerStream
	ctx    context.Context
	series int
	chunks int
}

func (d *discardSeriesServer) Send(r *storepb.SeriesResponse) error {
	ss := r.GetBatch().GetSeries()
	if s := r.GetSeries(); s != nil {
		ss = append(ss, s)
	}
	for _, s := range ss {
		d.series++
		d.chunks += len(s.GetChunks())
	}
	return nil
}

func (d *discardSeriesServer) Context() context.Context { return d.ctx }

// BenchmarkSeries measures one Series call over 1000 series of 720 float
// samples (3h at 15s): remote read through a real read handler, frame
// decoding, labels, sorting and re-framing for the StoreAPI.
func BenchmarkSeries(b *testing.B) {
	const nSeries, nSamples = 1000, 720
	fp := newFakeProm(b, extLabels, fakePromOptions{})
	data := make([]storage.Series, 0, nSeries)
	for i := range nSeries {
		data = append(data, floatSeries(labels.FromStrings("__name__", "bench_metric", "instance", fmt.Sprintf("host-%04d:9100", i), "job", "node"), 0, nSamples))
	}
	fp.appendSeries(b, data)
	s := newStore(b, fp, nil)

	for _, batch := range []int64{0, 64} {
		b.Run(fmt.Sprintf("batch=%d", batch), func(b *testing.B) {
			req := &storepb.SeriesRequest{
				MinTime: math.MinInt64, MaxTime: math.MaxInt64,
				Matchers:          []*storepb.LabelMatcher{eqMatcher("__name__", "bench_metric")},
				ResponseBatchSize: batch,
			}
			b.ReportAllocs()
			for b.Loop() {
				srv := &discardSeriesServer{ctx: context.Background()}
				require.NoError(b, s.Series(req, srv))
				require.Equal(b, nSeries, srv.series)
			}
		})
	}
}
