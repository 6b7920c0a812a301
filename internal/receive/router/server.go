package router

import (
	"context"
	"net/http"

	"github.com/prometheus/prometheus/prompb"

	"github.com/strata-io/strata/internal/receive/remotewrite"
	"github.com/strata-io/strata/pkg/writepb"
)

// Server stores writes forwarded by other nodes (Strata's or upstream's
// routers) on this node: thanos.WriteableStore. It never forwards them
// again, whatever their replica number.
type Server struct {
	dec   *remotewrite.Decoder
	local Appender
}

// NewServer returns a Server checking forwarded series with dec (the same
// checks a sender's request gets) and storing them with local.
func NewServer(dec *remotewrite.Decoder, local Appender) *Server {
	return &Server{dec: dec, local: local}
}

// RemoteWrite implements writepb.WriteableStoreServer.
func (s *Server) RemoteWrite(ctx context.Context, req *writepb.WriteRequest) (*writepb.WriteResponse, error) {
	if err := s.store(ctx, req.Tenant, req.Timeseries); err != nil {
		return nil, err
	}
	for i := range req.TenantData {
		if err := s.store(ctx, req.TenantData[i].Tenant, req.TenantData[i].Timeseries); err != nil {
			return nil, err
		}
	}
	return &writepb.WriteResponse{}, nil
}

func (s *Server) store(ctx context.Context, tenant string, series []prompb.TimeSeries) error {
	if len(series) == 0 {
		return nil
	}
	r, err := s.dec.FromProto(tenant, series)
	if err != nil {
		return toGRPC(&Error{Status: http.StatusBadRequest, Err: err})
	}
	if _, err := s.local.Append(ctx, r.Tenant, r.Series); err != nil {
		return toGRPC(err)
	}
	return nil
}
