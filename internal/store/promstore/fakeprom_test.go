package promstore

import (
	"context"
	"encoding/json"
	"fmt"
	"io"
	"log"
	"math"
	"net"
	"net/http"
	"net/http/httptest"
	"net/url"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"testing"

	"github.com/prometheus/common/model"
	"github.com/prometheus/prometheus/config"
	"github.com/prometheus/prometheus/model/labels"
	"github.com/prometheus/prometheus/promql/parser"
	"github.com/prometheus/prometheus/storage"
	"github.com/prometheus/prometheus/storage/remote"
	"github.com/prometheus/prometheus/tsdb"
	"github.com/prometheus/prometheus/tsdb/chunkenc"
	"github.com/prometheus/prometheus/util/teststorage"
	"github.com/stretchr/testify/require"
	"go.yaml.in/yaml/v2"
)

// fakeProm is a Prometheus read path in-process: the real remote-read
// handler over a real TSDB, plus the few API endpoints the store uses,
// answered from the same TSDB. It can be stopped and started again on the
// same address to play a Prometheus restart.
type fakeProm struct {
	t       testing.TB
	db      *teststorage.TestStorage
	ext     labels.Labels
	handler http.Handler
	addr    string

	reads atomic.Int64 // remote-read requests served

	mtx sync.Mutex
	srv *httptest.Server
}

// fakePromOptions tunes a fakeProm.
type fakePromOptions struct {
	maxBytesInFrame int                  // remote-read frame size (default 1MiB, as Prometheus)
	tsdbOpts        []teststorage.Option // e.g. XOR2 chunks
}

func newFakeProm(t testing.TB, ext labels.Labels, o fakePromOptions) *fakeProm {
	t.Helper()
	if o.maxBytesInFrame == 0 {
		o.maxBytesInFrame = 1 << 20
	}
	fp := &fakeProm{t: t, db: teststorage.New(t, o.tsdbOpts...), ext: ext}
	cfgFn := func() config.Config {
		c := config.DefaultConfig
		c.GlobalConfig.ExternalLabels = ext
		return c
	}
	read := remote.NewReadHandler(nil, nil, fp.db, cfgFn, 0, 4, o.maxBytesInFrame)

	mux := http.NewServeMux()
	mux.HandleFunc("/api/v1/read", func(w http.ResponseWriter, r *http.Request) {
		fp.reads.Add(1)
		read.ServeHTTP(w, r)
	})
	mux.HandleFunc("/api/v1/status/config", fp.serveConfig)
	mux.HandleFunc("/metrics", fp.serveMetrics)
	mux.HandleFunc("/api/v1/labels", fp.serveLabels)
	mux.HandleFunc("/api/v1/label/{name}/values", fp.serveLabelValues)
	mux.HandleFunc("/api/v1/series", fp.serveSeries)
	mux.HandleFunc("/api/v1/metadata", fp.serveMetadata)
	fp.handler = mux

	l, err := net.Listen("tcp", "127.0.0.1:0")
	require.NoError(t, err)
	fp.addr = l.Addr().String()
	fp.serve(l)
	t.Cleanup(fp.stop)
	return fp
}

func (fp *fakeProm) url() *url.URL {
	return &url.URL{Scheme: "http", Host: fp.addr}
}

func (fp *fakeProm) serve(l net.Listener) {
	fp.mtx.Lock()
	defer fp.mtx.Unlock()
	srv := httptest.NewUnstartedServer(fp.handler)
	_ = srv.Listener.Close()
	srv.Listener = l
	// The read handler logs a superfluous WriteHeader when the store stops
	// reading early (limit): not a test failure.
	srv.Config.ErrorLog = log.New(io.Discard, "", 0)
	srv.Start()
	fp.srv = srv
}

// stop closes the server: connections to its address are refused.
func (fp *fakeProm) stop() {
	fp.mtx.Lock()
	defer fp.mtx.Unlock()
	if fp.srv != nil {
		fp.srv.CloseClientConnections()
		fp.srv.Close()
		fp.srv = nil
	}
}

// start serves again on the same address.
func (fp *fakeProm) start() {
	l, err := net.Listen("tcp", fp.addr)
	require.NoError(fp.t, err)
	fp.serve(l)
}

func writeAPI(w http.ResponseWriter, data any) {
	w.Header().Set("Content-Type", "application/json")
	_ = json.NewEncoder(w).Encode(map[string]any{"status": "success", "data": data})
}

