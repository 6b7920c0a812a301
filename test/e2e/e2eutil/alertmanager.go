package e2eutil

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net/http"
	"net/http/httptest"
	"os"
	"os/exec"
	"path/filepath"
	"slices"
	"strconv"
	"strings"
	"sync"
	"time"

	"github.com/prometheus/common/model"
)

// BuildAlertmanager builds alertmanager and amtool into root/.bin from the
// Alertmanager module at the version go.mod requires, with
// scripts/build-alertmanager.sh (which says why `go install` cannot), and
// returns the path of alertmanager; amtool is beside it. The first build
// takes minutes, later ones seconds.
func BuildAlertmanager(ctx context.Context, root string) (string, error) {
	script := filepath.Join(root, "scripts", "build-alertmanager.sh")
	cmd := exec.CommandContext(ctx, "bash", script)
	cmd.Dir = root
	var buf bytes.Buffer
	cmd.Stdout = &buf
	cmd.Stderr = &buf
	if err := cmd.Run(); err != nil {
		return "", fmt.Errorf("%s: %w\n%s", script, err, buf.String())
	}
	return filepath.Join(root, BinDir, "alertmanager"), nil
}

// AlertmanagerConfig is the part of an Alertmanager configuration the tests
// vary. Every alert goes to one webhook receiver served by the harness.
type AlertmanagerConfig struct {
	// GroupBy is the route's group_by; empty puts all alerts in one group.
	GroupBy []string
	// GroupWait, GroupInterval and RepeatInterval default to 1s, 1s and 1h.
	GroupWait, GroupInterval, RepeatInterval time.Duration
}

// YAML renders the configuration with webhookURL as the only receiver, which
// is also told about resolved alerts.
func (c AlertmanagerConfig) YAML(webhookURL string) string {
	dur := func(d, def time.Duration) string {
		if d <= 0 {
			d = def
		}
		return model.Duration(d).String()
	}
	groupBy := make([]string, len(c.GroupBy))
	for i, l := range c.GroupBy {
		groupBy[i] = strconv.Quote(l)
	}
	var b strings.Builder
	fmt.Fprintf(&b, "route:\n  receiver: harness\n  group_by: [%s]\n", strings.Join(groupBy, ", "))
	fmt.Fprintf(&b, "  group_wait: %s\n  group_interval: %s\n  repeat_interval: %s\n",
		dur(c.GroupWait, time.Second), dur(c.GroupInterval, time.Second), dur(c.RepeatInterval, time.Hour))
	fmt.Fprintf(&b, "receivers:\n  - name: harness\n    webhook_configs:\n      - url: %s\n        send_resolved: true\n",
		strconv.Quote(webhookURL))
	return b.String()
}

// PostableAlert is an alert as clients (Prometheus' notifier, `strata rule`)
// send it to POST /api/v2/alerts. Zero times are left out.
type PostableAlert struct {
	Labels       map[string]string `json:"labels"`
	Annotations  map[string]string `json:"annotations,omitempty"`
	StartsAt     time.Time         `json:"startsAt,omitzero"`
	EndsAt       time.Time         `json:"endsAt,omitzero"`
	GeneratorURL string            `json:"generatorURL,omitempty"`
}

// GettableAlert is an alert as GET /api/v2/alerts lists it.
type GettableAlert struct {
	Labels       map[string]string   `json:"labels"`
	Annotations  map[string]string   `json:"annotations"`
	Status       GettableAlertStatus `json:"status"`
	StartsAt     time.Time           `json:"startsAt"`
	EndsAt       time.Time           `json:"endsAt"`
	UpdatedAt    time.Time           `json:"updatedAt"`
	GeneratorURL string              `json:"generatorURL"`
	Fingerprint  string              `json:"fingerprint"`
}

// GettableAlertStatus says whether a listed alert notifies.
type GettableAlertStatus struct {
	// State is "active", "suppressed" or "unprocessed".
	State       string   `json:"state"`
	SilencedBy  []string `json:"silencedBy"`
	InhibitedBy []string `json:"inhibitedBy"`
}

