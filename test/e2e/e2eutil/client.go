package e2eutil

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"maps"
	"math"
	"net/http"
	"net/url"
	"slices"
	"sort"
	"strconv"
	"strings"
	"time"
)

// Client speaks the Prometheus HTTP API v1 (of Prometheus or a Strata
// querier) with plain net/http. Safe for concurrent use.
type Client struct {
	BaseURL string // e.g. http://127.0.0.1:10902
	HTTP    *http.Client
}

// NewClient returns a client with a 30s request timeout.
func NewClient(baseURL string) *Client {
	return &Client{BaseURL: baseURL, HTTP: &http.Client{Timeout: 30 * time.Second, Transport: &http.Transport{}}}
}

// Close releases idle connections.
func (c *Client) Close() { c.HTTP.CloseIdleConnections() }

// Response is the API envelope.
type Response struct {
	HTTPStatus int             `json:"-"`
	Status     string          `json:"status"`
	Data       json.RawMessage `json:"data"`
	ErrorType  string          `json:"errorType"`
	Error      string          `json:"error"`
	Warnings   []string        `json:"warnings"`
	Infos      []string        `json:"infos"`
}

// Err returns nil for a successful response, otherwise an error with the
// HTTP status and the API error.
func (r *Response) Err() error {
	if r.Status == "success" && r.HTTPStatus/100 == 2 {
		return nil
	}
	return fmt.Errorf("HTTP %d, status %q, %s: %s", r.HTTPStatus, r.Status, r.ErrorType, r.Error)
}

// Get calls GET BaseURL+path?params and decodes the envelope. The error is
// only for transport and decoding failures; API errors are in the Response.
func (c *Client) Get(ctx context.Context, path string, params url.Values) (_ *Response, err error) {
	u := c.BaseURL + path
	if len(params) > 0 {
		u += "?" + params.Encode()
	}
	req, err := http.NewRequestWithContext(ctx, http.MethodGet, u, nil)
	if err != nil {
		return nil, err
	}
	resp, err := c.HTTP.Do(req)
	if err != nil {
		return nil, fmt.Errorf("GET %s: %w", u, err)
	}
	defer func() { err = errors.Join(err, resp.Body.Close()) }()
	body, err := io.ReadAll(resp.Body)
	if err != nil {
		return nil, fmt.Errorf("read body of GET %s: %w", u, err)
	}
	r := &Response{HTTPStatus: resp.StatusCode}
	if err := json.Unmarshal(body, r); err != nil {
		return r, fmt.Errorf("GET %s: HTTP %d, body is not API JSON (%w): %.300s", u, resp.StatusCode, err, body)
	}
	return r, nil
}

// Status returns the HTTP status code of GET BaseURL+path (for probes).
func (c *Client) Status(ctx context.Context, path string) (int, error) {
	req, err := http.NewRequestWithContext(ctx, http.MethodGet, c.BaseURL+path, nil)
	if err != nil {
		return 0, err
	}
	resp, err := c.HTTP.Do(req)
	if err != nil {
		return 0, err
	}
	_, _ = io.Copy(io.Discard, resp.Body)
	_ = resp.Body.Close()
	return resp.StatusCode, nil
}

// Point is one [timestamp, "value"] pair; T in milliseconds.
type Point struct {
	T int64
	V string
}

// UnmarshalJSON decodes [1700000000.123, "1.5"].
func (p *Point) UnmarshalJSON(b []byte) error {
	var raw [2]json.RawMessage
	if err := json.Unmarshal(b, &raw); err != nil {
		return fmt.Errorf("decode point %s: %w", b, err)
	}
	var ts json.Number
	if err := json.Unmarshal(raw[0], &ts); err != nil {
		return fmt.Errorf("decode point timestamp %s: %w", raw[0], err)
	}
	f, err := strconv.ParseFloat(ts.String(), 64)
	if err != nil {
		return fmt.Errorf("decode point timestamp %s: %w", raw[0], err)
	}
	p.T = int64(f*1000 + 0.5)
	return json.Unmarshal(raw[1], &p.V)
}

// Float returns the value as a float64 (NaN for an unparsable value).
func (p Point) Float() float64 {
	f, err := strconv.ParseFloat(p.V, 64)
	if err != nil {
		return math.NaN()
	}
	return f
}

// Series is one element of a vector or matrix result.
type Series struct {
	Metric map[string]string `json:"metric"`
	Value  *Point            `json:"value,omitempty"`  // vector
	Values []Point           `json:"values,omitempty"` // matrix
}

// Key renders the labels as {a="1", b="2"}, sorted, for comparisons.
func (s Series) Key() string { return LabelsKey(s.Metric) }

// LabelsKey renders a label map as {a="1", b="2"} with sorted names.
func LabelsKey(m map[string]string) string {
	var b strings.Builder
	b.WriteByte('{')
	for i, k := range slices.Sorted(maps.Keys(m)) {
		if i > 0 {
			b.WriteString(", ")
		}
		fmt.Fprintf(&b, "%s=%q", k, m[k])
	}
	b.WriteByte('}')
	return b.String()
}

