package e2e

import (
	"context"
	"encoding/json"
	"fmt"
	"io"
	"net/http"
	"net/url"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/stretchr/testify/require"
	"google.golang.org/grpc"
	"google.golang.org/grpc/codes"
	"google.golang.org/grpc/credentials/insecure"
	"google.golang.org/grpc/status"
	"google.golang.org/protobuf/types/known/anypb"

	"github.com/strata-io/strata/pkg/storepb"
	"github.com/strata-io/strata/test/e2e/e2eutil"
)

// hostileMaxRSS is the memory bound every Strata process of the hostile
// test stays under, whatever it was sent (its peak resident set size).
const hostileMaxRSS = 1 << 30

// TestHostileInput sends the requests an attacker or an unlucky operator
// sends (malformed and huge PromQL, nesting bombs, regex bombs, invalid
// UTF-8, oversized bodies, absurd ranges and steps, 1ms timeouts, and over
// gRPC absurd batch sizes, matcher counts and regexes) to a real querier,
// store gateway and sidecar. Every bad HTTP request gets a 4xx or 503 with a
// Prometheus-style error body, no process dies or grows past
// hostileMaxRSS, and afterwards every normal query answers as before.
func TestHostileInput(t *testing.T) {
	t.Parallel()
	e := newEnv(t, true)

	bucketDir := filepath.Join(e.dir, "bucket")
	require.NoError(t, os.MkdirAll(bucketDir, 0o755))
	cfg := "--objstore.config=type: FILESYSTEM\nconfig:\n  directory: " + bucketDir + "\n"
	end := time.Now().Add(-3 * time.Hour).Truncate(2 * time.Hour)
	for _, replica := range []string{"0", "1"} {
		name := "gen-" + replica
		p, err := e2eutil.Start(e2eutil.Spec{Name: name, Bin: bins.Strata, Dir: filepath.Join(e.dir, name), Args: []string{
			"tools", "bench", "gen", cfg, "--series=60", "--duration=8h", "--interval=1m",
			"--end=" + end.Format(time.RFC3339), "--label=cluster=gen", "--label=replica=" + replica,
			"--seed=" + replica, "--log.level=info",
		}})
		require.NoError(t, err)
		e.watch(name, func() *e2eutil.Process { return p })
		ctx, cancel := context.WithTimeout(e.ctx, time.Minute)
		require.NoError(t, p.Wait(ctx), "%s: %s", name, tail(p.Logs(), 2000))
		cancel()
	}

	prom := e.prometheus("prom-eu1-0", map[string]string{"cluster": "eu1", "replica": "0"})
	sidecar := e.sidecar("sidecar", prom)
	store := e.strata(e2eutil.NewStore(bins.Strata, e.dir, "store", cfg, "--sync-block-duration=5s"), true)
	querier := e.querier("querier", []string{sidecar.GRPCAddr, store.GRPCAddr},
		"--endpoint.check-interval=1s", "--query.timeout=10s")
	q := e.client(querier.URL())
	procs := map[string]*e2eutil.Strata{"sidecar": sidecar, "store": store, "querier": querier}

	// The normal answers, before anything hostile was sent.
	normal := func() map[string]string {
		out := map[string]string{}
		for _, query := range []string{`count by (cluster) (up)`, `sum by (cluster) (rate({__name__=~".+_total", cluster="gen"}[10m]))`} {
			for _, dedup := range []string{"true", "false"} {
				d, resp, err := q.QueryRange(e.ctx, query, end.Add(-6*time.Hour), end.Add(-time.Minute), 5*time.Minute, url.Values{"dedup": {dedup}})
				require.NoError(t, err)
				require.NoError(t, resp.Err())
				b, err := json.Marshal(d.Sorted())
				require.NoError(t, err)
				out[query+" dedup="+dedup] = string(b)
			}
		}
		return out
	}
	e.eventually(dataTimeout, "the querier sees the store's blocks and the sidecar's data", func() error {
		d, resp, err := q.Query(e.ctx, `count by (cluster) ({__name__=~".+", cluster=~"gen|eu1"})`, end.Add(-time.Hour), nil)
		if err != nil {
			return err
		}
		if err := resp.Err(); err != nil {
			return err
		}
		if len(d.Result) != 1 {
			return fmt.Errorf("want the generated cluster at %s, got %d series", end.Add(-time.Hour), len(d.Result))
		}
		return nil
	})
	before := normal()

	t.Run("bad HTTP requests get a 4xx or 503 with an error body", func(t *testing.T) {
		for _, r := range hostileHTTPRequests(end) {
			t.Run(r.name, func(t *testing.T) {
				code, body := hostileDo(t, e.ctx, q.BaseURL, r)
				requireAPIError(t, code, body, r.allowSuccess)
			})
		}
	})

	t.Run("a slow request body is cut off", func(t *testing.T) {
		// One byte a second for 40s, far longer than the querier's 10s
		// query timeout allows: the server must give up on the request
		// well before the client is done sending.
		pr, pw := io.Pipe()
		go func() {
			defer pw.Close()
			for range 40 {
				if _, err := pw.Write([]byte("q")); err != nil {
					return
				}
				time.Sleep(time.Second)
			}
		}()
		ctx, cancel := context.WithTimeout(e.ctx, 60*time.Second)
		defer cancel()
		req, err := http.NewRequestWithContext(ctx, http.MethodPost, q.BaseURL+"/api/v1/query", pr)
		require.NoError(t, err)
		req.Header.Set("Content-Type", "application/x-www-form-urlencoded")
		req.ContentLength = -1
		start := time.Now()
		resp, err := http.DefaultClient.Do(req)
		if err == nil {
			_, _ = io.Copy(io.Discard, resp.Body)
			_ = resp.Body.Close()
			require.NotEqual(t, http.StatusOK, resp.StatusCode)
		}
		require.Less(t, time.Since(start), 30*time.Second, "the querier holds a dribbling request body open (err=%v)", err)
	})

	t.Run("bad gRPC requests get an answer or an error, never a crash", func(t *testing.T) {
		for _, name := range []string{"store", "sidecar", "querier"} {
			addr := procs[name].GRPCAddr
			conn, err := grpc.NewClient(addr, grpc.WithTransportCredentials(insecure.NewCredentials()),
				grpc.WithDefaultCallOptions(grpc.ForceCodecV2(storepb.Codec{}), grpc.MaxCallRecvMsgSize(64<<20)))
			require.NoError(t, err)
			client := storepb.NewStoreClient(conn)
			for _, r := range hostileGRPCRequests(end) {
				t.Run(name+"/"+r.name, func(t *testing.T) {
					ctx, cancel := context.WithTimeout(e.ctx, 30*time.Second)
					defer cancel()
					err := r.call(ctx, client)
					if err != nil {
						st, _ := status.FromError(err)
						require.NotContains(t, []codes.Code{codes.Internal, codes.Unknown, codes.Unavailable}, st.Code(),
							"a bad request is the client's error, not the server's: %v", err)
						require.NotEmpty(t, st.Message())
					}
				})
			}
			require.NoError(t, conn.Close())
		}
	})

	t.Run("every process is alive and within its memory bound", func(t *testing.T) {
		for name, s := range procs {
			require.False(t, s.Process.Exited(), "%s died: %s", name, tail(s.Process.Logs(), 3000))
			hwm, err := peakRSS(s.Process.Pid())
			require.NoError(t, err)
			require.Less(t, hwm, int64(hostileMaxRSS), "%s peak RSS", name)
			code, err := e.client(s.URL()).Status(e.ctx, "/-/healthy")
			require.NoError(t, err)
			require.Equal(t, http.StatusOK, code, "%s /-/healthy", name)
		}
	})

	t.Run("normal queries answer as before", func(t *testing.T) {
		require.Equal(t, before, normal())
	})
}