// WebhookMessage is one notification Alertmanager sent to the webhook: the
// alerts of one group.
type WebhookMessage struct {
	// Status is "resolved" when every alert of the group is resolved,
	// otherwise "firing".
	Status      string            `json:"status"`
	Receiver    string            `json:"receiver"`
	GroupKey    string            `json:"groupKey"`
	GroupLabels map[string]string `json:"groupLabels"`
	Alerts      []WebhookAlert    `json:"alerts"`
	// Received is when the harness got the message (not in the payload).
	Received time.Time `json:"-"`
}

// WebhookAlert is one alert of a WebhookMessage.
type WebhookAlert struct {
	// Status is "firing" or "resolved".
	Status       string            `json:"status"`
	Labels       map[string]string `json:"labels"`
	Annotations  map[string]string `json:"annotations"`
	StartsAt     time.Time         `json:"startsAt"`
	EndsAt       time.Time         `json:"endsAt"`
	GeneratorURL string            `json:"generatorURL"`
	Fingerprint  string            `json:"fingerprint"`
}

// AlertNames returns the sorted, distinct alertname labels of the message's
// alerts with the given status ("" for any).
func (m WebhookMessage) AlertNames(status string) []string {
	var names []string
	for _, a := range m.Alerts {
		if status == "" || a.Status == status {
			names = append(names, a.Labels[model.AlertNameLabel])
		}
	}
	slices.Sort(names)
	return slices.Compact(names)
}

// Alertmanager is a single Alertmanager (clustering off) with a webhook
// receiver the harness serves, run in its own directory. Restarting keeps the
// storage directory (silences, notification log), the listen address and the
// webhook. Close it when done. Methods other than Start, Stop and Kill are
// safe for concurrent use.
type Alertmanager struct {
	Bin    string
	Name   string
	Dir    string // holds alertmanager.yml, data/ and the log
	Addr   string // 127.0.0.1:port of the web listener
	Config AlertmanagerConfig
	Extra  []string // more flags
	// Process is the running server; nil before Start.
	Process *Process

	webhook *httptest.Server
	client  *http.Client
	mu      sync.Mutex
	msgs    []WebhookMessage
	bad     []error // webhook requests that could not be decoded
}

// NewAlertmanager returns an Alertmanager in dir/name using the binary bin.
func NewAlertmanager(bin, dir, name string) *Alertmanager {
	return &Alertmanager{Bin: bin, Name: name, Dir: filepath.Join(dir, name)}
}

// URL is the base URL of the web API, for --alertmanagers.url.
func (a *Alertmanager) URL() string { return "http://" + a.Addr }

// ConfigPath is the path of the config file.
func (a *Alertmanager) ConfigPath() string { return filepath.Join(a.Dir, "alertmanager.yml") }

// WebhookURL is where Alertmanager sends notifications; "" before Start.
func (a *Alertmanager) WebhookURL() string {
	if a.webhook == nil {
		return ""
	}
	return a.webhook.URL + "/webhook"
}

// Spec writes the config file and returns the process spec.
func (a *Alertmanager) Spec() (Spec, error) {
	if err := os.MkdirAll(a.Dir, 0o755); err != nil {
		return Spec{}, fmt.Errorf("create dir of %s: %w", a.Name, err)
	}
	if err := os.WriteFile(a.ConfigPath(), []byte(a.Config.YAML(a.WebhookURL())), 0o644); err != nil {
		return Spec{}, fmt.Errorf("write config of %s: %w", a.Name, err)
	}
	args := []string{
		"--config.file=" + a.ConfigPath(),
		"--storage.path=" + filepath.Join(a.Dir, "data"),
		"--web.listen-address=" + a.Addr,
		"--cluster.listen-address=", // no gossip: a single instance
		"--log.level=debug",
	}
	args = append(args, a.Extra...)
	return Spec{Name: a.Name, Bin: a.Bin, Args: args, Dir: a.Dir, ReadyURL: a.URL() + "/-/ready"}, nil
}

