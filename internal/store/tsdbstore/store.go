// Package tsdbstore serves any Prometheus storage.ChunkQueryable (a local
// *tsdb.DB of the receiver or the ruler, a test storage) over the StoreAPI.
//
// Chunks are passed through as the storage holds them when the wire has
// their encoding (XOR, HISTOGRAM, FLOAT_HISTOGRAM); chunks in newer
// encodings (XOR2, histogram encodings with start timestamps) are re-encoded
// to the matching older one so that any StoreAPI peer can read them.
package tsdbstore

import (
	"context"
	"log/slog"
	"math"

	"github.com/prometheus/prometheus/model/labels"
	"github.com/prometheus/prometheus/storage"

	"github.com/strata-io/strata/pkg/infopb"
	"github.com/strata-io/strata/pkg/storepb"
)

// Config configures a Store.
type Config struct {
	// ExternalLabels are attached to every series served, replacing a series
	// label of the same name. Matchers on these names are evaluated against
	// them and are not passed to the storage.
	ExternalLabels labels.Labels
	// ComponentType is what Info reports, e.g. "rule", "receive", "debug".
	ComponentType string
}

// Store is a StoreAPI (storepb.StoreServer) and Info (infopb.InfoServer)
// server over a storage.ChunkQueryable. It is safe for concurrent use; each
// call opens its own querier for the call's time range and closes it before
// returning.
type Store struct {
	storepb.UnimplementedStoreServer
	infopb.UnimplementedInfoServer

	db        storage.ChunkQueryable
	extLabels labels.Labels
	component string
	logger    *slog.Logger
}

var (
	_ storepb.StoreServer = (*Store)(nil)
	_ infopb.InfoServer   = (*Store)(nil)
)

// startTimer is implemented by storages that know their oldest sample, such
// as *tsdb.DB.
type startTimer interface {
	// StartTime returns the timestamp, in ms, of the oldest sample held.
	StartTime() (int64, error)
}

// New returns a Store serving db. The Store does not own db: closing db is
// the caller's job, after the last call on the Store has returned. A nil
// logger discards logs.
func New(db storage.ChunkQueryable, cfg Config, logger *slog.Logger) *Store {
	if logger == nil {
		logger = slog.New(slog.DiscardHandler)
	}
	return &Store{
		db:        db,
		extLabels: cfg.ExternalLabels.Copy(),
		component: cfg.ComponentType,
		logger:    logger,
	}
}

// ExternalLabels returns the external labels attached to every series.
func (s *Store) ExternalLabels() labels.Labels { return s.extLabels }

// TimeRange returns the inclusive range, in ms, of the data served: from the
// storage's start time when it reports one (math.MinInt64 otherwise) to
// math.MaxInt64, as new samples may arrive at any time.
func (s *Store) TimeRange() (mint, maxt int64) {
	mint = math.MinInt64
	if st, ok := s.db.(startTimer); ok {
		t, err := st.StartTime()
		if err != nil {
			s.logger.Warn("read storage start time", "err", err)
		} else {
			mint = t
		}
	}
	return mint, math.MaxInt64
}

// Info implements infopb.InfoServer: the external label set, the time range
// and the Store API features served.
func (s *Store) Info(context.Context, *infopb.InfoRequest) (*infopb.InfoResponse, error) {
	mint, maxt := s.TimeRange()
	var sets []*storepb.LabelSet
	if s.extLabels.Len() > 0 {
		sets = storepb.LabelSetsToProto([]labels.Labels{s.extLabels})
	}
	return &infopb.InfoResponse{
		LabelSets:     sets,
		ComponentType: s.component,
		Store: &infopb.StoreInfo{
			MinTime:                      mint,
			MaxTime:                      maxt,
			SupportsWithoutReplicaLabels: true,
			TsdbInfos: []*infopb.TSDBInfo{{
				Labels:  &storepb.LabelSet{Labels: storepb.LabelsToProto(s.extLabels)},
				MinTime: mint,
				MaxTime: maxt,
			}},
		},
	}, nil
}