// hostileRequest is one HTTP request to the querier.
type hostileRequest struct {
	name   string
	method string // GET or POST (form body)
	path   string
	params url.Values
	body   string // raw POST body; overrides params when set
	// allowSuccess: a 200 with a success body is right too (the request is
	// odd but answerable); never a 5xx other than 503, never a crash.
	allowSuccess bool
}

func hostileHTTPRequests(end time.Time) []hostileRequest {
	ts := func(t time.Time) string { return strconv.FormatInt(t.Unix(), 10) }
	start := end.Add(-6 * time.Hour)
	rng := func(query string, extra ...string) url.Values {
		v := url.Values{"query": {query}, "start": {ts(start)}, "end": {ts(end)}, "step": {"60"}}
		for i := 0; i+1 < len(extra); i += 2 {
			v.Set(extra[i], extra[i+1])
		}
		return v
	}
	inst := func(query string, extra ...string) url.Values {
		v := url.Values{"query": {query}, "time": {ts(end)}}
		for i := 0; i+1 < len(extra); i += 2 {
			v.Set(extra[i], extra[i+1])
		}
		return v
	}
	longSum := "1" + strings.Repeat("+1", 500_000)                                  // ~1 MB, quadratic type check
	deepParens := strings.Repeat("(", 100_000) + "1" + strings.Repeat(")", 100_000) // nesting bomb
	bigRegex := `{__name__=~"` + strings.Repeat("a|", 300_000) + `a"}`
	return []hostileRequest{
		{name: "empty query", method: "GET", path: "/api/v1/query", params: inst("")},
		{name: "unbalanced parentheses", method: "GET", path: "/api/v1/query", params: inst("sum(rate(up[5m])")},
		{name: "unknown function", method: "GET", path: "/api/v1/query", params: inst("nosuchfunc(up)")},
		{name: "1MB sum of ones", method: "POST", path: "/api/v1/query", params: inst(longSum)},
		{name: "1MB sum of ones, range", method: "POST", path: "/api/v1/query_range", params: rng(longSum)},
		{name: "100k nested parentheses", method: "POST", path: "/api/v1/query", params: inst(deepParens)},
		{name: "huge regex in a query", method: "POST", path: "/api/v1/query", params: inst(bigRegex)},
		{name: "huge regex in series match[]", method: "POST", path: "/api/v1/series", params: url.Values{"match[]": {bigRegex}}},
		{name: "invalid regex", method: "GET", path: "/api/v1/query", params: inst(`{__name__=~"(("}`)},
		{name: "backtracking regex", method: "GET", path: "/api/v1/query", params: inst(`{__name__=~"(a+)+(b+)+(c+)+$", job=~"(x|x?)+y"}`), allowSuccess: true},
		{name: "invalid UTF-8 in a label value", method: "GET", path: "/api/v1/query", params: inst("up{job=\"\xff\xfe\"}"), allowSuccess: true},
		{name: "invalid UTF-8 in match[]", method: "GET", path: "/api/v1/series", params: url.Values{"match[]": {"{job=\"\xc3\x28\"}"}}, allowSuccess: true},
		{name: "too many points", method: "GET", path: "/api/v1/query_range", params: rng("up", "start", "0", "end", ts(end), "step", "1")},
		{name: "zero step", method: "GET", path: "/api/v1/query_range", params: rng("up", "step", "0")},
		{name: "negative step", method: "GET", path: "/api/v1/query_range", params: rng("up", "step", "-60")},
		{name: "NaN step", method: "GET", path: "/api/v1/query_range", params: rng("up", "step", "NaN")},
		{name: "end before start", method: "GET", path: "/api/v1/query_range", params: rng("up", "start", ts(end), "end", ts(start))},
		{name: "time out of range", method: "GET", path: "/api/v1/query", params: inst("up", "time", "1e300")},
		{name: "time not a number", method: "GET", path: "/api/v1/query", params: inst("up", "time", "yesterday")},
		{name: "bad timeout", method: "GET", path: "/api/v1/query", params: inst("up", "timeout", "-1s")},
		{name: "1ms timeout", method: "GET", path: "/api/v1/query_range", params: rng(`sum(rate({__name__=~".+", cluster="gen"}[30m]))`, "timeout", "1ms")},
		{name: "bad dedup", method: "GET", path: "/api/v1/query", params: inst("up", "dedup", "maybe")},
		{name: "bad partial_response", method: "GET", path: "/api/v1/query", params: inst("up", "partial_response", "2")},
		{name: "bad max_source_resolution", method: "GET", path: "/api/v1/query", params: inst("up", "max_source_resolution", "fast")},
		{name: "bad lookback_delta", method: "GET", path: "/api/v1/query", params: inst("up", "lookback_delta", "-5m")},
		{name: "bad storeMatch", method: "GET", path: "/api/v1/query", params: inst("up", "storeMatch[]", `{a=~"(("}`)},
		{name: "series without match", method: "GET", path: "/api/v1/series", params: url.Values{}},
		{name: "bad label name", method: "GET", path: "/api/v1/label/" + url.PathEscape("\xff") + "/values", allowSuccess: true},
		{name: "bad labels limit", method: "GET", path: "/api/v1/labels", params: url.Values{"limit": {"-1"}}},
		{name: "12MB form body", method: "POST", path: "/api/v1/query", body: "query=" + strings.Repeat("a", 12<<20)},
		{name: "garbage form body", method: "POST", path: "/api/v1/query", body: "%zz%%=&&;;query"},
		{name: "bad format_query", method: "GET", path: "/api/v1/format_query", params: url.Values{"query": {"sum("}}},
		{name: "1MB format_query", method: "POST", path: "/api/v1/format_query", params: url.Values{"query": {longSum}}},
	}
}

