// Package multitsdb is the receiver's storage: one Prometheus TSDB per
// tenant under a common directory, written to with decoded remote-write
// series and served over one StoreAPI.
//
// A tenant's TSDB lives in Dir/<tenant>. It is opened on the tenant's first
// write, or at New when the directory exists (its WAL is replayed). A tenant
// idle for Config.IdleTimeout has its head cut into a block in its directory
// and its TSDB closed; it is opened again on its next write.
package multitsdb

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"sync"
	"sync/atomic"
	"time"
	"unicode/utf8"

	"github.com/prometheus/client_golang/prometheus"
	"github.com/prometheus/client_golang/prometheus/promauto"
	"github.com/prometheus/prometheus/model/labels"
	"github.com/prometheus/prometheus/tsdb"

	"github.com/strata-io/strata/internal/store/tsdbstore"
)

// Defaults of upstream's receiver.
const (
	// DefaultTenantLabel is the tenant label when Config.TenantLabel is empty.
	DefaultTenantLabel = "tenant_id"
	// DefaultRetention is the default of --tsdb.retention (Config.Retention
	// 0 keeps blocks forever).
	DefaultRetention = 15 * 24 * time.Hour
	// DefaultBlockDuration is the block duration when Config's are 0.
	DefaultBlockDuration = 2 * time.Hour

	componentType           = "receive"
	defaultIdleCheckEvery   = time.Minute
	maxReportedSampleErrors = 10
)

// Config configures a MultiTSDB. The zero value of a field means its
// default where one is given.
type Config struct {
	// Dir holds one TSDB directory per tenant (--tsdb.path).
	Dir string
	// TenantLabel is the external label naming a tenant on everything its
	// TSDB serves (--receive.tenant-label-name; default tenant_id).
	TenantLabel string
	// ExternalLabels are attached to every tenant's series (--label); the
	// tenant label is added to them.
	ExternalLabels labels.Labels
	// TenantLabels, when set, returns further external labels of a tenant
	// (its hashring's external_labels), read when the tenant's TSDB opens.
	// ExternalLabels and the tenant label win over them.
	TenantLabels func(tenant string) labels.Labels
	// Retention is how long blocks are kept locally (--tsdb.retention,
	// whose default is DefaultRetention). 0 keeps them forever, as
	// upstream's 0d does.
	Retention time.Duration
	// OutOfOrderWindow is how far behind a series' newest sample a sample
	// is still accepted (--tsdb.out-of-order.time-window; 0 refuses any
	// out-of-order sample).
	OutOfOrderWindow time.Duration
	// TooFarInFuture refuses samples whose timestamp is further than this
	// after the receiver's clock (--tsdb.too-far-in-future.time-window); 0
	// accepts any. One far-future sample would otherwise move the head's
	// time forward and lock the tenant out of current samples.
	TooFarInFuture time.Duration
	// MinBlockDuration and MaxBlockDuration bound the blocks the TSDBs cut
	// (--tsdb.min-block-duration, --tsdb.max-block-duration; default 2h).
	MinBlockDuration, MaxBlockDuration time.Duration
	// MaxExemplars is the number of exemplars each tenant keeps in memory
	// (--tsdb.max-exemplars); 0 discards exemplars, as upstream does.
	MaxExemplars int64
	// IdleTimeout closes a tenant that received no write for this long,
	// after cutting its head into a block (0 never closes tenants).
	IdleTimeout time.Duration
	// WALCompression compresses the WAL (--tsdb.wal-compression).
	WALCompression bool
	// NoLockfile does not lock the tenants' directories (--tsdb.no-lockfile).
	NoLockfile bool
}

// TenantExternalLabels returns the external labels of tenant's TSDB and
// blocks: its TenantLabels, then ExternalLabels, then the tenant label.
func (cfg Config) TenantExternalLabels(tenant string) labels.Labels {
	b := labels.NewBuilder(labels.EmptyLabels())
	if cfg.TenantLabels != nil {
		cfg.TenantLabels(tenant).Range(func(l labels.Label) { b.Set(l.Name, l.Value) })
	}
	cfg.ExternalLabels.Range(func(l labels.Label) { b.Set(l.Name, l.Value) })
	return b.Set(cfg.withDefaults().TenantLabel, tenant).Labels()
}

