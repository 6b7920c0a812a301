package query

import (
	"context"
	"time"

	"github.com/prometheus/prometheus/promql"
	"github.com/prometheus/prometheus/storage"
)

// gatedEngine bounds the number of queries executing at once
// (--query.max-concurrent); the others wait in line until their context ends.
type gatedEngine struct {
	promql.QueryEngine
	slots chan struct{}
}

func newGatedEngine(e promql.QueryEngine, maxConcurrent int) promql.QueryEngine {
	if maxConcurrent <= 0 {
		return e
	}
	return &gatedEngine{QueryEngine: e, slots: make(chan struct{}, maxConcurrent)}
}

func (g *gatedEngine) NewInstantQuery(ctx context.Context, q storage.Queryable, opts promql.QueryOpts, qs string, ts time.Time) (promql.Query, error) {
	qry, err := g.QueryEngine.NewInstantQuery(ctx, q, opts, qs, ts)
	if err != nil {
		return nil, err
	}
	return &gatedQuery{Query: qry, slots: g.slots}, nil
}

func (g *gatedEngine) NewRangeQuery(ctx context.Context, q storage.Queryable, opts promql.QueryOpts, qs string, start, end time.Time, interval time.Duration) (promql.Query, error) {
	qry, err := g.QueryEngine.NewRangeQuery(ctx, q, opts, qs, start, end, interval)
	if err != nil {
		return nil, err
	}
	return &gatedQuery{Query: qry, slots: g.slots}, nil
}

type gatedQuery struct {
	promql.Query
	slots chan struct{}
}

func (q *gatedQuery) Exec(ctx context.Context) *promql.Result {
	select {
	case q.slots <- struct{}{}:
	case <-ctx.Done():
		return &promql.Result{Err: promql.ErrQueryCanceled("waiting for a free query slot (--query.max-concurrent)")}
	}
	defer func() { <-q.slots }()
	return q.Query.Exec(ctx)
}
