package promstore

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"io"
	"net/http"
	"net/url"
	"slices"
	"strconv"
	"strings"
	"time"

	"github.com/cespare/xxhash/v2"
	"github.com/golang/snappy"
	"github.com/prometheus/common/model"
	"github.com/prometheus/prometheus/model/labels"
	"github.com/prometheus/prometheus/prompb"
	"github.com/prometheus/prometheus/storage"
	"github.com/prometheus/prometheus/storage/remote"
	"google.golang.org/grpc/codes"
	"google.golang.org/grpc/status"

	"github.com/strata-io/strata/internal/store"
	"github.com/strata-io/strata/pkg/storepb"
)

// streamedChunksType is the Content-Type of a streamed remote-read answer.
const streamedChunksType = "application/x-streamed-protobuf; proto=prometheus.ChunkedReadResponse"

// outSeries is one series ready to send: final labels and chunks.
type outSeries struct {
	lset   labels.Labels
	chunks []*storepb.AggrChunk
}

// Series implements storepb.StoreServer. It streams the series of Prometheus
// matching the request, each carrying the external labels once, sorted by
// labels after stripping without_replica_labels.
//
// Prometheus sorts by its stored labels; adding the external labels (or
// stripping replica labels) can change that order, so the answer is buffered
// and sorted before it is sent.
func (s *Store) Series(req *storepb.SeriesRequest, srv storepb.Store_SeriesServer) error {
	if err := storepb.ValidateSeriesRequest(req); err != nil {
		return err
	}
	ctx := srv.Context()
	ms, err := storepb.MatchersFromProto(req.GetMatchers())
	if err != nil {
		return status.Error(codes.InvalidArgument, err.Error())
	}
	ext, err := s.knownExtLabels()
	if err != nil {
		return err
	}
	rest, ok := store.SplitMatchers(ext, ms)
	if !ok {
		return nil
	}
	b := store.NewSeriesLabels(ext, req.GetWithoutReplicaLabels())

	var series []outSeries
	if req.GetSkipChunks() {
		series, err = s.seriesLabels(ctx, req, rest, b)
	} else {
		series, err = s.remoteRead(ctx, req, rest, b)
	}
	if err != nil {
		return err
	}
	if !req.GetSkipChunks() {
		// A series whose chunks all fell outside the range is not sent.
		series = slices.DeleteFunc(series, func(os outSeries) bool { return len(os.chunks) == 0 })
	}
	for i := range series {
		sortChunks(series[i].chunks)
	}
	store.SortSeries(series, func(os outSeries) labels.Labels { return os.lset })
	if limit := req.GetLimit(); limit > 0 && int64(len(series)) > limit {
		series = series[:limit]
	}
	return sendSeries(srv, series, req.GetResponseBatchSize())
}

// sendSeries streams series one per frame, or in batch frames of batchSize.
func sendSeries(srv storepb.Store_SeriesServer, series []outSeries, batchSize int64) error {
	w := storepb.NewSeriesWriter(srv, batchSize)
	for _, os := range series {
		if err := w.Send(&storepb.Series{Labels: storepb.LabelsToProto(os.lset), Chunks: os.chunks}); err != nil {
			return err
		}
	}
	return w.Flush()
}

// rawLabels returns the served labels of a series decoded from a remote-read
// frame (its names and values point into the frame; the result does not).
func rawLabels(b *store.SeriesLabels, s *rawSeries) (labels.Labels, error) {
	b.Reset()
	if err := s.rangeLabels(b.Add); err != nil {
		return labels.EmptyLabels(), err
	}
	return b.Labels(), nil
}

// mapLabels returns the served labels of a series of /api/v1/series.
func mapLabels(b *store.SeriesLabels, in map[string]string) labels.Labels {
	b.Reset()
	for n, v := range in {
		b.Add(n, v)
	}
	return b.Labels()
}

