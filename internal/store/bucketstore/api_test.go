package bucketstore_test

import (
	"encoding/json"
	"net/http"
	"net/http/httptest"
	"testing"

	"github.com/prometheus/prometheus/model/labels"
	"github.com/stretchr/testify/require"

	"github.com/strata-io/strata/internal/store/bucketstore"
)

func TestBlocksHandler(t *testing.T) {
	bkt := newCountingBucket()
	ext := labels.FromStrings("region", "eu")
	dirs := sixBlocks(t)
	first := uploadBlock(t, bkt, dirs[0], ext, 0)
	uploadBlock(t, bkt, dirs[1], ext, 0)
	s := newStore(t, testConfig(), bkt)

	rec := httptest.NewRecorder()
	s.BlocksHandler().ServeHTTP(rec, httptest.NewRequest(http.MethodGet, "/api/v1/blocks", nil))
	require.Equal(t, http.StatusOK, rec.Code)
	require.Equal(t, "application/json", rec.Header().Get("Content-Type"))
	var resp struct {
		Status string `json:"status"`
		Data   struct {
			Blocks []bucketstore.LoadedBlock `json:"blocks"`
		} `json:"data"`
	}
	require.NoError(t, json.Unmarshal(rec.Body.Bytes(), &resp))
	require.Equal(t, "success", resp.Status)
	require.Len(t, resp.Data.Blocks, 2)
	b := resp.Data.Blocks[0]
	require.Equal(t, first.ULID.String(), b.ULID, "sorted by min time")
	require.Equal(t, first.MinTime, b.MinTime)
	require.Equal(t, first.MaxTime, b.MaxTime)
	require.Equal(t, map[string]string{"region": "eu"}, b.Labels)
	require.Equal(t, first.Stats.NumSeries, b.NumSeries)
}
