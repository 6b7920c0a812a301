package query

import (
	"cmp"
	"slices"
	"testing"

	"github.com/prometheus/prometheus/storage"
	"github.com/prometheus/prometheus/tsdb/chunkenc"
	"github.com/prometheus/prometheus/util/teststorage"
	"github.com/stretchr/testify/require"
	"google.golang.org/grpc"

	"github.com/strata-io/strata/internal/query/hatest"
	"github.com/strata-io/strata/internal/store"
	"github.com/strata-io/strata/internal/store/proxy"
	"github.com/strata-io/strata/internal/store/storetest"
	"github.com/strata-io/strata/internal/store/tsdbstore"
	"github.com/strata-io/strata/internal/testkit"
	"github.com/strata-io/strata/pkg/storepb"
)

// mergingStore serves series like a store gateway over one bucket (or a
// stacked querier): series whose labels are equal once without_replica_labels
// are removed are sent as one series with all their chunks.
type mergingStore struct {
	storepb.UnimplementedStoreServer
	series []*storepb.Series // with their replica labels, sorted
}

func newMergingStore(t *testing.T, ss ...[]storage.Series) *mergingStore {
	s := &mergingStore{}
	for _, r := range ss {
		for _, sr := range r {
			s.series = append(s.series, &storepb.Series{Labels: storepb.LabelsToProto(sr.Labels()), Chunks: wireChunksOf(t, sr)})
		}
	}
	slices.SortFunc(s.series, func(a, b *storepb.Series) int { return storepb.CompareLabels(a.Labels, b.Labels) })
	return s
}

func (s *mergingStore) Series(req *storepb.SeriesRequest, srv grpc.ServerStreamingServer[storepb.SeriesResponse]) error {
	var out []*storepb.Series
	for _, sr := range s.series {
		ls := slices.DeleteFunc(slices.Clone(sr.Labels), func(l *storepb.Label) bool { return slices.Contains(req.WithoutReplicaLabels, l.Name) })
		if n := len(out); n > 0 && storepb.CompareLabels(out[n-1].Labels, ls) == 0 {
			out[n-1].Chunks = append(out[n-1].Chunks, sr.Chunks...)
			slices.SortStableFunc(out[n-1].Chunks, func(a, b *storepb.AggrChunk) int { return cmp.Compare(a.MinTime, b.MinTime) })
			continue
		}
		out = append(out, &storepb.Series{Labels: ls, Chunks: slices.Clone(sr.Chunks)})
	}
	slices.SortStableFunc(out, func(a, b *storepb.Series) int { return storepb.CompareLabels(a.Labels, b.Labels) })
	for _, sr := range out {
		if err := srv.Send(&storepb.SeriesResponse{Result: &storepb.SeriesResponse_Series{Series: sr}}); err != nil {
			return err
		}
	}
	return nil
}

// wireChunksOf encodes the float samples of s into XOR chunks of 120 samples.
func wireChunksOf(t *testing.T, s storage.Series) []*storepb.AggrChunk {
	var (
		out []*storepb.AggrChunk
		c   *chunkenc.XORChunk
		app chunkenc.Appender
		n   int
		mn  int64
		mx  int64
	)
	flush := func() {
		if n > 0 {
			out = append(out, &storepb.AggrChunk{MinTime: mn, MaxTime: mx, Raw: &storepb.Chunk{Type: storepb.Chunk_XOR, Data: slices.Clone(c.Bytes())}})
		}
		n = 0
	}
	it := s.Iterator(nil)
	for it.Next() == chunkenc.ValFloat {
		ts, f := it.At()
		if n == 0 {
			c = chunkenc.NewXORChunk()
			var err error
			app, err = c.Appender()
			require.NoError(t, err)
			mn = ts
		}
		app.Append(0, ts, f)
		mx = ts
		if n++; n == 120 {
			flush()
		}
	}
	require.NoError(t, it.Err())
	flush()
	return out
}

// tsdbClient serves series from a new TSDB through a tsdbstore.
func tsdbClient(t *testing.T, name string, ss ...[]storage.Series) store.Client {
	ts := teststorage.New(t)
	t.Cleanup(func() { require.NoError(t, ts.Close()) })
	for _, s := range ss {
		require.NoError(t, storetest.AppendSeries(t.Context(), ts.DB, s))
	}
	return testkit.NewLocalStore(name, tsdbstore.New(ts.DB, tsdbstore.Config{}, nil))
}

// TestDedupHAPair deduplicates an HA pair (replicas scraping at different
// phases, counters 1,000 apart, replica 0 down for 20 minutes) served in the
// ways production serves it.
func TestDedupHAPair(t *testing.T) {
	const start = int64(1_700_000_000_000)
	r0, r1 := hatest.Replica(start, 0, true), hatest.Replica(start, 1, true)
	// The first 2h of each replica and the rest, as a store gateway (old
	// blocks) and a sidecar (recent data) split them.
	old0, new0 := hatest.Split(r0, start+2*3600_000)
	old1, new1 := hatest.Split(r1, start+2*3600_000)
	for _, tc := range []struct {
		name    string
		clients func(t *testing.T) []store.Client
	}{
		{"one store merging the replicas' chunks", func(t *testing.T) []store.Client {
			return []store.Client{testkit.NewLocalStore("gateway", newMergingStore(t, r0, r1))}
		}},
		{"one tsdb store serving both replicas", func(t *testing.T) []store.Client {
			return []store.Client{tsdbClient(t, "tsdb", r0, r1)}
		}},
		{"one store per replica", func(t *testing.T) []store.Client {
			return []store.Client{tsdbClient(t, "r0", r0), tsdbClient(t, "r1", r1)}
		}},
		{"old data in one merging store, recent data per replica", func(t *testing.T) []store.Client {
			return []store.Client{
				testkit.NewLocalStore("gateway", newMergingStore(t, old0, old1)),
				tsdbClient(t, "sidecar-0", new0),
				tsdbClient(t, "sidecar-1", new1),
			}
		}},
		{"overlapping copies of each replica", func(t *testing.T) []store.Client {
			return []store.Client{
				testkit.NewLocalStore("gateway", newMergingStore(t, r0, r1)),
				tsdbClient(t, "sidecar-0", new0),
				tsdbClient(t, "sidecar-1", new1),
			}
		}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			clients := tc.clients(t)
			px := proxy.New(proxy.Config{}, func() []store.Client { return clients }, nil, nil)
			q := NewQueryableCreator(storepb.ServerAsClient(px), nil, nil)(Options{Deduplicate: true, ReplicaLabels: []string{hatest.ReplicaLabel}})
			hatest.Check(t, q, start)
		})
	}
}