// withDefaults returns cfg with zero fields set to their defaults.
func (cfg Config) withDefaults() Config {
	if cfg.TenantLabel == "" {
		cfg.TenantLabel = DefaultTenantLabel
	}
	if cfg.MinBlockDuration == 0 {
		cfg.MinBlockDuration = DefaultBlockDuration
	}
	if cfg.MaxBlockDuration == 0 {
		cfg.MaxBlockDuration = DefaultBlockDuration
	}
	return cfg
}

// Validate says what to fix in cfg.
func (cfg Config) Validate() error {
	cfg = cfg.withDefaults()
	switch {
	case cfg.Dir == "":
		return errors.New("no TSDB directory: set --tsdb.path")
	case cfg.Retention < 0:
		return errors.New("--tsdb.retention must not be negative (0d keeps blocks forever)")
	case cfg.TooFarInFuture < 0:
		return errors.New("--tsdb.too-far-in-future.time-window must not be negative (0s turns the check off)")
	case cfg.OutOfOrderWindow < 0:
		return errors.New("--tsdb.out-of-order.time-window must not be negative")
	case cfg.MinBlockDuration < time.Minute || cfg.MinBlockDuration%time.Millisecond != 0:
		return errors.New("--tsdb.min-block-duration must be at least 1m, in whole milliseconds")
	case cfg.MaxBlockDuration < cfg.MinBlockDuration:
		return errors.New("--tsdb.max-block-duration must not be below --tsdb.min-block-duration")
	case cfg.IdleTimeout < 0:
		return errors.New("the tenant idle timeout must not be negative")
	case cfg.MaxExemplars < 0:
		return errors.New("--tsdb.max-exemplars must not be negative")
	}
	if cfg.ExternalLabels.Has(cfg.TenantLabel) {
		return fmt.Errorf("--label sets the tenant label %q: remove it, each tenant's TSDB sets it", cfg.TenantLabel)
	}
	return nil
}

// ErrInvalidTenant is a tenant name that cannot name a directory.
var ErrInvalidTenant = errors.New("invalid tenant")

// ErrClosed is a call on a closed MultiTSDB.
var ErrClosed = errors.New("receiver storage closed")

