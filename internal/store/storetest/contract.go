// Package storetest holds the StoreAPI contract suite that every StoreAPI
// server of Strata must pass, and helpers to load its data set into a store
// and to decode what a store answers.
package storetest

import (
	"testing"

	"github.com/prometheus/prometheus/model/labels"
	"github.com/prometheus/prometheus/storage"

	"github.com/strata-io/strata/pkg/storepb"
)

// Setup starts a store serving series (sorted label sets; float and native
// histogram samples in time order) with the given external labels, and
// returns a client for it. It stops the store via t.Cleanup. Use AppendSeries
// to load series into a Prometheus storage.
type Setup func(t *testing.T, extLabels labels.Labels, series []storage.Series) storepb.StoreClient

// Options tunes RunContract for a store.
type Options struct {
	// Failing, when set, returns a client of a store that cannot serve
	// (backend down); used to check that the WARN strategy yields a warning
	// frame (or an error) and ABORT an error.
	Failing func(t *testing.T) storepb.StoreClient
	// MinTime is the timestamp, in ms, of the first sample of the data set;
	// 0 means DefaultMinTime. Set it near the current time for stores that
	// refuse old samples.
	MinTime int64
	// RequiresExternalLabels leaves out the case without external labels,
	// for stores that always have some (a receiver's tenant label, a
	// sidecar's Prometheus external labels).
	RequiresExternalLabels bool
}

// DefaultMinTime is the first sample timestamp (ms) of the data set unless
// Options.MinTime says otherwise: 2023-11-15T00:00:00Z, aligned to 2h.
const DefaultMinTime int64 = 1_700_006_400_000

// RunContract checks, in subtests, that the store built by setup honours the
// StoreAPI contract (shared/spec/storeapi.md) on a data set of a few hundred
// series over three hours.
func RunContract(t *testing.T, setup Setup, opts Options) {
	t.Helper()
	runContract(t, setup, opts)
}
