package querier

import (
	"encoding/json"
	"net/http"
	"net/http/httptest"
	"net/url"
	"slices"
	"strconv"
	"testing"
	"time"

	"github.com/prometheus/prometheus/model/labels"
	"github.com/prometheus/prometheus/storage"
	"github.com/prometheus/prometheus/tsdb/chunks"
	"github.com/prometheus/prometheus/util/teststorage"
	"github.com/stretchr/testify/require"

	"github.com/strata-io/strata/internal/store"
	"github.com/strata-io/strata/internal/store/storetest"
	"github.com/strata-io/strata/internal/store/tsdbstore"
	"github.com/strata-io/strata/internal/testkit"
)

// newTenantsStore serves, from an in-memory TSDB, up{job=<job>,tenant_id=<t>}
// with value v for every (tenant, job, v) of series, every 15s over the
// last 10 minutes before now.
func newTenantsStore(t *testing.T, ext labels.Labels, now time.Time, series ...[3]string) *tsdbstore.Store {
	t.Helper()
	ts := teststorage.New(t)
	t.Cleanup(func() { require.NoError(t, ts.Close()) })
	var all []storage.Series
	for _, s := range series {
		v, err := strconv.ParseFloat(s[2], 64)
		require.NoError(t, err)
		var samples []chunks.Sample
		for at := now.Add(-10 * time.Minute); !at.After(now); at = at.Add(15 * time.Second) {
			samples = append(samples, testkit.Sample{Time: at.UnixMilli(), Value: v})
		}
		lset := labels.FromStrings("__name__", "up", "job", s[1])
		if s[0] != "" {
			lset = labels.FromStrings("__name__", "up", "job", s[1], "tenant_id", s[0])
		}
		all = append(all, storage.NewListSeries(lset, samples))
	}
	require.NoError(t, storetest.AppendSeries(t.Context(), ts.DB, all))
	return tsdbstore.New(ts.DB, tsdbstore.Config{ExternalLabels: ext, ComponentType: "receive"}, nil)
}

// tenantQuerier returns the mux of a querier given args over two stores:
// one holding team-a's, team-b's and the default tenant's series, the
// other a receiver of team-b (tenant_id is its external label).
func tenantQuerier(t *testing.T, now time.Time, args ...string) http.Handler {
	t.Helper()
	shared := store.NewLocalClient("shared", newTenantsStore(t, labels.EmptyLabels(), now,
		[3]string{"team-a", "api", "1"}, [3]string{"team-b", "api", "2"}, [3]string{"default-tenant", "api", "3"}))
	teamB := store.NewLocalClient("team-b", newTenantsStore(t, labels.FromStrings("tenant_id", "team-b"), now,
		[3]string{"", "db", "4"}))
	q, err := New(parse(t, args...), Deps{Stores: []store.Client{shared, teamB}})
	require.NoError(t, err)
	t.Cleanup(func() { require.NoError(t, q.Close()) })
	mux := http.NewServeMux()
	q.Register(mux, nil)
	return mux
}

type apiAnswer struct {
	Status    string          `json:"status"`
	ErrorType string          `json:"errorType"`
	Error     string          `json:"error"`
	Data      json.RawMessage `json:"data"`
}

// call sends a GET to path with params, as tenant (no header when "").
func call(t *testing.T, mux http.Handler, tenant, path string, params url.Values) (int, apiAnswer) {
	t.Helper()
	req := httptest.NewRequest(http.MethodGet, path+"?"+params.Encode(), nil)
	if tenant != "" {
		req.Header.Set("THANOS-TENANT", tenant)
	}
	rec := httptest.NewRecorder()
	mux.ServeHTTP(rec, req)
	var out apiAnswer
	require.NoError(t, json.Unmarshal(rec.Body.Bytes(), &out), rec.Body.String())
	return rec.Code, out
}

