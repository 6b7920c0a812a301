package bucketweb

import (
	"bytes"
	"context"
	"encoding/json"
	"net/http"
	"net/http/httptest"
	"net/url"
	"strings"
	"testing"
	"time"

	"github.com/oklog/ulid/v2"
	"github.com/prometheus/client_golang/prometheus"
	"github.com/prometheus/client_golang/prometheus/testutil"
	"github.com/prometheus/prometheus/tsdb"
	"github.com/stretchr/testify/require"
	"github.com/thanos-io/objstore"
	"go.uber.org/goleak"

	"github.com/strata-io/strata/pkg/metadata"
)

func TestMain(m *testing.M) {
	goleak.VerifyTestMain(m)
}

const hour = int64(time.Hour / time.Millisecond)

// putBlock uploads a small fake block (meta.json, index, one segment) and
// returns its ULID.
func putBlock(t *testing.T, bkt objstore.Bucket, minT, maxT, res int64, lbls ...string) ulid.ULID {
	t.Helper()
	id := ulid.Make()
	ls := map[string]string{}
	for i := 0; i < len(lbls); i += 2 {
		ls[lbls[i]] = lbls[i+1]
	}
	m := metadata.Meta{
		BlockMeta: tsdb.BlockMeta{ULID: id, MinTime: minT, MaxTime: maxT, Version: metadata.TSDBVersion1,
			Stats:      tsdb.BlockStats{NumSeries: 10, NumSamples: 1200, NumChunks: 10},
			Compaction: tsdb.BlockMetaCompaction{Level: 1, Sources: []ulid.ULID{id}}},
		Thanos: metadata.ThanosMeta{Version: metadata.ThanosVersion1, Labels: ls,
			Downsample: metadata.ThanosDownsample{Resolution: res}, Source: metadata.SidecarSource,
			SegmentFiles: []string{"000001"}},
	}
	b, err := m.Marshal()
	require.NoError(t, err)
	ctx := context.Background()
	require.NoError(t, bkt.Upload(ctx, id.String()+"/chunks/000001", strings.NewReader("chunks")))
	require.NoError(t, bkt.Upload(ctx, id.String()+"/index", strings.NewReader("index")))
	require.NoError(t, bkt.Upload(ctx, id.String()+"/meta.json", bytes.NewReader(b)))
	return id
}

func newHandler(t *testing.T, bkt objstore.Bucket, admin bool) *Handler {
	t.Helper()
	cfg := DefaultConfig()
	cfg.Admin = admin
	h, err := New(cfg, bkt, nil, nil)
	require.NoError(t, err)
	return h
}

func getBlocks(t *testing.T, h http.Handler, query string) BlocksData {
	t.Helper()
	rec := httptest.NewRecorder()
	h.ServeHTTP(rec, httptest.NewRequest(http.MethodGet, "/api/v1/blocks"+query, nil))
	require.Equal(t, http.StatusOK, rec.Code, rec.Body.String())
	require.Equal(t, "application/json", rec.Header().Get("Content-Type"))
	var resp BlocksResponse
	require.NoError(t, json.Unmarshal(rec.Body.Bytes(), &resp))
	require.Equal(t, "success", resp.Status)
	return resp.Data
}

func TestBlocksAPIGroupsByStreamAndResolution(t *testing.T) {
	ctx := context.Background()
	bkt := objstore.NewInMemBucket()
	a2 := putBlock(t, bkt, 2*hour, 4*hour, 0, "cluster", "a")
	a1 := putBlock(t, bkt, 0, 2*hour, 0, "cluster", "a")
	a5m := putBlock(t, bkt, 0, 48*hour, metadata.Resolution5m, "cluster", "a")
	b1 := putBlock(t, bkt, hour, 3*hour, 0, "cluster", "b", "replica", "1")
	require.NoError(t, metadata.WriteMarker(ctx, bkt, metadata.NewDeletionMark(a1, time.Unix(100, 0), "replaced")))
	partial := ulid.Make()
	require.NoError(t, bkt.Upload(ctx, partial.String()+"/chunks/000001", strings.NewReader("x")))
	require.NoError(t, bkt.Upload(ctx, "not-a-block.txt", strings.NewReader("x")))

	data := getBlocks(t, newHandler(t, bkt, false), "")
	require.False(t, data.Admin)
	require.WithinDuration(t, time.Now(), data.RefreshedAt, time.Minute)
	require.Len(t, data.Streams, 2)

	a := data.Streams[0]
	require.Equal(t, `{cluster="a"}`, a.Key)
	require.Equal(t, map[string]string{"cluster": "a"}, a.Labels)
	require.Len(t, a.Resolutions, 2)
	require.Equal(t, int64(0), a.Resolutions[0].Resolution)
	raw := a.Resolutions[0].Blocks
	require.Len(t, raw, 2)
	require.Equal(t, []string{a1.String(), a2.String()}, []string{raw[0].ULID, raw[1].ULID}, "sorted by min time")
	require.Equal(t, int64(0), raw[0].MinTime)
	require.Equal(t, 2*hour, raw[0].MaxTime)
	require.Equal(t, uint64(1200), raw[0].Meta.Stats.NumSamples)
	require.Equal(t, metadata.SidecarSource, raw[0].Meta.Thanos.Source)
	require.NotNil(t, raw[0].Markers.Deletion)
	require.Equal(t, "replaced", raw[0].Markers.Deletion.Details)
	require.Nil(t, raw[1].Markers.Deletion)
	require.Equal(t, metadata.Resolution5m, a.Resolutions[1].Resolution)
	require.Equal(t, a5m.String(), a.Resolutions[1].Blocks[0].ULID)

	require.Equal(t, `{cluster="b", replica="1"}`, data.Streams[1].Key)
	require.Equal(t, b1.String(), data.Streams[1].Resolutions[0].Blocks[0].ULID)

	require.Len(t, data.Partial, 1)
	require.Equal(t, partial.String(), data.Partial[0].ULID)
	require.Equal(t, []string{"chunks/000001"}, data.Partial[0].Objects)
	require.Empty(t, data.Partial[0].Error)
}

