package ruler

import (
	"context"
	"io"
	"net/http"
	"net/http/httptest"
	"net/url"
	"os"
	"path/filepath"
	"sync"
	"testing"
	"time"

	"github.com/golang/snappy"
	"github.com/prometheus/client_golang/prometheus"
	"github.com/prometheus/prometheus/model/labels"
	"github.com/prometheus/prometheus/prompb"
	"github.com/stretchr/testify/require"
)

// remoteWriteSink is a fake remote-write endpoint keeping the labels of
// the series it receives.
type remoteWriteSink struct {
	mu     sync.Mutex
	series []map[string]string
}

func (s *remoteWriteSink) ServeHTTP(w http.ResponseWriter, r *http.Request) {
	b, err := io.ReadAll(r.Body)
	if err == nil {
		b, err = snappy.Decode(nil, b)
	}
	var req prompb.WriteRequest
	if err == nil {
		err = req.Unmarshal(b)
	}
	if err != nil {
		http.Error(w, err.Error(), http.StatusBadRequest)
		return
	}
	s.mu.Lock()
	defer s.mu.Unlock()
	for _, ts := range req.Timeseries {
		m := map[string]string{}
		for _, l := range ts.Labels {
			m[l.Name] = l.Value
		}
		s.series = append(s.series, m)
	}
}

func (s *remoteWriteSink) has(name string) map[string]string {
	s.mu.Lock()
	defer s.mu.Unlock()
	for _, m := range s.series {
		if m["__name__"] == name {
			return m
		}
	}
	return nil
}

func TestStatelessSendsResultsByRemoteWrite(t *testing.T) {
	api := &queryAPI{partial: map[string][]string{}, answers: map[string]string{
		"sum by (job) (up)": `[{"metric":{"job":"a"},"value":[TS,"3"]}]`,
		"up == 0":           `[]`,
	}}
	qsrv := httptest.NewServer(api)
	defer qsrv.Close()
	sink := &remoteWriteSink{}
	rw := httptest.NewServer(sink)
	defer rw.Close()

	dir := t.TempDir()
	require.NoError(t, os.WriteFile(filepath.Join(dir, "rules.yml"), []byte(rulesYAML), 0o600))
	cfg := DefaultConfig()
	cfg.DataDir = filepath.Join(dir, "wal")
	cfg.Queries = []*url.URL{mustURL(t, qsrv.URL)}
	cfg.Rule.Files = []string{filepath.Join(dir, "rules.yml")}
	cfg.Rule.ExternalLabels = mustLabels(t, "cluster", "eu")
	cfg.RemoteWriteContent = "remote_write:\n- url: " + rw.URL + "/api/v1/receive\n  queue_config:\n    batch_send_deadline: 100ms\n"

	r, err := New(cfg, Deps{Registerer: prometheus.NewRegistry()})
	require.NoError(t, err)
	require.Nil(t, r.StoreServer(), "nothing is served locally")
	require.NoError(t, r.Ready())
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan error, 1)
	go func() { done <- r.Run(ctx) }()
	defer func() {
		cancel()
		require.NoError(t, <-done)
		require.NoError(t, r.Close())
	}()

	var got map[string]string
	require.Eventually(t, func() bool {
		got = sink.has("job:up:sum")
		return got != nil
	}, 60*time.Second, 50*time.Millisecond)
	// The external labels go on the series sent, as Prometheus' remote
	// write does.
	require.Equal(t, map[string]string{"__name__": "job:up:sum", "job": "a", "cluster": "eu"}, got)
}

func TestStatelessConfigProblems(t *testing.T) {
	cfg := DefaultConfig()
	cfg.RemoteWriteContent = "remote_write:\n- name: x\n"
	_, err := cfg.loadRemoteWrite()
	require.ErrorContains(t, err, "url for remote_write is empty")
	cfg.RemoteWriteContent = "remote_writes: []\n"
	_, err = cfg.loadRemoteWrite()
	require.ErrorContains(t, err, "not a remote_write configuration")
	cfg.RemoteWriteContent = ""
	rws, err := cfg.loadRemoteWrite()
	require.NoError(t, err)
	require.Nil(t, rws)
}

func mustLabels(t *testing.T, kv ...string) labels.Labels {
	t.Helper()
	return labels.FromStrings(kv...)
}