// seen returns, sorted, the "tenant/job" of every series of a query,
// query_range or series answer.
func seen(t *testing.T, mux http.Handler, tenant, path string, params url.Values) []string {
	t.Helper()
	code, out := call(t, mux, tenant, path, params)
	require.Equal(t, http.StatusOK, code, out.Error)
	var metrics []map[string]string
	if path == "/api/v1/series" {
		require.NoError(t, json.Unmarshal(out.Data, &metrics))
	} else {
		var d struct {
			Result []struct {
				Metric map[string]string `json:"metric"`
			} `json:"result"`
		}
		require.NoError(t, json.Unmarshal(out.Data, &d))
		for _, r := range d.Result {
			metrics = append(metrics, r.Metric)
		}
	}
	got := []string{}
	for _, m := range metrics {
		got = append(got, m["tenant_id"]+"/"+m["job"])
	}
	slices.Sort(got)
	return got
}

// strs returns the string list of a labels or label values answer.
func strs(t *testing.T, mux http.Handler, tenant, path string, params url.Values) []string {
	t.Helper()
	code, out := call(t, mux, tenant, path, params)
	require.Equal(t, http.StatusOK, code, out.Error)
	var got []string
	require.NoError(t, json.Unmarshal(out.Data, &got))
	return got
}

// With --query.enforce-tenancy every API answers the request's tenant's
// series only, whether the tenant label is a series label or a store's
// external label.
func TestEnforceTenancy(t *testing.T) {
	now := time.Now().Truncate(time.Second)
	mux := tenantQuerier(t, now, "--query.enforce-tenancy")
	at := strconv.FormatInt(now.Unix(), 10)
	instant := func(q string) url.Values { return url.Values{"query": {q}, "time": {at}} }
	ranged := url.Values{"query": {"up"}, "start": {strconv.FormatInt(now.Add(-5*time.Minute).Unix(), 10)}, "end": {at}, "step": {"60"}}

	for tenant, want := range map[string][]string{
		"team-a": {"team-a/api"},
		"team-b": {"team-b/api", "team-b/db"},
		"":       {"default-tenant/api"}, // no header: the default tenant
	} {
		require.Equal(t, want, seen(t, mux, tenant, "/api/v1/query", instant("up")), "query as %q", tenant)
		require.Equal(t, want, seen(t, mux, tenant, "/api/v1/query_range", ranged), "query_range as %q", tenant)
		require.Equal(t, want, seen(t, mux, tenant, "/api/v1/series", url.Values{"match[]": {"up"}}), "series as %q", tenant)
		require.Equal(t, want, seen(t, mux, tenant, "/api/v1/query", instant(`max_over_time(up[5m:1m] offset 1m) or sum by (tenant_id, job) (rate(up[5m] @ `+at+`))`)),
			"subqueries, functions, aggregations, @ and offset as %q", tenant)
	}

	require.Empty(t, seen(t, mux, "team-a", "/api/v1/query", instant(`up{tenant_id="team-b"}`)), "another tenant named explicitly")
	require.Empty(t, seen(t, mux, "team-a", "/api/v1/query", instant(`{tenant_id=~"team-.*",job="db"}`)))
	require.Empty(t, seen(t, mux, "team-a", "/api/v1/series", url.Values{"match[]": {`{tenant_id="team-b"}`}}))
	require.Equal(t, []string{"team-a/api"}, seen(t, mux, "team-a", "/api/v1/series", url.Values{"match[]": {`up{job="api"}`, `up{job="db"}`}}))

	require.Equal(t, []string{"team-a"}, strs(t, mux, "team-a", "/api/v1/label/tenant_id/values", nil), "label values without match[]")
	require.Equal(t, []string{"api", "db"}, strs(t, mux, "team-b", "/api/v1/label/job/values", nil))
	require.Equal(t, []string{"api"}, strs(t, mux, "team-a", "/api/v1/label/job/values", url.Values{"match[]": {"up"}}))
	require.Empty(t, strs(t, mux, "team-a", "/api/v1/label/job/values", url.Values{"match[]": {`up{tenant_id="team-b"}`}}))
	require.Equal(t, []string{"__name__", "job", "tenant_id"}, strs(t, mux, "team-a", "/api/v1/labels", nil))
	require.Empty(t, strs(t, mux, "team-a", "/api/v1/labels", url.Values{"match[]": {`{job="db"}`}}), "team-b's db job is not team-a's")

	for _, bad := range []string{"a/b", "..", " "} {
		for _, path := range []string{"/api/v1/query", "/api/v1/query_range", "/api/v1/series", "/api/v1/labels", "/api/v1/label/job/values", "/api/v1/metadata"} {
			params := url.Values{"query": {"up"}, "match[]": {"up"}, "start": {strconv.FormatInt(now.Add(-time.Hour).Unix(), 10)}, "end": {at}, "step": {"60"}}
			code, out := call(t, mux, bad, path, params)
			require.Equal(t, http.StatusBadRequest, code, "%s as %q", path, bad)
			require.Equal(t, "bad_data", out.ErrorType)
			require.Contains(t, out.Error, "THANOS-TENANT", "the error names the header to fix")
		}
	}
}

