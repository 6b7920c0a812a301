package api

import (
	"context"
	"errors"
	"net/http"
	"net/http/httptest"
	"net/url"
	"testing"
	"time"

	"github.com/prometheus/prometheus/model/labels"
	"github.com/prometheus/prometheus/storage"
	"github.com/prometheus/prometheus/util/annotations"
	"github.com/stretchr/testify/require"
)

func TestErrors(t *testing.T) {
	cfg := DefaultConfig()
	for _, tc := range []struct {
		name     string
		path     string
		params   url.Values
		q        storage.Queryable
		cfg      func(*Config)
		ctx      func() context.Context
		wantCode int
		wantType string
		wantErr  string
	}{
		{
			name: "malformed promql", path: "/api/v1/query",
			params:   url.Values{"query": {"sum(up"}},
			wantCode: 400, wantType: "bad_data",
			wantErr: `invalid parameter "query": 1:7: parse error: unclosed left parenthesis`,
		},
		{
			name: "empty query", path: "/api/v1/query",
			params:   url.Values{},
			wantCode: 400, wantType: "bad_data",
			wantErr: `invalid parameter "query": unknown position: parse error: no expression found in input`,
		},
		{
			name: "bad time", path: "/api/v1/query",
			params:   url.Values{"query": {"up"}, "time": {"yesterday"}},
			wantCode: 400, wantType: "bad_data",
			wantErr: `invalid parameter "time": invalid time value for 'time': cannot parse "yesterday" to a valid timestamp`,
		},
		{
			name: "bad timeout", path: "/api/v1/query",
			params:   url.Values{"query": {"up"}, "timeout": {"soon"}},
			wantCode: 400, wantType: "bad_data",
			wantErr: `invalid parameter "timeout": cannot parse "soon" to a valid duration`,
		},
		{
			name: "bad lookback_delta", path: "/api/v1/query",
			params:   url.Values{"query": {"up"}, "lookback_delta": {"x"}},
			wantCode: 400, wantType: "bad_data",
			wantErr: `error parsing lookback delta duration: cannot parse "x" to a valid duration`,
		},
		{
			name: "bad limit", path: "/api/v1/query",
			params:   url.Values{"query": {"up"}, "limit": {"-1"}},
			wantCode: 400, wantType: "bad_data",
			wantErr: `invalid parameter "limit": limit must be non-negative`,
		},
		{
			name: "end before start", path: "/api/v1/query_range",
			params:   url.Values{"query": {"up"}, "start": {"10"}, "end": {"5"}, "step": {"1"}},
			wantCode: 400, wantType: "bad_data",
			wantErr: `invalid parameter "end": end timestamp must not be before start time`,
		},
		{
			name: "missing start", path: "/api/v1/query_range",
			params:   url.Values{"query": {"up"}, "end": {"5"}, "step": {"1"}},
			wantCode: 400, wantType: "bad_data",
			wantErr: `invalid parameter "start": cannot parse "" to a valid timestamp`,
		},
		{
			name: "zero step", path: "/api/v1/query_range",
			params:   url.Values{"query": {"up"}, "start": {"0"}, "end": {"5"}, "step": {"0"}},
			wantCode: 400, wantType: "bad_data",
			wantErr: `invalid parameter "step": zero or negative query resolution step widths are not accepted. Try a positive integer`,
		},
		{
			name: "bad step", path: "/api/v1/query_range",
			params:   url.Values{"query": {"up"}, "start": {"0"}, "end": {"5"}, "step": {"often"}},
			wantCode: 400, wantType: "bad_data",
			wantErr: `invalid parameter "step": cannot parse "often" to a valid duration`,
		},
		{
			name: "too many points", path: "/api/v1/query_range",
			params:   url.Values{"query": {"up"}, "start": {"0"}, "end": {"11001"}, "step": {"1"}},
			wantCode: 400, wantType: "bad_data",
			wantErr: `exceeded maximum resolution of 11,000 points per timeseries. Try decreasing the query resolution (?step=XX)`,
		},
		{
			name: "bad dedup", path: "/api/v1/query",
			params:   url.Values{"query": {"up"}, "dedup": {"maybe"}},
			wantCode: 400, wantType: "bad_data",
			wantErr: `'dedup' parameter: strconv.ParseBool: parsing "maybe": invalid syntax`,
		},
		{
			name: "bad partial_response", path: "/api/v1/series",
			params:   url.Values{"match[]": {"up"}, "partial_response": {"maybe"}},
			wantCode: 400, wantType: "bad_data",
			wantErr: `'partial_response' parameter: strconv.ParseBool: parsing "maybe": invalid syntax`,
		},
		{
			name: "bad storeMatch", path: "/api/v1/query",
			params:   url.Values{"query": {"up"}, "storeMatch[]": {"{"}},
			wantCode: 400, wantType: "bad_data",
			wantErr: `invalid parameter "storeMatch[]": 1:2: parse error: unexpected end of input inside braces`,
		},
		{
			name: "negative max_source_resolution", path: "/api/v1/query",
			params:   url.Values{"query": {"up"}, "max_source_resolution": {"-300"}},
			wantCode: 400, wantType: "bad_data",
			wantErr: `negative 'max_source_resolution' is not accepted. Try a positive integer`,
		},
		{
			name: "series without match", path: "/api/v1/series",
			params:   url.Values{},
			wantCode: 400, wantType: "bad_data",
			wantErr: `no match[] parameter provided`,
		},
		{
			name: "series with empty matcher", path: "/api/v1/series",
			params:   url.Values{"match[]": {`{job=~".*"}`}},
			wantCode: 400, wantType: "bad_data",
			wantErr: `invalid parameter "match[]": match[] must contain at least one non-empty matcher`,
		},
		{
			name: "series bad start", path: "/api/v1/series",
			params:   url.Values{"match[]": {"up"}, "start": {"x"}},
			wantCode: 400, wantType: "bad_data",
			wantErr: `invalid parameter "start": invalid time value for 'start': cannot parse "x" to a valid timestamp`,
		},
		{
			name: "labels bad match", path: "/api/v1/labels",
			params:   url.Values{"match[]": {"up{"}},
			wantCode: 400, wantType: "bad_data",
			wantErr: `1:4: parse error: unexpected end of input inside braces`,
		},
		{
			name: "invalid label name", path: "/api/v1/label/" + url.PathEscape("a\xff") + "/values",
			wantCode: 400, wantType: "bad_data",
			wantErr: `invalid label name: "a\xff"`,
		},
		{
			name: "metadata bad limit", path: "/api/v1/metadata",
			params:   url.Values{"limit": {"x"}},
			wantCode: 400, wantType: "bad_data",
			wantErr: `limit must be a number`,
		},
		{
			name: "execution error", path: "/api/v1/query",
			params:   url.Values{"query": {"up"}},
			q:        failingQueryable{errors.New("store a: connection refused")},
			wantCode: 422, wantType: "execution",
			wantErr: `expanding series: store a: connection refused`,
		},
		{
			name: "series execution error", path: "/api/v1/series",
			params:   url.Values{"match[]": {"up"}},
			q:        failingQueryable{errors.New("store a: connection refused")},
			wantCode: 422, wantType: "execution",
			wantErr: `store a: connection refused`,
		},
		{
			name: "labels execution error", path: "/api/v1/labels",
			q:        failingQueryable{errors.New("store a: connection refused")},
			wantCode: 422, wantType: "execution",
			wantErr: `store a: connection refused`,
		},
		{
			name: "timeout", path: "/api/v1/query",
			params:   url.Values{"query": {"up"}, "timeout": {"1e-9"}},
			wantCode: 503, wantType: "timeout",
			wantErr: `query timed out in query execution`,
		},
		{
			name: "configured query timeout", path: "/api/v1/query_range",
			params:   url.Values{"query": {"up"}, "start": {"0"}, "end": {"120"}, "step": {"60"}},
			cfg:      func(c *Config) { c.QueryTimeout = time.Nanosecond },
			wantCode: 503, wantType: "timeout",
			wantErr: `query timed out in query execution`,
		},
		{
			name: "series timeout", path: "/api/v1/series",
			params:   url.Values{"match[]": {"up"}, "timeout": {"1e-9"}},
			wantCode: 503, wantType: "timeout",
			wantErr: `context deadline exceeded`,
		},
		{
			name: "unknown endpoint", path: "/api/v1/nope",
			wantCode: 404, wantType: "not_found",
			wantErr: `unknown API endpoint /api/v1/nope`,
		},
		{
			name: "canceled", path: "/api/v1/query",
			params: url.Values{"query": {"up"}},
			ctx: func() context.Context {
				ctx, cancel := context.WithCancel(context.Background())
				cancel()
				return ctx
			},
			wantCode: 499, wantType: "canceled",
			wantErr: `query was canceled in query execution`,
		},
	} {
		for _, m := range methods {
			t.Run(tc.name+"/"+m, func(t *testing.T) {
				c := cfg
				if tc.cfg != nil {
					tc.cfg(&c)
				}
				f := newFixture(t, c, tc.q, nil, nil)
				ctx := context.Background()
				if tc.ctx != nil {
					ctx = tc.ctx()
				}
				code, body := f.doCtx(t, ctx, m, tc.path, tc.params)
				require.Equal(t, tc.wantCode, code, body)
				got := struct {
					Status    string `json:"status"`
					ErrorType string `json:"errorType"`
					Error     string `json:"error"`
				}{}
				require.NoError(t, jsonUnmarshal(body, &got))
				require.Equal(t, "error", got.Status)
				require.Equal(t, tc.wantType, got.ErrorType)
				require.Equal(t, tc.wantErr, got.Error)
				require.NotContains(t, body, `"data"`)
			})
		}
	}
}

