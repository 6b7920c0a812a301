package bucketstore_test

import (
	"bytes"
	"os"
	"path/filepath"
	"testing"
	"time"

	"github.com/prometheus/client_golang/prometheus"
	"github.com/prometheus/prometheus/model/labels"
	"github.com/stretchr/testify/require"

	"github.com/strata-io/strata/internal/store/bucketstore"
	"github.com/strata-io/strata/internal/store/storetest"
	"github.com/strata-io/strata/internal/testkit"
	"github.com/strata-io/strata/pkg/storepb"
)

// TestIndexHeaderKeptAcrossRestarts: the first start builds each block's
// index-header from ranged reads of the index (never a whole-index GET)
// into the data directory; a restart on the same directory reads no index
// bytes at all to serve the block, and answers the same.
func TestIndexHeaderKeptAcrossRestarts(t *testing.T) {
	bkt := oneBlockBucket(t, 2000)
	dataDir := t.TempDir()
	cfg := testConfig()
	cfg.DataDir = dataDir
	req := cacheQuery(t)

	bkt.reset()
	s := newStore(t, cfg, bkt)
	gets, ranges := bkt.count("/index")
	require.Zero(t, gets, "the index is never downloaded whole")
	require.Equal(t, 4, ranges, "the header is built from 4 ranged reads")
	id := s.Blocks()[0].ID
	hdr := filepath.Join(dataDir, id.String(), "index-header")
	require.FileExists(t, hdr)
	want, _, _, err := storetest.CollectSeries(t.Context(), storepb.ServerAsClient(s), req)
	require.NoError(t, err)
	require.NotEmpty(t, want)
	require.NoError(t, s.Close())

	bkt.reset()
	s = newStore(t, cfg, bkt)
	_, ranges = bkt.count("/index")
	require.Zero(t, ranges, "a restart reuses the header file")
	got, _, _, err := storetest.CollectSeries(t.Context(), storepb.ServerAsClient(s), req)
	require.NoError(t, err)
	require.Equal(t, want, got)

	// A damaged header file is rebuilt on the next load, not served.
	require.NoError(t, os.WriteFile(hdr, []byte("garbage"), 0o644))
	require.Equal(t, 1, s.ReleaseIdle(time.Now().Add(time.Hour)))
	got, _, _, err = storetest.CollectSeries(t.Context(), storepb.ServerAsClient(s), req)
	require.NoError(t, err)
	require.Equal(t, want, got)
}

// TestIndexHeaderReleasedWhenIdle: headers are dropped from memory once
// idle and loaded again by the next request, which answers the same.
func TestIndexHeaderReleasedWhenIdle(t *testing.T) {
	bkt := oneBlockBucket(t, 1000)
	reg := prometheus.NewRegistry()
	cfg := testConfig()
	cfg.IndexHeaderIdleTimeout = time.Minute
	s, err := bucketstore.New(cfg, bkt, nil, reg)
	require.NoError(t, err)
	t.Cleanup(func() { require.NoError(t, s.Close()) })
	require.NoError(t, s.SyncBlocks(t.Context()))
	require.Zero(t, testkit.MetricValue(t, reg, "strata_indexheader_loaded"), "opening a block leaves its header on disk only")

	req := cacheQuery(t)
	want, _, _, err := storetest.CollectSeries(t.Context(), storepb.ServerAsClient(s), req)
	require.NoError(t, err)
	require.Equal(t, 1.0, testkit.MetricValue(t, reg, "strata_indexheader_loaded"))
	require.Zero(t, s.ReleaseIdle(time.Now()), "just used: kept")
	require.Equal(t, 1, s.ReleaseIdle(time.Now().Add(2*time.Minute)))
	require.Zero(t, testkit.MetricValue(t, reg, "strata_indexheader_loaded"))

	got, _, _, err := storetest.CollectSeries(t.Context(), storepb.ServerAsClient(s), req)
	require.NoError(t, err)
	require.Equal(t, want, got)
}

// TestDroppedBlockHeaderRemoved: when a block leaves the bucket, its
// header directory goes too; so do directories a previous run left for
// blocks no longer there.
func TestDroppedBlockHeaderRemoved(t *testing.T) {
	bkt := oneBlockBucket(t, 100)
	dataDir := t.TempDir()
	stale := filepath.Join(dataDir, "01ARZ3NDEKTSV4RRFFQ69G5FAV")
	require.NoError(t, os.MkdirAll(stale, 0o755))
	cfg := testConfig()
	cfg.DataDir = dataDir
	s := newStore(t, cfg, bkt)
	require.NoDirExists(t, stale)
	id := s.Blocks()[0].ID
	require.DirExists(t, filepath.Join(dataDir, id.String()))

	require.NoError(t, bkt.Delete(t.Context(), id.String()+"/meta.json"))
	require.NoError(t, s.SyncBlocks(t.Context()))
	require.Empty(t, s.Blocks())
	require.NoDirExists(t, filepath.Join(dataDir, id.String()))
}

// TestSeriesEntriesLongerThanGuessed: when meta.json's index_stats
// understate the largest series entry, entries are read again whole and
// the answer is the same.
func TestSeriesEntriesLongerThanGuessed(t *testing.T) {
	minT := storetest.DefaultMinTime
	dirs := writeBlocks(t, bigSeries(500), [][2]int64{{minT, minT + hour}}, nil)
	req := cacheQuery(t)
	var answers [][]*storepb.Series
	for _, maxSize := range []int64{0, 1} {
		bkt := newCountingBucket()
		meta := uploadBlock(t, bkt, dirs[0], labels.FromStrings("region", "eu"), 0)
		meta.Thanos.IndexStats.SeriesMaxSize = maxSize
		b, err := meta.Marshal()
		require.NoError(t, err)
		require.NoError(t, bkt.Upload(t.Context(), meta.ULID.String()+"/meta.json", bytes.NewReader(b)))
		s := newStore(t, testConfig(), bkt)
		got, _, _, err := storetest.CollectSeries(t.Context(), storepb.ServerAsClient(s), req)
		require.NoError(t, err)
		require.NotEmpty(t, got)
		answers = append(answers, got)
	}
	require.Equal(t, answers[0], answers[1])
}
