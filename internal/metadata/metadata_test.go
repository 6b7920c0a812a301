package metadata

import (
	"context"
	"errors"
	"io"
	"testing"

	"github.com/prometheus/common/model"
	"github.com/prometheus/prometheus/model/metadata"
	"github.com/stretchr/testify/require"
	"google.golang.org/grpc"

	"github.com/strata-io/strata/pkg/metadatapb"
)

type fakeClient struct {
	name string
	resp []*metadatapb.MetricMetadataResponse
	err  error
	got  *metadatapb.MetricMetadataRequest
}

func (c *fakeClient) String() string { return c.name }

func (c *fakeClient) MetricMetadata(_ context.Context, in *metadatapb.MetricMetadataRequest, _ ...grpc.CallOption) (grpc.ServerStreamingClient[metadatapb.MetricMetadataResponse], error) {
	c.got = in
	if c.err != nil {
		return nil, c.err
	}
	return &fakeStream{resp: c.resp}, nil
}

type fakeStream struct {
	grpc.ClientStream
	resp []*metadatapb.MetricMetadataResponse
}

func (s *fakeStream) Recv() (*metadatapb.MetricMetadataResponse, error) {
	if len(s.resp) == 0 {
		return nil, io.EOF
	}
	r := s.resp[0]
	s.resp = s.resp[1:]
	return r, nil
}

func mdResp(name, typ, help string) *metadatapb.MetricMetadataResponse {
	return &metadatapb.MetricMetadataResponse{Result: &metadatapb.MetricMetadataResponse_Metadata{
		Metadata: &metadatapb.MetricMetadata{Metadata: map[string]*metadatapb.MetricMetadataEntry{
			name: {Metas: []*metadatapb.Meta{{Type: typ, Help: help}}},
		}},
	}}
}

func TestFanoutMergesAndDeduplicates(t *testing.T) {
	a := &fakeClient{name: "a", resp: []*metadatapb.MetricMetadataResponse{
		mdResp("up", "gauge", "Target up."),
		mdResp("http_requests_total", "counter", "Requests."),
	}}
	b := &fakeClient{name: "b", resp: []*metadatapb.MetricMetadataResponse{
		mdResp("up", "gauge", "Target up."), // same as a's: shown once
		mdResp("up", "gauge", "Other help."),
	}}
	f := NewFanout(func() []Client { return []Client{a, b} }, true)

	got, warns, err := f.MetricMetadata(context.Background(), "", -1)
	require.NoError(t, err)
	require.Empty(t, warns)
	require.Equal(t, map[string][]metadata.Metadata{
		"up": {
			{Type: model.MetricTypeGauge, Help: "Target up."},
			{Type: model.MetricTypeGauge, Help: "Other help."},
		},
		"http_requests_total": {{Type: model.MetricTypeCounter, Help: "Requests."}},
	}, got)
	require.Equal(t, int32(-1), a.got.GetLimit())

	got, _, err = f.MetricMetadata(context.Background(), "", 1)
	require.NoError(t, err)
	require.Len(t, got, 1, "limit caps the number of metrics")
	require.Contains(t, got, "http_requests_total", "the first metrics by name are kept")
}

func TestFanoutPartialResponse(t *testing.T) {
	ok := &fakeClient{name: "ok", resp: []*metadatapb.MetricMetadataResponse{mdResp("up", "gauge", "")}}
	down := &fakeClient{name: "10.0.0.1:10901", err: errors.New("connection refused")}

	f := NewFanout(func() []Client { return []Client{ok, down} }, true)
	got, warns, err := f.MetricMetadata(context.Background(), "up", -1)
	require.NoError(t, err)
	require.Len(t, got, 1)
	require.Len(t, warns, 1)
	ws, _ := warns.AsStrings("", 0, 0)
	require.Contains(t, ws[0], "10.0.0.1:10901")

	f = NewFanout(func() []Client { return []Client{ok, down} }, false)
	_, _, err = f.MetricMetadata(context.Background(), "up", -1)
	require.ErrorContains(t, err, "10.0.0.1:10901")
}
