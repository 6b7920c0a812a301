package api

import (
	"context"
	"errors"
	"net/http"
	"net/url"
	"testing"
	"time"

	"github.com/prometheus/common/model"
	"github.com/prometheus/prometheus/model/labels"
	"github.com/prometheus/prometheus/model/metadata"
	"github.com/prometheus/prometheus/util/annotations"
	"github.com/stretchr/testify/require"

	"github.com/strata-io/strata/internal/endpoint"
)

func TestMetadataEndpoints(t *testing.T) {
	f := newFixture(t, DefaultConfig(), nil, nil, nil)
	for _, tc := range []struct {
		name   string
		path   string
		params url.Values
		want   string
	}{
		{
			name:   "series",
			path:   "/api/v1/series",
			params: url.Values{"match[]": {"up"}},
			want:   `{"status":"success","data":[{"__name__":"up","instance":"x","job":"a"},{"__name__":"up","instance":"y","job":"a"}]}`,
		},
		{
			name:   "series of several selectors in a time range",
			path:   "/api/v1/series",
			params: url.Values{"match[]": {`up{instance="y"}`, "hist"}, "start": {"1970-01-01T00:00:00Z"}, "end": {"60"}},
			want:   `{"status":"success","data":[{"__name__":"hist","job":"b"},{"__name__":"up","instance":"y","job":"a"}]}`,
		},
		{
			name:   "series outside the time range",
			path:   "/api/v1/series",
			params: url.Values{"match[]": {"up"}, "start": {"1000"}},
			want:   `{"status":"success","data":[]}`,
		},
		{
			name:   "series limit",
			path:   "/api/v1/series",
			params: url.Values{"match[]": {"up"}, "limit": {"1"}},
			want:   `{"status":"success","data":[{"__name__":"up","instance":"x","job":"a"}],"warnings":["results truncated due to limit"]}`,
		},
		{
			name: "labels",
			path: "/api/v1/labels",
			want: `{"status":"success","data":["__name__","instance","job"]}`,
		},
		{
			name:   "labels of matched series",
			path:   "/api/v1/labels",
			params: url.Values{"match[]": {"hist"}},
			want:   `{"status":"success","data":["__name__","job"]}`,
		},
		{
			name:   "labels limit",
			path:   "/api/v1/labels",
			params: url.Values{"limit": {"2"}},
			want:   `{"status":"success","data":["__name__","instance"],"warnings":["results truncated due to limit"]}`,
		},
		{
			name: "label values",
			path: "/api/v1/label/job/values",
			want: `{"status":"success","data":["a","b"]}`,
		},
		{
			name: "metric names",
			path: "/api/v1/label/__name__/values",
			want: `{"status":"success","data":["hist","up"]}`,
		},
		{
			name:   "label values of several selectors",
			path:   "/api/v1/label/instance/values",
			params: url.Values{"match[]": {`up{instance="x"}`, `up{instance="y"}`}},
			want:   `{"status":"success","data":["x","y"]}`,
		},
		{
			name: "escaped label name",
			path: "/api/v1/label/U__job/values",
			want: `{"status":"success","data":["a","b"]}`,
		},
		{
			name: "unknown label",
			path: "/api/v1/label/nope/values",
			want: `{"status":"success","data":[]}`,
		},
	} {
		for _, m := range methods {
			t.Run(tc.name+"/"+m, func(t *testing.T) {
				code, body := f.do(t, m, tc.path, tc.params)
				require.Equal(t, http.StatusOK, code, body)
				require.Equal(t, tc.want, body)
			})
		}
	}
}

type fakeStores []endpoint.Status

func (f fakeStores) Status() []endpoint.Status { return f }

type fakeMetadata struct{}

func (fakeMetadata) MetricMetadata(_ context.Context, metric string, _ int) (map[string][]metadata.Metadata, annotations.Annotations, error) {
	all := map[string][]metadata.Metadata{
		"up":   {{Type: model.MetricTypeGauge, Help: "Target is up.", Unit: ""}},
		"hist": {{Type: model.MetricTypeHistogram, Help: "Latency.", Unit: "seconds"}},
	}
	if metric != "" {
		return map[string][]metadata.Metadata{metric: all[metric]}, nil, nil
	}
	var ws annotations.Annotations
	ws.Add(errors.New("store c: metadata unavailable"))
	return all, ws, nil
}

