// Package writepb is the receiver-to-receiver write service of the
// StoreAPI family: `thanos.WriteableStore/RemoteWrite`, by which a router
// forwards the replicas of a remote write to the ingestors that own them
// (shared/spec/storeapi.md). The time series are Prometheus' own remote
// write 1.0 messages (prompb.TimeSeries); the request around them is
// encoded here by hand, field for field, so that Strata and upstream
// receivers can forward to each other.
//
// The messages implement the vtprotobuf methods that storepb.Codec uses.
package writepb

import (
	"context"
	"errors"
	"fmt"

	"github.com/prometheus/prometheus/prompb"
	"google.golang.org/grpc"
	"google.golang.org/protobuf/encoding/protowire"
)

// Field numbers of WriteRequest and its TenantData.
const (
	fieldTimeseries = 1
	fieldTenant     = 2
	fieldReplica    = 3
	fieldTenantData = 4

	fieldDataTimeseries = 1
	fieldDataTenant     = 2
)

// WriteRequest is thanos.WriteRequest: the series of one tenant, or of
// several tenants in TenantData, forwarded as replica Replica.
type WriteRequest struct {
	// Timeseries are the series of Tenant.
	Timeseries []prompb.TimeSeries
	// Tenant owns Timeseries.
	Tenant string
	// Replica is the index of the replica the request carries. A node
	// that receives a forwarded request stores it and never forwards it.
	Replica int64
	// TenantData holds the series of further tenants (upstream's batched
	// form); Strata decodes it and sends one tenant per request.
	TenantData []TenantData
}

// TenantData is the series of one tenant in a batched WriteRequest.
type TenantData struct {
	Timeseries []prompb.TimeSeries
	Tenant     string
}

// WriteResponse is thanos.WriteResponse, which is empty.
type WriteResponse struct{}

// SizeVT returns the encoded size of m.
func (m *WriteRequest) SizeVT() int {
	n := seriesSize(fieldTimeseries, m.Timeseries)
	if m.Tenant != "" {
		n += protowire.SizeTag(fieldTenant) + protowire.SizeBytes(len(m.Tenant))
	}
	if m.Replica != 0 {
		n += protowire.SizeTag(fieldReplica) + protowire.SizeVarint(uint64(m.Replica))
	}
	for i := range m.TenantData {
		n += protowire.SizeTag(fieldTenantData) + protowire.SizeBytes(m.TenantData[i].size())
	}
	return n
}

func (d *TenantData) size() int {
	n := seriesSize(fieldDataTimeseries, d.Timeseries)
	if d.Tenant != "" {
		n += protowire.SizeTag(fieldDataTenant) + protowire.SizeBytes(len(d.Tenant))
	}
	return n
}

func seriesSize(field protowire.Number, series []prompb.TimeSeries) int {
	n := 0
	for i := range series {
		n += protowire.SizeTag(field) + protowire.SizeBytes(series[i].Size())
	}
	return n
}

// MarshalVT encodes m.
func (m *WriteRequest) MarshalVT() ([]byte, error) {
	b := make([]byte, m.SizeVT())
	n, err := m.MarshalToSizedBufferVT(b)
	return b[:n], err
}

// MarshalToSizedBufferVT encodes m into dAtA, which holds exactly
// SizeVT bytes, and returns the number of bytes written.
func (m *WriteRequest) MarshalToSizedBufferVT(dAtA []byte) (int, error) {
	b, err := appendSeries(dAtA[:0], fieldTimeseries, m.Timeseries)
	if err != nil {
		return 0, err
	}
	if m.Tenant != "" {
		b = protowire.AppendTag(b, fieldTenant, protowire.BytesType)
		b = protowire.AppendString(b, m.Tenant)
	}
	if m.Replica != 0 {
		b = protowire.AppendTag(b, fieldReplica, protowire.VarintType)
		b = protowire.AppendVarint(b, uint64(m.Replica))
	}
	for i := range m.TenantData {
		d := &m.TenantData[i]
		b = protowire.AppendTag(b, fieldTenantData, protowire.BytesType)
		b = protowire.AppendVarint(b, uint64(d.size()))
		if b, err = appendSeries(b, fieldDataTimeseries, d.Timeseries); err != nil {
			return 0, err
		}
		if d.Tenant != "" {
			b = protowire.AppendTag(b, fieldDataTenant, protowire.BytesType)
			b = protowire.AppendString(b, d.Tenant)
		}
	}
	if len(b) != len(dAtA) {
		return 0, fmt.Errorf("marshal WriteRequest: wrote %d bytes, sized %d", len(b), len(dAtA))
	}
	return len(b), nil
}

// appendSeries appends each series as a length-delimited field. b has the
// capacity for them (it is a sized buffer), so nothing is reallocated.
func appendSeries(b []byte, field protowire.Number, series []prompb.TimeSeries) ([]byte, error) {
	for i := range series {
		sz := series[i].Size()
		b = protowire.AppendTag(b, field, protowire.BytesType)
		b = protowire.AppendVarint(b, uint64(sz))
		if len(b)+sz > cap(b) {
			return nil, errors.New("marshal WriteRequest: buffer smaller than SizeVT")
		}
		if _, err := series[i].MarshalToSizedBuffer(b[len(b) : len(b)+sz]); err != nil {
			return nil, fmt.Errorf("marshal series %d: %w", i, err)
		}
		b = b[:len(b)+sz]
	}
	return b, nil
}