// QueryData is the data of a query or query_range response.
type QueryData struct {
	ResultType string   `json:"resultType"`
	Result     []Series `json:"result"`
}

// Sorted returns the result sorted by labels.
func (d QueryData) Sorted() []Series {
	out := slices.Clone(d.Result)
	sort.Slice(out, func(i, j int) bool { return out[i].Key() < out[j].Key() })
	return out
}

// Query runs an instant query at t (zero t: server time) with optional extra
// parameters (dedup, partial_response, ...).
func (c *Client) Query(ctx context.Context, q string, t time.Time, extra url.Values) (QueryData, *Response, error) {
	p := cloneValues(extra)
	p.Set("query", q)
	if !t.IsZero() {
		p.Set("time", FormatTime(t))
	}
	return c.decodeQuery(ctx, "/api/v1/query", p)
}

// QueryRange runs a range query over [start, end] (inclusive) at step.
func (c *Client) QueryRange(ctx context.Context, q string, start, end time.Time, step time.Duration, extra url.Values) (QueryData, *Response, error) {
	p := cloneValues(extra)
	p.Set("query", q)
	p.Set("start", FormatTime(start))
	p.Set("end", FormatTime(end))
	p.Set("step", strconv.FormatFloat(step.Seconds(), 'f', -1, 64))
	return c.decodeQuery(ctx, "/api/v1/query_range", p)
}

func (c *Client) decodeQuery(ctx context.Context, path string, p url.Values) (QueryData, *Response, error) {
	var d QueryData
	r, err := c.Get(ctx, path, p)
	if err != nil {
		return d, r, err
	}
	if err := r.Err(); err != nil {
		return d, r, fmt.Errorf("%s %s: %w", path, p.Get("query"), err)
	}
	if err := json.Unmarshal(r.Data, &d); err != nil {
		return d, r, fmt.Errorf("decode %s data: %w", path, err)
	}
	return d, r, nil
}

// Series calls /api/v1/series for the matchers over [start, end].
func (c *Client) Series(ctx context.Context, matchers []string, start, end time.Time, extra url.Values) ([]map[string]string, error) {
	p := cloneValues(extra)
	p["match[]"] = matchers
	setRange(p, start, end)
	var out []map[string]string
	return out, c.getData(ctx, "/api/v1/series", p, &out)
}

// Labels calls /api/v1/labels over [start, end].
func (c *Client) Labels(ctx context.Context, start, end time.Time, extra url.Values) ([]string, error) {
	p := cloneValues(extra)
	setRange(p, start, end)
	var out []string
	return out, c.getData(ctx, "/api/v1/labels", p, &out)
}

// LabelValues calls /api/v1/label/<name>/values over [start, end].
func (c *Client) LabelValues(ctx context.Context, name string, start, end time.Time, extra url.Values) ([]string, error) {
	p := cloneValues(extra)
	setRange(p, start, end)
	var out []string
	return out, c.getData(ctx, "/api/v1/label/"+url.PathEscape(name)+"/values", p, &out)
}

// StoreStatus is one entry of /api/v1/stores.
type StoreStatus struct {
	Name      string              `json:"name"`
	LastCheck string              `json:"lastCheck"`
	LastError *string             `json:"lastError"`
	LabelSets []map[string]string `json:"labelSets"`
	MinTime   int64               `json:"minTime"`
	MaxTime   int64               `json:"maxTime"`
}

// Stores calls /api/v1/stores: store type -> endpoints.
func (c *Client) Stores(ctx context.Context) (map[string][]StoreStatus, error) {
	var out map[string][]StoreStatus
	return out, c.getData(ctx, "/api/v1/stores", nil, &out)
}

func (c *Client) getData(ctx context.Context, path string, p url.Values, into any) error {
	r, err := c.Get(ctx, path, p)
	if err != nil {
		return err
	}
	if err := r.Err(); err != nil {
		return fmt.Errorf("%s: %w", path, err)
	}
	if err := json.Unmarshal(r.Data, into); err != nil {
		return fmt.Errorf("decode %s data %.200s: %w", path, r.Data, err)
	}
	return nil
}

// FormatTime renders t as Unix seconds with millisecond precision.
func FormatTime(t time.Time) string {
	return strconv.FormatFloat(float64(t.UnixMilli())/1000, 'f', 3, 64)
}

func setRange(p url.Values, start, end time.Time) {
	if !start.IsZero() {
		p.Set("start", FormatTime(start))
	}
	if !end.IsZero() {
		p.Set("end", FormatTime(end))
	}
}

func cloneValues(v url.Values) url.Values {
	out := url.Values{}
	for k, vs := range v {
		out[k] = slices.Clone(vs)
	}
	return out
}