func TestStatusEndpoints(t *testing.T) {
	cfg := DefaultConfig()
	cfg.Flags = map[string]string{"query.timeout": "2m"}
	cfg.BuildInfo = BuildInfo{Version: "0.1.0", Revision: "abc", Branch: "main", BuildUser: "ci", BuildDate: "20261121", GoVersion: "go1.26.8"}
	check := time.Date(2026, 11, 21, 12, 0, 0, 0, time.UTC)
	stores := fakeStores{
		{Name: "store-2:10901", ComponentType: "store", MinTime: 0, MaxTime: 1000, LastCheck: check, Healthy: true},
		{Name: "sidecar-1:10901", ComponentType: "sidecar", LabelSets: []labels.Labels{labels.FromStrings("cluster", "eu", "replica", "0")}, MinTime: -1, MaxTime: 5, LastCheck: check, LastError: "rpc error: unavailable"},
		{Name: "store-1:10901", ComponentType: "store", MinTime: 0, MaxTime: 1000, LastCheck: check, Healthy: true},
	}
	f := newFixture(t, cfg, nil, stores, fakeMetadata{})
	empty := newFixture(t, DefaultConfig(), nil, nil, nil)
	for _, tc := range []struct {
		name   string
		f      *fixture
		path   string
		params url.Values
		want   string
	}{
		{
			name: "buildinfo", f: f, path: "/api/v1/status/buildinfo",
			want: `{"status":"success","data":{"version":"0.1.0","revision":"abc","branch":"main","buildUser":"ci","buildDate":"20261121","goVersion":"go1.26.8"}}`,
		},
		{
			name: "flags", f: f, path: "/api/v1/status/flags",
			want: `{"status":"success","data":{"query.timeout":"2m"}}`,
		},
		{
			name: "flags empty", f: empty, path: "/api/v1/status/flags",
			want: `{"status":"success","data":{}}`,
		},
		{
			name: "stores", f: f, path: "/api/v1/stores",
			want: `{"status":"success","data":{` +
				`"sidecar":[{"name":"sidecar-1:10901","lastCheck":"2026-11-21T12:00:00Z","lastError":"rpc error: unavailable","labelSets":[{"cluster":"eu","replica":"0"}],"minTime":-1,"maxTime":5}],` +
				`"store":[{"name":"store-1:10901","lastCheck":"2026-11-21T12:00:00Z","lastError":null,"labelSets":[],"minTime":0,"maxTime":1000},` +
				`{"name":"store-2:10901","lastCheck":"2026-11-21T12:00:00Z","lastError":null,"labelSets":[],"minTime":0,"maxTime":1000}]}}`,
		},
		{
			name: "stores empty", f: empty, path: "/api/v1/stores",
			want: `{"status":"success","data":{}}`,
		},
		{
			name: "metadata without fetcher", f: empty, path: "/api/v1/metadata",
			want: `{"status":"success","data":{}}`,
		},
		{
			name: "metadata", f: f, path: "/api/v1/metadata",
			want: `{"status":"success","data":{"hist":[{"type":"histogram","unit":"seconds","help":"Latency."}],"up":[{"type":"gauge","unit":"","help":"Target is up."}]},"warnings":["store c: metadata unavailable"]}`,
		},
		{
			name: "metadata of one metric", f: f, path: "/api/v1/metadata", params: url.Values{"metric": {"up"}},
			want: `{"status":"success","data":{"up":[{"type":"gauge","unit":"","help":"Target is up."}]}}`,
		},
		{
			name: "metadata limit", f: f, path: "/api/v1/metadata", params: url.Values{"limit": {"1"}},
			want: `{"status":"success","data":{"hist":[{"type":"histogram","unit":"seconds","help":"Latency."}]},"warnings":["store c: metadata unavailable"]}`,
		},
		{
			name: "exemplars", f: f, path: "/api/v1/query_exemplars", params: url.Values{"query": {"up"}},
			want: `{"status":"success","data":[]}`,
		},
		{
			name: "rules", f: f, path: "/api/v1/rules",
			want: `{"status":"success","data":{"groups":[]}}`,
		},
		{
			name: "alerts", f: f, path: "/api/v1/alerts",
			want: `{"status":"success","data":{"alerts":[]}}`,
		},
		{
			name: "targets", f: f, path: "/api/v1/targets",
			want: `{"status":"success","data":{"activeTargets":[],"droppedTargetCounts":{},"droppedTargets":[]}}`,
		},
		{
			name: "format_query", f: f, path: "/api/v1/format_query", params: url.Values{"query": {"sum by(job)(up)"}},
			want: `{"status":"success","data":"sum by (job) (up)"}`,
		},
	} {
		for _, m := range methods {
			t.Run(tc.name+"/"+m, func(t *testing.T) {
				code, body := tc.f.do(t, m, tc.path, tc.params)
				require.Equal(t, http.StatusOK, code, body)
				require.Equal(t, tc.want, body)
			})
		}
	}

	t.Run("runtimeinfo", func(t *testing.T) {
		code, body := f.do(t, http.MethodGet, "/api/v1/status/runtimeinfo", nil)
		require.Equal(t, http.StatusOK, code, body)
		var got struct {
			Status string `json:"status"`
			Data   struct {
				ServerTime time.Time `json:"serverTime"`
				GOMAXPROCS int       `json:"GOMAXPROCS"`
			} `json:"data"`
		}
		require.NoError(t, jsonUnmarshal(body, &got))
		require.Equal(t, "success", got.Status)
		require.Equal(t, time.Unix(120, 0).UTC(), got.Data.ServerTime)
		require.Positive(t, got.Data.GOMAXPROCS)
	})
}
