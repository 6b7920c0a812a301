package storetest

import (
	"context"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/prometheus/prometheus/model/labels"
	"github.com/prometheus/prometheus/storage"
	"google.golang.org/grpc/codes"
	"google.golang.org/grpc/status"
	"google.golang.org/protobuf/types/known/anypb"

	"github.com/strata-io/strata/pkg/storepb"
)

// FuzzDataset returns a small data set for fuzz targets (a fuzzed request
// runs thousands of times a second against it): two HA replicas' worth of
// `up` and a counter for two jobs, one hour every ScrapeInterval from
// minTime (ms), the replicas' counters differing. Sorted, deterministic.
func FuzzDataset(minTime int64) []storage.Series {
	var out []storage.Series
	for _, name := range []string{"http_requests_total", "up"} {
		for _, job := range []string{"api", "web"} {
			for r, replica := range []string{"a", "b"} {
				lset := labels.FromStrings("__name__", name, "job", job, "pod", "p-"+replica, "path", "/π")
				var ss []Sample
				for i := range int64(240) {
					v := 1.0
					if name != "up" {
						v = float64(i*(3+int64(r)) + int64(len(job)))
					}
					ss = append(ss, Sample{T: minTime + int64(r)*1_000 + i*ScrapeInterval, F: v})
				}
				out = append(out, NewSeries(lset, ss))
			}
		}
	}
	slices.SortFunc(out, func(a, b storage.Series) int { return labels.Compare(a.Labels(), b.Labels()) })
	return out
}

