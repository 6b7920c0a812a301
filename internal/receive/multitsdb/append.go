package multitsdb

import (
	"context"
	"errors"
	"fmt"
	"math"
	"net/http"
	"strings"

	"github.com/prometheus/prometheus/model/histogram"
	"github.com/prometheus/prometheus/model/labels"
	"github.com/prometheus/prometheus/storage"
	"github.com/prometheus/prometheus/tsdb/chunkenc"

	"github.com/strata-io/strata/internal/receive/remotewrite"
)

// ErrConflict is the class of samples the TSDB refuses for their timestamp:
// out of order, out of bounds (older than the head accepts), too old for
// the out-of-order window, or a different value for a timestamp already
// stored. Retrying such a write cannot succeed. Errors of Append wrap it
// when some samples were refused.
var ErrConflict = errors.New("samples conflict with stored data")

// WriteStats counts what an Append stored and refused.
type WriteStats struct {
	// Samples and Histograms are the float and histogram samples stored,
	// including those already stored with the same value (a retried
	// write), which are also counted in Duplicates.
	Samples, Histograms int
	// Duplicates are samples and histograms already stored with the same
	// timestamp and value.
	Duplicates int
	// Exemplars are the exemplars stored.
	Exemplars int
	// Conflicts are samples and histograms refused (see ErrConflict).
	Conflicts int
	// ExemplarsDropped are exemplars not stored: storage disabled
	// (--tsdb.max-exemplars 0), out of order or invalid. They do not fail
	// a write.
	ExemplarsDropped int
}

// SampleError is one refused sample.
type SampleError struct {
	// Series is the series' index in the appended slice.
	Series int
	// Labels are the series' labels.
	Labels labels.Labels
	// T is the sample's timestamp in ms.
	T int64
	// Err is the TSDB's reason (storage.ErrOutOfOrderSample, ...).
	Err error
}

// Error returns e.g. `series {__name__="up"} sample at 1700000000000: out of order sample`.
func (e *SampleError) Error() string {
	return fmt.Sprintf("series %s sample at %d: %s", e.Labels, e.T, e.Err)
}

// Unwrap returns Err.
func (e *SampleError) Unwrap() error { return e.Err }

// ConflictError is the error of an Append that refused samples: it wraps
// ErrConflict and the first refused samples' errors.
type ConflictError struct {
	// Tenant is the tenant written to.
	Tenant string
	// Conflicts is the number of refused samples and histograms.
	Conflicts int
	// First are the errors of the first refused samples, in order.
	First []*SampleError
}

// Error says how many samples were refused and why, for the first ones.
func (e *ConflictError) Error() string {
	var b strings.Builder
	fmt.Fprintf(&b, "tenant %q: %d samples refused", e.Tenant, e.Conflicts)
	for i, se := range e.First {
		if i == 0 {
			b.WriteString(": ")
		} else {
			b.WriteString("; ")
		}
		b.WriteString(se.Error())
	}
	if len(e.First) < e.Conflicts {
		b.WriteString("; ...")
	}
	return b.String()
}

// Is makes a ConflictError match ErrConflict.
func (e *ConflictError) Is(target error) bool { return target == ErrConflict }

// Unwrap returns the first samples' errors.
func (e *ConflictError) Unwrap() []error {
	out := make([]error, len(e.First))
	for i, se := range e.First {
		out[i] = se
	}
	return out
}

// ErrorStatus returns the HTTP status of an Append error for a remote-write
// sender: 200 for nil, 409 Conflict for refused samples (as upstream's
// receiver answers; like Prometheus' 400 it is a 4xx that senders do not
// retry), 400 for an invalid tenant, 503 for a closed storage and 500 for
// anything else (the sender retries).
func ErrorStatus(err error) int {
	switch {
	case err == nil:
		return http.StatusOK
	case errors.Is(err, ErrConflict):
		return http.StatusConflict
	case errors.Is(err, ErrInvalidTenant):
		return http.StatusBadRequest
	case errors.Is(err, ErrClosed):
		return http.StatusServiceUnavailable
	}
	return http.StatusInternalServerError
}

// conflicting tells whether err is a TSDB refusal of a sample for its
// timestamp.
func conflicting(err error) bool {
	return errors.Is(err, storage.ErrOutOfOrderSample) ||
		errors.Is(err, storage.ErrOutOfBounds) ||
		errors.Is(err, storage.ErrTooOldSample) ||
		errors.Is(err, storage.ErrDuplicateSampleForTimestamp)
}

