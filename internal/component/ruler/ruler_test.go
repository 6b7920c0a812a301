package ruler

import (
	"context"
	"encoding/json"
	"io"
	"math"
	"net/http"
	"net/http/httptest"
	"net/url"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/prometheus/client_golang/prometheus"
	"github.com/prometheus/client_golang/prometheus/testutil"
	"github.com/prometheus/prometheus/model/labels"
	"github.com/stretchr/testify/require"

	"github.com/strata-io/strata/internal/store"
	"github.com/strata-io/strata/internal/store/storetest"
	"github.com/strata-io/strata/pkg/storepb"
)

const rulesYAML = `groups:
- name: rec
  interval: 1s
  partial_response_strategy: warn
  rules:
  - record: job:up:sum
    expr: sum by (job) (up)
- name: alerts
  interval: 1s
  rules:
  - alert: JobDown
    expr: up == 0
    for: 3s
    labels:
      severity: page
    annotations:
      summary: '{{ $labels.job }} is down'
`

// queryAPI is a fake query API answering /api/v1/query from a table and
// recording each query's partial_response parameter.
type queryAPI struct {
	mu      sync.Mutex
	answers map[string]string
	partial map[string][]string
}

func (f *queryAPI) ServeHTTP(w http.ResponseWriter, r *http.Request) {
	_ = r.ParseForm()
	q := r.PostForm.Get("query")
	f.mu.Lock()
	f.partial[q] = append(f.partial[q], r.PostForm.Get("partial_response"))
	res, ok := f.answers[q]
	f.mu.Unlock()
	if r.URL.Path != "/api/v1/query" || !ok {
		w.WriteHeader(http.StatusBadRequest)
		_, _ = w.Write([]byte(`{"status":"error","errorType":"bad_data","error":"unknown query ` + q + `"}`))
		return
	}
	ts := r.PostForm.Get("time")
	_, _ = w.Write([]byte(`{"status":"success","data":{"resultType":"vector","result":` + strings.ReplaceAll(res, "TS", ts) + `}}`))
}

func (f *queryAPI) partialOf(q string) []string {
	f.mu.Lock()
	defer f.mu.Unlock()
	return slices.Clone(f.partial[q])
}

// amAlert is an alert as Alertmanager's API v2 receives it.
type amAlert struct {
	Labels       map[string]string `json:"labels"`
	Annotations  map[string]string `json:"annotations"`
	GeneratorURL string            `json:"generatorURL"`
}

// alertmanager is a fake Alertmanager recording POST /api/v2/alerts.
type alertmanager struct {
	mu     sync.Mutex
	alerts []amAlert
}

func (a *alertmanager) ServeHTTP(w http.ResponseWriter, r *http.Request) {
	if r.Method != http.MethodPost || r.URL.Path != "/am/api/v2/alerts" {
		http.NotFound(w, r)
		return
	}
	var in []amAlert
	if err := json.NewDecoder(r.Body).Decode(&in); err != nil {
		http.Error(w, err.Error(), http.StatusBadRequest)
		return
	}
	a.mu.Lock()
	a.alerts = append(a.alerts, in...)
	a.mu.Unlock()
}

func (a *alertmanager) received() []amAlert {
	a.mu.Lock()
	defer a.mu.Unlock()
	return slices.Clone(a.alerts)
}

type env struct {
	ruler    *Ruler
	api      *queryAPI
	am       *alertmanager
	http     *httptest.Server
	reg      *prometheus.Registry
	ruleFile string
}

func start(t *testing.T) *env {
	t.Helper()
	e, _ := startIn(t, t.TempDir())
	return e
}

