package metadata

import (
	"google.golang.org/grpc"

	"github.com/strata-io/strata/pkg/metadatapb"
)

// Server serves a Fanout over the thanos.Metadata API, so that a querier
// that is another querier's endpoint passes its endpoints' metadata on.
type Server struct {
	metadatapb.UnimplementedMetadataServer
	fanout *Fanout
}

// NewServer returns a Metadata API server over f.
func NewServer(f *Fanout) *Server { return &Server{fanout: f} }

// MetricMetadata answers with one metadata frame, then one warning frame per
// endpoint that failed.
func (s *Server) MetricMetadata(req *metadatapb.MetricMetadataRequest, srv grpc.ServerStreamingServer[metadatapb.MetricMetadataResponse]) error {
	md, warns, err := s.fanout.MetricMetadata(srv.Context(), req.GetMetric(), int(req.GetLimit()))
	if err != nil {
		return err
	}
	out := &metadatapb.MetricMetadata{Metadata: make(map[string]*metadatapb.MetricMetadataEntry, len(md))}
	for name, metas := range md {
		e := &metadatapb.MetricMetadataEntry{}
		for _, m := range metas {
			e.Metas = append(e.Metas, &metadatapb.Meta{Type: string(m.Type), Help: m.Help, Unit: m.Unit})
		}
		out.Metadata[name] = e
	}
	if err := srv.Send(&metadatapb.MetricMetadataResponse{Result: &metadatapb.MetricMetadataResponse_Metadata{Metadata: out}}); err != nil {
		return err
	}
	for _, w := range warns {
		if err := srv.Send(&metadatapb.MetricMetadataResponse{Result: &metadatapb.MetricMetadataResponse_Warning{Warning: w.Error()}}); err != nil {
			return err
		}
	}
	return nil
}