func TestBlocksAPIEmptyBucketAndBadMeta(t *testing.T) {
	bkt := objstore.NewInMemBucket()
	rec := httptest.NewRecorder()
	newHandler(t, bkt, false).ServeHTTP(rec, httptest.NewRequest(http.MethodGet, "/api/v1/blocks", nil))
	require.JSONEq(t, `[]`, mustField(t, rec.Body.Bytes(), "streams"), "an empty bucket gives [] not null")

	bad := ulid.Make()
	require.NoError(t, bkt.Upload(context.Background(), bad.String()+"/meta.json", strings.NewReader("{")))
	data := getBlocks(t, newHandler(t, bkt, false), "")
	require.Len(t, data.Partial, 1)
	require.Contains(t, data.Partial[0].Error, "decode meta.json")
}

func mustField(t *testing.T, body []byte, field string) string {
	t.Helper()
	var resp struct {
		Data map[string]json.RawMessage `json:"data"`
	}
	require.NoError(t, json.Unmarshal(body, &resp))
	return string(resp.Data[field])
}

func TestBlocksAPICachesUntilRefresh(t *testing.T) {
	bkt := objstore.NewInMemBucket()
	putBlock(t, bkt, 0, 2*hour, 0, "cluster", "a")
	reg := prometheus.NewRegistry()
	h, err := New(DefaultConfig(), bkt, nil, reg)
	require.NoError(t, err)
	require.False(t, h.Listed())

	require.Len(t, getBlocks(t, h, "").Streams[0].Resolutions[0].Blocks, 1)
	require.True(t, h.Listed())
	putBlock(t, bkt, 2*hour, 4*hour, 0, "cluster", "a")
	require.Len(t, getBlocks(t, h, "").Streams[0].Resolutions[0].Blocks, 1, "served from the cache")
	require.Len(t, getBlocks(t, h, "?refresh=1").Streams[0].Resolutions[0].Blocks, 2)
	require.Equal(t, 2.0, testutil.ToFloat64(h.m.refreshes))
	require.Equal(t, 2.0, testutil.ToFloat64(h.m.blocks))
}

func TestRunRefreshesInTheBackground(t *testing.T) {
	bkt := objstore.NewInMemBucket()
	cfg := DefaultConfig()
	cfg.RefreshInterval = 10 * time.Millisecond
	h, err := New(cfg, bkt, nil, nil)
	require.NoError(t, err)
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan error)
	go func() { done <- h.Run(ctx) }()

	require.Eventually(t, h.Listed, 5*time.Second, 5*time.Millisecond)
	id := putBlock(t, bkt, 0, 2*hour, 0, "cluster", "a")
	require.Eventually(t, func() bool {
		bs := h.Blocks()
		return len(bs) == 1 && bs[0].ID == id
	}, 5*time.Second, 5*time.Millisecond)
	cancel()
	require.NoError(t, <-done)
}

func postMark(t *testing.T, h http.Handler, form url.Values, origin string) (int, []byte) {
	t.Helper()
	req := httptest.NewRequest(http.MethodPost, "/api/v1/blocks/mark", strings.NewReader(form.Encode()))
	req.Header.Set("Content-Type", "application/x-www-form-urlencoded")
	if origin != "" {
		req.Header.Set("Origin", origin)
	}
	rec := httptest.NewRecorder()
	h.ServeHTTP(rec, req)
	return rec.Code, rec.Body.Bytes()
}

