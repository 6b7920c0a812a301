// Package query turns a StoreAPI client into a Prometheus storage.Queryable:
// it asks the stores for series, decodes their chunks, merges and
// deduplicates replicas, and reports partial-response warnings.
package query

import (
	"github.com/prometheus/prometheus/model/labels"
	"github.com/prometheus/prometheus/storage"
)

// Options are the per-request choices of a query (API parameters and their
// flag defaults).
type Options struct {
	// Deduplicate merges series that differ only by ReplicaLabels.
	Deduplicate bool
	// ReplicaLabels are the label names that tell HA replicas apart.
	ReplicaLabels []string
	// PartialResponse answers with warnings when some stores fail; when
	// false such a failure fails the query.
	PartialResponse bool
	// MaxResolutionMillis lets stores answer from downsampled data of at
	// most this resolution (0 = raw only).
	MaxResolutionMillis int64
	// StoreMatchers restricts the query to stores whose external labels
	// match one of these lists (the storeMatch[] parameter).
	StoreMatchers [][]*labels.Matcher
}

// QueryableCreator returns a Queryable for one request's options. It is safe
// for concurrent use.
type QueryableCreator func(opts Options) storage.Queryable
