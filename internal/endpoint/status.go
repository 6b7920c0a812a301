// Package endpoint keeps the set of StoreAPI endpoints a querier (or ruler)
// talks to: static addresses, DNS and file discovery, periodic Info health
// checks, per-endpoint TLS.
package endpoint

import (
	"time"

	"github.com/prometheus/prometheus/model/labels"
)

// Status is what /api/v1/stores shows of one endpoint.
type Status struct {
	// Name is the endpoint's address.
	Name string `json:"name"`
	// ComponentType is what its Info said: sidecar, store, query, rule, receive.
	ComponentType string `json:"componentType"`
	// LabelSets are its external label sets.
	LabelSets []labels.Labels `json:"labelSets"`
	// MinTime and MaxTime are the inclusive ms range of its data.
	MinTime int64 `json:"minTime"`
	MaxTime int64 `json:"maxTime"`
	// LastCheck is when Info was last called; LastError its error, if any.
	LastCheck time.Time `json:"lastCheck"`
	LastError string    `json:"lastError,omitempty"`
	// Healthy is true when the last Info call succeeded.
	Healthy bool `json:"healthy"`
}