func TestMarkRefusedWithoutAdmin(t *testing.T) {
	ctx := context.Background()
	bkt := objstore.NewInMemBucket()
	id := putBlock(t, bkt, 0, 2*hour, 0, "cluster", "a")
	code, body := postMark(t, newHandler(t, bkt, false), url.Values{"id": {id.String()}, "marker": {"deletion"}}, "")
	require.Equal(t, http.StatusForbidden, code)
	var e ErrorResponse
	require.NoError(t, json.Unmarshal(body, &e))
	require.Equal(t, "error", e.Status)
	require.Contains(t, e.Error, "--web.enable-admin-actions")
	ok, err := bkt.Exists(ctx, metadata.MarkerPath(id, metadata.DeletionMarkFilename))
	require.NoError(t, err)
	require.False(t, ok)
}

func TestMarkWithAdmin(t *testing.T) {
	ctx := context.Background()
	bkt := objstore.NewInMemBucket()
	id := putBlock(t, bkt, 0, 2*hour, 0, "cluster", "a")
	h := newHandler(t, bkt, true)
	require.True(t, getBlocks(t, h, "").Admin)

	code, body := postMark(t, h, url.Values{"id": {id.String()}, "marker": {"no-compact-mark.json"}, "details": {"bad chunk"}}, "http://example.com")
	require.Equal(t, http.StatusOK, code, string(body))
	var resp MarkResponse
	require.NoError(t, json.Unmarshal(body, &resp))
	require.True(t, resp.Data.Changed)
	require.NotNil(t, resp.Data.Block.Markers.NoCompact)

	var m metadata.NoCompactMark
	require.NoError(t, metadata.ReadMarker(ctx, bkt, id, &m))
	require.Equal(t, metadata.ManualReason, m.Reason)
	require.Equal(t, "bad chunk", m.Details)
	// The cached listing shows it without a refresh.
	require.NotNil(t, getBlocks(t, h, "").Streams[0].Resolutions[0].Blocks[0].Markers.NoCompact)

	// Again: kept as it is.
	code, body = postMark(t, h, url.Values{"id": {id.String()}, "marker": {"no-compact"}}, "")
	require.Equal(t, http.StatusOK, code)
	require.NoError(t, json.Unmarshal(body, &resp))
	require.False(t, resp.Data.Changed)

	code, body = postMark(t, h, url.Values{"id": {id.String()}, "marker": {"no-compact"}, "remove": {"1"}}, "")
	require.Equal(t, http.StatusOK, code, string(body))
	require.ErrorIs(t, metadata.ReadMarker(ctx, bkt, id, &m), metadata.ErrMarkerNotFound)
	require.Nil(t, getBlocks(t, h, "").Streams[0].Resolutions[0].Blocks[0].Markers.NoCompact)

	for _, tc := range []struct {
		name   string
		form   url.Values
		origin string
		code   int
		want   string
	}{
		{"unknown block", url.Values{"id": {ulid.Make().String()}, "marker": {"deletion"}}, "", http.StatusNotFound, "block not found"},
		{"bad id", url.Values{"id": {"x"}, "marker": {"deletion"}}, "", http.StatusBadRequest, "not a block ULID"},
		{"bad marker", url.Values{"id": {id.String()}, "marker": {"hide"}}, "", http.StatusBadRequest, "unknown marker"},
		{"cross origin", url.Values{"id": {id.String()}, "marker": {"deletion"}}, "http://evil.test", http.StatusForbidden, "cross-origin"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			code, body := postMark(t, h, tc.form, tc.origin)
			require.Equal(t, tc.code, code)
			require.Contains(t, string(body), tc.want)
		})
	}
	ok, err := bkt.Exists(ctx, metadata.MarkerPath(id, metadata.DeletionMarkFilename))
	require.NoError(t, err)
	require.False(t, ok, "refused requests write nothing")
}

func TestPageIsSelfContained(t *testing.T) {
	h := newHandler(t, objstore.NewInMemBucket(), false)
	rec := httptest.NewRecorder()
	h.ServeHTTP(rec, httptest.NewRequest(http.MethodGet, "/", nil))
	require.Equal(t, http.StatusOK, rec.Code)
	require.Equal(t, "text/html; charset=utf-8", rec.Header().Get("Content-Type"))
	body := rec.Body.String()
	require.Contains(t, body, `fetch("api/v1/blocks"`, "relative URL: works under a prefix")
	require.Contains(t, body, "<script>")
	for _, ext := range []string{`src="http`, `href="http`, `src="//`, `@import`} {
		require.NotContains(t, body, ext, "no external resources")
	}

	rec = httptest.NewRecorder()
	h.ServeHTTP(rec, httptest.NewRequest(http.MethodGet, "/other", nil))
	require.Equal(t, http.StatusNotFound, rec.Code)
}

func TestConfigValidate(t *testing.T) {
	cfg := DefaultConfig()
	cfg.RefreshInterval = 0
	_, err := New(cfg, objstore.NewInMemBucket(), nil, nil)
	require.ErrorContains(t, err, "--web.refresh-interval must be positive")
	cfg = DefaultConfig()
	cfg.ListConcurrency = 0
	require.ErrorContains(t, cfg.Validate(), "--web.list-concurrency")
}
