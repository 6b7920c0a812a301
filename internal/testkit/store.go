package testkit

import (
	"math"

	"github.com/prometheus/prometheus/model/labels"

	"github.com/strata-io/strata/pkg/storepb"
)

// LocalStore is what the querier knows of a store (store.Client) for an
// in-process StoreServer: no external label sets, all of time, and
// without_replica_labels supported.
type LocalStore struct {
	storepb.StoreClient
	Name string
}

// NewLocalStore returns a LocalStore named name over srv.
func NewLocalStore(name string, srv storepb.StoreServer) LocalStore {
	return LocalStore{StoreClient: storepb.ServerAsClient(srv), Name: name}
}

// LabelSets returns nil: the store has no external labels.
func (LocalStore) LabelSets() []labels.Labels { return nil }

// TimeRange returns all of time.
func (LocalStore) TimeRange() (int64, int64) { return math.MinInt64, math.MaxInt64 }

// SupportsWithoutReplicaLabels returns true.
func (LocalStore) SupportsWithoutReplicaLabels() bool { return true }

func (s LocalStore) String() string { return s.Name }