func writeAPIError(w http.ResponseWriter, code int, err error) {
	w.Header().Set("Content-Type", "application/json")
	w.WriteHeader(code)
	_ = json.NewEncoder(w).Encode(map[string]any{"status": "error", "errorType": "bad_data", "error": err.Error()})
}

func (fp *fakeProm) serveConfig(w http.ResponseWriter, _ *http.Request) {
	cfg := map[string]any{"global": map[string]any{"scrape_interval": "15s"}}
	if !fp.ext.IsEmpty() {
		cfg["global"].(map[string]any)["external_labels"] = fp.ext.Map()
	}
	b, err := yaml.Marshal(cfg)
	if err != nil {
		writeAPIError(w, http.StatusInternalServerError, err)
		return
	}
	writeAPI(w, map[string]string{"yaml": string(b)})
}

func (fp *fakeProm) serveMetrics(w http.ResponseWriter, _ *http.Request) {
	mint, err := fp.db.StartTime()
	if err != nil {
		http.Error(w, err.Error(), http.StatusInternalServerError)
		return
	}
	w.Header().Set("Content-Type", "text/plain; version=0.0.4")
	fmt.Fprintf(w, "# HELP prometheus_tsdb_lowest_timestamp Lowest timestamp value stored in the database.\n")
	fmt.Fprintf(w, "# TYPE prometheus_tsdb_lowest_timestamp gauge\n")
	fmt.Fprintf(w, "prometheus_tsdb_lowest_timestamp %g\n", float64(mint))
	fmt.Fprintf(w, "# TYPE go_goroutines gauge\ngo_goroutines 42\n")
}

// apiRange reads start and end (seconds) as ms, unbounded when absent.
func apiRange(r *http.Request) (int64, int64, error) {
	mint, maxt := int64(math.MinInt64), int64(math.MaxInt64)
	if s := r.FormValue("start"); s != "" {
		f, err := strconv.ParseFloat(s, 64)
		if err != nil {
			return 0, 0, err
		}
		mint = int64(math.Round(f * 1000))
	}
	if s := r.FormValue("end"); s != "" {
		f, err := strconv.ParseFloat(s, 64)
		if err != nil {
			return 0, 0, err
		}
		maxt = int64(math.Round(f * 1000))
	}
	return mint, maxt, nil
}

// querier opens a querier over the request's range and parses its match[].
func (fp *fakeProm) querier(r *http.Request) (storage.Querier, []*labels.Matcher, *storage.LabelHints, error) {
	mint, maxt, err := apiRange(r)
	if err != nil {
		return nil, nil, nil, err
	}
	var ms []*labels.Matcher
	if sel := r.Form["match[]"]; len(sel) > 0 {
		if len(sel) > 1 {
			return nil, nil, nil, fmt.Errorf("fake prometheus reads one match[], got %d", len(sel))
		}
		ms, err = parser.NewParser(parser.Options{}).ParseMetricSelector(sel[0])
		if err != nil {
			return nil, nil, nil, err
		}
	}
	q, err := fp.db.Querier(mint, maxt)
	if err != nil {
		return nil, nil, nil, err
	}
	hints := &storage.LabelHints{}
	if l := r.FormValue("limit"); l != "" {
		hints.Limit, _ = strconv.Atoi(l)
	}
	return q, ms, hints, nil
}

func (fp *fakeProm) serveLabels(w http.ResponseWriter, r *http.Request) {
	_ = r.ParseForm()
	q, ms, hints, err := fp.querier(r)
	if err != nil {
		writeAPIError(w, http.StatusBadRequest, err)
		return
	}
	defer q.Close()
	names, _, err := q.LabelNames(r.Context(), hints, ms...)
	if err != nil {
		writeAPIError(w, http.StatusInternalServerError, err)
		return
	}
	if names == nil {
		names = []string{}
	}
	writeAPI(w, names)
}

func (fp *fakeProm) serveLabelValues(w http.ResponseWriter, r *http.Request) {
	_ = r.ParseForm()
	q, ms, hints, err := fp.querier(r)
	if err != nil {
		writeAPIError(w, http.StatusBadRequest, err)
		return
	}
	defer q.Close()
	name := r.PathValue("name")
	if strings.HasPrefix(name, "U__") {
		name = model.UnescapeName(name, model.ValueEncodingEscaping)
	}
	values, _, err := q.LabelValues(r.Context(), name, hints, ms...)
	if err != nil {
		writeAPIError(w, http.StatusInternalServerError, err)
		return
	}
	if values == nil {
		values = []string{}
	}
	writeAPI(w, values)
}

