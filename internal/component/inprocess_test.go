package component_test

import (
	"context"
	"encoding/json"
	"fmt"
	"io"
	"log/slog"
	"net/http"
	"net/url"
	"strconv"
	"testing"
	"time"

	"github.com/alecthomas/kingpin/v2"
	"github.com/prometheus/client_golang/prometheus"
	"github.com/prometheus/prometheus/model/labels"
	"github.com/prometheus/prometheus/storage"
	"github.com/prometheus/prometheus/tsdb/chunks"
	"github.com/stretchr/testify/require"
	"github.com/thanos-io/objstore"

	"github.com/strata-io/strata/internal/component"
	"github.com/strata-io/strata/internal/component/compactor"
	"github.com/strata-io/strata/internal/component/querier"
	"github.com/strata-io/strata/internal/component/storegateway"
	"github.com/strata-io/strata/internal/server"
	"github.com/strata-io/strata/internal/store"
	"github.com/strata-io/strata/internal/testkit"
	"github.com/strata-io/strata/pkg/metadata"
)

// parseFlags registers cfg's flags under a command and parses args, as
// cmd/strata does.
func parseFlags(t *testing.T, register func(*kingpin.CmdClause), args ...string) {
	t.Helper()
	app := kingpin.New("strata", "")
	register(app.Command("c", ""))
	_, err := app.Parse(append([]string{"c"}, args...))
	require.NoError(t, err)
}

// registererFor returns a function giving each component of a process its
// registerer on reg, its metrics labelled component=<name>.
func registererFor(reg prometheus.Registerer) func(name string) prometheus.Registerer {
	return func(name string) prometheus.Registerer {
		return prometheus.WrapRegistererWith(prometheus.Labels{"component": name}, reg)
	}
}

// serveInProcess runs comps with component.Serve on free loopback ports
// until the test ends (then Serve must return within 30s) and returns the
// HTTP address.
func serveInProcess(t *testing.T, logger *slog.Logger, reg *prometheus.Registry, comps ...component.Component) string {
	t.Helper()
	httpAddr := fmt.Sprintf("127.0.0.1:%d", testkit.FreePort(t))
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan error, 1)
	go func() {
		done <- component.Serve(ctx, component.ServeConfig{
			HTTP: server.HTTPConfig{Address: httpAddr, GracePeriod: time.Second},
			GRPC: &server.GRPCConfig{Address: fmt.Sprintf("127.0.0.1:%d", testkit.FreePort(t)), GracePeriod: time.Second},
		}, logger, reg, comps...)
	}()
	t.Cleanup(func() {
		cancel()
		select {
		case err := <-done:
			require.NoError(t, err)
		case <-time.After(30 * time.Second):
			t.Error("Serve did not return within 30s of cancel")
		}
	})
	return httpAddr
}

// uploadReplicaBlocks uploads, for one HA replica, four 2h blocks from base
// of three counters scraped every 15s starting phase after base, the
// values offset by offset, with external labels cluster=eu, replica=name.
func uploadReplicaBlocks(t *testing.T, bkt objstore.Bucket, name string, base int64, phase time.Duration, offset float64) {
	t.Helper()
	const blockRange = 2 * 3600_000
	for b := range int64(4) {
		mint := base + b*blockRange
		var series []storage.Series
		for pod := range 3 {
			var ss []chunks.Sample
			for ts := mint + phase.Milliseconds(); ts < mint+blockRange; ts += 15_000 {
				ss = append(ss, testkit.Sample{Time: ts, Value: offset + float64((ts-base)/15_000*(int64(pod)+1))})
			}
			series = append(series, storage.NewListSeries(labels.FromStrings(
				"__name__", "http_requests_total", "job", "api", "pod", fmt.Sprint("p-", pod)), ss))
		}
		dir, meta := testkit.CreateBlock(t, t.TempDir(), 0, series...)
		meta.Thanos.SetLabels(labels.FromStrings("cluster", "eu", "replica", name))
		meta.Thanos.Source = metadata.SidecarSource
		require.NoError(t, metadata.Upload(t.Context(), nil, bkt, dir, meta))
	}
}