// refused is a sample the head refused, to check against stored data: a
// retried write's samples are already there.
type refused struct {
	series int
	t      int64
	v      float64
	fh     *histogram.FloatHistogram // set for a histogram sample
	err    error
}

// Append stores series in the tenant's TSDB, opening it if needed, in one
// transaction. Samples the TSDB refuses for their timestamp are counted and
// reported in a *ConflictError (errors.Is ErrConflict) while the others are
// stored; a sample already stored with the same timestamp and value is a
// success (a retried write). Exemplars that cannot be stored are dropped
// and counted. Other errors (invalid tenant, closed storage, TSDB failure)
// store nothing.
func (m *MultiTSDB) Append(ctx context.Context, tenantName string, series []remotewrite.Series) (WriteStats, error) {
	var stats WriteStats
	t, err := m.lockedTenant(tenantName)
	if err != nil {
		return stats, err
	}
	defer t.mu.RUnlock()
	t.lastWrite.Store(m.now().UnixMilli())

	app := t.db.Appender(ctx)
	var rejected []refused
	maxT := int64(math.MaxInt64)
	if m.cfg.TooFarInFuture > 0 {
		maxT = m.now().Add(m.cfg.TooFarInFuture).UnixMilli()
	}
	for i := range series {
		s := &series[i]
		var ref storage.SeriesRef
		for _, smp := range s.Samples {
			if smp.T > maxT {
				rejected = append(rejected, refused{series: i, t: smp.T, v: smp.V, err: m.tooFarInFuture()})
				continue
			}
			r, err := app.Append(ref, s.Labels, smp.T, smp.V)
			switch {
			case err == nil:
				ref = r
				stats.Samples++
			case conflicting(err):
				rejected = append(rejected, refused{series: i, t: smp.T, v: smp.V, err: err})
			default:
				return WriteStats{}, m.rollback(app, fmt.Errorf("tenant %q: append sample of %s: %w", tenantName, s.Labels, err))
			}
		}
		for _, h := range s.Histograms {
			if h.T > maxT {
				fh := h.FH
				if h.H != nil {
					fh = h.H.ToFloat(nil)
				}
				rejected = append(rejected, refused{series: i, t: h.T, fh: fh, err: m.tooFarInFuture()})
				continue
			}
			r, err := app.AppendHistogram(ref, s.Labels, h.T, h.H, h.FH)
			switch {
			case err == nil:
				ref = r
				stats.Histograms++
			case conflicting(err):
				fh := h.FH
				if h.H != nil {
					fh = h.H.ToFloat(nil)
				}
				rejected = append(rejected, refused{series: i, t: h.T, fh: fh, err: err})
			default:
				return WriteStats{}, m.rollback(app, fmt.Errorf("tenant %q: append histogram of %s: %w", tenantName, s.Labels, err))
			}
		}
		for _, e := range s.Exemplars {
			if ref == 0 || m.cfg.MaxExemplars == 0 {
				// Exemplar storage is off, or no sample of the series was
				// appended: its exemplars have nothing to attach to.
				stats.ExemplarsDropped++
				continue
			}
			if _, err := app.AppendExemplar(ref, s.Labels, e); err != nil {
				if !errors.Is(err, storage.ErrDuplicateExemplar) {
					stats.ExemplarsDropped++
					continue
				}
			}
			stats.Exemplars++
		}
	}
	if err := app.Commit(); err != nil {
		return WriteStats{}, fmt.Errorf("tenant %q: commit: %w", tenantName, err)
	}

	var cerr *ConflictError
	if len(rejected) > 0 {
		dup, err := t.alreadyStored(ctx, series, rejected)
		if err != nil {
			return stats, err
		}
		for i, r := range rejected {
			if dup[i] {
				stats.Duplicates++
				if r.fh != nil {
					stats.Histograms++
				} else {
					stats.Samples++
				}
				continue
			}
			stats.Conflicts++
			if cerr == nil {
				cerr = &ConflictError{Tenant: tenantName}
			}
			cerr.Conflicts++
			if len(cerr.First) < maxReportedSampleErrors {
				cerr.First = append(cerr.First, &SampleError{Series: r.series, Labels: series[r.series].Labels, T: r.t, Err: r.err})
			}
		}
	}
	m.count(stats)
	if cerr != nil {
		return stats, cerr
	}
	return stats, nil
}

