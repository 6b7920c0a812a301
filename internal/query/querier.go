package query

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"slices"
	"time"

	"github.com/prometheus/client_golang/prometheus"
	"github.com/prometheus/client_golang/prometheus/promauto"
	"github.com/prometheus/prometheus/model/labels"
	"github.com/prometheus/prometheus/storage"
	"github.com/prometheus/prometheus/util/annotations"

	"github.com/strata-io/strata/internal/dedup"
	"github.com/strata-io/strata/internal/store"
	"github.com/strata-io/strata/pkg/storepb"
)

// metrics are shared by every Queryable of one creator.
type metrics struct {
	selectDuration prometheus.Histogram
	seriesReceived prometheus.Counter
}

func newMetrics(reg prometheus.Registerer) *metrics {
	f := promauto.With(reg)
	return &metrics{
		selectDuration: f.NewHistogram(prometheus.HistogramOpts{
			Name:                        "strata_query_select_duration_seconds",
			Help:                        "Time to receive the answer of one Select (one StoreAPI Series call) from the stores.",
			Buckets:                     prometheus.DefBuckets,
			NativeHistogramBucketFactor: 1.1,
		}),
		seriesReceived: f.NewCounter(prometheus.CounterOpts{
			Name: "strata_query_series_received_total",
			Help: "Series frames received from the stores, before merging and deduplication.",
		}),
	}
}

// NewQueryableCreator returns a QueryableCreator whose Queryables read from
// client (typically the in-process proxy that fans out to every endpoint).
// client must be safe for concurrent use; logger and reg may be nil. The
// metrics are registered on reg once per call, so call it once per registerer.
func NewQueryableCreator(client storepb.StoreClient, logger *slog.Logger, reg prometheus.Registerer) QueryableCreator {
	if logger == nil {
		logger = slog.New(slog.DiscardHandler)
	}
	m := newMetrics(reg)
	return func(opts Options) storage.Queryable {
		return storage.QueryableFunc(func(mint, maxt int64) (storage.Querier, error) {
			return &querier{client: client, logger: logger, metrics: m, opts: opts, mint: mint, maxt: maxt}, nil
		})
	}
}

// querier is a storage.Querier over a StoreAPI client for [mint, maxt] (ms,
// inclusive). It is safe for concurrent use; it holds no resources.
type querier struct {
	client  storepb.StoreClient
	logger  *slog.Logger
	metrics *metrics
	opts    Options
	mint    int64
	maxt    int64
}

func (q *querier) strategy() storepb.PartialResponseStrategy {
	if q.opts.PartialResponse {
		return storepb.PartialResponseStrategy_WARN
	}
	return storepb.PartialResponseStrategy_ABORT
}

// withoutReplicaLabels returns the replica labels to remove from every
// series: the ones of the options when deduplicating.
func (q *querier) withoutReplicaLabels() []string {
	if q.opts.Deduplicate {
		return q.opts.ReplicaLabels
	}
	return nil
}

// aggrsFor returns the downsampled aggregates that serve the PromQL function
// fn best. Raw data never depends on them.
func aggrsFor(fn string) []storepb.Aggr {
	switch {
	case dedup.IsCounterFunc(fn):
		return []storepb.Aggr{storepb.Aggr_COUNTER}
	case fn == "min_over_time":
		return []storepb.Aggr{storepb.Aggr_MIN}
	case fn == "max_over_time":
		return []storepb.Aggr{storepb.Aggr_MAX}
	default:
		return []storepb.Aggr{storepb.Aggr_COUNT, storepb.Aggr_SUM}
	}
}

// seriesRequest builds the SeriesRequest of one Select.
//
// When deduplicating, a request for samples keeps the replica labels on the
// wire (no without_replica_labels) and the querier strips them itself
// (readSeries, replicaSeriesSet): a store serving several replicas of a
// series (a store gateway over the bucket both HA Prometheus servers upload
// to, or a stacked querier) would otherwise merge their chunks into one
// series, and the replicas' samples would interleave instead of being
// deduplicated. The series limit is then applied by the querier, to the
// deduplicated label sets.
func (q *querier) seriesRequest(hints *storage.SelectHints, ms []*labels.Matcher) (*storepb.SeriesRequest, error) {
	pms, err := storepb.MatchersToProto(ms...)
	if err != nil {
		return nil, fmt.Errorf("convert matchers: %w", err)
	}
	req := &storepb.SeriesRequest{
		MinTime:                 q.mint,
		MaxTime:                 q.maxt,
		Matchers:                pms,
		MaxResolutionWindow:     q.opts.MaxResolutionMillis,
		Aggregates:              aggrsFor(""),
		PartialResponseDisabled: !q.opts.PartialResponse,
		PartialResponseStrategy: q.strategy(),
	}
	if hints == nil {
		return req, nil
	}
	req.MinTime, req.MaxTime = hints.Start, hints.End
	req.Aggregates = aggrsFor(hints.Func)
	req.SkipChunks = hints.Func == "series"
	if req.SkipChunks {
		// Without samples there is nothing to keep apart: the stores
		// strip the replica labels and apply the limit to what is left.
		req.WithoutReplicaLabels = q.withoutReplicaLabels()
		req.Limit = int64(hints.Limit)
	} else if !q.opts.Deduplicate {
		req.Limit = int64(hints.Limit)
	}
	req.QueryHints = &storepb.QueryHints{StepMillis: hints.Step}
	if hints.Func != "" {
		req.QueryHints.Func = &storepb.Func{Name: hints.Func}
	}
	if hints.Range > 0 {
		req.QueryHints.Range = &storepb.Range{Millis: hints.Range}
	}
	if len(hints.Grouping) > 0 || hints.By {
		// A copy: the engine sorts hints.Grouping in place while the
		// request is on its way.
		req.QueryHints.Grouping = &storepb.Grouping{By: hints.By, Labels: slices.Clone(hints.Grouping)}
	}
	return req, nil
}