// startIn runs a ruler over dir (rules.yml and the TSDB) and returns it
// with a function stopping it, called at the end of the test too.
func startIn(t *testing.T, dir string) (*env, func()) {
	t.Helper()
	e := &env{
		api: &queryAPI{partial: map[string][]string{}, answers: map[string]string{
			"sum by (job) (up)": `[{"metric":{"job":"a"},"value":[TS,"3"]}]`,
			"up == 0":           `[{"metric":{"__name__":"up","job":"b","instance":"x"},"value":[TS,"0"]}]`,
		}},
		am:  &alertmanager{},
		reg: prometheus.NewRegistry(),
	}
	qsrv := httptest.NewServer(e.api)
	t.Cleanup(qsrv.Close)
	amsrv := httptest.NewServer(e.am)
	t.Cleanup(amsrv.Close)
	down := httptest.NewServer(http.NotFoundHandler())
	downURL := down.URL
	down.Close()

	e.ruleFile = filepath.Join(dir, "rules.yml")
	require.NoError(t, os.WriteFile(e.ruleFile, []byte(rulesYAML), 0o600))

	cfg := DefaultConfig()
	cfg.DataDir = filepath.Join(dir, "data")
	// The first query API is down: every evaluation fails over.
	cfg.Queries = []*url.URL{mustURL(t, downURL), mustURL(t, qsrv.URL)}
	cfg.Rule.Files = []string{filepath.Join(dir, "*.yml")}
	cfg.Rule.ResendDelay = 100 * time.Millisecond
	// Below the rules' for (3s), so that their state is restored.
	cfg.Rule.ForGracePeriod = time.Second
	cfg.Rule.QueryURL = "http://strata-query:10902"
	cfg.Rule.ExternalLabels = labels.FromStrings("cluster", "eu", "ruler_replica", "a")
	cfg.Alertmanagers.URLs = []*url.URL{mustURL(t, amsrv.URL+"/am")}
	cfg.Alertmanagers.DropLabels = []string{"ruler_replica"}

	r, err := New(cfg, Deps{Registerer: e.reg})
	require.NoError(t, err)
	e.ruler = r
	mux := http.NewServeMux()
	r.Register(mux, nil)
	e.http = httptest.NewServer(mux)
	t.Cleanup(e.http.Close)

	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan error, 1)
	go func() { done <- r.Run(ctx) }()
	var once sync.Once
	stop := func() {
		once.Do(func() {
			cancel()
			require.NoError(t, <-done)
			require.NoError(t, r.Close())
		})
	}
	t.Cleanup(stop)
	return e, stop
}

func mustURL(t *testing.T, s string) *url.URL {
	t.Helper()
	u, err := url.Parse(s)
	require.NoError(t, err)
	return u
}

// get returns the JSON data of an API answer.
func (e *env) get(t *testing.T, path string) map[string]any {
	t.Helper()
	resp, err := http.Get(e.http.URL + path)
	require.NoError(t, err)
	defer resp.Body.Close()
	b, err := io.ReadAll(resp.Body)
	require.NoError(t, err)
	require.Equal(t, http.StatusOK, resp.StatusCode, string(b))
	var out struct {
		Status string         `json:"status"`
		Data   map[string]any `json:"data"`
	}
	require.NoError(t, json.Unmarshal(b, &out))
	require.Equal(t, "success", out.Status)
	return out.Data
}

func TestRecordingRuleResultsServedOverStoreAPI(t *testing.T) {
	e := start(t)
	client := store.NewLocalClient("rule", e.ruler.StoreServer())
	req := &storepb.SeriesRequest{
		MinTime:  0,
		MaxTime:  math.MaxInt64,
		Matchers: []*storepb.LabelMatcher{{Type: storepb.LabelMatcher_EQ, Name: "__name__", Value: "job:up:sum"}},
	}
	var series []*storepb.Series
	require.Eventually(t, func() bool {
		var err error
		series, _, _, err = storetest.CollectSeries(context.Background(), client, req)
		require.NoError(t, err)
		return len(series) == 1
	}, 20*time.Second, 50*time.Millisecond)
	require.Equal(t, labels.FromStrings("__name__", "job:up:sum", "cluster", "eu", "job", "a", "ruler_replica", "a"), storepb.LabelsFromProto(series[0].Labels))
	samples, err := storetest.DecodeSeries(series[0])
	require.NoError(t, err)
	require.NotEmpty(t, samples)
	require.Equal(t, 3.0, samples[0].F)

	// The stored series hold no external labels: they are the StoreAPI's
	// and the blocks'.
	q, err := e.ruler.DB().Querier(0, math.MaxInt64)
	require.NoError(t, err)
	defer q.Close()
	ss := q.Select(context.Background(), false, nil, labels.MustNewMatcher(labels.MatchEqual, "__name__", "job:up:sum"))
	require.True(t, ss.Next())
	require.Equal(t, labels.FromStrings("__name__", "job:up:sum", "job", "a"), ss.At().Labels())

	// Each group's strategy reached the query API.
	require.Contains(t, e.api.partialOf("sum by (job) (up)"), "true")
	require.NotContains(t, e.api.partialOf("sum by (job) (up)"), "false")
	require.NotContains(t, e.api.partialOf("up == 0"), "true")
	// Every evaluation failed over from the down API: none failed.
	n, err := testutil.GatherAndCount(e.reg, "strata_rule_evaluation_failures_total")
	require.NoError(t, err)
	require.Equal(t, 2, n)
	require.NoError(t, testutil.GatherAndCompare(e.reg, strings.NewReader(`
# HELP strata_rule_evaluation_failures_total Rule evaluations whose query failed on every query API, by partial response strategy.
# TYPE strata_rule_evaluation_failures_total counter
strata_rule_evaluation_failures_total{strategy="abort"} 0
strata_rule_evaluation_failures_total{strategy="warn"} 0
`), "strata_rule_evaluation_failures_total"))
}