// ErrTooFarInFuture is a sample refused for a timestamp beyond
// Config.TooFarInFuture from the receiver's clock.
var ErrTooFarInFuture = errors.New("timestamp too far in the future")

func (m *MultiTSDB) tooFarInFuture() error {
	return fmt.Errorf("%w: more than %s (--tsdb.too-far-in-future.time-window) after the receiver's clock; check the sender's clock", ErrTooFarInFuture, m.cfg.TooFarInFuture)
}

// lockedTenant returns the tenant's open TSDB, opening it if needed, with
// t.mu read-locked.
func (m *MultiTSDB) lockedTenant(name string) (*tenant, error) {
	for {
		t, err := m.tenant(name)
		if err != nil {
			return nil, err
		}
		t.mu.RLock()
		if t.db != nil {
			return t, nil
		}
		// Closed for idleness between lookup and lock, and so removed
		// from the map: the next lookup opens it again.
		t.mu.RUnlock()
	}
}

func (m *MultiTSDB) rollback(app storage.Appender, err error) error {
	if rerr := app.Rollback(); rerr != nil {
		return errors.Join(err, fmt.Errorf("rollback: %w", rerr))
	}
	return err
}

func (m *MultiTSDB) count(s WriteStats) {
	add := func(kind, result string, n int) {
		if n > 0 {
			m.written.WithLabelValues(kind, result).Add(float64(n))
		}
	}
	add("sample", "stored", s.Samples)
	add("histogram", "stored", s.Histograms)
	add("sample", "duplicate", s.Duplicates)
	add("sample", "conflict", s.Conflicts)
	add("exemplar", "stored", s.Exemplars)
	add("exemplar", "dropped", s.ExemplarsDropped)
}

// alreadyStored tells, for each refused sample, whether the TSDB holds a
// sample of its series at its timestamp with the same value. t.mu is held.
func (t *tenant) alreadyStored(ctx context.Context, series []remotewrite.Series, rejected []refused) ([]bool, error) {
	mint, maxt := int64(math.MaxInt64), int64(math.MinInt64)
	for _, r := range rejected {
		mint, maxt = min(mint, r.t), max(maxt, r.t)
	}
	q, err := t.db.Querier(mint, maxt)
	if err != nil {
		return nil, fmt.Errorf("tenant %q: check refused samples: %w", t.name, err)
	}
	defer func() { _ = q.Close() }()

	// stored holds, per series index, the samples found at the refused
	// timestamps.
	type key struct {
		series int
		t      int64
	}
	type value struct {
		v  float64
		fh *histogram.FloatHistogram
	}
	stored := map[key]value{}
	wanted := map[int]map[int64]bool{}
	for _, r := range rejected {
		if wanted[r.series] == nil {
			wanted[r.series] = map[int64]bool{}
		}
		wanted[r.series][r.t] = true
	}
	for si, ts := range wanted {
		lset := series[si].Labels
		var ms []*labels.Matcher
		lset.Range(func(l labels.Label) { ms = append(ms, labels.MustNewMatcher(labels.MatchEqual, l.Name, l.Value)) })
		ss := q.Select(ctx, false, nil, ms...)
		var it chunkenc.Iterator
		for ss.Next() {
			s := ss.At()
			if !labels.Equal(s.Labels(), lset) {
				continue
			}
			it = s.Iterator(it)
			for vt := it.Next(); vt != chunkenc.ValNone; vt = it.Next() {
				tt := it.AtT()
				if !ts[tt] {
					continue
				}
				switch vt {
				case chunkenc.ValFloat:
					_, v := it.At()
					stored[key{si, tt}] = value{v: v}
				case chunkenc.ValHistogram, chunkenc.ValFloatHistogram:
					_, fh := it.AtFloatHistogram(nil)
					stored[key{si, tt}] = value{fh: fh}
				}
			}
			if err := it.Err(); err != nil {
				return nil, fmt.Errorf("tenant %q: check refused samples: %w", t.name, err)
			}
		}
		if err := ss.Err(); err != nil {
			return nil, fmt.Errorf("tenant %q: check refused samples: %w", t.name, err)
		}
	}
	out := make([]bool, len(rejected))
	for i, r := range rejected {
		got, ok := stored[key{r.series, r.t}]
		switch {
		case !ok:
		case r.fh != nil:
			out[i] = got.fh != nil && got.fh.Equals(r.fh)
		default:
			out[i] = got.fh == nil && math.Float64bits(got.v) == math.Float64bits(r.v)
		}
	}
	return out, nil
}
