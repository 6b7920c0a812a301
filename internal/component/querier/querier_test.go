package querier

import (
	"context"
	"encoding/json"
	"net"
	"net/http"
	"net/http/httptest"
	"net/url"
	"os"
	"strconv"
	"testing"
	"time"

	"github.com/alecthomas/kingpin/v2"
	"github.com/prometheus/prometheus/model/labels"
	"github.com/prometheus/prometheus/storage"
	"github.com/prometheus/prometheus/tsdb/chunks"
	"github.com/prometheus/prometheus/util/teststorage"
	"github.com/stretchr/testify/require"
	"google.golang.org/grpc"

	"github.com/strata-io/strata/internal/server"
	"github.com/strata-io/strata/internal/store"
	"github.com/strata-io/strata/internal/store/storetest"
	"github.com/strata-io/strata/internal/store/tsdbstore"
	"github.com/strata-io/strata/internal/testkit"
	"github.com/strata-io/strata/pkg/infopb"
	"github.com/strata-io/strata/pkg/storepb"
)

func TestHTTPTimeoutsFollowQueryTimeout(t *testing.T) {
	for _, qt := range []time.Duration{time.Second, 2 * time.Minute, time.Hour} {
		cfg := DefaultConfig()
		cfg.API.QueryTimeout = qt
		c := cfg.HTTPConfig(server.HTTPConfig{})
		require.LessOrEqual(t, c.ReadTimeout, qt, "a trickled body must not outlive --query.timeout")
		require.Greater(t, c.WriteTimeout, c.ReadTimeout+qt, "a query using all its time must still be able to answer")
	}
}

// parse parses args as `query` flags.
func parse(t *testing.T, args ...string) Config {
	t.Helper()
	app := kingpin.New("test", "")
	var cfg Config
	cfg.RegisterFlags(app.Command("query", ""))
	_, err := app.Parse(append([]string{"query"}, args...))
	require.NoError(t, err)
	return cfg
}

// The flags land in the library configurations, with their defaults
// when absent.
func TestFlags(t *testing.T) {
	cfg := parse(t)
	require.Equal(t, 2*time.Minute, cfg.API.QueryTimeout)
	require.Equal(t, 20, cfg.API.MaxConcurrent)
	require.True(t, cfg.API.DefaultDedup, "dedup is on by default")
	require.True(t, cfg.API.DefaultPartialResponse)
	require.Equal(t, 5*time.Minute, cfg.API.LookbackDelta)
	require.Equal(t, 30*time.Second, cfg.Endpoint.RefreshInterval)
	require.Equal(t, 5*time.Second, cfg.Endpoint.CheckInterval)
	require.Equal(t, 50_000_000, cfg.Engine.MaxSamples)
	require.Empty(t, cfg.API.Flags)

	cfg = parse(t, "--endpoint=a:1", "--endpoint=b:2", "--query.replica-label=replica", "--query.timeout=30s",
		"--grpc-client-tls-secure", "--store.response-timeout=5s", "--query.range-parallelism=1", "--query.max-length=10")
	require.Equal(t, []string{"a:1", "b:2"}, cfg.FlagEndpoints.Addresses)
	require.True(t, cfg.FlagEndpoints.TLS.Enabled)
	require.Equal(t, []string{"replica"}, cfg.API.ReplicaLabels)
	require.Equal(t, 30*time.Second, cfg.API.QueryTimeout)
	require.Equal(t, 5*time.Second, cfg.Proxy.ResponseTimeout)
	require.Equal(t, 1, cfg.Engine.Parallel.MaxShards)
	require.Equal(t, 10, cfg.API.Limits.MaxLength)
	require.Equal(t, "30s", cfg.API.Flags["query.timeout"], "/api/v1/status/flags shows the flags given")
}

// newTSDBStore serves one series up{ext} with value v every 15s over the
// last 10 minutes before now, from an in-memory TSDB.
func newTSDBStore(t *testing.T, ext labels.Labels, v float64, now time.Time) *tsdbstore.Store {
	t.Helper()
	ts := teststorage.New(t)
	t.Cleanup(func() { require.NoError(t, ts.Close()) })
	var samples []chunks.Sample
	for at := now.Add(-10 * time.Minute); !at.After(now); at = at.Add(15 * time.Second) {
		samples = append(samples, testkit.Sample{Time: at.UnixMilli(), Value: v})
	}
	require.NoError(t, storetest.AppendSeries(t.Context(), ts.DB, []storage.Series{
		storage.NewListSeries(labels.FromStrings("__name__", "up", "job", "api"), samples),
	}))
	return tsdbstore.New(ts.DB, tsdbstore.Config{ExternalLabels: ext, ComponentType: "receive"}, nil)
}

type vectorAnswer struct {
	Status string `json:"status"`
	Data   struct {
		Result []struct {
			Metric map[string]string `json:"metric"`
			Value  [2]any            `json:"value"`
		} `json:"result"`
	} `json:"data"`
	Warnings []string `json:"warnings"`
}

// instant runs an instant query through mux.
func instant(t *testing.T, mux http.Handler, params url.Values) vectorAnswer {
	t.Helper()
	req := httptest.NewRequest(http.MethodGet, "/api/v1/query?"+params.Encode(), nil)
	rec := httptest.NewRecorder()
	mux.ServeHTTP(rec, req)
	require.Equal(t, http.StatusOK, rec.Code, rec.Body.String())
	var out vectorAnswer
	require.NoError(t, json.Unmarshal(rec.Body.Bytes(), &out))
	require.Equal(t, "success", out.Status)
	return out
}

