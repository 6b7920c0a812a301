// Package store holds the StoreAPI servers of Strata (prometheus for the
// sidecar, tsdb, proxy for fan-out) and the seams between them.
package store

import (
	"context"

	"github.com/prometheus/prometheus/model/labels"

	"github.com/strata-io/strata/pkg/storepb"
)

// Client is one StoreAPI endpoint as a fan-out (the proxy) sees it: the Store
// rpcs plus what its last Info call said. Implementations are safe for
// concurrent use; the metadata methods never block on the network.
type Client interface {
	storepb.StoreClient

	// LabelSets returns the external label sets the endpoint serves, as of
	// its last successful Info call. Each set is sorted.
	LabelSets() []labels.Labels
	// TimeRange returns the inclusive range, in ms since epoch, of the data
	// the endpoint serves (math.MinInt64/MaxInt64 when unbounded).
	TimeRange() (mint, maxt int64)
	// SupportsWithoutReplicaLabels tells whether the endpoint strips
	// SeriesRequest.without_replica_labels itself and keeps its output sorted.
	// When false, the caller strips them and re-sorts.
	SupportsWithoutReplicaLabels() bool
	// String is the endpoint's address or name, used in logs and warnings.
	String() string
}

type storeMatchersKey struct{}

// WithStoreMatchers returns a context that restricts a fan-out to endpoints
// whose external label sets match any of the given matcher lists (the
// `storeMatch[]` API parameter). An endpoint with several label sets is
// selected when one of them matches.
func WithStoreMatchers(ctx context.Context, ms [][]*labels.Matcher) context.Context {
	if len(ms) == 0 {
		return ctx
	}
	return context.WithValue(ctx, storeMatchersKey{}, ms)
}

// MatchersFromContext returns the matchers set by WithStoreMatchers, or nil.
func MatchersFromContext(ctx context.Context) [][]*labels.Matcher {
	ms, _ := ctx.Value(storeMatchersKey{}).([][]*labels.Matcher)
	return ms
}