// Select implements storage.Querier. It sends one SeriesRequest and reads the
// whole answer before returning; chunks are decoded lazily by the series'
// iterators. The result is sorted by labels whatever sortSeries says.
//
// The stores are asked at once and answer in the background: the engine
// calls Select for every selector of a query before it iterates any, so the
// selectors of one query are fetched concurrently.
func (q *querier) Select(ctx context.Context, _ bool, hints *storage.SelectHints, ms ...*labels.Matcher) storage.SeriesSet {
	// The request is built now: hints and matchers belong to the engine,
	// which goes on using them while the stores answer.
	req, err := q.seriesRequest(hints, ms)
	if err != nil {
		return storage.ErrSeriesSet(err)
	}
	isCounter := hints != nil && dedup.IsCounterFunc(hints.Func)
	limit := 0
	if hints != nil {
		limit = hints.Limit
	}
	ls := &lazySeriesSet{done: make(chan struct{})}
	go func() {
		defer close(ls.done)
		ls.set = q.selectSync(ctx, req, isCounter, limit)
	}()
	return ls
}

// selectSync asks the stores and reads their whole answer; limit (0: none)
// is the number of series the engine wants at most.
func (q *querier) selectSync(ctx context.Context, req *storepb.SeriesRequest, isCounter bool, limit int) storage.SeriesSet {
	start := time.Now()
	defer func() { q.metrics.selectDuration.Observe(time.Since(start).Seconds()) }()

	ctx, cancel := context.WithCancel(store.WithStoreMatchers(ctx, q.opts.StoreMatchers))
	defer cancel()
	stream, err := q.client.Series(ctx, req)
	if err != nil {
		return storage.ErrSeriesSet(fmt.Errorf("call Series on the stores: %w", err))
	}
	resp, err := readSeries(stream, q.withoutReplicaLabels(), req.Aggregates)
	q.metrics.seriesReceived.Add(float64(len(resp.series)))
	if err != nil {
		q.logger.Debug("series stream failed", "series", len(resp.series), "err", err)
		return &errSeriesSet{err: fmt.Errorf("receive series from the stores: %w", err), warnings: resp.warnings}
	}
	if q.opts.Deduplicate {
		set := &replicaSeriesSet{series: resp.series, warnings: resp.warnings, aggrs: req.Aggregates, limit: limit}
		return dedup.NewSeriesSet(set, isCounter)
	}
	return &mergeSeriesSet{series: resp.series, warnings: resp.warnings, aggrs: req.Aggregates}
}

// LabelNames implements storage.Querier.
func (q *querier) LabelNames(ctx context.Context, hints *storage.LabelHints, ms ...*labels.Matcher) ([]string, annotations.Annotations, error) {
	pms, err := storepb.MatchersToProto(ms...)
	if err != nil {
		return nil, nil, fmt.Errorf("convert matchers: %w", err)
	}
	req := &storepb.LabelNamesRequest{
		PartialResponseDisabled: !q.opts.PartialResponse,
		PartialResponseStrategy: q.strategy(),
		Start:                   q.mint,
		End:                     q.maxt,
		Matchers:                pms,
		WithoutReplicaLabels:    q.withoutReplicaLabels(),
	}
	if hints != nil {
		req.Limit = int64(hints.Limit)
	}
	ctx = store.WithStoreMatchers(ctx, q.opts.StoreMatchers)
	resp, err := q.client.LabelNames(ctx, req)
	if err != nil {
		return nil, nil, fmt.Errorf("call LabelNames on the stores: %w", err)
	}
	names := resp.GetNames()
	if q.opts.Deduplicate {
		names = dropNames(names, q.opts.ReplicaLabels)
	}
	return names, warningsToAnnotations(resp.GetWarnings()), nil
}

// LabelValues implements storage.Querier.
func (q *querier) LabelValues(ctx context.Context, name string, hints *storage.LabelHints, ms ...*labels.Matcher) ([]string, annotations.Annotations, error) {
	pms, err := storepb.MatchersToProto(ms...)
	if err != nil {
		return nil, nil, fmt.Errorf("convert matchers: %w", err)
	}
	req := &storepb.LabelValuesRequest{
		Label:                   name,
		PartialResponseDisabled: !q.opts.PartialResponse,
		PartialResponseStrategy: q.strategy(),
		Start:                   q.mint,
		End:                     q.maxt,
		Matchers:                pms,
		WithoutReplicaLabels:    q.withoutReplicaLabels(),
	}
	if hints != nil {
		req.Limit = int64(hints.Limit)
	}
	ctx = store.WithStoreMatchers(ctx, q.opts.StoreMatchers)
	resp, err := q.client.LabelValues(ctx, req)
	if err != nil {
		return nil, nil, fmt.Errorf("call LabelValues on the stores: %w", err)
	}
	return resp.GetValues(), warningsToAnnotations(resp.GetWarnings()), nil
}

// Close implements storage.Querier; there is nothing to release.
func (q *querier) Close() error { return nil }

func warningsToAnnotations(ws []string) annotations.Annotations {
	if len(ws) == 0 {
		return nil
	}
	var a annotations.Annotations
	for _, w := range ws {
		a.Add(errors.New(w))
	}
	return a
}

// dropNames returns names without the ones in drop (replica labels a store
// failed to strip).
func dropNames(names, drop []string) []string {
	if len(drop) == 0 {
		return names
	}
	out := names[:0:0]
	for _, n := range names {
		keep := true
		for _, d := range drop {
			if n == d {
				keep = false
				break
			}
		}
		if keep {
			out = append(out, n)
		}
	}
	return out
}
