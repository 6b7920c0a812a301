package tsdbstore_test

import (
	"context"
	"errors"
	"net"
	"testing"

	"github.com/prometheus/prometheus/model/labels"
	"github.com/prometheus/prometheus/storage"
	"github.com/prometheus/prometheus/tsdb"
	"github.com/prometheus/prometheus/tsdb/chunkenc"
	"github.com/stretchr/testify/require"
	"go.uber.org/goleak"
	"google.golang.org/grpc"
	"google.golang.org/grpc/credentials/insecure"

	"github.com/strata-io/strata/internal/store/storetest"
	"github.com/strata-io/strata/internal/store/tsdbstore"
	"github.com/strata-io/strata/pkg/storepb"
)

func TestMain(m *testing.M) {
	goleak.VerifyTestMain(m)
}

// openDB opens a TSDB in a test directory, loads series into it, and closes
// it at cleanup. tune adjusts the options; compact, when set, cuts blocks out
// of the head so that data is served from blocks and head.
func openDB(t testing.TB, series []storage.Series, tune func(*tsdb.Options), compact bool) *tsdb.DB {
	t.Helper()
	opts := tsdb.DefaultOptions()
	opts.RetentionDuration = 0
	opts.MinBlockDuration = 24 * 3600_000 // everything in the head unless compact
	opts.MaxBlockDuration = 24 * 3600_000
	if compact {
		opts.MinBlockDuration = 3600_000
		opts.MaxBlockDuration = 3600_000
	}
	if tune != nil {
		tune(opts)
	}
	db, err := tsdb.Open(t.TempDir(), nil, nil, opts, nil)
	require.NoError(t, err)
	t.Cleanup(func() { require.NoError(t, db.Close()) })
	require.NoError(t, storetest.AppendSeries(context.Background(), db, series))
	if compact {
		require.NoError(t, db.Compact(context.Background()))
		require.NotEmpty(t, db.Blocks(), "compaction cut no block")
	}
	return db
}

// inProcess returns a setup serving a TSDB through storepb.ServerAsClient.
func inProcess(tune func(*tsdb.Options), compact bool) storetest.Setup {
	return func(t *testing.T, ext labels.Labels, series []storage.Series) storepb.StoreClient {
		db := openDB(t, series, tune, compact)
		return storepb.ServerAsClient(tsdbstore.New(db, tsdbstore.Config{ExternalLabels: ext, ComponentType: "debug"}, nil))
	}
}

// overGRPC returns a setup serving a TSDB on a real gRPC server on loopback.
func overGRPC(t *testing.T, ext labels.Labels, series []storage.Series) storepb.StoreClient {
	db := openDB(t, series, nil, false)
	return serveGRPC(t, tsdbstore.New(db, tsdbstore.Config{ExternalLabels: ext, ComponentType: "debug"}, nil))
}

func serveGRPC(t *testing.T, srv storepb.StoreServer) storepb.StoreClient {
	t.Helper()
	lis, err := net.Listen("tcp", "127.0.0.1:0")
	require.NoError(t, err)
	s := grpc.NewServer()
	storepb.RegisterStoreServer(s, srv)
	done := make(chan error, 1)
	go func() { done <- s.Serve(lis) }()
	conn, err := grpc.NewClient(lis.Addr().String(), grpc.WithTransportCredentials(insecure.NewCredentials()))
	require.NoError(t, err)
	t.Cleanup(func() {
		require.NoError(t, conn.Close())
		s.Stop()
		require.NoError(t, <-done)
	})
	return storepb.NewStoreClient(conn)
}

// downQueryable is a storage whose backend is down.
type downQueryable struct{}

func (downQueryable) ChunkQuerier(int64, int64) (storage.ChunkQuerier, error) {
	return nil, errors.New("backend down")
}

func failing(t *testing.T) storepb.StoreClient {
	return storepb.ServerAsClient(tsdbstore.New(downQueryable{}, tsdbstore.Config{}, nil))
}

func TestContract(t *testing.T) {
	for _, tc := range []struct {
		name  string
		setup storetest.Setup
	}{
		{name: "head", setup: inProcess(nil, false)},
		{name: "blocks_and_head", setup: inProcess(nil, true)},
		{name: "xor2_and_histogram_st_chunks", setup: inProcess(func(o *tsdb.Options) {
			o.FloatChunkEncoding = chunkenc.EncXOR2
			o.EnableHistogramSTEncoding = true
		}, true)},
		{name: "grpc", setup: overGRPC},
	} {
		t.Run(tc.name, func(t *testing.T) {
			storetest.RunContract(t, tc.setup, storetest.Options{Failing: failing})
		})
	}
}
