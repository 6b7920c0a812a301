// Package promstore serves one Prometheus server over the StoreAPI: it is the
// read side of the sidecar. Series come from Prometheus' remote-read endpoint
// (streamed XOR chunks, passed through without re-encoding where the StoreAPI
// knows the encoding); label names, values and metric metadata come from its
// HTTP API. The external labels of Prometheus (global.external_labels) are
// attached to every series and are required: they are what tells the series
// of one Prometheus from those of its HA replica.
package promstore

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"math"
	"net/http"
	"net/url"
	"sync"
	"time"

	"github.com/prometheus/client_golang/prometheus"
	"github.com/prometheus/client_golang/prometheus/promauto"
	"github.com/prometheus/prometheus/model/labels"
	"google.golang.org/grpc/codes"
	"google.golang.org/grpc/status"

	"github.com/strata-io/strata/pkg/infopb"
	"github.com/strata-io/strata/pkg/metadatapb"
	"github.com/strata-io/strata/pkg/rulespb"
	"github.com/strata-io/strata/pkg/storepb"
)

// ErrNoExternalLabels is returned (wrapped) by CheckPrometheus and Ready when
// Prometheus has no external labels configured. It is a configuration error of
// Prometheus, not a transient one: the sidecar refuses to start on it.
var ErrNoExternalLabels = errors.New("no external labels")

// noExtLabelsError is ErrNoExternalLabels with what to do about it.
type noExtLabelsError struct{ url string }

func (e noExtLabelsError) Error() string {
	return "prometheus at " + e.url + " has no external labels: set global.external_labels in prometheus.yml " +
		"(for example cluster and replica) so its series can be told apart"
}

func (noExtLabelsError) Is(target error) bool { return target == ErrNoExternalLabels }

// errNotReached is reported until Prometheus has been reached once.
var errNotReached = errors.New("not reached yet")

// Config configures a Store.
type Config struct {
	// URL is the Prometheus base URL, e.g. http://127.0.0.1:9090. A path
	// prefix (Prometheus' --web.route-prefix) is kept.
	URL *url.URL
	// RefreshInterval is how often external labels and the minimum time are
	// re-read from Prometheus.
	RefreshInterval time.Duration
	// RefreshTimeout bounds one refresh (config and /metrics requests).
	RefreshTimeout time.Duration
	// APITimeout bounds one label names, label values, series (skip_chunks)
	// or metadata request to Prometheus. Remote reads are bounded by the
	// caller's context only.
	APITimeout time.Duration
	// MaxFrameBytes is the largest remote-read frame accepted from Prometheus.
	MaxFrameBytes uint64
}

// DefaultConfig returns a Config with the defaults of the sidecar and no URL.
func DefaultConfig() Config {
	return Config{
		RefreshInterval: 30 * time.Second,
		RefreshTimeout:  10 * time.Second,
		APITimeout:      2 * time.Minute,
		MaxFrameBytes:   50 * 1024 * 1024,
	}
}

// Validate tells what is wrong with the configuration, if anything.
func (c Config) Validate() error {
	if c.URL == nil || c.URL.Host == "" {
		return errors.New("prometheus URL is required (for example http://127.0.0.1:9090)")
	}
	if c.URL.Scheme != "http" && c.URL.Scheme != "https" {
		return fmt.Errorf("prometheus URL %s: scheme must be http or https", c.URL)
	}
	if c.RefreshInterval <= 0 {
		return fmt.Errorf("refresh interval must be positive, got %s", c.RefreshInterval)
	}
	return nil
}

// Store is a StoreAPI server (storepb.StoreServer, infopb.InfoServer,
// metadatapb.MetadataServer and rulespb.RulesServer) over one Prometheus. It is safe for concurrent
// use; its state (external labels, min time, readiness) is refreshed by Run.
type Store struct {
	storepb.UnimplementedStoreServer
	infopb.UnimplementedInfoServer
	metadatapb.UnimplementedMetadataServer
	rulespb.UnimplementedRulesServer

	cfg    Config
	client *http.Client
	logger *slog.Logger
	base   string // URL without trailing slash

	mtx       sync.RWMutex
	extLabels labels.Labels // sorted; empty until first known
	minTime   int64         // ms, inclusive
	lastErr   error         // error of the last refresh, nil when it succeeded

	up       prometheus.Gauge
	requests *prometheus.CounterVec
	duration *prometheus.HistogramVec
}

// New returns a Store for the Prometheus at cfg.URL. client is used for every
// request to Prometheus (a plain http.Client when nil); reg may be nil. New does
// not contact Prometheus: call CheckPrometheus, then Run.
func New(cfg Config, client *http.Client, logger *slog.Logger, reg prometheus.Registerer) (*Store, error) {
	def := DefaultConfig()
	if cfg.RefreshInterval == 0 {
		cfg.RefreshInterval = def.RefreshInterval
	}
	if cfg.RefreshTimeout <= 0 {
		cfg.RefreshTimeout = def.RefreshTimeout
	}
	if cfg.APITimeout <= 0 {
		cfg.APITimeout = def.APITimeout
	}
	if cfg.MaxFrameBytes == 0 {
		cfg.MaxFrameBytes = def.MaxFrameBytes
	}
	if err := cfg.Validate(); err != nil {
		return nil, err
	}
	if client == nil {
		client = &http.Client{}
	}
	if logger == nil {
		logger = slog.New(slog.DiscardHandler)
	}
	base := *cfg.URL
	for len(base.Path) > 0 && base.Path[len(base.Path)-1] == '/' {
		base.Path = base.Path[:len(base.Path)-1]
	}
	f := promauto.With(reg)
	s := &Store{
		cfg:     cfg,
		client:  client,
		logger:  logger.With("prometheus", cfg.URL.String()),
		base:    base.String(),
		minTime: math.MinInt64,
		lastErr: fmt.Errorf("prometheus at %s: %w", cfg.URL, errNotReached),
		up: f.NewGauge(prometheus.GaugeOpts{
			Name: "strata_sidecar_prometheus_up",
			Help: "1 when the last refresh from Prometheus succeeded and its external labels are known, else 0.",
		}),
		requests: f.NewCounterVec(prometheus.CounterOpts{
			Name: "strata_sidecar_prometheus_requests_total",
			Help: "Requests sent to Prometheus, by API and outcome (success, error).",
		}, []string{"api", "outcome"}),
		duration: f.NewHistogramVec(prometheus.HistogramOpts{
			Name:                        "strata_sidecar_prometheus_request_duration_seconds",
			Help:                        "Time to the end of a request to Prometheus, by API.",
			NativeHistogramBucketFactor: 1.1,
			Buckets:                     prometheus.DefBuckets,
		}, []string{"api"}),
	}
	return s, nil
}