// UnmarshalVT decodes dAtA into m. Unknown fields are skipped.
func (m *WriteRequest) UnmarshalVT(dAtA []byte) error {
	*m = WriteRequest{}
	return eachField(dAtA, func(num protowire.Number, typ protowire.Type, v []byte, x uint64) error {
		switch {
		case num == fieldTimeseries && typ == protowire.BytesType:
			return appendDecoded(&m.Timeseries, v)
		case num == fieldTenant && typ == protowire.BytesType:
			m.Tenant = string(v)
		case num == fieldReplica && typ == protowire.VarintType:
			m.Replica = int64(x)
		case num == fieldTenantData && typ == protowire.BytesType:
			var d TenantData
			if err := eachField(v, func(num protowire.Number, typ protowire.Type, v []byte, _ uint64) error {
				switch {
				case num == fieldDataTimeseries && typ == protowire.BytesType:
					return appendDecoded(&d.Timeseries, v)
				case num == fieldDataTenant && typ == protowire.BytesType:
					d.Tenant = string(v)
				}
				return nil
			}); err != nil {
				return fmt.Errorf("timeseries_tenant_data: %w", err)
			}
			m.TenantData = append(m.TenantData, d)
		}
		return nil
	})
}

func appendDecoded(dst *[]prompb.TimeSeries, v []byte) error {
	var ts prompb.TimeSeries
	if err := ts.Unmarshal(v); err != nil {
		return fmt.Errorf("timeseries %d: %w", len(*dst), err)
	}
	*dst = append(*dst, ts)
	return nil
}

// eachField calls fn for every field of a message: v is the payload of a
// length-delimited field, x the value of a varint.
func eachField(b []byte, fn func(num protowire.Number, typ protowire.Type, v []byte, x uint64) error) error {
	for len(b) > 0 {
		num, typ, n := protowire.ConsumeTag(b)
		if n < 0 {
			return fmt.Errorf("malformed tag: %w", protowire.ParseError(n))
		}
		b = b[n:]
		var (
			v []byte
			x uint64
		)
		switch typ {
		case protowire.BytesType:
			v, n = protowire.ConsumeBytes(b)
		case protowire.VarintType:
			x, n = protowire.ConsumeVarint(b)
		default:
			n = protowire.ConsumeFieldValue(num, typ, b)
		}
		if n < 0 {
			return fmt.Errorf("field %d: %w", num, protowire.ParseError(n))
		}
		b = b[n:]
		if err := fn(num, typ, v, x); err != nil {
			return err
		}
	}
	return nil
}

// SizeVT returns 0: WriteResponse has no fields.
func (m *WriteResponse) SizeVT() int { return 0 }

// MarshalToSizedBufferVT writes nothing.
func (m *WriteResponse) MarshalToSizedBufferVT([]byte) (int, error) { return 0, nil }

// UnmarshalVT skips every field: WriteResponse has none.
func (m *WriteResponse) UnmarshalVT(dAtA []byte) error {
	return eachField(dAtA, func(protowire.Number, protowire.Type, []byte, uint64) error { return nil })
}

// ServiceName is the gRPC service's full name.
const ServiceName = "thanos.WriteableStore"

// remoteWriteMethod is the full method name of RemoteWrite.
const remoteWriteMethod = "/" + ServiceName + "/RemoteWrite"

// WriteableStoreServer stores forwarded writes.
type WriteableStoreServer interface {
	RemoteWrite(context.Context, *WriteRequest) (*WriteResponse, error)
}

// RegisterWriteableStoreServer registers srv on s.
func RegisterWriteableStoreServer(s grpc.ServiceRegistrar, srv WriteableStoreServer) {
	s.RegisterService(&grpc.ServiceDesc{
		ServiceName: ServiceName,
		HandlerType: (*WriteableStoreServer)(nil),
		Methods: []grpc.MethodDesc{{
			MethodName: "RemoteWrite",
			Handler: func(srv any, ctx context.Context, dec func(any) error, interceptor grpc.UnaryServerInterceptor) (any, error) {
				in := new(WriteRequest)
				if err := dec(in); err != nil {
					return nil, err
				}
				if interceptor == nil {
					return srv.(WriteableStoreServer).RemoteWrite(ctx, in)
				}
				info := &grpc.UnaryServerInfo{Server: srv, FullMethod: remoteWriteMethod}
				return interceptor(ctx, in, info, func(ctx context.Context, req any) (any, error) {
					return srv.(WriteableStoreServer).RemoteWrite(ctx, req.(*WriteRequest))
				})
			},
		}},
		Metadata: "thanos/rpc.proto",
	}, srv)
}

// WriteableStoreClient forwards writes to a receiver.
type WriteableStoreClient interface {
	RemoteWrite(ctx context.Context, in *WriteRequest, opts ...grpc.CallOption) (*WriteResponse, error)
}

// NewWriteableStoreClient returns a client calling over cc.
func NewWriteableStoreClient(cc grpc.ClientConnInterface) WriteableStoreClient {
	return client{cc: cc}
}

type client struct{ cc grpc.ClientConnInterface }

func (c client) RemoteWrite(ctx context.Context, in *WriteRequest, opts ...grpc.CallOption) (*WriteResponse, error) {
	out := new(WriteResponse)
	if err := c.cc.Invoke(ctx, remoteWriteMethod, in, out, opts...); err != nil {
		return nil, err
	}
	return out, nil
}