func (fp *fakeProm) serveSeries(w http.ResponseWriter, r *http.Request) {
	_ = r.ParseForm()
	q, ms, hints, err := fp.querier(r)
	if err != nil {
		writeAPIError(w, http.StatusBadRequest, err)
		return
	}
	defer q.Close()
	if len(ms) == 0 {
		writeAPIError(w, http.StatusBadRequest, fmt.Errorf("no match[] parameter provided"))
		return
	}
	mint, maxt, _ := apiRange(r)
	ss := q.Select(r.Context(), true, &storage.SelectHints{Start: mint, End: maxt, Func: "series", Limit: hints.Limit}, ms...)
	out := []map[string]string{}
	for ss.Next() {
		out = append(out, ss.At().Labels().Map())
		if hints.Limit > 0 && len(out) >= hints.Limit {
			break
		}
	}
	if err := ss.Err(); err != nil {
		writeAPIError(w, http.StatusInternalServerError, err)
		return
	}
	writeAPI(w, out)
}

func (fp *fakeProm) serveMetadata(w http.ResponseWriter, r *http.Request) {
	all := map[string][]metaEntry{
		"http_requests_total": {{Type: "counter", Help: "Requests served.", Unit: ""}},
		"request_duration":    {{Type: "histogram", Help: "Request latency.", Unit: "seconds"}},
	}
	if m := r.FormValue("metric"); m != "" {
		writeAPI(w, map[string][]metaEntry{m: all[m]})
		return
	}
	if l, _ := strconv.Atoi(r.FormValue("limit")); l == 1 {
		writeAPI(w, map[string][]metaEntry{"http_requests_total": all["http_requests_total"]})
		return
	}
	writeAPI(w, all)
}

// appendSeries writes the samples of every series to the TSDB.
func (fp *fakeProm) appendSeries(t testing.TB, series []storage.Series) {
	t.Helper()
	app := fp.db.Appender(context.Background())
	var it chunkenc.Iterator
	for _, s := range series {
		it = s.Iterator(it)
		for vt := it.Next(); vt != chunkenc.ValNone; vt = it.Next() {
			var err error
			switch vt {
			case chunkenc.ValFloat:
				ts, v := it.At()
				_, err = app.Append(0, s.Labels(), ts, v)
			case chunkenc.ValHistogram:
				ts, h := it.AtHistogram(nil)
				_, err = app.AppendHistogram(0, s.Labels(), ts, h, nil)
			case chunkenc.ValFloatHistogram:
				ts, fh := it.AtFloatHistogram(nil)
				_, err = app.AppendHistogram(0, s.Labels(), ts, nil, fh)
			}
			require.NoError(t, err, "append to series %s", s.Labels())
		}
		require.NoError(t, it.Err())
	}
	require.NoError(t, app.Commit())
}

// withXOR2 makes the TSDB write its newest chunk encodings (XOR2 floats and
// histograms with start timestamps), which the store must re-encode.
func withXOR2() teststorage.Option {
	return func(o *tsdb.Options) {
		o.FloatChunkEncoding = chunkenc.EncXOR2
		o.EnableHistogramSTEncoding = true
	}
}

// extLabels is the pair of external labels most tests use.
var extLabels = labels.FromStrings("cluster", "eu1", "replica", "a")

func mustSelector(t testing.TB, s string) []*labels.Matcher {
	t.Helper()
	ms, err := parser.NewParser(parser.Options{}).ParseMetricSelector(s)
	require.NoError(t, err)
	return ms
}

// storedEncodings lists the distinct chunk encodings the TSDB holds.
func (fp *fakeProm) storedEncodings(t testing.TB) []chunkenc.Encoding {
	t.Helper()
	q, err := fp.db.ChunkQuerier(math.MinInt64, math.MaxInt64)
	require.NoError(t, err)
	defer q.Close()
	seen := map[chunkenc.Encoding]bool{}
	var out []chunkenc.Encoding
	ss := q.Select(context.Background(), false, nil, labels.MustNewMatcher(labels.MatchRegexp, "__name__", ".+"))
	for ss.Next() {
		it := ss.At().Iterator(nil)
		for it.Next() {
			if e := it.At().Chunk.Encoding(); !seen[e] {
				seen[e] = true
				out = append(out, e)
			}
		}
		require.NoError(t, it.Err())
	}
	require.NoError(t, ss.Err())
	return out
}