// hostileDo sends r and returns the status code and body.
func hostileDo(t *testing.T, ctx context.Context, base string, r hostileRequest) (int, []byte) {
	t.Helper()
	ctx, cancel := context.WithTimeout(ctx, 30*time.Second)
	defer cancel()
	var req *http.Request
	var err error
	switch {
	case r.method == http.MethodPost && r.body != "":
		req, err = http.NewRequestWithContext(ctx, r.method, base+r.path, strings.NewReader(r.body))
		req.Header.Set("Content-Type", "application/x-www-form-urlencoded")
	case r.method == http.MethodPost:
		req, err = http.NewRequestWithContext(ctx, r.method, base+r.path, strings.NewReader(r.params.Encode()))
		req.Header.Set("Content-Type", "application/x-www-form-urlencoded")
	default:
		u := base + r.path
		if len(r.params) > 0 {
			u += "?" + r.params.Encode()
		}
		req, err = http.NewRequestWithContext(ctx, r.method, u, nil)
	}
	require.NoError(t, err)
	start := time.Now()
	resp, err := http.DefaultClient.Do(req)
	require.NoError(t, err, "no answer within 30s")
	defer resp.Body.Close()
	body, err := io.ReadAll(io.LimitReader(resp.Body, 1<<20))
	require.NoError(t, err)
	t.Logf("HTTP %d in %s: %.200s", resp.StatusCode, time.Since(start).Round(time.Millisecond), body)
	return resp.StatusCode, body
}