func TestAlertPendingThenFiringReachesAlertmanager(t *testing.T) {
	e := start(t)
	state := func() string {
		alerts := e.get(t, "/api/v1/alerts")["alerts"].([]any)
		if len(alerts) == 0 {
			return ""
		}
		return alerts[0].(map[string]any)["state"].(string)
	}
	require.Eventually(t, func() bool { return state() == "pending" }, 20*time.Second, 20*time.Millisecond)
	require.Empty(t, e.am.received(), "a pending alert is not sent")
	require.Eventually(t, func() bool { return state() == "firing" }, 20*time.Second, 20*time.Millisecond)
	require.Eventually(t, func() bool { return len(e.am.received()) > 0 }, 20*time.Second, 20*time.Millisecond)

	got := e.am.received()[0]
	require.Equal(t, map[string]string{
		"alertname": "JobDown", "job": "b", "instance": "x", "severity": "page", "cluster": "eu",
	}, got.Labels)
	require.Equal(t, map[string]string{"summary": "b is down"}, got.Annotations)
	require.True(t, strings.HasPrefix(got.GeneratorURL, "http://strata-query:10902/graph?g0.expr="), got.GeneratorURL)

	// The alert as /api/v1/alerts shows it: Prometheus' shape, without
	// the external labels.
	a := e.get(t, "/api/v1/alerts")["alerts"].([]any)[0].(map[string]any)
	require.ElementsMatch(t, []string{"labels", "annotations", "state", "activeAt", "value"}, keys(a))
	require.Equal(t, "0e+00", a["value"])
	require.NotContains(t, a["labels"], "cluster")
}

func keys(m map[string]any) []string {
	var out []string
	for k := range m {
		out = append(out, k)
	}
	return out
}