// storage warning, like a querier answering with partial response.
type warningQueryable struct {
	storage.Queryable
	warning error
}

func (w warningQueryable) Querier(mint, maxt int64) (storage.Querier, error) {
	q, err := w.Queryable.Querier(mint, maxt)
	if err != nil {
		return nil, err
	}
	return warningQuerier{Querier: q, warning: w.warning}, nil
}

type warningQuerier struct {
	storage.Querier
	warning error
}

func (w warningQuerier) Select(ctx context.Context, sortSeries bool, hints *storage.SelectHints, ms ...*labels.Matcher) storage.SeriesSet {
	return warningSet{SeriesSet: w.Querier.Select(ctx, sortSeries, hints, ms...), warning: w.warning}
}

func (w warningQuerier) LabelNames(ctx context.Context, hints *storage.LabelHints, ms ...*labels.Matcher) ([]string, annotations.Annotations, error) {
	names, ws, err := w.Querier.LabelNames(ctx, hints, ms...)
	return names, ws.Add(w.warning), err
}

func (w warningQuerier) LabelValues(ctx context.Context, name string, hints *storage.LabelHints, ms ...*labels.Matcher) ([]string, annotations.Annotations, error) {
	vals, ws, err := w.Querier.LabelValues(ctx, name, hints, ms...)
	return vals, ws.Add(w.warning), err
}

