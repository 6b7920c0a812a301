package merge

import (
	"bytes"
	"cmp"
	"context"
	"errors"
	"fmt"
	"log/slog"
	"os"
	"path/filepath"
	"slices"
	"time"

	"github.com/alecthomas/units"
	"github.com/oklog/ulid/v2"
	"github.com/prometheus/client_golang/prometheus"
	"github.com/prometheus/client_golang/prometheus/promauto"
	"github.com/prometheus/prometheus/model/labels"
	"github.com/prometheus/prometheus/storage"
	"github.com/prometheus/prometheus/tsdb"
	"github.com/prometheus/prometheus/tsdb/chunkenc"

	"github.com/strata-io/strata/internal/downsample"
	"github.com/strata-io/strata/pkg/metadata"
)

// Mode says how series with equal labels from several blocks are merged.
type Mode int

// The merge modes; see the package documentation.
const (
	// Vertical chain-merges overlapping series, keeping one sample per
	// timestamp. The default.
	Vertical Mode = iota
	// DedupPenalty merges HA replicas with the querier's penalty algorithm.
	DedupPenalty
	// DedupExact keeps one copy of the samples identical replicas share.
	DedupExact
)

// String returns the name ParseMode accepts.
func (m Mode) String() string {
	switch m {
	case Vertical:
		return "vertical"
	case DedupPenalty:
		return "penalty"
	case DedupExact:
		return "exact"
	}
	return fmt.Sprintf("mode(%d)", int(m))
}

// ParseMode parses a --deduplication.func value: "" or "vertical" (no
// replica dedup), "penalty" or "exact".
func ParseMode(s string) (Mode, error) {
	switch s {
	case "", "vertical":
		return Vertical, nil
	case "penalty":
		return DedupPenalty, nil
	case "exact":
		return DedupExact, nil
	}
	return 0, fmt.Errorf("unknown deduplication function %q: use penalty or exact", s)
}

// Set parses s with ParseMode: Mode is the kingpin value of
// --deduplication.func.
func (m *Mode) Set(s string) error {
	v, err := ParseMode(s)
	if err != nil {
		return fmt.Errorf("--deduplication.func: %w", err)
	}
	*m = v
	return nil
}

// DefaultIndexSizeLimit is the default of Config.IndexSizeLimit
// (--compact.max-index-size): series references of Prometheus' index
// format reach no further.
const DefaultIndexSizeLimit = 64 * units.GiB

// Config configures a Merger. The zero value is valid: vertical merging
// without an index size limit.
type Config struct {
	// Mode is how series of several blocks are merged.
	Mode Mode
	// IndexSizeLimit (--compact.max-index-size) is the largest sum of the
	// sources' index sizes (bytes) Merge accepts; 0 means no limit.
	IndexSizeLimit units.Base2Bytes
}

// DefaultConfig returns the defaults of the flags: vertical merging and
// an index size limit of DefaultIndexSizeLimit.
func DefaultConfig() Config {
	return Config{Mode: Vertical, IndexSizeLimit: DefaultIndexSizeLimit}
}

// Validate checks the configuration.
func (c Config) Validate() error {
	switch c.Mode {
	case Vertical, DedupPenalty, DedupExact:
	default:
		return fmt.Errorf("merge mode %d is unknown", int(c.Mode))
	}
	if c.IndexSizeLimit < 0 {
		return fmt.Errorf("index size limit %d bytes is negative: use 0 for no limit (--compact.max-index-size)", int64(c.IndexSizeLimit))
	}
	return nil
}

// Merger merges local blocks into one (Merge) and checks local blocks
// (Check). It implements internal/compact's Merger seam. It is safe for
// concurrent use: calls share only metrics.
type Merger struct {
	cfg         Config
	logger      *slog.Logger
	tsdbMetrics *tsdb.CompactorMetrics

	duration prometheus.Histogram
	samples  prometheus.Counter
	series   prometheus.Counter
}

// New returns a Merger. reg may be nil (no metrics exported); logger may be
// nil (no logs).
func New(cfg Config, logger *slog.Logger, reg prometheus.Registerer) (*Merger, error) {
	if err := cfg.Validate(); err != nil {
		return nil, err
	}
	if logger == nil {
		logger = slog.New(slog.DiscardHandler)
	}
	f := promauto.With(reg)
	return &Merger{
		cfg:    cfg,
		logger: logger,
		// Prometheus' own compactor metrics are not exported: their names
		// would collide between components and lack the strata_ prefix.
		tsdbMetrics: tsdb.NewCompactorMetrics(nil),
		duration: f.NewHistogram(prometheus.HistogramOpts{
			Name:    "strata_compact_merge_duration_seconds",
			Help:    "Time taken by one merge of local blocks into one, successful or not.",
			Buckets: []float64{1, 5, 15, 30, 60, 120, 300, 600, 1200, 1800, 3600, 7200},
		}),
		samples: f.NewCounter(prometheus.CounterOpts{
			Name: "strata_compact_merge_samples_total",
			Help: "Samples written into merged blocks.",
		}),
		series: f.NewCounter(prometheus.CounterOpts{
			Name: "strata_compact_merge_series_total",
			Help: "Series written into merged blocks.",
		}),
	}, nil
}

