package remotewrite

import (
	"github.com/prometheus/prometheus/model/labels"
	"github.com/prometheus/prometheus/prompb"
)

// FromProto converts series forwarded by another receiver (remote write
// 1.0 messages inside thanos.WriteRequest) into a request of tenant,
// checking them as Decode checks a sender's request: nothing forwarded is
// trusted more than what a sender sends.
func (d *Decoder) FromProto(tenant string, series []prompb.TimeSeries) (*Request, error) {
	if tenant == "" {
		tenant = d.cfg.DefaultTenant
	}
	if err := validTenant(tenant); err != nil {
		return nil, err
	}
	req := &Request{Version: V1, Tenant: tenant}
	c := converter{scheme: d.cfg.NameValidation}
	if err := c.fromV1(req, &prompb.WriteRequest{Timeseries: series}); err != nil {
		return nil, err
	}
	return req, nil
}

// ToProto converts series into remote write 1.0 messages for forwarding.
// What 1.0 has no field for is dropped: start timestamps and per-series
// metadata (2.0 only).
func ToProto(series []Series) []prompb.TimeSeries {
	out := make([]prompb.TimeSeries, len(series))
	for i := range series {
		s := &series[i]
		ts := &out[i]
		ts.Labels = make([]prompb.Label, 0, s.Labels.Len())
		s.Labels.Range(func(l labels.Label) {
			ts.Labels = append(ts.Labels, prompb.Label{Name: l.Name, Value: l.Value})
		})
		if len(s.Samples) > 0 {
			ts.Samples = make([]prompb.Sample, len(s.Samples))
			for j, sp := range s.Samples {
				ts.Samples[j] = prompb.Sample{Timestamp: sp.T, Value: sp.V}
			}
		}
		if len(s.Histograms) > 0 {
			ts.Histograms = make([]prompb.Histogram, len(s.Histograms))
			for j, h := range s.Histograms {
				if h.FH != nil {
					ts.Histograms[j] = prompb.FromFloatHistogram(h.T, h.FH)
				} else {
					ts.Histograms[j] = prompb.FromIntHistogram(h.T, h.H)
				}
			}
		}
		if len(s.Exemplars) > 0 {
			ts.Exemplars = make([]prompb.Exemplar, len(s.Exemplars))
			for j, e := range s.Exemplars {
				pe := prompb.Exemplar{Value: e.Value, Timestamp: e.Ts}
				e.Labels.Range(func(l labels.Label) {
					pe.Labels = append(pe.Labels, prompb.Label{Name: l.Name, Value: l.Value})
				})
				ts.Exemplars[j] = pe
			}
		}
	}
	return out
}
