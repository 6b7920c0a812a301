package promstore

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"math"
	"net/http"
	"net/url"
	"strconv"
	"strings"
	"time"

	"github.com/prometheus/common/expfmt"
	"github.com/prometheus/common/model"
	"github.com/prometheus/prometheus/model/labels"
	"go.yaml.in/yaml/v2"
	"google.golang.org/grpc/codes"
	"google.golang.org/grpc/status"
)

// apiResponse is the envelope of every Prometheus HTTP API v1 answer.
type apiResponse struct {
	Status    string          `json:"status"`
	Data      json.RawMessage `json:"data"`
	ErrorType string          `json:"errorType"`
	Error     string          `json:"error"`
}

// get sends a GET to path (relative to the base URL) with the query
// parameters and decodes the data of the API answer into out.
func (s *Store) get(ctx context.Context, api, path string, params url.Values, out any) (err error) {
	start := time.Now()
	defer func() { s.observe(api, start, err) }()

	u := s.base + path
	if len(params) > 0 {
		u += "?" + params.Encode()
	}
	req, err := http.NewRequestWithContext(ctx, http.MethodGet, u, nil)
	if err != nil {
		return status.Errorf(codes.Internal, "build request to %s: %v", u, err)
	}
	resp, err := s.client.Do(req)
	if err != nil {
		return s.transportError(ctx, err)
	}
	defer func() { _ = resp.Body.Close() }()
	body, err := io.ReadAll(resp.Body)
	if err != nil {
		return s.transportError(ctx, err)
	}
	var ar apiResponse
	if jerr := json.Unmarshal(body, &ar); jerr != nil || ar.Status == "" {
		return httpStatusError(s.cfg.URL, path, resp.StatusCode, string(body))
	}
	if ar.Status != "success" {
		return httpStatusError(s.cfg.URL, path, resp.StatusCode, ar.ErrorType+": "+ar.Error)
	}
	if err := json.Unmarshal(ar.Data, out); err != nil {
		return status.Errorf(codes.Internal, "prometheus at %s: decode answer of %s: %v", s.cfg.URL, path, err)
	}
	return nil
}

// transportError turns an error to reach Prometheus into a gRPC error:
// the caller's cancellation as such, anything else as Unavailable.
func (s *Store) transportError(ctx context.Context, err error) error {
	if ctx.Err() != nil {
		if errors.Is(ctx.Err(), context.DeadlineExceeded) {
			return status.Errorf(codes.DeadlineExceeded, "prometheus at %s: %v", s.cfg.URL, err)
		}
		return status.Errorf(codes.Canceled, "prometheus at %s: %v", s.cfg.URL, err)
	}
	return status.Errorf(codes.Unavailable, "prometheus at %s unreachable: %v", s.cfg.URL, err)
}

// httpStatusError maps a non-success answer of Prometheus to a gRPC error.
func httpStatusError(u *url.URL, path string, code int, msg string) error {
	msg = strings.TrimSpace(msg)
	if len(msg) > 512 {
		msg = msg[:512] + "..."
	}
	c := codes.Internal
	switch code {
	case http.StatusBadRequest, http.StatusUnprocessableEntity:
		c = codes.InvalidArgument
	case http.StatusServiceUnavailable, http.StatusBadGateway, http.StatusGatewayTimeout:
		c = codes.Unavailable
	case http.StatusTooManyRequests:
		c = codes.ResourceExhausted
	}
	return status.Errorf(c, "prometheus at %s: %s answered HTTP %d: %s", u, path, code, msg)
}

