package promstore

import (
	"context"
	"math"
	"net/http"
	"net/http/httptest"
	"net/url"
	"testing"

	"github.com/prometheus/prometheus/model/labels"
	"github.com/stretchr/testify/require"
	"google.golang.org/grpc/codes"
	"google.golang.org/grpc/status"

	"github.com/strata-io/strata/internal/store"
	"github.com/strata-io/strata/pkg/storepb"
)

func TestSelector(t *testing.T) {
	for _, tc := range []struct {
		in, want string
	}{
		{in: `{job="api"}`, want: `{job="api"}`},
		{in: `{job=~"a|b",instance!="x\"y\\z"}`, want: `{job=~"a|b",instance!="x\"y\\z"}`},
		{in: `{job=""}`, want: `{job="",__name__=~".+"}`},
		{in: `{"service.name"="checkout"}`, want: `{"service.name"="checkout"}`},
	} {
		t.Run(tc.in, func(t *testing.T) {
			got := selector(mustSelector(t, tc.in))
			require.Equal(t, tc.want, got)
			_ = mustSelector(t, got) // Prometheus parses what we send.
		})
	}
	require.Equal(t, `{__name__=~".+"}`, selector(nil))
}

func TestAPITime(t *testing.T) {
	require.Equal(t, "1700000000.123", apiTime(1700000000123))
	require.Equal(t, "-1.500", apiTime(-1500))
	require.Empty(t, apiTime(math.MinInt64), "unbounded start is left out")
	require.Empty(t, apiTime(math.MaxInt64), "unbounded end is left out")
}

// A Prometheus that answers with errors: the store passes a gRPC error
// with a code the proxy can act on and the URL to look at.
func TestPrometheusErrors(t *testing.T) {
	for _, tc := range []struct {
		name   string
		status int
		ctype  string
		want   codes.Code
	}{
		{name: "bad request", status: http.StatusBadRequest, want: codes.InvalidArgument},
		{name: "overloaded", status: http.StatusServiceUnavailable, want: codes.Unavailable},
		{name: "internal", status: http.StatusInternalServerError, want: codes.Internal},
		{name: "sampled answer instead of streamed chunks", status: http.StatusOK, ctype: "application/x-protobuf", want: codes.Unimplemented},
	} {
		t.Run(tc.name, func(t *testing.T) {
			fp := newFakeProm(t, extLabels, fakePromOptions{})
			mux := http.NewServeMux()
			mux.Handle("/", fp.handler)
			mux.HandleFunc("/api/v1/read", func(w http.ResponseWriter, _ *http.Request) {
				if tc.ctype != "" {
					w.Header().Set("Content-Type", tc.ctype)
				}
				w.WriteHeader(tc.status)
				_, _ = w.Write([]byte("remote read refused"))
			})
			srv := httptest.NewServer(mux)
			defer srv.Close()
			u, err := url.Parse(srv.URL)
			require.NoError(t, err)

			cfg := DefaultConfig()
			cfg.URL = u
			s, err := New(cfg, srv.Client(), nil, nil)
			require.NoError(t, err)
			require.NoError(t, s.CheckPrometheus(context.Background()))
			_, err = series(t, storepb.ServerAsClient(s), &storepb.SeriesRequest{MaxTime: 10, Matchers: []*storepb.LabelMatcher{eqMatcher("job", "x")}})
			require.Equal(t, tc.want, status.Code(err), "%v", err)
			require.ErrorContains(t, err, srv.URL)
		})
	}
}

func TestSplitMatchers(t *testing.T) {
	ext := labels.FromStrings("cluster", "eu1", "replica", "a")
	rest, ok := store.SplitMatchers(ext, mustSelector(t, `{cluster=~"eu.*",replica!="b",job="x"}`))
	require.True(t, ok)
	require.Equal(t, `{job="x"}`, selector(rest))
	_, ok = store.SplitMatchers(ext, mustSelector(t, `{cluster!~"eu.*",job="x"}`))
	require.False(t, ok)
}