// requireAPIError asserts a Prometheus-style error answer: a 4xx or 503
// with {"status":"error","errorType":...,"error":...}; or, when
// allowSuccess, a 200 success.
func requireAPIError(t *testing.T, code int, body []byte, allowSuccess bool) {
	t.Helper()
	var r e2eutil.Response
	require.NoError(t, json.Unmarshal(body, &r), "HTTP %d: the body is not API JSON: %.300s", code, body)
	if allowSuccess && code == http.StatusOK {
		require.Equal(t, "success", r.Status)
		return
	}
	require.True(t, code/100 == 4 || code == http.StatusServiceUnavailable, "HTTP %d, want a 4xx or 503: %.300s", code, body)
	require.Equal(t, "error", r.Status)
	require.NotEmpty(t, r.ErrorType)
	require.NotEmpty(t, r.Error)
}

// hostileGRPC is one StoreAPI call.
type hostileGRPC struct {
	name string
	call func(ctx context.Context, c storepb.StoreClient) error
}

func hostileGRPCRequests(end time.Time) []hostileGRPC {
	maxt := end.UnixMilli()
	mint := end.Add(-6 * time.Hour).UnixMilli()
	eq := func(n, v string) *storepb.LabelMatcher {
		return &storepb.LabelMatcher{Type: storepb.LabelMatcher_EQ, Name: n, Value: v}
	}
	re := func(n, v string) *storepb.LabelMatcher {
		return &storepb.LabelMatcher{Type: storepb.LabelMatcher_RE, Name: n, Value: v}
	}
	series := func(req *storepb.SeriesRequest) func(ctx context.Context, c storepb.StoreClient) error {
		return func(ctx context.Context, c storepb.StoreClient) error {
			stream, err := c.Series(ctx, req)
			if err != nil {
				return err
			}
			for {
				if _, err := stream.Recv(); err != nil {
					if err == io.EOF {
						return nil
					}
					return err
				}
			}
		}
	}
	manyMatchers := make([]*storepb.LabelMatcher, 0, 100_000)
	for i := range 100_000 {
		manyMatchers = append(manyMatchers, eq(fmt.Sprintf("l%d", i), "v"))
	}
	return []hostileGRPC{
		{"batch size 1e12", series(&storepb.SeriesRequest{MinTime: mint, MaxTime: maxt, Matchers: []*storepb.LabelMatcher{re("__name__", ".+")}, ResponseBatchSize: 1e12})},
		{"negative batch size", series(&storepb.SeriesRequest{MinTime: mint, MaxTime: maxt, Matchers: []*storepb.LabelMatcher{eq("__name__", "up")}, ResponseBatchSize: -5})},
		{"100k matchers", series(&storepb.SeriesRequest{MinTime: mint, MaxTime: maxt, Matchers: manyMatchers})},
		{"1MB regex", series(&storepb.SeriesRequest{MinTime: mint, MaxTime: maxt, Matchers: []*storepb.LabelMatcher{re("__name__", strings.Repeat("a|", 500_000)+"a")}})},
		{"invalid regex", series(&storepb.SeriesRequest{MinTime: mint, MaxTime: maxt, Matchers: []*storepb.LabelMatcher{re("__name__", "((")}})},
		{"invalid UTF-8", series(&storepb.SeriesRequest{MinTime: mint, MaxTime: maxt, Matchers: []*storepb.LabelMatcher{eq("__name__", "\xff\xfe")}})},
		{"no matchers", series(&storepb.SeriesRequest{MinTime: mint, MaxTime: maxt})},
		{"min after max", series(&storepb.SeriesRequest{MinTime: maxt, MaxTime: mint, Matchers: []*storepb.LabelMatcher{eq("__name__", "up")}})},
		{"unknown matcher type", series(&storepb.SeriesRequest{MinTime: mint, MaxTime: maxt, Matchers: []*storepb.LabelMatcher{{Type: 99, Name: "a", Value: "b"}}})},
		{"garbage hints", series(&storepb.SeriesRequest{MinTime: mint, MaxTime: maxt, Matchers: []*storepb.LabelMatcher{eq("__name__", "up")}, Hints: &anypb.Any{TypeUrl: "x", Value: []byte{0xff, 0xff, 0xff}}})},
		{"label names, 100k matchers", func(ctx context.Context, c storepb.StoreClient) error {
			_, err := c.LabelNames(ctx, &storepb.LabelNamesRequest{Start: mint, End: maxt, Matchers: manyMatchers})
			return err
		}},
		{"label values of an empty name", func(ctx context.Context, c storepb.StoreClient) error {
			_, err := c.LabelValues(ctx, &storepb.LabelValuesRequest{Label: "", Start: mint, End: maxt})
			return err
		}},
		{"label values, huge limit", func(ctx context.Context, c storepb.StoreClient) error {
			_, err := c.LabelValues(ctx, &storepb.LabelValuesRequest{Label: "__name__", Start: mint, End: maxt, Limit: 1e15})
			return err
		}},
	}
}

// peakRSS returns the peak resident set size of process pid (VmHWM).
func peakRSS(pid int) (int64, error) {
	b, err := os.ReadFile(fmt.Sprintf("/proc/%d/status", pid))
	if err != nil {
		return 0, err
	}
	for line := range strings.SplitSeq(string(b), "\n") {
		if v, ok := strings.CutPrefix(line, "VmHWM:"); ok {
			kb, err := strconv.ParseInt(strings.TrimSuffix(strings.TrimSpace(v), " kB"), 10, 64)
			return kb << 10, err
		}
	}
	return 0, fmt.Errorf("no VmHWM in /proc/%d/status", pid)
}
