package e2eutil

import (
	"context"
	"net/http"
	"net/http/httptest"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/stretchr/testify/require"
)

func TestAlignedRangeCoversWholeBlocks(t *testing.T) {
	now := time.Date(2026, 11, 21, 13, 7, 0, 0, time.UTC)
	start, end := AlignedRange(now, 2*time.Hour, 3, 15*time.Second)
	require.Equal(t, time.Date(2026, 11, 21, 4, 0, 0, 0, time.UTC), start, "start on a 2h boundary")
	require.Equal(t, time.Date(2026, 11, 21, 9, 59, 45, 0, time.UTC), end, "one step before the boundary that ends the third block")
	require.False(t, end.After(now.Add(-2*time.Hour)), "the data ends at least `ago` before now")
}

func TestWriteOpenMetrics(t *testing.T) {
	path := filepath.Join(t.TempDir(), "in.om")
	start := time.Unix(7200, 0)
	require.NoError(t, WriteOpenMetrics(path, SyntheticData{Metric: "m", Series: 2, Start: start, End: start.Add(time.Minute), Step: 30 * time.Second}))
	b, err := os.ReadFile(path)
	require.NoError(t, err)
	lines := strings.Split(strings.TrimSuffix(string(b), "\n"), "\n")
	require.Equal(t, []string{
		"# HELP m Synthetic gauge written by the e2e tests.", "# TYPE m gauge",
		`m{series="0"} 0 7200`, `m{series="0"} 0.5 7230`, `m{series="0"} 1 7260`,
		`m{series="1"} 1 7200`, `m{series="1"} 1.5 7230`, `m{series="1"} 2 7260`,
		"# EOF",
	}, lines)
	require.Error(t, WriteOpenMetrics(path, SyntheticData{Metric: "m", Series: 1, Start: start, End: start}), "a zero step is refused")
}

func TestClientMetricSumsSeries(t *testing.T) {
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, _ *http.Request) {
		_, _ = w.Write([]byte(`# HELP up_total Ups.
# TYPE up_total counter
up_total{a="1",b="x}y"} 2
up_total{a="2"} 3.5
up_total_created 17
up 1
`))
	}))
	defer srv.Close()
	c := NewClient(srv.URL)
	defer c.Close()
	ctx := context.Background()
	for name, want := range map[string]float64{"up_total": 5.5, "up": 1, "up_total_created": 17} {
		v, found, err := c.Metric(ctx, name)
		require.NoError(t, err)
		require.True(t, found, name)
		require.Equal(t, want, v, name)
	}
	_, found, err := c.Metric(ctx, "absent")
	require.NoError(t, err)
	require.False(t, found)
}

// TestObjectProxyHoldsAndRecords: a held PUT never reaches the server, the
// others do with the client's Host header, and only delivered PUTs are
// recorded.
func TestObjectProxyHoldsAndRecords(t *testing.T) {
	var mu sync.Mutex
	var got []string
	upstream := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		mu.Lock()
		got = append(got, r.Method+" "+r.URL.Path+" host="+r.Host)
		mu.Unlock()
	}))
	defer upstream.Close()
	p := StartObjectProxy(strings.TrimPrefix(upstream.URL, "http://"), "bkt")
	defer p.Close()
	p.Hold(func(key string) bool { return strings.HasSuffix(key, "/meta.json") })

	client := &http.Client{Transport: &http.Transport{}}
	defer client.CloseIdleConnections()
	put := func(ctx context.Context, key string) error {
		req, err := http.NewRequestWithContext(ctx, http.MethodPut, "http://"+p.Addr()+"/bkt/"+key, strings.NewReader("data"))
		require.NoError(t, err)
		resp, err := client.Do(req)
		if err == nil {
			resp.Body.Close()
		}
		return err
	}
	require.NoError(t, put(context.Background(), "b/index"))

	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan error, 1)
	go func() { done <- put(ctx, "b/meta.json") }()
	select {
	case key := <-p.Held():
		require.Equal(t, "b/meta.json", key)
	case <-time.After(10 * time.Second):
		t.Fatal("the meta.json PUT was not held")
	}
	cancel()
	require.Error(t, <-done, "the held request never completes")

	p.Hold(nil)
	require.NoError(t, put(context.Background(), "b/meta.json"))
	require.Equal(t, []string{"b/index", "b/meta.json"}, p.Puts())
	mu.Lock()
	defer mu.Unlock()
	require.Equal(t, []string{"PUT /bkt/b/index host=" + p.Addr(), "PUT /bkt/b/meta.json host=" + p.Addr()}, got)
}