// Without --query.enforce-tenancy the tenant header changes nothing.
func TestTenancyNotEnforced(t *testing.T) {
	now := time.Now().Truncate(time.Second)
	mux := tenantQuerier(t, now)
	at := strconv.FormatInt(now.Unix(), 10)
	all := []string{"default-tenant/api", "team-a/api", "team-b/api", "team-b/db"}
	for _, tenant := range []string{"", "team-a", "a/b"} {
		require.Equal(t, all, seen(t, mux, tenant, "/api/v1/query", url.Values{"query": {"up"}, "time": {at}}))
		require.Equal(t, all, seen(t, mux, tenant, "/api/v1/series", url.Values{"match[]": {"up"}}))
		require.Equal(t, []string{"default-tenant", "team-a", "team-b"}, strs(t, mux, tenant, "/api/v1/label/tenant_id/values", nil))
	}
	require.Equal(t, []string{"team-b/api", "team-b/db"}, seen(t, mux, "team-a", "/api/v1/query", url.Values{"query": {`up{tenant_id="team-b"}`}, "time": {at}}))
}

// The tenant is read from the header and label the flags name.
func TestTenancyFlags(t *testing.T) {
	cfg := parse(t)
	require.Equal(t, "THANOS-TENANT", cfg.API.Tenancy.Header)
	require.Equal(t, "default-tenant", cfg.API.Tenancy.DefaultTenant)
	require.Equal(t, "tenant_id", cfg.API.Tenancy.LabelName)
	require.False(t, cfg.API.Tenancy.Enforce)

	now := time.Now().Truncate(time.Second)
	mux := tenantQuerier(t, now, "--query.enforce-tenancy", "--query.tenant-header=X-Scope-OrgID", "--query.default-tenant-id=team-b", "--query.tenant-label-name=tenant_id")
	at := strconv.FormatInt(now.Unix(), 10)
	req := httptest.NewRequest(http.MethodGet, "/api/v1/query?"+url.Values{"query": {"up"}, "time": {at}}.Encode(), nil)
	req.Header.Set("X-Scope-OrgID", "team-a")
	rec := httptest.NewRecorder()
	mux.ServeHTTP(rec, req)
	require.Equal(t, http.StatusOK, rec.Code)
	require.Contains(t, rec.Body.String(), `"team-a"`)
	require.NotContains(t, rec.Body.String(), `"team-b"`)
	require.Equal(t, []string{"team-b/api", "team-b/db"}, seen(t, mux, "ignored-header", "/api/v1/query", url.Values{"query": {"up"}, "time": {at}}),
		"THANOS-TENANT is not the header any more: the default tenant applies")

	for _, args := range [][]string{{"--query.tenant-label-name="}, {"--query.tenant-label-name=__name__"}, {"--query.default-tenant-id=a/b"}, {"--query.tenant-header=a b"}} {
		_, err := New(parse(t, args...), Deps{})
		require.Error(t, err, args)
	}
}
