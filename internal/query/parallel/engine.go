// Package parallel evaluates a long range query as several shorter ones, one
// per core, and joins their results. Each step of a range query is evaluated
// on its own (selectors look back from the step's time, subqueries align to
// absolute multiples of their step), so cutting [start, end] at a step
// boundary gives the same answer as evaluating it whole — except for
// `@ start()` and `@ end()`, which name the query's own bounds: such queries
// run whole.
package parallel

import (
	"context"
	"runtime"
	"slices"
	"sync"
	"time"

	"github.com/prometheus/prometheus/model/labels"
	"github.com/prometheus/prometheus/promql"
	"github.com/prometheus/prometheus/promql/parser"
	"github.com/prometheus/prometheus/storage"
	"github.com/prometheus/prometheus/util/annotations"
	"github.com/prometheus/prometheus/util/stats"
)

// Config says when and how much to split.
type Config struct {
	// MaxShards is the most pieces a range query is cut into (default:
	// GOMAXPROCS). 1 disables splitting.
	MaxShards int
	// MinStepsPerShard keeps pieces from being too small to pay for their
	// own store requests (default 60).
	MinStepsPerShard int
	// Parser parses queries to find `@ start()` / `@ end()` (default:
	// the standard PromQL parser).
	Parser parser.Parser
}

// Engine wraps a PromQL engine; instant queries pass through.
type Engine struct {
	promql.QueryEngine
	cfg Config
}

// NewEngine returns inner with range queries split as cfg says.
func NewEngine(inner promql.QueryEngine, cfg Config) *Engine {
	if cfg.MaxShards <= 0 {
		cfg.MaxShards = runtime.GOMAXPROCS(0)
	}
	if cfg.MinStepsPerShard <= 0 {
		cfg.MinStepsPerShard = 60
	}
	// A one-step range query is evaluated like an instant one and loses the
	// warnings only range queries get (e.g. "sort is ineffective").
	cfg.MinStepsPerShard = max(cfg.MinStepsPerShard, 2)
	if cfg.Parser == nil {
		cfg.Parser = parser.NewParser(parser.Options{})
	}
	return &Engine{QueryEngine: inner, cfg: cfg}
}

// NewRangeQuery returns a query over [start, end] at interval that runs as
// up to MaxShards concurrent queries when it has enough steps.
func (e *Engine) NewRangeQuery(ctx context.Context, q storage.Queryable, opts promql.QueryOpts, qs string, start, end time.Time, interval time.Duration) (promql.Query, error) {
	shards := e.shards(qs, opts, start, end, interval)
	if shards < 2 {
		return e.QueryEngine.NewRangeQuery(ctx, q, opts, qs, start, end, interval)
	}
	steps := int64(end.Sub(start)/interval) + 1
	per := (steps + int64(shards) - 1) / int64(shards)
	sq := &splitQuery{qs: qs}
	for first := int64(0); first < steps; first += per {
		last := min(first+per-1, steps-1)
		s := start.Add(time.Duration(first) * interval)
		en := start.Add(time.Duration(last) * interval)
		sub, err := e.QueryEngine.NewRangeQuery(ctx, q, opts, qs, s, en, interval)
		if err != nil {
			sq.Close()
			return nil, err
		}
		sq.parts = append(sq.parts, sub)
	}
	return sq, nil
}

// shards returns how many pieces the query should run as (1: whole).
func (e *Engine) shards(qs string, opts promql.QueryOpts, start, end time.Time, interval time.Duration) int {
	if e.cfg.MaxShards < 2 || interval <= 0 || !end.After(start) {
		return 1
	}
	if opts != nil && opts.EnablePerStepStats() {
		return 1 // per-step statistics are kept per query
	}
	steps := int(end.Sub(start)/interval) + 1
	n := min(e.cfg.MaxShards, steps/e.cfg.MinStepsPerShard)
	if n < 2 {
		return 1
	}
	expr, err := e.cfg.Parser.ParseExpr(qs)
	if err != nil {
		return 1 // the engine reports the error
	}
	if usesQueryBounds(expr) {
		return 1
	}
	return n
}

// usesQueryBounds tells whether expr has `@ start()` or `@ end()`.
func usesQueryBounds(expr parser.Expr) bool {
	found := false
	parser.Inspect(expr, func(n parser.Node, _ []parser.Node) error {
		switch n := n.(type) {
		case *parser.VectorSelector:
			found = found || n.StartOrEnd != 0
		case *parser.SubqueryExpr:
			found = found || n.StartOrEnd != 0
		}
		return nil
	})
	return found
}

// splitQuery is a range query evaluated as consecutive pieces in parallel.
type splitQuery struct {
	qs    string
	parts []promql.Query
}

// Exec runs every piece at once and joins their matrices: a series' points
// are the concatenation of its points in each piece, in time order.
func (q *splitQuery) Exec(ctx context.Context) *promql.Result {
	results := make([]*promql.Result, len(q.parts))
	ctx, cancel := context.WithCancel(ctx)
	defer cancel()
	var wg sync.WaitGroup
	for i, p := range q.parts {
		wg.Go(func() {
			results[i] = p.Exec(ctx)
			if results[i].Err != nil {
				cancel() // the others' results are of no use now
			}
		})
	}
	wg.Wait()

	var warnings annotations.Annotations
	for _, r := range results {
		if r.Err != nil {
			return &promql.Result{Err: r.Err, Warnings: r.Warnings}
		}
		warnings.Merge(r.Warnings)
	}
	byLabels := map[string]int{} // labels → index in out
	var out promql.Matrix
	for _, r := range results {
		m, ok := r.Value.(promql.Matrix)
		if !ok {
			// Range queries always return a matrix; anything else is returned as is.
			return r
		}
		for _, s := range m {
			key := string(s.Metric.Bytes(nil))
			i, ok := byLabels[key]
			if !ok {
				byLabels[key] = len(out)
				out = append(out, promql.Series{Metric: s.Metric, DropName: s.DropName})
				i = len(out) - 1
			}
			out[i].Floats = append(out[i].Floats, s.Floats...)
			out[i].Histograms = append(out[i].Histograms, s.Histograms...)
		}
	}
	slices.SortFunc(out, func(a, b promql.Series) int { return labels.Compare(a.Metric, b.Metric) })
	return &promql.Result{Value: out, Warnings: warnings}
}

func (q *splitQuery) Close() {
	for _, p := range q.parts {
		p.Close()
	}
}

func (q *splitQuery) Statement() parser.Statement { return q.parts[0].Statement() }

// Stats adds up the pieces' sample counts; timers are those of the first.
func (q *splitQuery) Stats() *stats.Statistics {
	first := q.parts[0].Stats()
	if first == nil {
		return nil
	}
	out := &stats.Statistics{Timers: first.Timers}
	if first.Samples != nil {
		s := *first.Samples
		for _, p := range q.parts[1:] {
			if ps := p.Stats(); ps != nil && ps.Samples != nil {
				s.TotalSamples += ps.Samples.TotalSamples
				s.PeakSamples = max(s.PeakSamples, ps.Samples.PeakSamples)
			}
		}
		out.Samples = &s
	}
	return out
}

func (q *splitQuery) Cancel() {
	for _, p := range q.parts {
		p.Cancel()
	}
}

func (q *splitQuery) String() string { return q.qs }