// fetchExternalLabels reads global.external_labels from the configuration
// Prometheus runs with. The result is sorted, possibly empty.
func (s *Store) fetchExternalLabels(ctx context.Context) (labels.Labels, error) {
	var data struct {
		YAML string `json:"yaml"`
	}
	if err := s.get(ctx, "config", "/api/v1/status/config", nil, &data); err != nil {
		return labels.EmptyLabels(), err
	}
	var cfg struct {
		Global struct {
			ExternalLabels map[string]string `yaml:"external_labels"`
		} `yaml:"global"`
	}
	if err := yaml.Unmarshal([]byte(data.YAML), &cfg); err != nil {
		return labels.EmptyLabels(), fmt.Errorf("prometheus at %s: parse its configuration: %w", s.cfg.URL, err)
	}
	return labels.FromMap(cfg.Global.ExternalLabels), nil
}

// fetchMinTime reads the gauge prometheus_tsdb_lowest_timestamp (ms) from
// Prometheus' own /metrics. It returns math.MinInt64 when the gauge is absent
// or the TSDB is empty: announcing too wide a range is never wrong.
func (s *Store) fetchMinTime(ctx context.Context) (mint int64, err error) {
	start := time.Now()
	defer func() { s.observe("metrics", start, err) }()

	req, err := http.NewRequestWithContext(ctx, http.MethodGet, s.base+"/metrics", nil)
	if err != nil {
		return 0, err
	}
	// Ask for the text format: the parser below reads only that.
	req.Header.Set("Accept", "text/plain;version=0.0.4")
	resp, err := s.client.Do(req)
	if err != nil {
		return 0, s.transportError(ctx, err)
	}
	defer func() { _ = resp.Body.Close() }()
	if resp.StatusCode != http.StatusOK {
		body, _ := io.ReadAll(io.LimitReader(resp.Body, 512))
		return 0, httpStatusError(s.cfg.URL, "/metrics", resp.StatusCode, string(body))
	}
	p := expfmt.NewTextParser(model.UTF8Validation)
	mfs, err := p.TextToMetricFamilies(resp.Body)
	if err != nil {
		return 0, fmt.Errorf("prometheus at %s: parse /metrics: %w", s.cfg.URL, err)
	}
	mf, ok := mfs["prometheus_tsdb_lowest_timestamp"]
	if !ok || len(mf.GetMetric()) == 0 || mf.GetMetric()[0].GetGauge() == nil {
		return math.MinInt64, nil
	}
	v := mf.GetMetric()[0].GetGauge().GetValue()
	// An empty TSDB reports math.MaxInt64; anything past the far future is
	// as good as unknown.
	if math.IsNaN(v) || v >= float64(time.Now().Add(24*time.Hour).UnixMilli()) {
		return math.MinInt64, nil
	}
	return int64(v), nil
}

// apiTime formats a ms timestamp as the seconds Prometheus' API reads, or ""
// when it is outside what the API can represent (then the parameter is left
// out, meaning unbounded).
func apiTime(ms int64) string {
	const (
		minAPI = -62135596800000 // 0001-01-01
		maxAPI = 253402300799000 // 9999-12-31
	)
	if ms <= minAPI || ms >= maxAPI {
		return ""
	}
	return strconv.FormatFloat(float64(ms)/1000, 'f', 3, 64)
}

// timeParams sets start and end (ms, inclusive) on params when bounded.
func timeParams(params url.Values, start, end int64) {
	if v := apiTime(start); v != "" {
		params.Set("start", v)
	}
	if v := apiTime(end); v != "" && end >= start {
		params.Set("end", v)
	}
}

// selector renders matchers as a PromQL series selector. Prometheus rejects
// selectors whose matchers all match the empty string: one on __name__ is
// added then, which every real series satisfies.
func selector(ms []*labels.Matcher) string {
	var b strings.Builder
	b.WriteByte('{')
	allEmpty := true
	for i, m := range ms {
		if i > 0 {
			b.WriteByte(',')
		}
		b.WriteString(m.String())
		if !m.Matches("") {
			allEmpty = false
		}
	}
	if allEmpty {
		if len(ms) > 0 {
			b.WriteByte(',')
		}
		b.WriteString(`__name__=~".+"`)
	}
	b.WriteByte('}')
	return b.String()
}
