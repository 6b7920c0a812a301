package tenancy

import (
	"context"
	"net/http"
	"net/http/httptest"
	"testing"

	"github.com/prometheus/prometheus/model/labels"
	"github.com/prometheus/prometheus/promql/parser"
	"github.com/prometheus/prometheus/storage"
	"github.com/prometheus/prometheus/util/annotations"
	"github.com/stretchr/testify/require"
)

// Every selector of an expression gets the tenant matcher, wherever it is.
func TestEnforceExpr(t *testing.T) {
	m := DefaultConfig().Matcher("a")
	p := parser.NewParser(parser.Options{})
	for _, tc := range []struct{ in, want string }{
		{`up`, `up{tenant_id="a"}`},
		{`{job="api"}`, `{job="api",tenant_id="a"}`},
		{`up{tenant_id="b"}`, `up{tenant_id="a",tenant_id="b"}`},
		{`up{tenant_id="a"}`, `up{tenant_id="a"}`},
		{`up{tenant_id=~".+"}`, `up{tenant_id="a",tenant_id=~".+"}`},
		{`rate(http_requests_total[5m])`, `rate(http_requests_total{tenant_id="a"}[5m])`},
		{`sum by (job) (rate(x[1m])) / on (job) group_left count(y)`,
			`sum by (job) (rate(x{tenant_id="a"}[1m])) / on (job) group_left () count(y{tenant_id="a"})`},
		{`max_over_time(deriv(x[5m])[1h:1m])`, `max_over_time(deriv(x{tenant_id="a"}[5m])[1h:1m])`},
		{`x @ 100 offset 5m`, `x{tenant_id="a"} @ 100.000 offset 5m`},
		{`rate(x[5m] @ end() offset -1m)`, `rate(x{tenant_id="a"}[5m] @ end() offset -1m)`},
		{`(x + 1)[10m:] @ start()`, `(x{tenant_id="a"} + 1)[10m:] @ start()`},
		{`label_replace(x, "d", "$1", "s", "(.*)") or vector(1)`,
			`label_replace(x{tenant_id="a"}, "d", "$1", "s", "(.*)") or vector(1)`},
		{`histogram_quantile(0.9, sum by (le) (rate(h_bucket[5m])))`,
			`histogram_quantile(0.9, sum by (le) (rate(h_bucket{tenant_id="a"}[5m])))`},
		{`topk(3, -x) and on () absent(y)`, `topk(3, -x{tenant_id="a"}) and on () absent(y{tenant_id="a"})`},
		{`1 + 2`, `1 + 2`},
		{`count_values("v", quantile_over_time(0.5, x[1h:5m] offset 1d))`,
			`count_values("v", quantile_over_time(0.5, x{tenant_id="a"}[1h:5m] offset 1d))`},
	} {
		t.Run(tc.in, func(t *testing.T) {
			expr, err := p.ParseExpr(tc.in)
			require.NoError(t, err)
			got := EnforceExpr(expr, m).String()
			require.Equal(t, tc.want, got)
			// The result parses back to the same expression.
			again, err := p.ParseExpr(got)
			require.NoError(t, err)
			require.Equal(t, got, again.String())
		})
	}
}

func TestEnforceMatchers(t *testing.T) {
	m := DefaultConfig().Matcher("a")
	require.Equal(t, []*labels.Matcher{m}, EnforceMatchers(nil, m), "no matchers: the tenant alone")

	job := labels.MustNewMatcher(labels.MatchEqual, "job", "api")
	other := labels.MustNewMatcher(labels.MatchEqual, "tenant_id", "b")
	in := []*labels.Matcher{job, other}
	require.Equal(t, []*labels.Matcher{job, other, m}, EnforceMatchers(in, m), "another tenant stays, ANDed with the request's")
	require.Len(t, in, 2, "the input is not changed")
	same := labels.MustNewMatcher(labels.MatchEqual, "tenant_id", "a")
	require.Equal(t, []*labels.Matcher{job, same}, EnforceMatchers([]*labels.Matcher{job, same}, m), "the same matcher is not added twice")
}

func TestFromRequest(t *testing.T) {
	c := DefaultConfig()
	for _, tc := range []struct {
		name    string
		values  []string
		want    string
		wantErr string
	}{
		{name: "absent", want: "default-tenant"},
		{name: "given", values: []string{"team-a"}, want: "team-a"},
		{name: "trimmed", values: []string{"  team-a "}, want: "team-a"},
		{name: "repeated", values: []string{"team-a", "team-a"}, want: "team-a"},
		{name: "blank", values: []string{"  "}, wantErr: "THANOS-TENANT is empty"},
		{name: "two tenants", values: []string{"a", "b"}, wantErr: "different values"},
		{name: "slash", values: []string{"a/b"}, wantErr: "must not contain /"},
		{name: "dotdot", values: []string{".."}, wantErr: `must not be ".."`},
		{name: "control", values: []string{"a\x01"}, wantErr: "control characters"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			r := httptest.NewRequest(http.MethodGet, "/", nil)
			for _, v := range tc.values {
				r.Header.Add("thanos-tenant", v)
			}
			got, err := c.FromRequest(r)
			if tc.wantErr != "" {
				require.ErrorContains(t, err, tc.wantErr)
				return
			}
			require.NoError(t, err)
			require.Equal(t, tc.want, got)
		})
	}
}

func TestValidate(t *testing.T) {
	require.NoError(t, DefaultConfig().Validate())
	for flag, mod := range map[string]func(*Config){
		"--query.tenant-header":     func(c *Config) { c.Header = "a b" },
		"--query.default-tenant-id": func(c *Config) { c.DefaultTenant = "" },
		"--query.tenant-label-name": func(c *Config) { c.LabelName = "__name__" },
	} {
		c := DefaultConfig()
		mod(&c)
		require.ErrorContains(t, c.Validate(), flag)
	}
}

// recordingQuerier remembers the matchers of its calls.
type recordingQuerier struct {
	storage.Querier
	got [][]*labels.Matcher
}

func (q *recordingQuerier) Select(_ context.Context, _ bool, _ *storage.SelectHints, ms ...*labels.Matcher) storage.SeriesSet {
	q.got = append(q.got, ms)
	return storage.EmptySeriesSet()
}

func (q *recordingQuerier) LabelNames(_ context.Context, _ *storage.LabelHints, ms ...*labels.Matcher) ([]string, annotations.Annotations, error) {
	q.got = append(q.got, ms)
	return nil, nil, nil
}

func (q *recordingQuerier) LabelValues(_ context.Context, _ string, _ *storage.LabelHints, ms ...*labels.Matcher) ([]string, annotations.Annotations, error) {
	q.got = append(q.got, ms)
	return nil, nil, nil
}

func TestQueryable(t *testing.T) {
	m := DefaultConfig().Matcher("a")
	rec := &recordingQuerier{}
	q, err := Queryable(storage.QueryableFunc(func(int64, int64) (storage.Querier, error) { return rec, nil }), m).Querier(0, 1)
	require.NoError(t, err)
	job := labels.MustNewMatcher(labels.MatchEqual, "job", "api")
	q.Select(t.Context(), false, nil, job)
	_, _, _ = q.LabelNames(t.Context(), nil)
	_, _, _ = q.LabelValues(t.Context(), "job", nil, job)
	require.Equal(t, [][]*labels.Matcher{{job, m}, {m}, {job, m}}, rec.got)
}
