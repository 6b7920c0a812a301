package query

import (
	"context"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"strings"
	"testing"

	"github.com/prometheus/prometheus/model/labels"
	"github.com/prometheus/prometheus/promql/promqltest"
	"github.com/prometheus/prometheus/storage"
	"github.com/prometheus/prometheus/tsdb"
	"github.com/prometheus/prometheus/tsdb/chunkenc"
	"github.com/prometheus/prometheus/tsdb/chunks"
	"github.com/prometheus/prometheus/util/annotations"
	"github.com/prometheus/prometheus/util/teststorage"
	"github.com/stretchr/testify/require"

	"github.com/strata-io/strata/internal/store"
	"github.com/strata-io/strata/internal/store/proxy"
	"github.com/strata-io/strata/internal/store/tsdbstore"
	"github.com/strata-io/strata/internal/testkit"
	"github.com/strata-io/strata/pkg/storepb"
)

// promqlSkips maps the eval commands of the corpus ("file.test:line") that
// cannot pass through the StoreAPI read path to the reason.
var promqlSkips = map[string]string{
	"start_timestamps.test:8":   noST,
	"start_timestamps.test:13":  noST,
	"start_timestamps.test:18":  noST,
	"start_timestamps.test:24":  noST,
	"start_timestamps.test:42":  noST,
	"start_timestamps.test:66":  noST,
	"start_timestamps.test:74":  noST,
	"start_timestamps.test:82":  noST,
	"start_timestamps.test:144": noST,
	"start_timestamps.test:169": noST,
	"start_timestamps.test:189": noST,
	"start_timestamps.test:207": noST,
	"start_timestamps.test:210": noST,
	"start_timestamps.test:213": noST,
	"start_timestamps.test:217": noST,
	"start_timestamps.test:234": noST,
	"start_timestamps.test:240": noST,
	"start_timestamps.test:246": noST,
	"start_timestamps.test:259": noST,
	"start_timestamps.test:276": noST,
	"start_timestamps.test:284": noST,
	"start_timestamps.test:289": noST,
	"start_timestamps.test:305": noST,
}

const (
	// The StoreAPI chunk encodings (XOR, HISTOGRAM, FLOAT_HISTOGRAM) carry no
	// start timestamps: stores re-encode XOR2/ST chunks without them, so
	// PromQL cannot use them.
	noST = "start timestamps are not carried by the StoreAPI chunk encodings"
	// tsdbstore opens the TSDB ChunkQuerier without SelectHints.DisableTrimming,
	// so TSDB re-encodes chunks cut at the query range and the first sample
	// loses its not-reset counter-reset hint. Remove these entries once
	// tsdbstore sets DisableTrimming (verified: they pass then).
)

// strataStorage writes into a test TSDB and reads through the full Strata
// read path: tsdbstore -> proxy -> Queryable.
type strataStorage struct {
	*teststorage.TestStorage
	queryable storage.Queryable
}

func (s *strataStorage) Querier(mint, maxt int64) (storage.Querier, error) {
	return s.queryable.Querier(mint, maxt)
}

// corpus returns the PromQL test files of the Prometheus module in use.
func corpus(t *testing.T) map[string]string {
	out, err := exec.Command("go", "list", "-m", "-f", "{{.Dir}}", "github.com/prometheus/prometheus").Output()
	require.NoError(t, err, "locate the prometheus module (is the go tool on PATH?)")
	files, err := filepath.Glob(filepath.Join(strings.TrimSpace(string(out)), "promql", "promqltest", "testdata", "*.test"))
	require.NoError(t, err)
	require.NotEmpty(t, files)
	m := make(map[string]string, len(files))
	for _, f := range files {
		b, err := os.ReadFile(f)
		require.NoError(t, err)
		m[filepath.Base(f)] = string(b)
	}
	return m
}

// withoutSkipped blanks the eval commands of file listed in promqlSkips
// (keeping line numbers) and counts eval commands and skipped ones.
func withoutSkipped(file, content string) (string, int, int) {
	lines := strings.Split(content, "\n")
	evals, skipped := 0, 0
	for i := 0; i < len(lines); i++ {
		if !strings.HasPrefix(strings.TrimSpace(lines[i]), "eval") {
			continue
		}
		evals++
		if _, ok := promqlSkips[fmt.Sprintf("%s:%d", file, i+1)]; !ok {
			continue
		}
		skipped++
		lines[i] = ""
		for j := i + 1; j < len(lines); j++ {
			l := strings.TrimSpace(lines[j])
			if l == "" || strings.HasPrefix(l, "eval") || strings.HasPrefix(l, "load") || strings.HasPrefix(l, "clear") {
				break
			}
			lines[j] = ""
		}
	}
	return strings.Join(lines, "\n"), evals, skipped
}

