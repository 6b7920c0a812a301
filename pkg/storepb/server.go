package storepb

import (
	"context"
	"errors"
	"math"

	"google.golang.org/grpc"
	"google.golang.org/grpc/codes"
	"google.golang.org/grpc/status"
)

// SeriesWriter is the sending side of a Series call shared by the stores:
// one series per frame, or `batch` frames of up to batchSize series when the
// request asked for them (response_batch_size > 0), at most
// MaxResponseBatchSize whatever the request asked. Call Flush at the end.
// Not safe for concurrent use.
type SeriesWriter struct {
	srv       grpc.ServerStreamingServer[SeriesResponse]
	batchSize int
	batch     []*Series
}

// NewSeriesWriter returns a writer for srv; batchSize is the request's
// response_batch_size: <= 0 sends single frames, above MaxResponseBatchSize
// is lowered to it (see ResponseBatchSize).
func NewSeriesWriter(srv grpc.ServerStreamingServer[SeriesResponse], batchSize int64) *SeriesWriter {
	return &SeriesWriter{srv: srv, batchSize: ResponseBatchSize(batchSize)}
}

// Send sends s, or queues it until its batch is full.
func (w *SeriesWriter) Send(s *Series) error {
	if w.batchSize == 0 {
		return w.srv.Send(&SeriesResponse{Result: &SeriesResponse_Series{Series: s}})
	}
	w.batch = append(w.batch, s)
	if len(w.batch) >= w.batchSize {
		return w.Flush()
	}
	return nil
}

// Flush sends the queued series, if any.
func (w *SeriesWriter) Flush() error {
	if len(w.batch) == 0 {
		return nil
	}
	r := &SeriesResponse{Result: &SeriesResponse_Batch{Batch: &SeriesBatch{Series: w.batch}}}
	w.batch = make([]*Series, 0, w.batchSize)
	return w.srv.Send(r)
}

// StatusError turns err into a gRPC status error: context errors keep their
// meaning (Canceled, DeadlineExceeded), errors carrying a status keep it, and
// anything else is Internal.
func StatusError(err error) error {
	if errors.Is(err, context.Canceled) || errors.Is(err, context.DeadlineExceeded) {
		return status.FromContextError(err).Err()
	}
	if st, ok := status.FromError(err); ok {
		return st.Err()
	}
	return status.Error(codes.Internal, err.Error())
}

// LabelRequestRange returns the inclusive ms range of a LabelNames or
// LabelValues request; an unset range (both ends 0) means all data.
func LabelRequestRange(start, end int64) (mint, maxt int64) {
	if start == 0 && end == 0 {
		return math.MinInt64, math.MaxInt64
	}
	return start, end
}
