package bucketstore_test

import (
	"context"
	"math"
	"sync"
	"testing"
	"time"

	"github.com/prometheus/client_golang/prometheus"
	"github.com/prometheus/client_golang/prometheus/testutil"
	"github.com/prometheus/common/model"
	"github.com/prometheus/prometheus/model/labels"
	"github.com/stretchr/testify/require"
	"google.golang.org/grpc"
	"google.golang.org/grpc/codes"
	"google.golang.org/grpc/status"

	"github.com/strata-io/strata/internal/store/bucketstore"
	"github.com/strata-io/strata/internal/store/storetest"
	"github.com/strata-io/strata/pkg/storepb"
)

// oneBlockBucket returns a bucket holding n series of bigSeries (two
// samples each) in one block.
func oneBlockBucket(t *testing.T, n int) *countingBucket {
	t.Helper()
	minT := storetest.DefaultMinTime
	dirs := writeBlocks(t, bigSeries(n), [][2]int64{{minT, minT + hour}}, nil)
	bkt := newCountingBucket()
	uploadBlock(t, bkt, dirs[0], labels.FromStrings("region", "eu"), 0)
	return bkt
}

// allSeriesRequest selects every series matching the regexp on the metric
// name over all time.
func allSeriesRequest(t *testing.T, nameRegexp string) *storepb.SeriesRequest {
	t.Helper()
	ms, err := storepb.MatchersToProto(labels.MustNewMatcher(labels.MatchRegexp, model.MetricNameLabel, nameRegexp))
	require.NoError(t, err)
	return &storepb.SeriesRequest{
		MinTime: math.MinInt64, MaxTime: math.MaxInt64, Matchers: ms,
		PartialResponseStrategy: storepb.PartialResponseStrategy_ABORT,
	}
}

func TestRequestLimits(t *testing.T) {
	bkt := oneBlockBucket(t, 200) // 200 series, 400 samples; metric_00..49 have 4 series each
	for _, tc := range []struct {
		name          string
		series, samps uint64
		nameRegexp    string
		wantErr       string
	}{
		{name: "no limits", nameRegexp: ".+"},
		{name: "series at the limit", series: 200, nameRegexp: ".+"},
		{name: "series over the limit", series: 199, nameRegexp: ".+",
			wantErr: "the request selects 200 series, which exceeds --store.limits.request-series=199: narrow the query or raise the limit"},
		{name: "narrow query under the series limit", series: 10, nameRegexp: "metric_0[01]"},
		{name: "samples at the limit", samps: 400, nameRegexp: ".+"},
		{name: "samples over the limit", samps: 399, nameRegexp: ".+",
			wantErr: "exceeds --store.limits.request-samples=399: narrow the query or raise the limit"},
		{name: "narrow query under the samples limit", samps: 16, nameRegexp: "metric_0[01]"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			cfg := testConfig()
			cfg.RequestSeriesLimit = tc.series
			cfg.RequestSamplesLimit = tc.samps
			reg := prometheus.NewRegistry()
			s, err := bucketstore.New(cfg, bkt, nil, reg)
			require.NoError(t, err)
			t.Cleanup(func() { require.NoError(t, s.Close()) })
			require.NoError(t, s.SyncBlocks(t.Context()))
			got, _, _, err := storetest.CollectSeries(t.Context(), storepb.ServerAsClient(s), allSeriesRequest(t, tc.nameRegexp))
			if tc.wantErr != "" {
				require.Equal(t, codes.ResourceExhausted, status.Code(err), "err: %v", err)
				require.ErrorContains(t, err, tc.wantErr)
				require.Equal(t, 1, testutil.CollectAndCount(reg, "strata_bucket_store_limited_requests_total"), "refusal counted")
				return
			}
			require.NoError(t, err)
			require.NotEmpty(t, got)
		})
	}
}

// blockingStream is a Series stream whose first Send blocks until release
// is closed; started is closed when it blocks.
type blockingStream struct {
	grpc.ServerStream
	ctx              context.Context
	started, release chan struct{}
	sent             int
}

func (s *blockingStream) Context() context.Context { return s.ctx }

func (s *blockingStream) Send(*storepb.SeriesResponse) error {
	if s.sent == 0 {
		close(s.started)
		<-s.release
	}
	s.sent++
	return nil
}

func TestSeriesMaxConcurrency(t *testing.T) {
	cfg := testConfig()
	cfg.SeriesMaxConcurrency = 1
	s := newStore(t, cfg, oneBlockBucket(t, 20))
	req := allSeriesRequest(t, ".+")

	first := &blockingStream{ctx: t.Context(), started: make(chan struct{}), release: make(chan struct{})}
	var once sync.Once
	release := func() { once.Do(func() { close(first.release) }) }
	t.Cleanup(release) // before the store closes, which waits for the call
	done := make(chan error, 1)
	go func() { done <- s.Series(req, first) }()
	<-first.started

	// The only slot is taken: a second call waits until its deadline.
	ctx, cancel := context.WithTimeout(t.Context(), 200*time.Millisecond)
	defer cancel()
	start := time.Now()
	second := &blockingStream{ctx: ctx, started: make(chan struct{}), release: first.release}
	err := s.Series(req, second)
	require.Equal(t, codes.DeadlineExceeded, status.Code(err), "err: %v", err)
	require.Zero(t, second.sent, "nothing sent while waiting")
	require.GreaterOrEqual(t, time.Since(start), 150*time.Millisecond, "the call waited for a slot")

	// Once the first call ends, calls run again.
	release()
	require.NoError(t, <-done)
	require.Equal(t, 20, first.sent)
	got, _, _, err := storetest.CollectSeries(t.Context(), storepb.ServerAsClient(s), req)
	require.NoError(t, err)
	require.Len(t, got, 20)
}

func TestConfigValidateConcurrency(t *testing.T) {
	cfg := bucketstore.DefaultConfig()
	require.Equal(t, 20, cfg.SeriesMaxConcurrency)
	cfg.SeriesMaxConcurrency = 0
	require.ErrorContains(t, cfg.Validate(), "series max concurrency must be at least 1")
}