// FuzzRequests adds a seed corpus to f and fuzzes the Series, LabelNames
// and LabelValues requests served by c (built once by the caller, e.g. over
// FuzzDataset). Each input fills the request fields: two matchers (any
// type, including unknown ones, invalid regular expressions and invalid
// UTF-8), times, limit, batch size, opaque hints, shard info,
// without_replica_labels, skip_chunks and the partial response strategy.
// A call must not panic or hang, and must either answer or fail with a
// status a client can act on: never Internal or Unknown, which would mean
// the store took bad input for its own failure.
func FuzzRequests(f *testing.F, c storepb.StoreClient, minTime int64) {
	hour := int64(3600_000)
	type seed struct {
		t1           uint8
		n1, v1       string
		t2           uint8
		n2, v2       string
		mint, maxt   int64
		limit, batch int64
		hints        []byte
		shard, total int64
		without      string
		skip, abort  bool
	}
	for _, s := range []seed{
		{t1: 0, n1: "__name__", v1: "up", t2: 2, n2: "job", v2: "a.*", mint: minTime, maxt: minTime + hour},
		{t1: 2, n1: "__name__", v1: ".+", t2: 1, n2: "pod", v2: "p-a", mint: minTime, maxt: minTime + hour, batch: 3, without: "pod", abort: true},
		{t1: 2, n1: "job", v1: "(unclosed", mint: minTime, maxt: minTime + hour, abort: true},
		{t1: 3, n1: "path", v1: "\xff\xfe", t2: 0, n2: "\xc3", v2: "\x80", mint: -1 << 63, maxt: 1<<63 - 1},
		{t1: 7, n1: "job", v1: "api", mint: minTime, maxt: minTime},
		{t1: 0, n1: "job", v1: "web", mint: minTime + hour, maxt: minTime, limit: -3},
		{t1: 0, n1: "__name__", v1: "http_requests_total", mint: minTime, maxt: minTime + hour, batch: 1e12, limit: 2, skip: true},
		{t1: 2, n1: "pod", v1: "", mint: minTime, maxt: minTime + hour, hints: []byte{0x0a, 0xff, 0x01}, shard: 1, total: 2},
		{t1: 1, n1: "region", v1: "eu", mint: minTime, maxt: minTime + hour, shard: 5, total: 2, without: "replica"},
		{t1: 2, n1: "__name__", v1: ".+", mint: minTime, maxt: minTime + hour, limit: 3, without: "pod,replica"},
		{t1: 2, n1: "job", v1: "(a|b|c)*(d|e)+" + strings.Repeat("x?", 20), mint: minTime - hour, maxt: minTime + 2*hour, batch: -1},
	} {
		f.Add(s.t1, s.n1, s.v1, s.t2, s.n2, s.v2, s.mint, s.maxt, s.limit, s.batch, s.hints, s.shard, s.total, s.without, s.skip, s.abort)
	}
	f.Fuzz(func(t *testing.T, t1 uint8, n1, v1 string, t2 uint8, n2, v2 string,
		mint, maxt, limit, batch int64, hints []byte, shard, total int64, without string, skip, abort bool,
	) {
		ms := []*storepb.LabelMatcher{{Type: storepb.LabelMatcher_Type(t1 % 5), Name: n1, Value: v1}}
		if t2 < 200 {
			ms = append(ms, &storepb.LabelMatcher{Type: storepb.LabelMatcher_Type(t2 % 5), Name: n2, Value: v2})
		}
		strategy := storepb.PartialResponseStrategy_WARN
		if abort {
			strategy = storepb.PartialResponseStrategy_ABORT
		}
		var h *anypb.Any
		if len(hints) > 0 {
			h = &anypb.Any{TypeUrl: "type.googleapis.com/thanos.SeriesRequestHints", Value: hints}
		}
		var wrl []string
		if without != "" {
			wrl = strings.Split(without, ",")
		}
		sreq := &storepb.SeriesRequest{
			MinTime: mint, MaxTime: maxt, Matchers: ms, SkipChunks: skip, Limit: limit, ResponseBatchSize: batch,
			Hints: h, WithoutReplicaLabels: wrl, PartialResponseStrategy: strategy,
			QueryHints: &storepb.QueryHints{StepMillis: limit, Grouping: &storepb.Grouping{By: skip, Labels: []string{n2}}},
		}
		if shard != 0 || total != 0 {
			sreq.ShardInfo = &storepb.ShardInfo{ShardIndex: shard, TotalShards: total, By: true, Labels: []string{n1}}
		}
		ctx, cancel := context.WithTimeout(context.Background(), 20*time.Second)
		defer cancel()

		series, _, _, err := CollectSeries(ctx, c, sreq)
		checkStatus(t, "series", err)
		if err == nil {
			checkSeriesOrder(t, series, limit)
		}
		_, err = c.LabelNames(ctx, &storepb.LabelNamesRequest{
			Start: mint, End: maxt, Matchers: ms, Limit: limit, Hints: h, WithoutReplicaLabels: wrl, PartialResponseStrategy: strategy,
		})
		checkStatus(t, "label names", err)
		_, err = c.LabelValues(ctx, &storepb.LabelValuesRequest{
			Label: n2, Start: mint, End: maxt, Matchers: ms[:1], Limit: limit, Hints: h, WithoutReplicaLabels: wrl, PartialResponseStrategy: strategy,
		})
		checkStatus(t, "label values", err)
	})
}

// checkSeriesOrder fails t when series are not sorted by labels or hold
// more than limit distinct label sets. A label set may span several
// adjacent frames (e.g. two pods' series once without_replica_labels strips
// the pod label): clients merge them, and they count once towards limit.
func checkSeriesOrder(t *testing.T, series []*storepb.Series, limit int64) {
	t.Helper()
	var distinct int64
	for i, s := range series {
		if i > 0 {
			c := storepb.CompareLabels(series[i-1].Labels, s.Labels)
			if c > 0 {
				t.Fatalf("series: %v answered after %v, want sorted by labels", s.Labels, series[i-1].Labels)
			}
			if c == 0 {
				continue
			}
		}
		distinct++
	}
	if limit > 0 && distinct > limit {
		t.Fatalf("series: %d label sets answered with limit %d", distinct, limit)
	}
}

// checkStatus fails t when err is a status a client cannot act on.
func checkStatus(t *testing.T, call string, err error) {
	t.Helper()
	if err == nil {
		return
	}
	switch code := status.Code(err); code {
	case codes.Internal, codes.Unknown:
		t.Fatalf("%s: bad input answered with %s, want an answer or a client error: %v", call, code, err)
	case codes.DeadlineExceeded, codes.Canceled:
		t.Fatalf("%s: the call did not end within 20s: %v", call, err)
	}
}
