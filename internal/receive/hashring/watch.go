package hashring

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"log/slog"
	"os"
	"time"

	"github.com/prometheus/client_golang/prometheus"
	"github.com/prometheus/client_golang/prometheus/promauto"
)

// DefaultRefreshInterval is upstream's default of
// --receive.hashrings-file-refresh-interval.
const DefaultRefreshInterval = 5 * time.Minute

// WatchConfig says which hashrings file to watch and how.
type WatchConfig struct {
	// Path is the file (--receive.hashrings-file).
	Path string
	// Interval is how often the file is re-read
	// (--receive.hashrings-file-refresh-interval); 0 means
	// DefaultRefreshInterval.
	Interval time.Duration
	// Check, when set, vets a parsed and validated configuration further
	// (for example by building it with NewMulti and the process's
	// Options); a configuration it rejects is treated as invalid.
	Check func([]Config) error
	// Logger receives why a file was rejected; nil discards.
	Logger *slog.Logger
	// Registerer receives the watcher's metrics; nil registers none.
	Registerer prometheus.Registerer
}

type watchMetrics struct {
	reloads     prometheus.Counter
	failures    prometheus.Counter
	lastSuccess prometheus.Gauge
	successful  prometheus.Gauge
}

func newWatchMetrics(reg prometheus.Registerer) *watchMetrics {
	f := promauto.With(reg)
	return &watchMetrics{
		reloads: f.NewCounter(prometheus.CounterOpts{
			Name: "strata_receive_hashrings_file_changes_total",
			Help: "Times a changed, valid hashrings file was loaded.",
		}),
		failures: f.NewCounter(prometheus.CounterOpts{
			Name: "strata_receive_hashrings_file_errors_total",
			Help: "Times the hashrings file could not be read or was invalid; the last valid configuration stays in use.",
		}),
		lastSuccess: f.NewGauge(prometheus.GaugeOpts{
			Name: "strata_receive_config_last_reload_success_timestamp_seconds",
			Help: "Time of the last successful read of the hashrings file.",
		}),
		successful: f.NewGauge(prometheus.GaugeOpts{
			Name: "strata_receive_config_last_reload_successful",
			Help: "Whether the last read of the hashrings file gave a valid configuration (1) or not (0).",
		}),
	}
}

// Watch reads the hashrings file now and every Interval until ctx is done,
// and calls onChange with the configuration each time the file's content
// changes to a valid one (the first valid read included). A file that
// cannot be read or is invalid is logged with the reason and otherwise
// ignored: the last valid configuration stays in use, and the same content
// is not reported again until it changes. onChange runs on Watch's
// goroutine. Watch returns nil when ctx is done; it returns an error only
// for a config it cannot run with.
func Watch(ctx context.Context, cfg WatchConfig, onChange func([]Config)) error {
	if cfg.Path == "" {
		return errors.New("watch hashrings: no file; set --receive.hashrings-file")
	}
	if cfg.Interval < 0 {
		return fmt.Errorf("watch hashrings: --receive.hashrings-file-refresh-interval=%s must not be negative", cfg.Interval)
	}
	if cfg.Interval == 0 {
		cfg.Interval = DefaultRefreshInterval
	}
	logger := cfg.Logger
	if logger == nil {
		logger = slog.New(slog.DiscardHandler)
	}
	metrics := newWatchMetrics(cfg.Registerer)
	w := &watcher{cfg: cfg, logger: logger.With("file", cfg.Path), metrics: metrics, onChange: onChange}

	ticker := time.NewTicker(cfg.Interval)
	defer ticker.Stop()
	for {
		w.refresh()
		select {
		case <-ctx.Done():
			return nil
		case <-ticker.C:
		}
	}
}

type watcher struct {
	cfg      WatchConfig
	logger   *slog.Logger
	metrics  *watchMetrics
	onChange func([]Config)

	seen    []byte // content of the last read, valid or not
	hasSeen bool
	good    []byte // content of the configuration last given to onChange
	hasGood bool
}

func (w *watcher) refresh() {
	data, err := os.ReadFile(w.cfg.Path)
	if err != nil {
		// Reading again later is worth a new message, whatever it reads.
		w.hasSeen = false
		w.fail(fmt.Errorf("read hashrings file: %w", err))
		return
	}
	if w.hasSeen && bytes.Equal(data, w.seen) {
		return
	}
	w.seen, w.hasSeen = data, true
	if w.hasGood && bytes.Equal(data, w.good) {
		// Back to what is in use after a bad read: nothing changes.
		w.metrics.successful.Set(1)
		w.metrics.lastSuccess.SetToCurrentTime()
		return
	}
	cfgs, err := Parse(data)
	if err == nil && w.cfg.Check != nil {
		err = w.cfg.Check(cfgs)
	}
	if err != nil {
		w.fail(err)
		return
	}
	w.good, w.hasGood = data, true
	w.metrics.reloads.Inc()
	w.metrics.successful.Set(1)
	w.metrics.lastSuccess.SetToCurrentTime()
	w.logger.Info("loaded hashrings", "hashrings", len(cfgs))
	w.onChange(cfgs)
}

func (w *watcher) fail(err error) {
	w.metrics.failures.Inc()
	w.metrics.successful.Set(0)
	w.logger.Error("hashrings file rejected, keeping the last valid configuration", "err", err)
}