// source is one input block.
type source struct {
	dir      string
	meta     *metadata.Meta
	metaRaw  []byte // meta.json as found, put back after the compactor ran
	indexLen int64
}

// Merge writes one new block under dstParent holding every series of the
// blocks in srcDirs (local block directories with meta.json, all of one
// stream and one resolution; they may overlap). ext are the labels of the
// new block's stream (replica labels already removed by the caller);
// resolution (ms) must be the sources' resolution.
//
// It returns the new block's meta; the block is dstParent/<ULID>. When the
// sources hold no samples it returns a meta with Stats.NumSamples == 0 and
// writes no directory. A source that cannot be merged safely fails Merge
// with a *BlockError (index size limit, unreadable block, overlapping
// downsampled chunks); other errors (I/O on dstParent, cancellation) are
// plain. The sources are only read.
func (m *Merger) Merge(ctx context.Context, srcDirs []string, dstParent string, ext labels.Labels, resolution int64) (_ *metadata.Meta, err error) {
	start := time.Now()
	defer func() { m.duration.Observe(time.Since(start).Seconds()) }()

	if len(srcDirs) == 0 {
		return nil, errors.New("merge: no source blocks given")
	}
	srcs, err := m.readSources(srcDirs, resolution)
	if err != nil {
		return nil, err
	}
	if err := m.checkIndexSize(srcs); err != nil {
		return nil, err
	}

	pool := chunkenc.NewPool()
	if resolution > 0 {
		pool = downsample.NewPool()
	}
	blocks := make([]*tsdb.Block, 0, len(srcs))
	defer func() {
		for _, b := range blocks {
			if cerr := b.Close(); cerr != nil {
				err = errors.Join(err, fmt.Errorf("close block %s: %w", b.Meta().ULID, cerr))
			}
		}
	}()
	for _, s := range srcs {
		b, err := tsdb.OpenBlock(m.logger, s.dir, pool, nil)
		if err != nil {
			return nil, &BlockError{ID: s.meta.ULID, Reason: metadata.CorruptBlockReason, Err: fmt.Errorf("open block %s: %w", s.dir, err)}
		}
		blocks = append(blocks, b)
	}

	comp, err := tsdb.NewLeveledCompactorWithOptions(ctx, nil, m.logger, []int64{1}, pool, tsdb.LeveledCompactorOptions{
		MergeFunc:                   chainMerge,
		EnableOverlappingCompaction: true,
		Metrics:                     m.tsdbMetrics,
	})
	if err != nil {
		return nil, fmt.Errorf("create compactor: %w", err)
	}
	pop := &populator{mode: m.cfg.Mode, resolution: resolution, replicas: replicaGroups(srcs)}
	if err := os.MkdirAll(dstParent, 0o777); err != nil {
		return nil, fmt.Errorf("create output directory: %w", err)
	}
	ids, err := comp.CompactWithBlockPopulator(dstParent, srcDirs, blocks, pop)
	if rerr := restoreMetas(srcs); rerr != nil {
		err = errors.Join(err, rerr)
	}
	if err != nil {
		if be, ok := errors.AsType[*BlockError](err); ok {
			return nil, be
		}
		return nil, fmt.Errorf("merge %d blocks: %w", len(srcs), err)
	}

	meta := &metadata.Meta{}
	if len(ids) == 0 {
		metas := make([]*tsdb.BlockMeta, 0, len(srcs))
		for _, s := range srcs {
			metas = append(metas, &s.meta.BlockMeta)
		}
		meta.BlockMeta = *tsdb.CompactBlockMetas(ulid.Make(), metas...)
		meta.Version = metadata.TSDBVersion1
		m.fillThanos(meta, ext, resolution)
		m.logger.Info("merged blocks are empty", "blocks", len(srcs))
		return meta, nil
	}

	dir := filepath.Join(dstParent, ids[0].String())
	meta, err = metadata.ReadFromDir(dir)
	if err != nil {
		return nil, fmt.Errorf("read meta.json the compactor wrote: %w", err)
	}
	m.fillThanos(meta, ext, resolution)
	meta.Thanos.Files, err = metadata.BlockFiles(dir)
	if err != nil {
		return nil, err
	}
	meta.Thanos.SegmentFiles = metadata.SegmentFiles(meta.Thanos.Files)
	if err := meta.WriteToDir(dir); err != nil {
		return nil, fmt.Errorf("write meta.json of merged block: %w", err)
	}
	m.samples.Add(float64(meta.Stats.NumSamples))
	m.series.Add(float64(meta.Stats.NumSeries))
	m.logger.Info("merged blocks", "block", meta.ULID, "blocks", len(srcs), "mode", m.cfg.Mode.String(),
		"series", meta.Stats.NumSeries, "samples", meta.Stats.NumSamples, "duration", time.Since(start))
	return meta, nil
}

