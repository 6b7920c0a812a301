package proxy

import (
	"fmt"
	"testing"

	"github.com/stretchr/testify/require"

	"github.com/strata-io/strata/pkg/storepb"
)

// TestSeriesBoundsForwardedBatchSize sends the proxy response_batch_size=1e12:
// it must ask its endpoints for at most storepb.MaxResponseBatchSize series
// per frame (an endpoint would otherwise size a buffer by it) and answer in
// frames of at most that many, not in one frame holding everything.
func TestSeriesBoundsForwardedBatchSize(t *testing.T) {
	var ss []*storepb.Series
	for i := range 2500 {
		ss = append(ss, series([]string{"__name__", "up", "i", fmt.Sprintf("%04d", i)}, 1))
	}
	a := newClient("a", &fakeStore{series: ss})
	b := newClient("b", &fakeStore{series: ss[:10]})
	b.withoutRL = true

	for _, requested := range []int64{1e12, 1<<63 - 1, storepb.MaxResponseBatchSize + 1} {
		t.Run(fmt.Sprint(requested), func(t *testing.T) {
			a.store.calls, b.store.calls = nil, nil
			req := allReq()
			req.ResponseBatchSize = requested
			stream, err := storepb.ServerAsClient(newProxy(Config{}, a, b)).Series(t.Context(), req)
			require.NoError(t, err)
			got := 0
			for {
				r, err := stream.Recv()
				if err != nil {
					break
				}
				n := len(r.GetBatch().GetSeries())
				require.LessOrEqual(t, n, storepb.MaxResponseBatchSize, "a frame of the proxy's answer")
				got += n
			}
			require.Equal(t, 2500, got, "b's series repeat a's chunks: dropped as duplicates")
			for _, c := range []*testClient{a, b} {
				require.Len(t, c.store.calls, 1)
				require.Equal(t, int64(storepb.MaxResponseBatchSize), c.store.calls[0].GetResponseBatchSize(),
					"batch size forwarded to endpoint %s", c.name)
			}
			require.Equal(t, requested, req.GetResponseBatchSize(), "the caller's request is left as it was")
		})
	}
}