// seriesLabels answers a skip_chunks request from /api/v1/series.
func (s *Store) seriesLabels(ctx context.Context, req *storepb.SeriesRequest, ms []*labels.Matcher, b *store.SeriesLabels) ([]outSeries, error) {
	ctx, cancel := context.WithTimeout(ctx, s.cfg.APITimeout)
	defer cancel()
	params := url.Values{"match[]": []string{selector(ms)}}
	timeParams(params, req.GetMinTime(), req.GetMaxTime())
	if req.GetLimit() > 0 {
		params.Set("limit", strconv.FormatInt(req.GetLimit(), 10))
	}
	var data []map[string]string
	if err := s.get(ctx, "series", "/api/v1/series", params, &data); err != nil {
		return nil, err
	}
	out := make([]outSeries, 0, len(data))
	for _, m := range data {
		out = append(out, outSeries{lset: mapLabels(b, m)})
	}
	return out, nil
}

// remoteRead answers a request with chunks from Prometheus' remote-read
// endpoint, asking for streamed XOR chunks.
func (s *Store) remoteRead(ctx context.Context, req *storepb.SeriesRequest, ms []*labels.Matcher, b *store.SeriesLabels) (out []outSeries, err error) {
	start := time.Now()
	defer func() { s.observe("read", start, err) }()

	mint, maxt := req.GetMinTime(), req.GetMaxTime()
	if len(ms) == 0 {
		// Prometheus' TSDB selects nothing without matchers.
		ms = []*labels.Matcher{labels.MustNewMatcher(labels.MatchRegexp, model.MetricNameLabel, ".+")}
	}
	hints := &storage.SelectHints{Start: mint, End: maxt}
	if qh := req.GetQueryHints(); qh != nil {
		hints.Step = qh.GetStepMillis()
		hints.Func = qh.GetFunc().GetName()
		hints.Range = qh.GetRange().GetMillis()
		hints.By = qh.GetGrouping().GetBy()
		hints.Grouping = qh.GetGrouping().GetLabels()
	}
	q, err := remote.ToQuery(mint, maxt, ms, hints)
	if err != nil {
		return nil, status.Error(codes.InvalidArgument, err.Error())
	}
	rr := &prompb.ReadRequest{
		Queries:               []*prompb.Query{q},
		AcceptedResponseTypes: []prompb.ReadRequest_ResponseType{prompb.ReadRequest_STREAMED_XOR_CHUNKS},
	}
	raw, err := rr.Marshal()
	if err != nil {
		return nil, status.Errorf(codes.Internal, "encode remote read request: %v", err)
	}
	hreq, err := http.NewRequestWithContext(ctx, http.MethodPost, s.base+"/api/v1/read", bytes.NewReader(snappy.Encode(nil, raw)))
	if err != nil {
		return nil, status.Errorf(codes.Internal, "build remote read request: %v", err)
	}
	hreq.Header.Set("Content-Encoding", "snappy")
	hreq.Header.Set("Content-Type", "application/x-protobuf")
	hreq.Header.Set("X-Prometheus-Remote-Read-Version", "0.1.0")
	hreq.Header.Set("User-Agent", "strata-sidecar")
	resp, err := s.client.Do(hreq)
	if err != nil {
		return nil, s.transportError(ctx, err)
	}
	defer func() { _ = resp.Body.Close() }()
	if resp.StatusCode != http.StatusOK {
		body, _ := io.ReadAll(io.LimitReader(resp.Body, 1024))
		return nil, httpStatusError(s.cfg.URL, "/api/v1/read", resp.StatusCode, string(body))
	}
	if ct := resp.Header.Get("Content-Type"); !strings.HasPrefix(ct, streamedChunksType) {
		return nil, status.Errorf(codes.Unimplemented, "prometheus at %s answered remote read with %q, not streamed chunks: use Prometheus 2.13 or later", s.cfg.URL, ct)
	}
	return s.readFrames(ctx, remote.NewChunkedReader(resp.Body, s.cfg.MaxFrameBytes, nil), req, b)
}