// TestQueryStoreCompactInOneProcess is the seed of all-in-one: a
// compactor, a store gateway and a querier built by their constructors on
// one in-memory bucket and served by one component.Serve. The querier has
// no --endpoint: it reaches the store gateway in process. The compactor
// merges the HA replicas' blocks into one block (offline deduplication),
// the store gateway serves it, and a query through the process' HTTP
// server counts one replica's samples.
func TestQueryStoreCompactInOneProcess(t *testing.T) {
	bkt := objstore.NewInMemBucket()
	base := time.Date(2025, 1, 1, 0, 0, 0, 0, time.UTC).UnixMilli() // a multiple of 8h
	uploadReplicaBlocks(t, bkt, "a", base, 0, 0)
	uploadReplicaBlocks(t, bkt, "b", base, 7*time.Second, 1000)

	logger := slog.New(slog.DiscardHandler)
	reg := prometheus.NewRegistry()
	regFor := registererFor(reg)

	var ccfg compactor.Config
	parseFlags(t, ccfg.RegisterFlags, "--data-dir="+t.TempDir(), "--wait", "--wait-interval=1h",
		"--deduplication.replica-label=replica", "--deduplication.func=penalty", "--downsampling.disable", "--delete-delay=0s")
	c, err := compactor.New(ccfg, compactor.Deps{Logger: logger, Registerer: regFor("compact"), Bucket: bkt})
	require.NoError(t, err)

	var scfg storegateway.Config
	parseFlags(t, scfg.RegisterFlags, "--data-dir="+t.TempDir(), "--sync-block-duration=200ms", "--ignore-deletion-marks-delay=0s")
	sg, err := storegateway.New(scfg, storegateway.Deps{Logger: logger, Registerer: regFor("store"), Bucket: bkt})
	require.NoError(t, err)

	var qcfg querier.Config
	parseFlags(t, qcfg.RegisterFlags, "--query.replica-label=replica")
	q, err := querier.New(qcfg, querier.Deps{Logger: logger, Registerer: regFor("query"),
		Stores: []store.Client{store.NewLocalClient("store-gateway", sg.StoreServer())}})
	require.NoError(t, err)

	httpAddr := serveInProcess(t, logger, reg, q, sg, c)

	get := func(path string) (int, []byte) {
		resp, err := http.Get("http://" + httpAddr + path)
		if err != nil {
			return 0, nil
		}
		defer resp.Body.Close()
		body, _ := io.ReadAll(resp.Body)
		return resp.StatusCode, body
	}

	// The store gateway serves one compacted block without replica label
	// once the compactor has run and the store has synced again.
	var last []byte
	require.Eventually(t, func() bool {
		var blocks struct {
			Data struct {
				Blocks []struct {
					Labels map[string]string `json:"labels"`
				} `json:"blocks"`
			} `json:"data"`
		}
		code, body := get("/api/v1/blocks")
		last = body
		if code != http.StatusOK || json.Unmarshal(body, &blocks) != nil {
			return false
		}
		return len(blocks.Data.Blocks) == 1 && blocks.Data.Blocks[0].Labels["replica"] == ""
	}, time.Minute, 100*time.Millisecond, "one deduplicated block served")
	t.Logf("blocks: %s", last)
	code, body := get("/-/ready")
	require.Equal(t, http.StatusOK, code, "ready: %s", body)

	// count_over_time over the 8h: one replica's samples per pod (1919 in
	// (base, base+8h]), not both replicas' 3838.
	params := url.Values{"query": {"count_over_time(http_requests_total[8h])"}, "time": {strconv.FormatInt(base/1000+8*3600, 10)}}
	code, body = get("/api/v1/query?" + params.Encode())
	require.Equal(t, http.StatusOK, code, "query: %s", body)
	var res struct {
		Data struct {
			Result []struct {
				Metric map[string]string `json:"metric"`
				Value  [2]any            `json:"value"`
			} `json:"result"`
		} `json:"data"`
	}
	require.NoError(t, json.Unmarshal(body, &res))
	require.Len(t, res.Data.Result, 3, "one series per pod: %s", body)
	for _, r := range res.Data.Result {
		require.Equal(t, map[string]string{"cluster": "eu", "job": "api", "pod": r.Metric["pod"]}, r.Metric)
		n, err := strconv.ParseFloat(r.Value[1].(string), 64)
		require.NoError(t, err)
		require.InDelta(t, 1919, n, 20, "samples of %v", r.Metric)
	}
}
