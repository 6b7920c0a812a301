package component_test

import (
	"bytes"
	"encoding/json"
	"fmt"
	"io"
	"log/slog"
	"net/http"
	"net/url"
	"strconv"
	"testing"
	"time"

	"github.com/golang/snappy"
	"github.com/prometheus/client_golang/prometheus"
	"github.com/prometheus/prometheus/model/labels"
	"github.com/prometheus/prometheus/prompb"
	writev2 "github.com/prometheus/prometheus/prompb/io/prometheus/write/v2"
	"github.com/stretchr/testify/require"

	"github.com/strata-io/strata/internal/component/querier"
	"github.com/strata-io/strata/internal/component/receiver"
	"github.com/strata-io/strata/internal/store"
	"github.com/strata-io/strata/internal/testkit"
)

// A receiver and a querier in one process: 1.0 and 2.0 remote writes of
// two tenants, sent to --remote-write.address, are answered by the
// querier's /api/v1/query with the tenant label.
func TestReceiveAndQueryInOneProcess(t *testing.T) {
	logger := slog.New(slog.DiscardHandler)
	reg := prometheus.NewRegistry()
	regFor := registererFor(reg)
	rwAddr := fmt.Sprintf("127.0.0.1:%d", testkit.FreePort(t))
	var rcfg receiver.Config
	parseFlags(t, rcfg.RegisterFlags, "--tsdb.path="+t.TempDir(), "--remote-write.address="+rwAddr, `--label=replica="r1"`)
	r, err := receiver.New(rcfg, receiver.Deps{Logger: logger, Registerer: regFor("receive")})
	require.NoError(t, err)

	var qcfg querier.Config
	parseFlags(t, qcfg.RegisterFlags, "--query.replica-label=replica")
	q, err := querier.New(qcfg, querier.Deps{Logger: logger, Registerer: regFor("query"),
		Stores: []store.Client{store.NewLocalClient("receive", r.StoreServer())}})
	require.NoError(t, err)

	httpAddr := serveInProcess(t, logger, reg, q, r)
	require.Eventually(t, func() bool {
		resp, err := http.Get("http://" + httpAddr + "/-/ready")
		if err != nil {
			return false
		}
		_ = resp.Body.Close()
		return resp.StatusCode == http.StatusOK
	}, 20*time.Second, 20*time.Millisecond, "process ready")

	now := time.Now().Truncate(time.Second)
	at := now.Add(-10 * time.Second).UnixMilli()
	v1 := &prompb.WriteRequest{Timeseries: []prompb.TimeSeries{{
		Labels:  []prompb.Label{{Name: "__name__", Value: "up"}, {Name: "job", Value: "a"}},
		Samples: []prompb.Sample{{Timestamp: at, Value: 1}},
	}}}
	syms := writev2.NewSymbolTable()
	v2 := &writev2.Request{Timeseries: []writev2.TimeSeries{{
		LabelsRefs: syms.SymbolizeLabels(labels.FromStrings("__name__", "up", "job", "b"), nil),
		Samples:    []writev2.Sample{{Timestamp: at, Value: 2}},
	}}}
	v2.Symbols = syms.Symbols()
	send := func(m interface{ Marshal() ([]byte, error) }, contentType, tenant string) {
		b, err := m.Marshal()
		require.NoError(t, err)
		req, err := http.NewRequestWithContext(t.Context(), http.MethodPost, "http://"+rwAddr+receiver.ReceivePath, bytes.NewReader(snappy.Encode(nil, b)))
		require.NoError(t, err)
		req.Header.Set("Content-Type", contentType)
		req.Header.Set("Content-Encoding", "snappy")
		req.Header.Set("THANOS-TENANT", tenant)
		resp, err := http.DefaultClient.Do(req)
		require.NoError(t, err)
		body, _ := io.ReadAll(resp.Body)
		require.NoError(t, resp.Body.Close())
		require.Equal(t, http.StatusNoContent, resp.StatusCode, string(body))
	}
	send(v1, "application/x-protobuf", "team-a")
	send(v2, "application/x-protobuf;proto=io.prometheus.write.v2.Request", "team-b")

	resp, err := http.Get("http://" + httpAddr + "/api/v1/query?" + url.Values{
		"query": {"up"}, "time": {strconv.FormatInt(now.Unix(), 10)},
	}.Encode())
	require.NoError(t, err)
	defer resp.Body.Close()
	require.Equal(t, http.StatusOK, resp.StatusCode)
	var out struct {
		Data struct {
			Result []struct {
				Metric map[string]string `json:"metric"`
				Value  [2]any            `json:"value"`
			} `json:"result"`
		} `json:"data"`
	}
	require.NoError(t, json.NewDecoder(resp.Body).Decode(&out))
	got := map[string]string{}
	for _, s := range out.Data.Result {
		require.NotContains(t, s.Metric, "replica", "deduplicated on the replica label")
		got[s.Metric["tenant_id"]+"/"+s.Metric["job"]] = s.Value[1].(string)
	}
	require.Equal(t, map[string]string{"team-a/a": "1", "team-b/b": "2"}, got)
}
