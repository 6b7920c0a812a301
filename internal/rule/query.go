package rule

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"net"
	"net/http"
	"net/url"
	"strconv"
	"strings"
	"sync/atomic"
	"time"

	"github.com/prometheus/client_golang/prometheus"
	"github.com/prometheus/client_golang/prometheus/promauto"
	"github.com/prometheus/common/model"
	"github.com/prometheus/prometheus/model/labels"
	"github.com/prometheus/prometheus/promql"
)

// maxErrorBody bounds the part of an error response kept in the error.
const maxErrorBody = 512

// Querier evaluates instant queries against one or more Prometheus
// compatible HTTP APIs (a strata query, a Prometheus), taking them in turn
// and falling over to the next when one fails. It is safe for concurrent
// use.
type Querier struct {
	urls     []*url.URL
	dns      *discovery
	client   *http.Client
	logger   *slog.Logger
	next     atomic.Uint64
	failures *prometheus.CounterVec
	warnings *prometheus.CounterVec
}

// NewQuerier returns a Querier over the base URLs (http://host:port, with
// an optional path prefix). A nil client is http.DefaultClient; a nil
// logger discards. strata_rule_evaluation_failures_total is registered on
// reg when it is not nil.
func NewQuerier(urls []*url.URL, client *http.Client, logger *slog.Logger, reg prometheus.Registerer) (*Querier, error) {
	if len(urls) == 0 {
		return nil, errors.New("no query API: give --query=http://<strata query>:<port>")
	}
	for _, u := range urls {
		if _, err := discovered(u); err != nil {
			return nil, err
		}
	}
	if client == nil {
		client = http.DefaultClient
	}
	if logger == nil {
		logger = slog.New(slog.DiscardHandler)
	}
	q := &Querier{
		urls:   urls,
		dns:    &discovery{resolver: net.DefaultResolver, now: time.Now, cache: map[string][]*url.URL{}, fetched: map[string]time.Time{}},
		client: client,
		logger: logger,
		failures: promauto.With(reg).NewCounterVec(prometheus.CounterOpts{
			Name: "strata_rule_evaluation_failures_total",
			Help: "Rule evaluations whose query failed on every query API, by partial response strategy.",
		}, []string{"strategy"}),
		warnings: promauto.With(reg).NewCounterVec(prometheus.CounterOpts{
			Name: "strata_rule_evaluation_with_warnings_total",
			Help: "Rule evaluations whose query answered with warnings (with partial_response_strategy warn: over part of the data), by partial response strategy.",
		}, []string{"strategy"}),
	}
	for _, s := range []Strategy{Abort, Warn} {
		q.failures.WithLabelValues(string(s))
		q.warnings.WithLabelValues(string(s))
	}
	return q, nil
}

// Query runs the instant query qs at t with the strategy's partial
// response setting, trying each query API once, starting with the next
// in turn. Its error, counted and logged, is the last API's.
func (q *Querier) Query(ctx context.Context, qs string, t time.Time, st Strategy) (promql.Vector, error) {
	var (
		urls []*url.URL
		errs []error
	)
	for _, u := range q.urls {
		expanded, err := q.dns.expand(ctx, u)
		if err != nil {
			errs = append(errs, err)
			continue
		}
		urls = append(urls, expanded...)
	}
	start := q.next.Add(1) - 1
	for i := range urls {
		u := urls[(start+uint64(i))%uint64(len(urls))]
		v, warnings, err := q.query(ctx, u, qs, t, st)
		if err == nil {
			if len(warnings) > 0 {
				q.warnings.WithLabelValues(string(st)).Inc()
				q.logger.Warn("rule query answered with warnings", "query", qs, "url", u.Redacted(), "warnings", strings.Join(warnings, "; "))
			}
			return v, nil
		}
		errs = append(errs, fmt.Errorf("%s: %w", u.Redacted(), err))
		if ctx.Err() != nil {
			break
		}
	}
	q.failures.WithLabelValues(string(st)).Inc()
	err := errors.Join(errs...)
	q.logger.Warn("rule evaluation failed", "query", qs, "strategy", string(st), "err", err)
	return nil, err
}

