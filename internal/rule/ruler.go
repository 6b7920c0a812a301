package rule

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"net/url"
	"sync"
	"time"

	"github.com/prometheus/client_golang/prometheus"
	"github.com/prometheus/client_golang/prometheus/promauto"
	"github.com/prometheus/common/model"
	"github.com/prometheus/prometheus/model/labels"
	"github.com/prometheus/prometheus/model/rulefmt"
	"github.com/prometheus/prometheus/promql"
	"github.com/prometheus/prometheus/promql/parser"
	"github.com/prometheus/prometheus/rules"
	"github.com/prometheus/prometheus/storage"
)

// Config configures a Ruler.
type Config struct {
	// Files are the rule file globs (--rule-file).
	Files []string
	// EvalInterval is the interval of groups that set none
	// (--eval-interval).
	EvalInterval time.Duration
	// QueryOffset is the query_offset of groups that set none
	// (--rule-query-offset): evaluations query that far in the past.
	QueryOffset time.Duration
	// Concurrency is the number of rules evaluated at once across groups
	// (--rule-concurrent-evaluation); 1 evaluates one rule at a time.
	Concurrency int
	// OutageTolerance, ForGracePeriod and ResendDelay are those of the
	// Prometheus rules manager (--for-outage-tolerance,
	// --for-grace-period, --resend-delay).
	OutageTolerance, ForGracePeriod, ResendDelay time.Duration
	// ExternalLabels are the ruler's --label labels, given to alert
	// templates as $externalLabels.
	ExternalLabels labels.Labels
	// QueryURL is the base of the generator URL of alerts
	// (--alert.query-url); it may be empty.
	QueryURL string
}

// Validate says what to fix.
func (c Config) Validate() error {
	var errs []error
	if c.EvalInterval <= 0 {
		errs = append(errs, fmt.Errorf("--eval-interval=%s must be positive", c.EvalInterval))
	}
	if c.Concurrency < 1 {
		errs = append(errs, fmt.Errorf("--rule-concurrent-evaluation=%d must be at least 1", c.Concurrency))
	}
	if c.ResendDelay < 0 || c.OutageTolerance < 0 || c.ForGracePeriod < 0 || c.QueryOffset < 0 {
		errs = append(errs, errors.New("--resend-delay, --for-outage-tolerance, --for-grace-period and --rule-query-offset must not be negative"))
	}
	if c.QueryURL != "" {
		if u, err := url.Parse(c.QueryURL); err != nil || u.Scheme == "" || u.Host == "" {
			errs = append(errs, fmt.Errorf("--alert.query-url=%q is not a URL like http://strata-query:10902", c.QueryURL))
		}
	}
	return errors.Join(errs...)
}

// Deps is what a Ruler evaluates with and writes to.
type Deps struct {
	// Querier answers the rules' queries.
	Querier *Querier
	// Appendable receives recording rule results and the ALERTS and
	// ALERTS_FOR_STATE series.
	Appendable storage.Appendable
	// Queryable is read to restore the `for` state of alerts after a
	// restart (ALERTS_FOR_STATE); nil restores nothing.
	Queryable storage.Queryable
	// Notify sends firing and resolved alerts; nil sends none.
	Notify rules.NotifyFunc
	// Logger and Registerer; nil discards logs and metrics.
	Logger     *slog.Logger
	Registerer prometheus.Registerer
}

// Ruler runs rule groups loaded from files. Its methods are safe for
// concurrent use.
type Ruler struct {
	cfg     Config
	logger  *slog.Logger
	manager *rules.Manager
	parser  parser.Parser

	reloadMu sync.Mutex // serialises Reload
	mu       sync.RWMutex
	current  *Set // loaded rule files, for strategies and the API
	loading  *Set // the set Update is loading, read by Load

	reloadOK   prometheus.Gauge
	reloadTime prometheus.Gauge
}

// strategyKey is the context key of the group's strategy.
type strategyKey struct{}