// TestPromQLCorpus runs Prometheus' own PromQL test corpus through the
// StoreAPI read path (TSDB -> tsdbstore -> proxy -> Queryable), without and
// with deduplication (on a replica label no series has, so answers must not
// change). The TSDB and the engine are set up as promqltest.RunBuiltinTests
// and promqltest.NewTestEngine do.
func TestPromQLCorpus(t *testing.T) {
	if testing.Short() {
		t.Skip("the PromQL corpus takes a while")
	}
	files := corpus(t)
	for _, tc := range []struct {
		name string
		opts Options
		// replicas > 0 serves the TSDB through that many tsdbstores, each
		// with external label strata_replica=<i>: HA replicas with the same
		// samples in different chunks.
		replicas int
	}{
		{name: "no-dedup", opts: Options{}},
		{name: "dedup", opts: Options{Deduplicate: true, ReplicaLabels: []string{"strata_replica"}}},
		{name: "dedup-2-replicas", opts: Options{Deduplicate: true, ReplicaLabels: []string{"strata_replica"}}, replicas: 2},
	} {
		t.Run(tc.name, func(t *testing.T) {
			engine := promqltest.NewTestEngine(t, false, 0, promqltest.DefaultMaxSamplesPerQuery)
			newStorage := func(t testing.TB) storage.Storage {
				ts := teststorage.New(t, func(opt *tsdb.Options) {
					opt.EnableSTStorage = true
					opt.FloatChunkEncoding = chunkenc.EncXOR2
					opt.EnableHistogramSTEncoding = true
				})
				clients := []store.Client{testkit.NewLocalStore("local-tsdb", tsdbstore.New(ts.DB, tsdbstore.Config{}, nil))}
				if tc.replicas > 0 {
					clients = clients[:0]
					for i := range tc.replicas {
						// Replicas other than the first cut their chunks
						// differently, so the proxy cannot drop them as
						// identical and the querier must deduplicate.
						var db storage.ChunkQueryable = ts.DB
						if i > 0 {
							db = rechunked{db: ts.DB, size: 3 + 4*i}
						}
						cfg := tsdbstore.Config{ExternalLabels: labels.FromStrings("strata_replica", strconv.Itoa(i))}
						clients = append(clients, testkit.NewLocalStore("local-tsdb", tsdbstore.New(db, cfg, nil)))
					}
				}
				px := proxy.New(proxy.Config{}, func() []store.Client { return clients }, nil, nil)
				q := NewQueryableCreator(storepb.ServerAsClient(px), nil, nil)(tc.opts)
				return &strataStorage{TestStorage: ts, queryable: q}
			}
			var evals, skipped int
			for name, content := range files {
				content, e, s := withoutSkipped(name, content)
				evals, skipped = evals+e, skipped+s
				t.Run(name, func(t *testing.T) {
					promqltest.RunTestWithStorage(t, content, engine, newStorage)
				})
			}
			t.Logf("%d eval commands, %d skipped (see promqlSkips), %d run", evals, skipped, evals-skipped)
		})
	}
}

// rechunked serves the samples of db cut into chunks of at most size float
// samples or one histogram, so that its chunks differ from db's own.
type rechunked struct {
	db   storage.ChunkQueryable
	size int
}

func (r rechunked) ChunkQuerier(mint, maxt int64) (storage.ChunkQuerier, error) {
	q, err := r.db.ChunkQuerier(mint, maxt)
	if err != nil {
		return nil, err
	}
	return rechunkQuerier{ChunkQuerier: q, size: r.size}, nil
}

type rechunkQuerier struct {
	storage.ChunkQuerier
	size int
}

func (q rechunkQuerier) Select(ctx context.Context, sortSeries bool, hints *storage.SelectHints, ms ...*labels.Matcher) storage.ChunkSeriesSet {
	in := q.ChunkQuerier.Select(ctx, sortSeries, hints, ms...)
	if hints != nil && hints.Func == "series" {
		return in
	}
	set := storage.NewSeriesSetFromChunkSeriesSet(in)
	var out []storage.ChunkSeries
	for set.Next() {
		s := set.At()
		if s == nil {
			continue // no chunk in the range
		}
		samples, err := storage.ExpandSamplesWithoutReplacingNaNs(s.Iterator(nil), nil)
		if err != nil {
			return storage.ErrChunkSeriesSet(err)
		}
		var groups [][]chunks.Sample
		for i, smp := range samples {
			n := len(groups)
			// A histogram chunk may need cutting where the TSDB did not
			// (resets, layout changes): histograms get one chunk each.
			if n == 0 || len(groups[n-1]) == q.size || groups[n-1][0].Type() != smp.Type() || smp.Type() != chunkenc.ValFloat {
				groups = append(groups, nil)
				n++
			}
			groups[n-1] = append(groups[n-1], samples[i])
		}
		out = append(out, storage.NewListChunkSeriesFromSamples(s.Labels(), groups...))
	}
	if err := set.Err(); err != nil {
		return storage.ErrChunkSeriesSet(err)
	}
	return &chunkSeriesList{series: out, warnings: set.Warnings()}
}

type chunkSeriesList struct {
	series   []storage.ChunkSeries
	cur      storage.ChunkSeries
	warnings annotations.Annotations
}

func (l *chunkSeriesList) Next() bool {
	if len(l.series) == 0 {
		return false
	}
	l.cur, l.series = l.series[0], l.series[1:]
	return true
}
func (l *chunkSeriesList) At() storage.ChunkSeries           { return l.cur }
func (l *chunkSeriesList) Err() error                        { return nil }
func (l *chunkSeriesList) Warnings() annotations.Annotations { return l.warnings }