// apiResponse is the envelope of the Prometheus HTTP API.
type apiResponse struct {
	Status    string          `json:"status"`
	Data      json.RawMessage `json:"data"`
	ErrorType string          `json:"errorType"`
	Error     string          `json:"error"`
	Warnings  []string        `json:"warnings"`
}

// queryData is the data of an instant query.
type queryData struct {
	ResultType string          `json:"resultType"`
	Result     json.RawMessage `json:"result"`
}

// query runs one instant query against one API.
func (q *Querier) query(ctx context.Context, base *url.URL, qs string, t time.Time, st Strategy) (promql.Vector, []string, error) {
	form := url.Values{
		"query":            {qs},
		"time":             {strconv.FormatFloat(float64(t.UnixMilli())/1000, 'f', -1, 64)},
		"partial_response": {strconv.FormatBool(st == Warn)},
	}
	u := base.JoinPath("/api/v1/query")
	req, err := http.NewRequestWithContext(ctx, http.MethodPost, u.String(), strings.NewReader(form.Encode()))
	if err != nil {
		return nil, nil, err
	}
	req.Header.Set("Content-Type", "application/x-www-form-urlencoded")
	resp, err := q.client.Do(req)
	if err != nil {
		return nil, nil, err
	}
	defer func() { _ = resp.Body.Close() }()
	body, err := io.ReadAll(resp.Body)
	if err != nil {
		return nil, nil, fmt.Errorf("read response: %w", err)
	}
	var r apiResponse
	if err := json.Unmarshal(body, &r); err != nil {
		if len(body) > maxErrorBody {
			body = body[:maxErrorBody]
		}
		return nil, nil, fmt.Errorf("HTTP %d: not a query API answer: %q", resp.StatusCode, body)
	}
	if r.Status != "success" {
		return nil, nil, fmt.Errorf("HTTP %d: %s: %s", resp.StatusCode, r.ErrorType, r.Error)
	}
	v, err := decodeResult(r.Data)
	return v, r.Warnings, err
}

// decodeResult turns the data of an instant query into a vector: a
// scalar becomes one sample without labels, as Prometheus' own rules do.
func decodeResult(data json.RawMessage) (promql.Vector, error) {
	var d queryData
	if err := json.Unmarshal(data, &d); err != nil {
		return nil, fmt.Errorf("decode query data: %w", err)
	}
	switch d.ResultType {
	case "vector":
		var in model.Vector
		if err := json.Unmarshal(d.Result, &in); err != nil {
			return nil, fmt.Errorf("decode vector: %w", err)
		}
		out := make(promql.Vector, 0, len(in))
		for _, s := range in {
			b := labels.NewScratchBuilder(len(s.Metric))
			for n, v := range s.Metric {
				b.Add(string(n), string(v))
			}
			b.Sort()
			smp := promql.Sample{Metric: b.Labels(), T: int64(s.Timestamp), F: float64(s.Value)}
			if s.Histogram != nil {
				h, err := histogramFromJSON(s.Histogram)
				if err != nil {
					return nil, fmt.Errorf("series %s: %w", s.Metric, err)
				}
				smp.F, smp.H = 0, h
			}
			out = append(out, smp)
		}
		return out, nil
	case "scalar":
		var s model.Scalar
		if err := json.Unmarshal(d.Result, &s); err != nil {
			return nil, fmt.Errorf("decode scalar: %w", err)
		}
		return promql.Vector{{Metric: labels.EmptyLabels(), T: int64(s.Timestamp), F: float64(s.Value)}}, nil
	default:
		return nil, fmt.Errorf("query result is a %s, not a vector or scalar", d.ResultType)
	}
}