// New builds a Ruler without loading any file: call Reload, then Run.
func New(cfg Config, deps Deps) (*Ruler, error) {
	if err := cfg.Validate(); err != nil {
		return nil, err
	}
	if deps.Querier == nil || deps.Appendable == nil {
		return nil, errors.New("rule: a querier and an appendable are required")
	}
	logger := deps.Logger
	if logger == nil {
		logger = slog.New(slog.DiscardHandler)
	}
	r := &Ruler{
		cfg:     cfg,
		logger:  logger,
		parser:  parser.NewParser(parser.Options{}),
		current: &Set{byPath: map[string]*File{}},
	}
	f := promauto.With(deps.Registerer)
	r.reloadOK = f.NewGauge(prometheus.GaugeOpts{
		Name: "strata_rule_config_last_reload_successful",
		Help: "Whether the last load of the rule files succeeded (1) or kept the previous rules (0).",
	})
	r.reloadTime = f.NewGauge(prometheus.GaugeOpts{
		Name: "strata_rule_config_last_reload_success_timestamp_seconds",
		Help: "Time of the last successful load of the rule files.",
	})
	notify := deps.Notify
	if notify == nil {
		notify = func(context.Context, string, ...*rules.Alert) {}
	}
	q := deps.Querier
	r.manager = rules.NewManager(&rules.ManagerOptions{
		NameValidationScheme: model.UTF8Validation,
		QueryFunc: func(ctx context.Context, qs string, t time.Time) (promql.Vector, error) {
			st, _ := ctx.Value(strategyKey{}).(Strategy)
			if st == "" {
				st = Abort
			}
			return q.Query(ctx, qs, t, st)
		},
		NotifyFunc:             notify,
		Context:                context.Background(),
		Appendable:             deps.Appendable,
		Queryable:              deps.Queryable,
		Logger:                 logger,
		Registerer:             deps.Registerer,
		OutageTolerance:        cfg.OutageTolerance,
		ForGracePeriod:         cfg.ForGracePeriod,
		ResendDelay:            cfg.ResendDelay,
		GroupLoader:            loader{r},
		DefaultRuleQueryOffset: func() time.Duration { return cfg.QueryOffset },
		ConcurrentEvalsEnabled: cfg.Concurrency > 1,
		MaxConcurrentEvals:     int64(cfg.Concurrency),
		Parser:                 r.parser,
	})
	return r, nil
}

// Reload reads the rule files again and, when every one is valid, replaces
// the running groups (a group left unchanged keeps running; a changed one
// keeps its alerts' state). On any error the previous rules stay and the
// error names every problem.
func (r *Ruler) Reload() error {
	r.reloadMu.Lock()
	defer r.reloadMu.Unlock()
	set, errs := Load(r.cfg.Files, r.parser)
	if len(errs) > 0 {
		r.reloadOK.Set(0)
		return fmt.Errorf("rule files not loaded, previous rules kept: %w", errors.Join(errs...))
	}
	r.mu.Lock()
	old := r.current
	r.current, r.loading = set, set
	r.mu.Unlock()
	err := r.manager.Update(r.cfg.EvalInterval, set.Paths(), r.cfg.ExternalLabels, r.cfg.QueryURL, r.evalIteration)
	r.mu.Lock()
	r.loading = nil
	if err != nil {
		r.current = old
	}
	r.mu.Unlock()
	if err != nil {
		r.reloadOK.Set(0)
		return fmt.Errorf("rule files not loaded, previous rules kept: %w", err)
	}
	r.reloadOK.Set(1)
	r.reloadTime.SetToCurrentTime()
	r.logger.Info("rule files loaded", "files", len(set.Files), "groups", len(r.manager.RuleGroups()))
	return nil
}

// evalIteration evaluates a group with its strategy in the context.
func (r *Ruler) evalIteration(ctx context.Context, g *rules.Group, ts time.Time) {
	ctx = context.WithValue(ctx, strategyKey{}, r.Strategy(g.File(), g.Name()))
	rules.DefaultEvalIterationFunc(ctx, g, ts)
}

// Strategy returns the partial response strategy of a loaded group.
func (r *Ruler) Strategy(file, group string) Strategy {
	r.mu.RLock()
	defer r.mu.RUnlock()
	return r.current.Strategy(file, group)
}

// Run evaluates the groups until ctx is done, then stops them.
func (r *Ruler) Run(ctx context.Context) error {
	done := make(chan struct{})
	go func() {
		defer close(done)
		r.manager.Run()
	}()
	<-ctx.Done()
	r.manager.Stop()
	<-done
	return nil
}

// Manager returns the underlying rules manager.
func (r *Ruler) Manager() *rules.Manager { return r.manager }

// loader is the rules.GroupLoader of a Ruler: it hands the manager the
// files of the set being loaded, without the Thanos fields.
type loader struct{ r *Ruler }

// Load implements rules.GroupLoader.
func (l loader) Load(identifier string, ignoreUnknownFields bool, scheme model.ValidationScheme) (*rulefmt.RuleGroups, []error) {
	l.r.mu.RLock()
	set := l.r.loading
	l.r.mu.RUnlock()
	if set == nil {
		return nil, []error{fmt.Errorf("%s: rule files are loaded only by Reload", identifier)}
	}
	f, ok := set.byPath[identifier]
	if !ok {
		return nil, []error{fmt.Errorf("%s: not among the rule files read", identifier)}
	}
	rgs, errs := rulefmt.Parse(f.Content, ignoreUnknownFields, scheme, l.r.parser, l.r.logger)
	for i := range errs {
		errs[i] = fmt.Errorf("%s: %w", identifier, errs[i])
	}
	return rgs, errs
}

// Parse implements rules.GroupLoader.
func (l loader) Parse(query string) (parser.Expr, error) { return l.r.parser.ParseExpr(query) }