func (m *Merger) fillThanos(meta *metadata.Meta, ext labels.Labels, resolution int64) {
	meta.Thanos = metadata.ThanosMeta{
		Version:    metadata.ThanosVersion1,
		Downsample: metadata.ThanosDownsample{Resolution: resolution},
		Source:     metadata.CompactorSource,
	}
	meta.Thanos.SetLabels(ext)
}

// readSources reads the sources' meta.json and index sizes.
func (m *Merger) readSources(dirs []string, resolution int64) ([]*source, error) {
	srcs := make([]*source, 0, len(dirs))
	for _, dir := range dirs {
		raw, err := os.ReadFile(filepath.Join(dir, metadata.MetaFilename))
		if err != nil {
			return nil, fmt.Errorf("read meta.json of source block: %w", err)
		}
		meta, err := metadata.Read(bytes.NewReader(raw))
		if err != nil {
			if id, perr := ulid.Parse(filepath.Base(dir)); perr == nil {
				return nil, &BlockError{ID: id, Reason: metadata.CorruptBlockReason, Err: err}
			}
			return nil, fmt.Errorf("source block %s: %w", dir, err)
		}
		if r := meta.Thanos.Downsample.Resolution; r != resolution {
			return nil, fmt.Errorf("source block %s has resolution %d ms, want %d ms: merge blocks of one resolution", meta.ULID, r, resolution)
		}
		fi, err := os.Stat(filepath.Join(dir, metadata.IndexFilename))
		if err != nil {
			return nil, &BlockError{ID: meta.ULID, Reason: metadata.CorruptBlockReason, Err: fmt.Errorf("index: %w", err)}
		}
		srcs = append(srcs, &source{dir: dir, meta: meta, metaRaw: raw, indexLen: fi.Size()})
	}
	return srcs, nil
}

// checkIndexSize fails with the largest source when the sources' indexes
// together exceed the limit: the merged index would be about as large.
func (m *Merger) checkIndexSize(srcs []*source) error {
	if m.cfg.IndexSizeLimit <= 0 {
		return nil
	}
	var total int64
	largest := srcs[0]
	for _, s := range srcs {
		total += s.indexLen
		if s.indexLen > largest.indexLen {
			largest = s
		}
	}
	if total <= int64(m.cfg.IndexSizeLimit) {
		return nil
	}
	return &BlockError{
		ID:     largest.meta.ULID,
		Reason: metadata.IndexSizeExceedingReason,
		Err: fmt.Errorf("the %d source indexes total %d bytes, over the limit of %d bytes (this block's index: %d bytes)",
			len(srcs), total, m.cfg.IndexSizeLimit, largest.indexLen),
	}
}

// restoreMetas puts back the sources' meta.json if the compactor rewrote
// them (it marks sources "failed" or "deletable" without the thanos section).
func restoreMetas(srcs []*source) error {
	var errs []error
	for _, s := range srcs {
		name := filepath.Join(s.dir, metadata.MetaFilename)
		cur, err := os.ReadFile(name)
		if err == nil && bytes.Equal(cur, s.metaRaw) {
			continue
		}
		if err := metadata.WriteFileAtomic(name, s.metaRaw); err != nil {
			errs = append(errs, fmt.Errorf("restore meta.json of block %s: %w", s.meta.ULID, err))
		}
	}
	return errors.Join(errs...)
}

// replicaGroups numbers the sources' replicas: sources with equal thanos
// labels are one replica; replicas are numbered in the order of their labels.
// It maps block ULID to replica number.
func replicaGroups(srcs []*source) map[ulid.ULID]int {
	sets := make([]labels.Labels, 0, len(srcs))
	for _, s := range srcs {
		sets = append(sets, s.meta.Thanos.LabelSet())
	}
	uniq := slices.Clone(sets)
	slices.SortFunc(uniq, labels.Compare)
	uniq = slices.CompactFunc(uniq, labels.Equal)
	groups := make(map[ulid.ULID]int, len(srcs))
	for i, s := range srcs {
		g, _ := slices.BinarySearchFunc(uniq, sets[i], labels.Compare)
		groups[s.meta.ULID] = g
	}
	return groups
}

// chainMerge is the vertical merge of series with equal labels: copies
// chunks that do not overlap, keeps byte-identical chunks once, and chains
// the samples of overlapping ones (one sample per timestamp).
func chainMerge(series ...storage.ChunkSeries) storage.ChunkSeries {
	return storage.NewCompactingChunkSeriesMerger(storage.ChainedSeriesMerge)(series...)
}

// cmpChunkTime orders chunk metas by min time, then max time.
func cmpChunkTime(aMin, aMax, bMin, bMax int64) int {
	if c := cmp.Compare(aMin, bMin); c != 0 {
		return c
	}
	return cmp.Compare(aMax, bMax)
}
