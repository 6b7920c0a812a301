package storepb

import (
	"context"
	"io"

	"google.golang.org/grpc"
	"google.golang.org/grpc/metadata"
)

// ServerAsClient lets a component call a local StoreServer through the
// StoreClient interface without a network hop. Series runs the server in a
// goroutine and hands responses over a channel; cancelling the context (or
// reading to io.EOF) ends that goroutine. Responses are passed by pointer and
// must not be modified by the server after Send.
func ServerAsClient(srv StoreServer) StoreClient {
	return &inProcessClient{srv: srv}
}

type inProcessClient struct {
	srv StoreServer
}

func (c *inProcessClient) LabelNames(ctx context.Context, in *LabelNamesRequest, _ ...grpc.CallOption) (*LabelNamesResponse, error) {
	return c.srv.LabelNames(ctx, in)
}

func (c *inProcessClient) LabelValues(ctx context.Context, in *LabelValuesRequest, _ ...grpc.CallOption) (*LabelValuesResponse, error) {
	return c.srv.LabelValues(ctx, in)
}

func (c *inProcessClient) Series(ctx context.Context, in *SeriesRequest, _ ...grpc.CallOption) (grpc.ServerStreamingClient[SeriesResponse], error) {
	ctx, cancel := context.WithCancel(ctx)
	s := &inProcessStream{ctx: ctx, cancel: cancel, ch: make(chan *SeriesResponse, 16), done: make(chan struct{})}
	go func() {
		defer close(s.done)
		defer close(s.ch)
		s.err = c.srv.Series(in, &inProcessServerStream{s: s})
	}()
	return s, nil
}

// inProcessStream is the client end of an in-process Series call.
type inProcessStream struct {
	grpc.ClientStream

	ctx    context.Context
	cancel context.CancelFunc
	ch     chan *SeriesResponse
	done   chan struct{}
	err    error // set by the server goroutine before done is closed
}

func (s *inProcessStream) Recv() (*SeriesResponse, error) {
	select {
	case r, ok := <-s.ch:
		if ok {
			return r, nil
		}
		<-s.done
		s.cancel()
		if s.err != nil {
			return nil, s.err
		}
		return nil, io.EOF
	case <-s.ctx.Done():
		return nil, s.ctx.Err()
	}
}

func (s *inProcessStream) Header() (metadata.MD, error) { return nil, nil }
func (s *inProcessStream) Trailer() metadata.MD         { return nil }
func (s *inProcessStream) CloseSend() error             { return nil }
func (s *inProcessStream) Context() context.Context     { return s.ctx }

// inProcessServerStream is the server end of an in-process Series call.
type inProcessServerStream struct {
	grpc.ServerStream
	s *inProcessStream
}

func (ss *inProcessServerStream) Send(r *SeriesResponse) error {
	select {
	case ss.s.ch <- r:
		return nil
	case <-ss.s.ctx.Done():
		return ss.s.ctx.Err()
	}
}

func (ss *inProcessServerStream) Context() context.Context     { return ss.s.ctx }
func (ss *inProcessServerStream) SetHeader(metadata.MD) error  { return nil }
func (ss *inProcessServerStream) SendHeader(metadata.MD) error { return nil }
func (ss *inProcessServerStream) SetTrailer(metadata.MD)       {}
