package main

import (
	"context"
	"fmt"
	"net/http"

	"github.com/prometheus/common/expfmt"
	"github.com/prometheus/common/model"
)

// metricsPage holds the counter, gauge and untyped samples of a /metrics
// page by metric name.
type metricsPage map[string][]metricSample

type metricSample struct {
	labels map[string]string
	value  float64
}

// value sums the samples of name whose labels include all of want.
func (p metricsPage) value(name string, want map[string]string) float64 {
	var sum float64
next:
	for _, s := range p[name] {
		for k, v := range want {
			if s.labels[k] != v {
				continue next
			}
		}
		sum += s.value
	}
	return sum
}

// scrape reads a /metrics page in the Prometheus text format.
func scrape(ctx context.Context, client *http.Client, url string) (metricsPage, error) {
	req, err := http.NewRequestWithContext(ctx, http.MethodGet, url, nil)
	if err != nil {
		return nil, err
	}
	req.Header.Set("Accept", "text/plain")
	resp, err := client.Do(req)
	if err != nil {
		return nil, fmt.Errorf("GET %s: %w", url, err)
	}
	defer func() { _ = resp.Body.Close() }()
	if resp.StatusCode != http.StatusOK {
		return nil, fmt.Errorf("GET %s: HTTP %d", url, resp.StatusCode)
	}
	parser := expfmt.NewTextParser(model.UTF8Validation)
	fams, err := parser.TextToMetricFamilies(resp.Body)
	if err != nil {
		return nil, fmt.Errorf("parse %s: %w", url, err)
	}
	page := metricsPage{}
	for name, mf := range fams {
		for _, m := range mf.GetMetric() {
			s := metricSample{labels: map[string]string{}}
			for _, lp := range m.GetLabel() {
				s.labels[lp.GetName()] = lp.GetValue()
			}
			switch {
			case m.GetCounter() != nil:
				s.value = m.GetCounter().GetValue()
			case m.GetGauge() != nil:
				s.value = m.GetGauge().GetValue()
			case m.GetUntyped() != nil:
				s.value = m.GetUntyped().GetValue()
			default:
				continue
			}
			page[name] = append(page[name], s)
		}
	}
	return page, nil
}