// readFrames decodes the frames of a streamed remote-read answer. Prometheus
// sends one series per frame but may split a series over consecutive frames:
// those are joined.
func (s *Store) readFrames(ctx context.Context, r *remote.ChunkedReader, req *storepb.SeriesRequest, b *store.SeriesLabels) ([]outSeries, error) {
	var (
		out   []outSeries
		prev  rawSeries // Prometheus' encoding of the last series in out
		limit = req.GetLimit()
		raws  []rawSeries
	)
	for {
		data, err := r.Next()
		if err != nil {
			if errors.Is(err, io.EOF) {
				return out, nil
			}
			if ctx.Err() != nil {
				return nil, s.transportError(ctx, err)
			}
			return nil, status.Errorf(codes.Unavailable, "prometheus at %s: read remote read answer: %v", s.cfg.URL, err)
		}
		// The reader reuses its buffer: keep one copy per frame, which the
		// labels and chunks below point into.
		frame := bytes.Clone(data)
		raws, err = decodeFrame(frame, raws[:0])
		if err != nil {
			return nil, status.Errorf(codes.Internal, "prometheus at %s: decode remote read frame: %v", s.cfg.URL, err)
		}
		for i := range raws {
			cs := &raws[i]
			if len(out) == 0 || !sameLabels(&prev, cs) {
				if limit > 0 && int64(len(out)) >= limit {
					return out, nil
				}
				lset, err := rawLabels(b, cs)
				if err != nil {
					return nil, status.Errorf(codes.Internal, "prometheus at %s: decode series labels: %v", s.cfg.URL, err)
				}
				out = append(out, outSeries{lset: lset})
				prev = *cs
			}
			last := &out[len(out)-1]
			for j := range cs.chunks {
				chks, err := convertChunk(&cs.chunks[j], req.GetMinTime(), req.GetMaxTime())
				if err != nil {
					return nil, status.Errorf(codes.Internal, "prometheus at %s: series %s: %v", s.cfg.URL, last.lset, err)
				}
				last.chunks = append(last.chunks, chks...)
			}
		}
	}
}

// sortChunks sorts chunks by min time. Prometheus sends them sorted: this
// is mostly a cheap check.
func sortChunks(chks []*storepb.AggrChunk) {
	if !slices.IsSortedFunc(chks, cmpChunk) {
		slices.SortStableFunc(chks, cmpChunk)
	}
}

func cmpChunk(a, b *storepb.AggrChunk) int {
	switch {
	case a.MinTime < b.MinTime:
		return -1
	case a.MinTime > b.MinTime:
		return 1
	}
	return 0
}

// convertChunk maps a remote-read chunk to StoreAPI chunks. Chunks outside
// [mint, maxt] (ms, inclusive) are dropped. XOR and histogram chunks pass
// through; newer encodings are re-encoded (see reencode).
func convertChunk(c *prompb.Chunk, mint, maxt int64) ([]*storepb.AggrChunk, error) {
	if c.MaxTimeMs < mint || c.MinTimeMs > maxt {
		return nil, nil
	}
	var enc storepb.Chunk_Encoding
	switch c.Type {
	case prompb.Chunk_XOR:
		enc = storepb.Chunk_XOR
	case prompb.Chunk_HISTOGRAM:
		enc = storepb.Chunk_HISTOGRAM
	case prompb.Chunk_FLOAT_HISTOGRAM:
		enc = storepb.Chunk_FLOAT_HISTOGRAM
	case prompb.Chunk_XOR2, prompb.Chunk_HISTOGRAM_ST, prompb.Chunk_FLOAT_HISTOGRAM_ST:
		return reencode(c)
	default:
		return nil, fmt.Errorf("unsupported chunk encoding %s", c.Type)
	}
	return []*storepb.AggrChunk{{
		MinTime: c.MinTimeMs,
		MaxTime: c.MaxTimeMs,
		Raw:     &storepb.Chunk{Type: enc, Data: c.Data, Hash: xxhash.Sum64(c.Data)},
	}}, nil
}