// A querier over one in-process store answers from it, through its mux,
// with no listener.
func TestQueryInProcessStore(t *testing.T) {
	now := time.Now().Truncate(time.Second)
	local := store.NewLocalClient("local-receive", newTSDBStore(t, labels.FromStrings("cluster", "eu"), 1, now))
	q, err := New(DefaultConfig(), Deps{Stores: []store.Client{local}})
	require.NoError(t, err)
	t.Cleanup(func() { require.NoError(t, q.Close()) })
	mux := http.NewServeMux()
	q.Register(mux, nil)

	out := instant(t, mux, url.Values{"query": {"up"}, "time": {strconv.FormatInt(now.Unix(), 10)}})
	require.Len(t, out.Data.Result, 1)
	require.Equal(t, map[string]string{"__name__": "up", "job": "api", "cluster": "eu"}, out.Data.Result[0].Metric)
	require.Equal(t, "1", out.Data.Result[0].Value[1])
	require.Empty(t, out.Warnings)

	rec := httptest.NewRecorder()
	mux.ServeHTTP(rec, httptest.NewRequest(http.MethodGet, "/api/v1/stores", nil))
	require.Equal(t, http.StatusOK, rec.Code)
	require.Contains(t, rec.Body.String(), "local-receive", "the in-process store is listed")

	info, err := (&infoServer{proxy: q.proxy}).Info(t.Context(), &infopb.InfoRequest{})
	require.NoError(t, err)
	require.Equal(t, []labels.Labels{labels.FromStrings("cluster", "eu")}, storepb.LabelSetsFromProto(info.GetLabelSets()),
		"the querier announces the in-process store's labels")
}

// serveGRPC serves srv's StoreAPI and Info on a loopback port and returns
// its address.
func serveGRPC(t *testing.T, srv *tsdbstore.Store) string {
	t.Helper()
	lis, err := net.Listen("tcp", "127.0.0.1:0")
	require.NoError(t, err)
	gs := grpc.NewServer()
	storepb.RegisterStoreServer(gs, srv)
	infopb.RegisterInfoServer(gs, srv)
	go func() { _ = gs.Serve(lis) }()
	t.Cleanup(gs.Stop)
	return lis.Addr().String()
}

// An in-process store and a remote endpoint holding two replicas of the
// same series are queried together and deduplicated.
func TestQueryInProcessStoreAndEndpoint(t *testing.T) {
	now := time.Now().Truncate(time.Second)
	local := store.NewLocalClient("local", newTSDBStore(t, labels.FromStrings("cluster", "eu", "replica", "a"), 1, now))
	addr := serveGRPC(t, newTSDBStore(t, labels.FromStrings("cluster", "eu", "replica", "b"), 1, now))

	cfg := parse(t, "--endpoint="+addr, "--query.replica-label=replica", "--endpoint.check-interval=100ms")
	q, err := New(cfg, Deps{Stores: []store.Client{local}})
	require.NoError(t, err)
	mux := http.NewServeMux()
	q.Register(mux, nil)
	ctx, cancel := context.WithCancel(t.Context())
	done := make(chan error, 1)
	go func() { done <- q.Run(ctx) }()
	t.Cleanup(func() {
		cancel()
		require.NoError(t, <-done)
		require.NoError(t, q.Close())
	})
	require.Eventually(t, func() bool {
		if q.Ready() != nil {
			return false
		}
		for _, st := range q.set.Status() {
			if st.Name == addr && st.Healthy {
				return true
			}
		}
		return false
	}, 10*time.Second, 20*time.Millisecond, "the endpoint is checked")

	at := strconv.FormatInt(now.Unix(), 10)
	out := instant(t, mux, url.Values{"query": {"up"}, "time": {at}, "dedup": {"false"}})
	var replicas []string
	for _, r := range out.Data.Result {
		replicas = append(replicas, r.Metric["replica"])
	}
	require.ElementsMatch(t, []string{"a", "b"}, replicas, "both stores answer")

	out = instant(t, mux, url.Values{"query": {"up"}, "time": {at}})
	require.Len(t, out.Data.Result, 1, "the replicas are deduplicated across the in-process store and the endpoint")
	require.Equal(t, map[string]string{"__name__": "up", "job": "api", "cluster": "eu"}, out.Data.Result[0].Metric)
	require.Empty(t, out.Warnings)

	info, err := (&infoServer{proxy: q.proxy}).Info(t.Context(), &infopb.InfoRequest{})
	require.NoError(t, err)
	require.Equal(t, []labels.Labels{
		labels.FromStrings("cluster", "eu", "replica", "a"),
		labels.FromStrings("cluster", "eu", "replica", "b"),
	}, storepb.LabelSetsFromProto(info.GetLabelSets()))
}

// Reload reads --endpoint.sd-config-file again; a broken file keeps the
// old endpoints.
func TestReloadKeepsEndpointsOnError(t *testing.T) {
	dir := t.TempDir()
	file := dir + "/endpoints.yaml"
	require.NoError(t, os.WriteFile(file, []byte("groups:\n  - addresses: [127.0.0.1:1]\n"), 0o600))
	q, err := New(parse(t, "--endpoint.sd-config-file="+file), Deps{})
	require.NoError(t, err)
	t.Cleanup(func() { require.NoError(t, q.Close()) })

	require.NoError(t, os.WriteFile(file, []byte("groups: [{addresses: [nope]}]\n"), 0o600))
	require.ErrorContains(t, q.Reload(), "nope")
}