type warningSet struct {
	storage.SeriesSet
	warning error
}

func (w warningSet) Warnings() annotations.Annotations {
	ws := w.SeriesSet.Warnings()
	return ws.Add(w.warning)
}

// failingQueryable fails every Select and label call.
type failingQueryable struct{ err error }

func (f failingQueryable) Querier(int64, int64) (storage.Querier, error) {
	return failingQuerier(f), nil
}

type failingQuerier struct{ err error }

func (f failingQuerier) Select(context.Context, bool, *storage.SelectHints, ...*labels.Matcher) storage.SeriesSet {
	return storage.ErrSeriesSet(f.err)
}

func (f failingQuerier) LabelNames(context.Context, *storage.LabelHints, ...*labels.Matcher) ([]string, annotations.Annotations, error) {
	return nil, nil, f.err
}

func (f failingQuerier) LabelValues(context.Context, string, *storage.LabelHints, ...*labels.Matcher) ([]string, annotations.Annotations, error) {
	return nil, nil, f.err
}

func (failingQuerier) Close() error { return nil }

func TestStorageWarnings(t *testing.T) {
	q := warningQueryable{Queryable: newStorage(t), warning: errors.New("store b unavailable: partial response")}
	f := newFixture(t, DefaultConfig(), q, nil, nil)
	for _, tc := range []struct {
		path   string
		params url.Values
	}{
		{"/api/v1/query", url.Values{"query": {"up"}}},
		{"/api/v1/query_range", url.Values{"query": {"up"}, "start": {"0"}, "end": {"120"}, "step": {"60"}}},
		{"/api/v1/series", url.Values{"match[]": {"up"}}},
		{"/api/v1/labels", nil},
		{"/api/v1/label/job/values", nil},
	} {
		for _, m := range methods {
			t.Run(tc.path+"/"+m, func(t *testing.T) {
				code, body := f.do(t, m, tc.path, tc.params)
				require.Equal(t, http.StatusOK, code, body)
				require.Contains(t, body, `"warnings":["store b unavailable: partial response"]`)
			})
		}
	}
}

func TestEngineInfos(t *testing.T) {
	f := newFixture(t, DefaultConfig(), nil, nil, nil)
	// rate() over a gauge-like name is an info annotation in Prometheus 3.
	code, body := f.do(t, http.MethodGet, "/api/v1/query", url.Values{"query": {"rate(up[2m])"}, "time": {"120"}})
	require.Equal(t, http.StatusOK, code, body)
	require.Contains(t, body, `"infos":["PromQL info: metric might not be a counter, name does not end in _total/_sum/_count/_bucket: \"up\" (1:6)"]`)
}

func TestErrorTypeStatus(t *testing.T) {
	for typ, want := range map[errorType]int{
		errorBadData:     400,
		errorExec:        422,
		errorCanceled:    499,
		errorTimeout:     503,
		errorUnavailable: 503,
		errorInternal:    500,
		errorNotFound:    404,
	} {
		t.Run(string(typ), func(t *testing.T) {
			w := httptest.NewRecorder()
			New(DefaultConfig(), nil, nil, nil, nil, nil, nil).respondError(w, &apiError{typ, errors.New("boom")}, nil)
			require.Equal(t, want, w.Code)
			require.Equal(t, "application/json", w.Header().Get("Content-Type"))
			require.JSONEq(t, `{"status":"error","errorType":"`+string(typ)+`","error":"boom"}`, w.Body.String())
		})
	}
}
