// Package grpcsnappy registers a gRPC compressor named "snappy": the
// snappy framing format (github.com/golang/snappy's stream format), which
// is what upstream receivers use to compress forwarded writes
// (--receive.grpc-compression=snappy). Importing the package registers it;
// gRPC keeps compressors in a process-wide registry, so there is no other
// way to add one.
package grpcsnappy

import (
	"io"
	"sync"

	"github.com/golang/snappy"
	"google.golang.org/grpc/encoding"
)

// Name is the compressor's name in grpc-encoding headers and in
// grpc.UseCompressor.
const Name = "snappy"

func init() {
	encoding.RegisterCompressor(newCompressor())
}

// compressor pools writers (Close ends their use). Readers are not
// pooled: gRPC gives no signal that it is done with one.
type compressor struct {
	writers sync.Pool
}

func newCompressor() *compressor {
	c := &compressor{}
	c.writers.New = func() any { return &writer{Writer: snappy.NewBufferedWriter(nil), pool: &c.writers} }
	return c
}

func (c *compressor) Name() string { return Name }

func (c *compressor) Compress(w io.Writer) (io.WriteCloser, error) {
	sw := c.writers.Get().(*writer)
	sw.Reset(w)
	return sw, nil
}

func (c *compressor) Decompress(r io.Reader) (io.Reader, error) {
	return snappy.NewReader(r), nil
}

// writer returns itself to the pool when closed.
type writer struct {
	*snappy.Writer
	pool *sync.Pool
}

func (w *writer) Close() error {
	defer w.pool.Put(w)
	return w.Writer.Close()
}
