package rule

import (
	"context"
	"encoding/json"
	"io"
	"net/http"
	"net/http/httptest"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/prometheus/prometheus/model/labels"
	"github.com/prometheus/prometheus/notifier"
	"github.com/stretchr/testify/require"

	"github.com/strata-io/strata/internal/block"
)

// An Alertmanager of --alertmanagers.config gets the alerts under its
// path_prefix with its http_config's basic auth, minus those the alert
// relabel configs drop.
func TestAlertmanagersFileSends(t *testing.T) {
	var (
		mu   sync.Mutex
		got  []string
		auth []string
	)
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		b, _ := io.ReadAll(r.Body)
		var alerts []struct {
			Labels map[string]string `json:"labels"`
		}
		_ = json.Unmarshal(b, &alerts)
		user, pass, _ := r.BasicAuth()
		mu.Lock()
		defer mu.Unlock()
		for _, a := range alerts {
			got = append(got, r.URL.Path+" "+a.Labels["alertname"])
		}
		auth = append(auth, user+":"+pass)
	}))
	t.Cleanup(srv.Close)

	f, err := ParseAlertmanagersFile([]byte(`
alertmanagers:
  - static_configs: ["` + strings.TrimPrefix(srv.URL, "http://") + `"]
    path_prefix: /am/
    timeout: 5s
    api_version: v2
    http_config:
      basic_auth: {username: ruler, password: s3cret}
`))
	require.NoError(t, err)
	relabels, err := block.ParseRelabelConfigs([]byte(`[{action: drop, source_labels: [alertname], regex: Noise}]`))
	require.NoError(t, err)
	a, err := NewAlertmanagers(AlertmanagersConfig{File: f, Timeout: 10 * time.Second, ExternalLabels: labels.FromStrings("cluster", "eu"), Relabel: relabels}, nil, nil)
	require.NoError(t, err)
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan error, 1)
	go func() { done <- a.Run(ctx) }()
	defer func() { cancel(); require.NoError(t, <-done) }()

	require.Eventually(t, func() bool {
		a.manager.Send(&notifier.Alert{Labels: labels.FromStrings("alertname", "Noise")}, &notifier.Alert{Labels: labels.FromStrings("alertname", "Test")})
		mu.Lock()
		defer mu.Unlock()
		return len(got) > 0
	}, 15*time.Second, 200*time.Millisecond)
	mu.Lock()
	defer mu.Unlock()
	require.Equal(t, "/am/api/v2/alerts Test", got[0])
	require.NotContains(t, got, "/am/api/v2/alerts Noise", "--alert.relabel-config dropped it")
	require.Equal(t, "ruler:s3cret", auth[0])
}

// What the file cannot mean is refused with the entry and what to do.
func TestAlertmanagersFileRefused(t *testing.T) {
	for yml, want := range map[string]string{
		"alertmanagers: [{static_configs: ['dns+am:9093']}]":                                  "DNS discovery is not supported yet",
		"alertmanagers: [{static_configs: ['am']}]":                                           "is not host:port",
		"alertmanagers: [{static_configs: ['am:9093'], scheme: ftp}]":                         "want http or https",
		"alertmanagers: [{static_configs: ['am:9093'], api_version: v1}]":                     "API v2 is the only one",
		"alertmanagers: [{file_sd_configs: [{files: [a.yml]}], static_configs: ['am:9093']}]": "file_sd_configs are not supported yet",
		"alertmanagers: [{}]": "no static_configs",
		"alertmanagers: [{static_configs: ['am:9093'], timeot: 5s}]": "timeot",
	} {
		_, err := ParseAlertmanagersFile([]byte(yml))
		require.ErrorContains(t, err, want, yml)
	}
}
