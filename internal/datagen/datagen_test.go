package datagen

import (
	"context"
	"errors"
	"math"
	"strconv"
	"testing"
	"time"

	"github.com/prometheus/prometheus/model/labels"
	"github.com/prometheus/prometheus/tsdb"
	"github.com/prometheus/prometheus/tsdb/chunkenc"
	"github.com/stretchr/testify/require"
	"go.uber.org/goleak"

	"github.com/strata-io/strata/pkg/metadata"
)

func TestMain(m *testing.M) {
	goleak.VerifyTestMain(m, goleak.IgnoreTopFunction("go.opencensus.io/stats/view.(*worker).start"))
}

// TestGenerateIsReadableByPrometheusTSDB writes a small dataset and reads it
// back with Prometheus' TSDB, as the Prometheus server of the benchmark will.
func TestGenerateIsReadableByPrometheusTSDB(t *testing.T) {
	dir := t.TempDir()
	end := time.Date(2026, 1, 1, 12, 30, 0, 0, time.UTC) // rounded down to 12:00
	cfg := Config{Series: 60, End: end, Duration: 3 * time.Hour, Interval: time.Minute, Seed: 7}
	st, err := Generate(context.Background(), dir, cfg, nil)
	require.NoError(t, err)
	require.Equal(t, Stats{
		Namespaces: 1, Pods: 3, Series: 81, Blocks: 2,
		Samples: 81 * 4 * 60,
		MinTime: st.MinTime, MaxTime: st.MaxTime,
	}, st)
	blockStart := time.Date(2026, 1, 1, 8, 0, 0, 0, time.UTC).UnixMilli()
	require.GreaterOrEqual(t, st.MinTime, blockStart)
	require.Less(t, st.MinTime, blockStart+time.Minute.Milliseconds())
	require.Less(t, st.MaxTime, time.Date(2026, 1, 1, 12, 0, 0, 0, time.UTC).UnixMilli())

	opts := tsdb.DefaultOptions()
	opts.MinBlockDuration = BlockDuration.Milliseconds()
	opts.MaxBlockDuration = BlockDuration.Milliseconds()
	db, err := tsdb.Open(dir, nil, nil, opts, nil)
	require.NoError(t, err)
	defer func() { require.NoError(t, db.Close()) }()
	require.Len(t, db.Blocks(), 2)

	q, err := db.Querier(math.MinInt64, math.MaxInt64)
	require.NoError(t, err)
	defer func() { require.NoError(t, q.Close()) }()

	// Every series has one sample per minute over the 4h, and the histogram
	// buckets of a pod never decrease with le.
	ss := q.Select(context.Background(), true, nil, labels.MustNewMatcher(labels.MatchRegexp, "__name__", ".+"))
	bucketsAt := map[string]map[int64]map[float64]float64{} // pod -> ts -> le -> value
	series := 0
	for ss.Next() {
		s := ss.At()
		series++
		for _, name := range []string{"namespace", "pod", "container", "job", "instance"} {
			require.NotEmpty(t, s.Labels().Get(name), "%s lacks %s", s.Labels(), name)
		}
		it := s.Iterator(nil)
		n := 0
		for it.Next() == chunkenc.ValFloat {
			ts, v := it.At()
			n++
			if s.Labels().Get("__name__") == "http_request_duration_seconds_bucket" {
				pod := s.Labels().Get("pod")
				le, err := strconv.ParseFloat(s.Labels().Get("le"), 64)
				require.NoError(t, err)
				if bucketsAt[pod] == nil {
					bucketsAt[pod] = map[int64]map[float64]float64{}
				}
				if bucketsAt[pod][ts] == nil {
					bucketsAt[pod][ts] = map[float64]float64{}
				}
				bucketsAt[pod][ts][le] = v
			}
		}
		require.NoError(t, it.Err())
		require.Equal(t, 4*60, n, "%s", s.Labels())
	}
	require.NoError(t, ss.Err())
	require.Equal(t, 81, series)
	require.Len(t, bucketsAt, 3)
	for pod, byTS := range bucketsAt {
		for ts, byLE := range byTS {
			require.Len(t, byLE, len(buckets))
			prev := 0.0
			for _, le := range buckets {
				require.GreaterOrEqual(t, byLE[le], prev, "pod %s at %d: bucket le=%g below a smaller le", pod, ts, le)
				prev = byLE[le]
			}
		}
	}
}

// TestGenerateBlocksReportsEachBlock checks that the callback sees every
// block in time order, with the directory and range of its meta.json.
func TestGenerateBlocksReportsEachBlock(t *testing.T) {
	dir := t.TempDir()
	end := time.Date(2026, 1, 1, 12, 0, 0, 0, time.UTC)
	cfg := Config{Series: 30, End: end, Duration: 5 * time.Hour, Interval: 10 * time.Minute, Seed: 3}
	var got []Block
	st, err := GenerateBlocks(context.Background(), dir, cfg, nil, func(_ context.Context, b Block) error {
		meta, err := metadata.ReadFromDir(b.Dir)
		require.NoError(t, err)
		require.Equal(t, b.ID, meta.ULID)
		require.Equal(t, meta.MinTime, b.MinTime)
		require.Equal(t, meta.MaxTime, b.MaxTime)
		require.Equal(t, uint64(b.Samples), meta.Stats.NumSamples)
		require.Equal(t, uint64(b.Series), meta.Stats.NumSeries)
		got = append(got, b)
		return nil
	})
	require.NoError(t, err)
	require.Equal(t, 3, st.Blocks)
	require.Len(t, got, 3)
	for i, b := range got {
		require.Equal(t, i+1, b.Index)
		require.Equal(t, 3, b.Total)
		require.Equal(t, 54, b.Series)
		if i > 0 {
			require.GreaterOrEqual(t, b.MinTime, got[i-1].MaxTime)
		}
	}

	// An error from the callback stops the run.
	stop := errors.New("stop")
	st, err = GenerateBlocks(context.Background(), t.TempDir(), cfg, nil, func(context.Context, Block) error { return stop })
	require.ErrorIs(t, err, stop)
	require.Equal(t, 1, st.Blocks)
}