// Run refreshes external labels and min time every RefreshInterval until ctx
// is done, then returns nil. Errors are logged and reflected by Ready.
func (s *Store) Run(ctx context.Context) error {
	t := time.NewTicker(s.cfg.RefreshInterval)
	defer t.Stop()
	for {
		select {
		case <-ctx.Done():
			return nil
		case <-t.C:
			_ = s.CheckPrometheus(ctx)
		}
	}
}

// Ready returns nil when the last contact with Prometheus succeeded and its
// external labels are known, else why not.
func (s *Store) Ready() error {
	s.mtx.RLock()
	defer s.mtx.RUnlock()
	if s.lastErr != nil {
		return s.lastErr
	}
	return nil
}

// ExternalLabels returns the external labels of Prometheus as last read
// (empty until known). The result must not be modified.
func (s *Store) ExternalLabels() labels.Labels {
	s.mtx.RLock()
	defer s.mtx.RUnlock()
	return s.extLabels
}

// TimeRange returns the inclusive range in ms of the data served: from the
// lowest timestamp of Prometheus' TSDB (math.MinInt64 when unknown) to
// math.MaxInt64.
func (s *Store) TimeRange() (mint, maxt int64) {
	s.mtx.RLock()
	defer s.mtx.RUnlock()
	return s.minTime, math.MaxInt64
}

// CheckPrometheus reads external labels and min time from Prometheus once and
// updates the Store's state. It returns an error wrapping ErrNoExternalLabels
// when Prometheus has none (a configuration error to report and stop on), or
// another error when Prometheus cannot be reached or answers badly (retry).
func (s *Store) CheckPrometheus(ctx context.Context) error {
	ctx, cancel := context.WithTimeout(ctx, s.cfg.RefreshTimeout)
	defer cancel()

	ext, err := s.fetchExternalLabels(ctx)
	if err == nil && ext.IsEmpty() {
		err = noExtLabelsError{url: s.cfg.URL.String()}
	}
	var minTime int64
	if err == nil {
		minTime, err = s.fetchMinTime(ctx)
	}
	if st, ok := status.FromError(err); ok && err != nil {
		// Callers log this error: no gRPC decoration.
		err = errors.New(st.Message())
	}

	s.mtx.Lock()
	defer s.mtx.Unlock()
	if err != nil {
		if s.lastErr == nil || errors.Is(s.lastErr, errNotReached) {
			s.logger.Warn("prometheus not ready", "err", err)
		}
		s.lastErr = err
		s.up.Set(0)
		return err
	}
	if s.lastErr != nil {
		s.logger.Info("prometheus ready", "external_labels", ext.String(), "min_time", minTime)
	} else if !labels.Equal(ext, s.extLabels) {
		s.logger.Info("prometheus external labels changed", "old", s.extLabels.String(), "new", ext.String())
	}
	s.extLabels = ext
	s.minTime = minTime
	s.lastErr = nil
	s.up.Set(1)
	return nil
}

// Info implements infopb.InfoServer. It answers Unavailable until the
// external labels of Prometheus are known.
func (s *Store) Info(context.Context, *infopb.InfoRequest) (*infopb.InfoResponse, error) {
	ext, err := s.knownExtLabels()
	if err != nil {
		return nil, err
	}
	mint, maxt := s.TimeRange()
	return &infopb.InfoResponse{
		LabelSets:     storepb.LabelSetsToProto([]labels.Labels{ext}),
		ComponentType: "sidecar",
		Store: &infopb.StoreInfo{
			MinTime:                      mint,
			MaxTime:                      maxt,
			SupportsWithoutReplicaLabels: true,
		},
		MetricMetadata: &infopb.MetricMetadataInfo{},
		Rules:          &infopb.RulesInfo{},
	}, nil
}

// knownExtLabels returns the external labels, or an Unavailable error while
// they were never read.
func (s *Store) knownExtLabels() (labels.Labels, error) {
	s.mtx.RLock()
	ext, lastErr := s.extLabels, s.lastErr
	s.mtx.RUnlock()
	if ext.IsEmpty() {
		return labels.EmptyLabels(), status.Errorf(codes.Unavailable, "prometheus at %s: external labels not known yet: %v", s.cfg.URL, lastErr)
	}
	return ext, nil
}

// observe records the outcome and duration of one request to Prometheus.
func (s *Store) observe(api string, start time.Time, err error) {
	outcome := "success"
	if err != nil {
		outcome = "error"
	}
	s.requests.WithLabelValues(api, outcome).Inc()
	s.duration.WithLabelValues(api).Observe(time.Since(start).Seconds())
}
