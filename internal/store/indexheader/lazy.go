package indexheader

import (
	"context"
	"errors"
	"fmt"
	"os"
	"sync"
	"sync/atomic"
	"time"

	"github.com/oklog/ulid/v2"
	"github.com/prometheus/client_golang/prometheus"
	"github.com/prometheus/client_golang/prometheus/promauto"
	"github.com/prometheus/prometheus/tsdb/index"
	"github.com/thanos-io/objstore"
)

// Metrics are the metrics of every LazyReader of a store. Create them once
// per registerer with NewMetrics and share them between the readers.
type Metrics struct {
	loads, loadFailures, builds, releases prometheus.Counter
	loaded                                prometheus.Gauge
}

// NewMetrics registers the index-header metrics on reg (nil: unregistered):
// strata_indexheader_{loads,load_failures,builds,releases}_total and
// strata_indexheader_loaded (headers held in memory).
func NewMetrics(reg prometheus.Registerer) *Metrics {
	f := promauto.With(reg)
	return &Metrics{
		loads:        f.NewCounter(prometheus.CounterOpts{Name: "strata_indexheader_loads_total", Help: "Index-headers read into memory."}),
		loadFailures: f.NewCounter(prometheus.CounterOpts{Name: "strata_indexheader_load_failures_total", Help: "Index-header loads that failed, building included."}),
		builds:       f.NewCounter(prometheus.CounterOpts{Name: "strata_indexheader_builds_total", Help: "Index-header files built from ranged reads of an index."}),
		releases:     f.NewCounter(prometheus.CounterOpts{Name: "strata_indexheader_releases_total", Help: "Index-headers dropped from memory after being idle."}),
		loaded:       f.NewGauge(prometheus.GaugeOpts{Name: "strata_indexheader_loaded", Help: "Index-headers held in memory."}),
	}
}

// LazyReader is the index-header of one block, read into memory on first use
// and dropped again by ReleaseIfIdle. Loading opens the header file at its
// path; when the file is missing or corrupt it is built (again) from the
// bucket first (see Build).
//
// It starts no goroutine: the owner calls ReleaseIfIdle periodically (e.g.
// from its sync loop). All methods are safe for concurrent use; a release
// waits for the calls in flight. Strings returned stay valid after a
// release.
type LazyReader struct {
	bkt  objstore.BucketReader
	id   ulid.ULID
	path string
	m    *Metrics

	mu       sync.RWMutex
	r        *Reader // nil while not loaded
	closed   bool
	lastUsed atomic.Int64 // Unix ns of the last call
}

// NewLazyReader returns the lazy index-header of block id in bkt, kept in
// the file path. It reads nothing until the first call. m must not be nil
// (NewMetrics(nil) for none).
func NewLazyReader(bkt objstore.BucketReader, id ulid.ULID, path string, m *Metrics) *LazyReader {
	return &LazyReader{bkt: bkt, id: id, path: path, m: m}
}

// errLazyClosed is returned by the methods of a closed LazyReader.
var errLazyClosed = errors.New("index-header closed: the block was dropped")

// with runs f on the loaded Reader, loading it first if needed. ctx bounds
// the build of a missing header. f runs under the read lock, so a release
// waits for it.
func (l *LazyReader) with(ctx context.Context, f func(r *Reader) error) error {
	l.lastUsed.Store(time.Now().UnixNano())
	for {
		l.mu.RLock()
		if r := l.r; r != nil {
			err := f(r)
			l.mu.RUnlock()
			return err
		}
		l.mu.RUnlock()

		l.mu.Lock()
		if l.closed {
			l.mu.Unlock()
			return errLazyClosed
		}
		if l.r == nil {
			r, err := l.load(ctx)
			if err != nil {
				l.mu.Unlock()
				l.m.loadFailures.Inc()
				return fmt.Errorf("load index-header: %w", err)
			}
			l.r = r
			l.m.loads.Inc()
			l.m.loaded.Inc()
		}
		l.mu.Unlock()
		// Loop to run f under the read lock; should a release slip in
		// between, the header is loaded again.
	}
}

// load opens the header file, building it when it is missing or corrupt.
func (l *LazyReader) load(ctx context.Context) (*Reader, error) {
	r, err := NewReader(l.path)
	if err == nil {
		return r, nil
	}
	if !errors.Is(err, os.ErrNotExist) && !errors.Is(err, ErrCorrupt) {
		return nil, err
	}
	if err := Build(ctx, l.bkt, l.id, l.path); err != nil {
		return nil, err
	}
	l.m.builds.Inc()
	return NewReader(l.path)
}

// ReleaseIfIdle drops the header from memory when it is loaded and was last
// used before now minus idle. It reports whether it did. The file stays on
// disk for the next load.
func (l *LazyReader) ReleaseIfIdle(now time.Time, idle time.Duration) bool {
	if now.Sub(time.Unix(0, l.lastUsed.Load())) < idle {
		return false
	}
	l.mu.Lock()
	defer l.mu.Unlock()
	if l.r == nil {
		return false
	}
	_ = l.r.Close() // cannot fail
	l.r = nil
	l.m.releases.Inc()
	l.m.loaded.Dec()
	return true
}

// Loaded reports whether the header is in memory.
func (l *LazyReader) Loaded() bool {
	l.mu.RLock()
	defer l.mu.RUnlock()
	return l.r != nil
}

// Close drops the header from memory for good; later calls return an error.
// The file stays on disk: removing it is the owner's choice.
func (l *LazyReader) Close() error {
	l.mu.Lock()
	defer l.mu.Unlock()
	l.closed = true
	if l.r != nil {
		_ = l.r.Close()
		l.r = nil
		l.m.loaded.Dec()
	}
	return nil
}

// LookupSymbol is Reader.LookupSymbol. Its signature is that of
// index.Decoder.LookupSymbol, to decode series entries read by range.
func (l *LazyReader) LookupSymbol(ctx context.Context, ref uint32) (s string, err error) {
	err = l.with(ctx, func(r *Reader) error { s, err = r.LookupSymbol(ref); return err })
	return s, err
}

// PostingsOffset is Reader.PostingsOffset.
func (l *LazyReader) PostingsOffset(ctx context.Context, name, value string) (rng index.Range, err error) {
	err = l.with(ctx, func(r *Reader) error { rng, err = r.PostingsOffset(name, value); return err })
	return rng, err
}

// LabelNames is Reader.LabelNames.
func (l *LazyReader) LabelNames(ctx context.Context) (names []string, err error) {
	err = l.with(ctx, func(r *Reader) error { names, err = r.LabelNames(); return err })
	return names, err
}

// LabelValues is Reader.LabelValues.
func (l *LazyReader) LabelValues(ctx context.Context, name string) (values []string, err error) {
	err = l.with(ctx, func(r *Reader) error { values, err = r.LabelValues(name); return err })
	return values, err
}

// IndexVersion is Reader.IndexVersion.
func (l *LazyReader) IndexVersion(ctx context.Context) (v int, err error) {
	err = l.with(ctx, func(r *Reader) error { v = r.IndexVersion(); return nil })
	if err != nil {
		return 0, fmt.Errorf("index version: %w", err)
	}
	return v, nil
}

// Use runs f on the loaded Reader, loading it first if needed, so that a
// caller can make many lookups (e.g. decode a batch of series entries) for
// one lock. f must not call methods of l (a release waiting between them
// would deadlock) and should not block: a release waits for it. Strings
// from the Reader stay valid after f returns.
func (l *LazyReader) Use(ctx context.Context, f func(r *Reader) error) error {
	return l.with(ctx, f)
}