// ValidateTenant checks that tenant can name a TSDB directory: not empty,
// not . or .., no slash or backslash, valid UTF-8. The error wraps
// ErrInvalidTenant.
func ValidateTenant(tenant string) error {
	switch {
	case tenant == "":
		return fmt.Errorf("%w: empty", ErrInvalidTenant)
	case tenant == "." || tenant == "..", strings.ContainsAny(tenant, `/\`):
		return fmt.Errorf("%w %q: a tenant cannot be . or .. or contain a slash", ErrInvalidTenant, tenant)
	case !utf8.ValidString(tenant), strings.ContainsRune(tenant, 0):
		return fmt.Errorf("%w %q: not valid UTF-8 or holds a NUL byte", ErrInvalidTenant, tenant)
	}
	return nil
}

// MultiTSDB holds the tenants' TSDBs. It is safe for concurrent use.
type MultiTSDB struct {
	cfg    Config
	logger *slog.Logger
	reg    prometheus.Registerer
	now    func() time.Time

	mu      sync.Mutex
	tenants map[string]*tenant
	closed  bool

	srv *server

	openTenants prometheus.Gauge
	idleClosed  prometheus.Counter
	written     *prometheus.CounterVec
}

// tenant is one tenant's TSDB and the Store serving it. mu guards db
// against closing while appends and queries use it.
type tenant struct {
	name      string
	extLabels labels.Labels
	lastWrite atomic.Int64 // unix ms

	mu     sync.RWMutex
	db     *tsdb.DB // nil once closed
	store  *tsdbstore.Store
	logger *slog.Logger
}

// New returns a MultiTSDB over cfg.Dir and opens the TSDB of every tenant
// directory found there, replaying its WAL. A nil logger discards logs; reg
// may be nil.
func New(cfg Config, logger *slog.Logger, reg prometheus.Registerer) (*MultiTSDB, error) {
	if err := cfg.Validate(); err != nil {
		return nil, err
	}
	if logger == nil {
		logger = slog.New(slog.DiscardHandler)
	}
	cfg = cfg.withDefaults()
	m := &MultiTSDB{
		cfg:     cfg,
		logger:  logger,
		reg:     reg,
		now:     time.Now,
		tenants: map[string]*tenant{},
		openTenants: promauto.With(reg).NewGauge(prometheus.GaugeOpts{
			Name: "strata_receive_tenants_open",
			Help: "Tenants whose TSDB is open.",
		}),
		idleClosed: promauto.With(reg).NewCounter(prometheus.CounterOpts{
			Name: "strata_receive_tenants_idle_closed_total",
			Help: "Tenant TSDBs closed after the idle timeout, their head cut into a block.",
		}),
		written: promauto.With(reg).NewCounterVec(prometheus.CounterOpts{
			Name: "strata_receive_appended_total",
			Help: "Samples, histograms and exemplars appended to the tenants' TSDBs, by kind and result.",
		}, []string{"kind", "result"}),
	}
	m.srv = newServer(m)
	if err := os.MkdirAll(cfg.Dir, 0o750); err != nil {
		return nil, fmt.Errorf("create --tsdb.path: %w", err)
	}
	entries, err := os.ReadDir(cfg.Dir)
	if err != nil {
		return nil, fmt.Errorf("read --tsdb.path: %w", err)
	}
	for _, e := range entries {
		if !e.IsDir() || ValidateTenant(e.Name()) != nil {
			continue
		}
		if _, err := m.tenant(e.Name()); err != nil {
			return nil, errors.Join(err, m.Close())
		}
	}
	return m, nil
}

// tenant returns the tenant's open TSDB, opening it if needed.
func (m *MultiTSDB) tenant(name string) (*tenant, error) {
	if err := ValidateTenant(name); err != nil {
		return nil, err
	}
	m.mu.Lock()
	defer m.mu.Unlock()
	if m.closed {
		return nil, ErrClosed
	}
	if t, ok := m.tenants[name]; ok {
		return t, nil
	}
	t, err := m.open(name)
	if err != nil {
		return nil, err
	}
	m.tenants[name] = t
	m.openTenants.Set(float64(len(m.tenants)))
	return t, nil
}

// open opens a tenant's TSDB. The TSDBs register no metrics: several
// would collide on one registry.
func (m *MultiTSDB) open(name string) (*tenant, error) {
	opts := tsdb.DefaultOptions()
	opts.RetentionDuration = m.cfg.Retention.Milliseconds()
	opts.MinBlockDuration = m.cfg.MinBlockDuration.Milliseconds()
	opts.MaxBlockDuration = m.cfg.MaxBlockDuration.Milliseconds()
	opts.OutOfOrderTimeWindow = m.cfg.OutOfOrderWindow.Milliseconds()
	opts.EnableExemplarStorage = m.cfg.MaxExemplars > 0
	opts.MaxExemplars = m.cfg.MaxExemplars
	opts.NoLockfile = m.cfg.NoLockfile
	if m.cfg.WALCompression {
		opts.WALCompression = "snappy"
	}
	// Blocks are shipped and compacted in the bucket; locally they stay
	// at their cut size, as upstream's receiver keeps them.
	opts.EnableOverlappingCompaction = false

	logger := m.logger.With("tenant", name)
	start := time.Now()
	db, err := tsdb.Open(filepath.Join(m.cfg.Dir, name), logger, nil, opts, nil)
	if err != nil {
		return nil, fmt.Errorf("open TSDB of tenant %q: %w", name, err)
	}
	logger.Info("opened tenant TSDB", "took", time.Since(start))
	ext := m.cfg.TenantExternalLabels(name)
	t := &tenant{
		name:      name,
		extLabels: ext,
		db:        db,
		store:     tsdbstore.New(db, tsdbstore.Config{ExternalLabels: ext, ComponentType: componentType}, logger),
		logger:    logger,
	}
	t.lastWrite.Store(m.now().UnixMilli())
	return t, nil
}

// Tenants returns the names of the tenants whose TSDB is open, sorted.
func (m *MultiTSDB) Tenants() []string {
	m.mu.Lock()
	defer m.mu.Unlock()
	out := make([]string, 0, len(m.tenants))
	for name := range m.tenants {
		out = append(out, name)
	}
	slices.Sort(out)
	return out
}

// openTenantList returns the open tenants sorted by name.
func (m *MultiTSDB) openTenantList() []*tenant {
	m.mu.Lock()
	defer m.mu.Unlock()
	out := make([]*tenant, 0, len(m.tenants))
	for _, t := range m.tenants {
		out = append(out, t)
	}
	slices.SortFunc(out, func(a, b *tenant) int { return strings.Compare(a.name, b.name) })
	return out
}

// TenantDB returns the tenant's open TSDB, or nil when it is not open. The
// caller must not close it. For the shipper and tests.
func (m *MultiTSDB) TenantDB(name string) *tsdb.DB {
	m.mu.Lock()
	t := m.tenants[name]
	m.mu.Unlock()
	if t == nil {
		return nil
	}
	t.mu.RLock()
	defer t.mu.RUnlock()
	return t.db
}

// Flush cuts the tenant's whole head (and out-of-order head) into blocks in
// its directory, so that a shipper can upload them. A tenant that is not
// open has nothing to flush.
func (m *MultiTSDB) Flush(name string) error {
	if err := ValidateTenant(name); err != nil {
		return err
	}
	m.mu.Lock()
	t := m.tenants[name]
	m.mu.Unlock()
	if t == nil {
		return nil
	}
	t.mu.RLock()
	defer t.mu.RUnlock()
	if t.db == nil {
		return nil
	}
	return t.flush()
}

// flush cuts the head into blocks; t.mu is held.
func (t *tenant) flush() error {
	head := t.db.Head()
	if head.NumSeries() > 0 && head.MaxTime() >= head.MinTime() {
		if err := t.db.CompactHead(tsdb.NewRangeHead(head, head.MinTime(), head.MaxTime())); err != nil {
			return fmt.Errorf("flush head of tenant %q: %w", t.name, err)
		}
	}
	if err := t.db.CompactOOOHead(context.Background()); err != nil {
		return fmt.Errorf("flush out-of-order head of tenant %q: %w", t.name, err)
	}
	return nil
}

// CloseIdle flushes and closes every tenant without a write for
// Config.IdleTimeout; it does nothing when the timeout is 0. Run calls it
// periodically.
func (m *MultiTSDB) CloseIdle() error {
	if m.cfg.IdleTimeout <= 0 {
		return nil
	}
	var errs []error
	for _, t := range m.openTenantList() {
		if err := m.closeIfIdle(t); err != nil {
			errs = append(errs, err)
		}
	}
	return errors.Join(errs...)
}

func (m *MultiTSDB) closeIfIdle(t *tenant) error {
	idle := func() bool {
		return m.now().Sub(time.UnixMilli(t.lastWrite.Load())) >= m.cfg.IdleTimeout
	}
	if !idle() {
		return nil
	}
	t.mu.Lock()
	defer t.mu.Unlock()
	if t.db == nil || !idle() {
		return nil
	}
	if err := t.flush(); err != nil {
		return err
	}
	m.mu.Lock()
	if m.tenants[t.name] == t {
		delete(m.tenants, t.name)
	}
	m.openTenants.Set(float64(len(m.tenants)))
	m.mu.Unlock()
	err := t.db.Close()
	t.db = nil
	m.idleClosed.Inc()
	t.logger.Info("closed idle tenant TSDB", "idle_timeout", m.cfg.IdleTimeout)
	if err != nil {
		return fmt.Errorf("close TSDB of tenant %q: %w", t.name, err)
	}
	return nil
}

// Run closes idle tenants until ctx is done, then returns nil.
func (m *MultiTSDB) Run(ctx context.Context) error {
	if m.cfg.IdleTimeout <= 0 {
		<-ctx.Done()
		return nil
	}
	every := min(defaultIdleCheckEvery, max(m.cfg.IdleTimeout/4, time.Second))
	tick := time.NewTicker(every)
	defer tick.Stop()
	for {
		select {
		case <-ctx.Done():
			return nil
		case <-tick.C:
			if err := m.CloseIdle(); err != nil {
				m.logger.Warn("close idle tenants", "err", err)
			}
		}
	}
}

// Close closes every tenant's TSDB without flushing its head: the WAL holds
// it and is replayed at the next New. Calls after the first return nil.
func (m *MultiTSDB) Close() error {
	m.mu.Lock()
	if m.closed {
		m.mu.Unlock()
		return nil
	}
	m.closed = true
	tenants := m.tenants
	m.tenants = map[string]*tenant{}
	m.openTenants.Set(0)
	m.mu.Unlock()
	var errs []error
	for _, t := range tenants {
		t.mu.Lock()
		if t.db != nil {
			if err := t.db.Close(); err != nil {
				errs = append(errs, fmt.Errorf("close TSDB of tenant %q: %w", t.name, err))
			}
			t.db = nil
		}
		t.mu.Unlock()
	}
	return errors.Join(errs...)
}
