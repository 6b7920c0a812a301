package benchutil

import (
	"context"
	"fmt"
	"net/http"

	"github.com/prometheus/common/expfmt"
	"github.com/prometheus/common/model"
)

// MetricSample is one sample of a scraped metric.
type MetricSample struct {
	Labels map[string]string
	Value  float64
}

// MetricsPage holds a scraped /metrics page: the samples of counters,
// gauges and untyped metrics by metric name.
type MetricsPage map[string][]MetricSample

// Sum sums the samples of name whose labels include all of want (nil: all
// samples). It is 0 when there is none.
func (p MetricsPage) Sum(name string, want map[string]string) float64 {
	var sum float64
next:
	for _, s := range p[name] {
		for k, v := range want {
			if s.Labels[k] != v {
				continue next
			}
		}
		sum += s.Value
	}
	return sum
}

// By sums the samples of name by the value of label.
func (p MetricsPage) By(name, label string) map[string]float64 {
	out := map[string]float64{}
	for _, s := range p[name] {
		out[s.Labels[label]] += s.Value
	}
	return out
}

// Scrape reads a /metrics page in the Prometheus text format. Summaries
// and histograms are left out.
func Scrape(ctx context.Context, client *http.Client, url string) (MetricsPage, error) {
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
	page := MetricsPage{}
	for name, mf := range fams {
		for _, m := range mf.GetMetric() {
			s := MetricSample{Labels: map[string]string{}}
			for _, lp := range m.GetLabel() {
				s.Labels[lp.GetName()] = lp.GetValue()
			}
			switch {
			case m.GetCounter() != nil:
				s.Value = m.GetCounter().GetValue()
			case m.GetGauge() != nil:
				s.Value = m.GetGauge().GetValue()
			case m.GetUntyped() != nil:
				s.Value = m.GetUntyped().GetValue()
			default:
				continue
			}
			page[name] = append(page[name], s)
		}
	}
	return page, nil
}