// Start starts the webhook receiver (first time only) and the server, and
// waits until the server is ready. With Addr empty it listens on a free port
// from ports, and on another one if that was taken meanwhile; with Addr set
// (a restart) it keeps that address.
func (a *Alertmanager) Start(ctx context.Context, ports *Ports) error {
	if a.webhook == nil {
		a.webhook = httptest.NewServer(http.HandlerFunc(a.receive))
		a.client = &http.Client{Timeout: 30 * time.Second, Transport: &http.Transport{}}
	}
	fixed := a.Addr != ""
	proc, err := StartReady(ctx, 3, func() (Spec, error) {
		if !fixed {
			addr, err := ports.Addr()
			if err != nil {
				return Spec{}, err
			}
			a.Addr = addr
		}
		return a.Spec()
	})
	if proc != nil {
		a.Process = proc
	}
	return err
}

// Stop sends SIGTERM and waits up to timeout (then kills); the webhook stays.
func (a *Alertmanager) Stop(timeout time.Duration) error {
	if a.Process == nil {
		return nil
	}
	return a.Process.Stop(timeout)
}

// Kill kills the server at once; the webhook stays.
func (a *Alertmanager) Kill() {
	if a.Process != nil {
		a.Process.Kill()
	}
}

// Close kills the server and closes the webhook receiver.
func (a *Alertmanager) Close() {
	a.Kill()
	if a.webhook != nil {
		a.webhook.Close()
		a.client.CloseIdleConnections()
	}
}

func (a *Alertmanager) receive(w http.ResponseWriter, r *http.Request) {
	var m WebhookMessage
	err := json.NewDecoder(io.LimitReader(r.Body, 16<<20)).Decode(&m)
	m.Received = time.Now()
	a.mu.Lock()
	if err != nil {
		a.bad = append(a.bad, fmt.Errorf("decode webhook message: %w", err))
	} else {
		a.msgs = append(a.msgs, m)
	}
	a.mu.Unlock()
	if err != nil {
		http.Error(w, err.Error(), http.StatusBadRequest)
	}
}

// Notifications returns the webhook messages received so far, oldest first,
// and an error if any request to the webhook could not be decoded.
func (a *Alertmanager) Notifications() ([]WebhookMessage, error) {
	a.mu.Lock()
	defer a.mu.Unlock()
	return slices.Clone(a.msgs), errors.Join(a.bad...)
}

// PostAlerts sends alerts to POST /api/v2/alerts, as a ruler does.
func (a *Alertmanager) PostAlerts(ctx context.Context, alerts ...PostableAlert) error {
	body, err := json.Marshal(alerts)
	if err != nil {
		return fmt.Errorf("encode alerts: %w", err)
	}
	req, err := http.NewRequestWithContext(ctx, http.MethodPost, a.URL()+"/api/v2/alerts", bytes.NewReader(body))
	if err != nil {
		return err
	}
	req.Header.Set("Content-Type", "application/json")
	_, err = a.do(req)
	return err
}

// Alerts returns GET /api/v2/alerts: the alerts that are not resolved,
// whether active, silenced, inhibited or not yet processed.
func (a *Alertmanager) Alerts(ctx context.Context) ([]GettableAlert, error) {
	req, err := http.NewRequestWithContext(ctx, http.MethodGet, a.URL()+"/api/v2/alerts", nil)
	if err != nil {
		return nil, err
	}
	body, err := a.do(req)
	if err != nil {
		return nil, err
	}
	var alerts []GettableAlert
	if err := json.Unmarshal(body, &alerts); err != nil {
		return nil, fmt.Errorf("decode alerts of %s: %w", a.Name, err)
	}
	return alerts, nil
}

// do sends req and returns the body of a 2xx answer.
func (a *Alertmanager) do(req *http.Request) (_ []byte, err error) {
	if a.client == nil {
		return nil, fmt.Errorf("%s %s: %s not started", req.Method, req.URL.Path, a.Name)
	}
	resp, err := a.client.Do(req)
	if err != nil {
		return nil, fmt.Errorf("%s %s: %w", req.Method, req.URL.Path, err)
	}
	defer func() { err = errors.Join(err, resp.Body.Close()) }()
	body, err := io.ReadAll(io.LimitReader(resp.Body, 64<<20))
	if err != nil {
		return nil, fmt.Errorf("%s %s: read body: %w", req.Method, req.URL.Path, err)
	}
	if resp.StatusCode/100 != 2 {
		return nil, fmt.Errorf("%s %s: %s: %s", req.Method, req.URL.Path, resp.Status, strings.TrimSpace(string(body)))
	}
	return body, nil
}