func TestRulesAPI(t *testing.T) {
	e := start(t)
	groups := e.get(t, "/api/v1/rules")["groups"].([]any)
	require.Len(t, groups, 2)
	var byName = map[string]map[string]any{}
	for _, g := range groups {
		g := g.(map[string]any)
		byName[g["name"].(string)] = g
		require.Equal(t, e.ruleFile, g["file"])
		require.Equal(t, 1.0, g["interval"])
		require.ElementsMatch(t, []string{"name", "file", "rules", "interval", "limit", "evaluationTime", "lastEvaluation", "partialResponseStrategy"}, keys(g))
	}
	require.Equal(t, "WARN", byName["rec"]["partialResponseStrategy"])
	require.Equal(t, "ABORT", byName["alerts"]["partialResponseStrategy"])
	rec := byName["rec"]["rules"].([]any)[0].(map[string]any)
	require.Equal(t, "recording", rec["type"])
	require.Equal(t, "job:up:sum", rec["name"])
	require.Equal(t, "sum by (job) (up)", rec["query"])
	require.Subset(t, keys(rec), []string{"name", "query", "health", "evaluationTime", "lastEvaluation", "type"})
	al := byName["alerts"]["rules"].([]any)[0].(map[string]any)
	require.Equal(t, "alerting", al["type"])
	require.Equal(t, 3.0, al["duration"])
	require.Equal(t, map[string]any{"severity": "page"}, al["labels"])
	require.Subset(t, keys(al), []string{"state", "name", "query", "duration", "keepFiringFor", "labels", "annotations", "alerts", "health", "evaluationTime", "lastEvaluation", "type"})

	names := func(path string) []string {
		var out []string
		for _, g := range e.get(t, path)["groups"].([]any) {
			for _, r := range g.(map[string]any)["rules"].([]any) {
				out = append(out, r.(map[string]any)["name"].(string))
			}
		}
		return out
	}
	require.Equal(t, []string{"JobDown"}, names("/api/v1/rules?type=alert"))
	require.Equal(t, []string{"job:up:sum"}, names("/api/v1/rules?type=record"))
	require.Equal(t, []string{"job:up:sum"}, names("/api/v1/rules?rule_group[]=rec"))
	require.Equal(t, []string{"JobDown"}, names("/api/v1/rules?rule_name[]=JobDown&rule_name[]=nope"))
	require.Empty(t, names("/api/v1/rules?file[]=/other.yml"))
	require.Len(t, names("/api/v1/rules?file[]="+url.QueryEscape(e.ruleFile)), 2)

	resp, err := http.Get(e.http.URL + "/api/v1/rules?type=both")
	require.NoError(t, err)
	resp.Body.Close()
	require.Equal(t, http.StatusBadRequest, resp.StatusCode)
}

func TestBrokenFileAtReloadKeepsRules(t *testing.T) {
	e := start(t)
	reloadOK := func() float64 {
		mfs, err := e.reg.Gather()
		require.NoError(t, err)
		for _, mf := range mfs {
			if mf.GetName() == "strata_rule_config_last_reload_successful" {
				return mf.GetMetric()[0].GetGauge().GetValue()
			}
		}
		return -1
	}
	require.Equal(t, 1.0, reloadOK())

	require.NoError(t, os.WriteFile(e.ruleFile, []byte(strings.Replace(rulesYAML, "sum by (job) (up)", "sum(", 1)), 0o600))
	resp, err := http.Post(e.http.URL+"/-/reload", "", nil)
	require.NoError(t, err)
	body, _ := io.ReadAll(resp.Body)
	resp.Body.Close()
	require.Equal(t, http.StatusInternalServerError, resp.StatusCode)
	require.Contains(t, string(body), "previous rules kept")
	require.Contains(t, string(body), "could not parse expression")
	require.Equal(t, 0.0, reloadOK())
	require.Len(t, e.get(t, "/api/v1/rules")["groups"], 2)

	require.NoError(t, os.WriteFile(e.ruleFile, []byte(rulesYAML+`- name: more
  rules:
  - record: one
    expr: vector(1)
`), 0o600))
	require.NoError(t, e.ruler.Reload())
	require.Equal(t, 1.0, reloadOK())
	require.Len(t, e.get(t, "/api/v1/rules")["groups"], 3)
}

func TestFiringAlertKeepsItsActiveTimeAcrossRestart(t *testing.T) {
	dir := t.TempDir()
	e, stop := startIn(t, dir)
	alert := func(e *env) map[string]any {
		alerts := e.get(t, "/api/v1/alerts")["alerts"].([]any)
		if len(alerts) == 0 {
			return nil
		}
		return alerts[0].(map[string]any)
	}
	var before map[string]any
	require.Eventually(t, func() bool {
		before = alert(e)
		return before != nil && before["state"] == "firing"
	}, 20*time.Second, 20*time.Millisecond)
	stop()

	// Restored from ALERTS_FOR_STATE in the TSDB (after the first
	// evaluation after the restart): active since the same second, not
	// since the restart.
	e, _ = startIn(t, dir)
	var after map[string]any
	require.Eventually(t, func() bool {
		after = alert(e)
		return after != nil && after["state"] == "firing"
	}, 20*time.Second, 20*time.Millisecond)
	parse := func(a map[string]any) time.Time {
		ts, err := time.Parse(time.RFC3339Nano, a["activeAt"].(string))
		require.NoError(t, err)
		return ts.Truncate(time.Second)
	}
	require.Equal(t, parse(before), parse(after))
}
