// Package bucketstore is the core of the store gateway: a StoreAPI server
// over the blocks of an object-storage bucket laid out as in
// shared/spec/bucket.md.
//
// The store syncs the list of blocks periodically (SyncBlocks, Run). Per
// block it keeps a compact index-header on local disk (package
// indexheader: symbols and postings offsets, built from ranged reads of
// the index, loaded into memory on demand and dropped when idle) and reads
// postings lists and series entries with ranged GETs (see blockIndex),
// chunks with ranged GETs merged over small gaps (see planChunkReads). Raw and downsampled blocks are
// served: a Series request picks, per time range, the coarsest resolution
// it allows (see resolution.go).
//
// Config also carries the request limits (series, samples, concurrent
// Series calls), the selector relabel configs that shard the bucket's
// blocks between stores, and an optional index cache (package cache) for
// postings lists and series entries.
package bucketstore

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"maps"
	"math"
	"os"
	"path/filepath"
	"slices"
	"sync"
	"time"

	"github.com/oklog/ulid/v2"
	"github.com/prometheus/client_golang/prometheus"
	"github.com/prometheus/client_golang/prometheus/promauto"
	"github.com/prometheus/prometheus/model/labels"
	"github.com/prometheus/prometheus/model/relabel"
	"github.com/thanos-io/objstore"

	bucketblock "github.com/strata-io/strata/internal/block"
	"github.com/strata-io/strata/internal/cache"
	"github.com/strata-io/strata/internal/flagutil"
	"github.com/strata-io/strata/internal/store/indexheader"
	"github.com/strata-io/strata/pkg/infopb"
	"github.com/strata-io/strata/pkg/storepb"
)

// Config configures a Store.
type Config struct {
	// SyncInterval is how often Run re-lists the bucket's blocks.
	SyncInterval time.Duration
	// BlockSyncConcurrency is how many meta.json files are read, and how
	// many blocks opened, at once during a sync.
	BlockSyncConcurrency int
	// IgnoreDeletionMarksDelay: a block whose deletion mark is older than
	// this is no longer served (the compactor deletes it after its own,
	// longer, delay). Younger marks are ignored so that queries running
	// while the compactor replaces blocks keep their data.
	IgnoreDeletionMarksDelay time.Duration
	// MinTime and MaxTime bound the blocks served (--min-time,
	// --max-time): only blocks overlapping [MinTime, MaxTime] (ms,
	// inclusive) are loaded. A relative value (-2w) is taken from the time
	// of each sync; an empty one leaves that side open.
	MinTime, MaxTime flagutil.TimeOrDuration

	// RequestSeriesLimit is the most series one Series call may return
	// (--store.limits.request-series); 0: no limit.
	RequestSeriesLimit uint64
	// RequestSamplesLimit is the most samples one Series call may return
	// (--store.limits.request-samples), counted from the sample counts in
	// the chunk headers of the chunks read; 0: no limit.
	RequestSamplesLimit uint64
	// SeriesMaxConcurrency is how many Series calls run at once
	// (--store.grpc.series-max-concurrency); further calls wait for a slot
	// until their context ends.
	SeriesMaxConcurrency int

	// RelabelConfigs select the blocks this store serves (sharding,
	// --selector.relabel-config): they are applied at sync to each block's
	// external labels plus __block_id (the ULID); blocks they drop are not
	// loaded. None: every block.
	RelabelConfigs []*relabel.Config

	// DataDir holds the index-header file of every served block
	// (<DataDir>/<ULID>/index-header), kept across restarts so that a
	// restarted store does not build them again. Empty: a temporary
	// directory removed by Close.
	DataDir string
	// IndexHeaderIdleTimeout: an index-header not used for this long is
	// dropped from memory (its file stays). 0: never dropped.
	IndexHeaderIdleTimeout time.Duration

	// IndexCache, when not nil, holds postings lists and series entries
	// read from the blocks' indexes (see package cache for the keys). It
	// is shared, not owned: the caller closes it after the store.
	IndexCache cache.Cache
}

// DefaultConfig returns the defaults a Thanos user expects: a 15m sync, 20
// concurrent block loads, a 24h deletion-mark delay, no time bounds, no
// request limits, 20 concurrent Series calls, no sharding and no cache.
func DefaultConfig() Config {
	return Config{
		SyncInterval:             15 * time.Minute,
		BlockSyncConcurrency:     20,
		IgnoreDeletionMarksDelay: 24 * time.Hour,
		SeriesMaxConcurrency:     20,
		IndexHeaderIdleTimeout:   5 * time.Minute,
	}
}

// Validate reports a configuration the store cannot run with.
func (c Config) Validate() error {
	if c.SyncInterval <= 0 {
		return fmt.Errorf("block sync interval must be positive, got %s", c.SyncInterval)
	}
	if c.BlockSyncConcurrency <= 0 {
		return fmt.Errorf("block sync concurrency must be at least 1, got %d", c.BlockSyncConcurrency)
	}
	if c.IgnoreDeletionMarksDelay < 0 {
		return fmt.Errorf("ignore-deletion-marks delay must not be negative, got %s", c.IgnoreDeletionMarksDelay)
	}
	if c.SeriesMaxConcurrency <= 0 {
		return fmt.Errorf("series max concurrency must be at least 1, got %d", c.SeriesMaxConcurrency)
	}
	if c.IndexHeaderIdleTimeout < 0 {
		return fmt.Errorf("index-header idle timeout must not be negative, got %s", c.IndexHeaderIdleTimeout)
	}
	if mint, maxt := c.timeRange(time.Now()); mint > maxt {
		return fmt.Errorf("min time %s is after max time %s: nothing would be served", c.MinTime.String(), c.MaxTime.String())
	}
	return nil
}

// timeRange returns [MinTime, MaxTime] in ms at now.
func (c Config) timeRange(now time.Time) (mint, maxt int64) {
	return c.MinTime.Millis(now, flagutil.MinMillis), c.MaxTime.Millis(now, flagutil.MaxMillis)
}

// BlockInfo describes a loaded block.
type BlockInfo struct {
	ID ulid.ULID
	// MinTime (inclusive) and MaxTime (exclusive) in ms, from meta.json.
	MinTime, MaxTime int64
	// Labels are the block's external labels.
	Labels labels.Labels
	// Resolution in ms (0: raw).
	Resolution int64
	// NumSeries and NumSamples are from meta.json's stats.
	NumSeries, NumSamples uint64
}

// Store is a StoreAPI (storepb.StoreServer) and Info (infopb.InfoServer)
// server over the blocks of a bucket. It is safe for concurrent use. The
// bucket is not owned: the caller closes it after Close.
type Store struct {
	storepb.UnimplementedStoreServer
	infopb.UnimplementedInfoServer

	cfg    Config
	bkt    objstore.BucketReader
	logger *slog.Logger
	m      *metrics
	hm     *indexheader.Metrics

	// dataDir is Config.DataDir or, when that is empty, a temporary
	// directory (tmpDir set) removed by Close.
	dataDir string
	tmpDir  bool

	// ctx bounds every fetch made on behalf of a block (index pages are
	// fetched from inside the index reader, which has no context of its
	// own); canceled by Close.
	ctx    context.Context
	cancel context.CancelFunc

	// seriesSlots holds a token per running Series call
	// (SeriesMaxConcurrency).
	seriesSlots chan struct{}

	// inv lists the bucket's blocks and keeps their meta.json; filters
	// select those served (time range, relabel configs, deletion marks).
	inv     *bucketblock.Inventory
	filters []bucketblock.Filter

	syncMu sync.Mutex // one sync at a time
	mu     sync.RWMutex
	blocks map[ulid.ULID]*block
	// unloaded are the blocks the last sync could not serve, by ULID.
	unloaded []*unloadedBlock
	ready    bool
	readyc   chan struct{} // closed with ready set
}

var (
	_ storepb.StoreServer = (*Store)(nil)
	_ infopb.InfoServer   = (*Store)(nil)
)

type metrics struct {
	blocksLoaded     prometheus.Gauge
	blockLoads       prometheus.Counter
	blockLoadFails   prometheus.Counter
	blockDrops       prometheus.Counter
	syncs            prometheus.Counter
	syncFailures     prometheus.Counter
	lastSyncDuration prometheus.Gauge
	limited          *prometheus.CounterVec
	metaSynced       *prometheus.GaugeVec
}

func newMetrics(reg prometheus.Registerer) *metrics {
	f := promauto.With(reg)
	return &metrics{
		blocksLoaded:     f.NewGauge(prometheus.GaugeOpts{Name: "strata_bucket_store_blocks_loaded", Help: "Number of blocks served."}),
		blockLoads:       f.NewCounter(prometheus.CounterOpts{Name: "strata_bucket_store_block_loads_total", Help: "Blocks opened."}),
		blockLoadFails:   f.NewCounter(prometheus.CounterOpts{Name: "strata_bucket_store_block_load_failures_total", Help: "Blocks whose index could not be opened (truncated or corrupt); they are not served."}),
		blockDrops:       f.NewCounter(prometheus.CounterOpts{Name: "strata_bucket_store_block_drops_total", Help: "Blocks no longer served (deleted, marked for deletion or out of the time range)."}),
		syncs:            f.NewCounter(prometheus.CounterOpts{Name: "strata_bucket_store_syncs_total", Help: "Block syncs run."}),
		syncFailures:     f.NewCounter(prometheus.CounterOpts{Name: "strata_bucket_store_sync_failures_total", Help: "Block syncs that could not list the bucket."}),
		lastSyncDuration: f.NewGauge(prometheus.GaugeOpts{Name: "strata_bucket_store_sync_duration_seconds", Help: "Duration of the last block sync."}),
		limited:          f.NewCounterVec(prometheus.CounterOpts{Name: "strata_bucket_store_limited_requests_total", Help: "Series calls refused by a limit (series, samples)."}, []string{"limit"}),
		metaSynced: f.NewGaugeVec(prometheus.GaugeOpts{
			Name: "strata_blocks_meta_synced",
			Help: "Block directories of the bucket at the last sync, by state: loaded, failed (meta.json or index unreadable), corrupted-meta-json, no-meta-json, marked-for-deletion, time-excluded, label-excluded.",
		}, []string{"state"}),
	}
}

// New returns a Store over bkt; it serves nothing until the first
// SyncBlocks (Ready says when). A nil logger discards logs; a nil reg
// registers no metrics. Call Close when done.
func New(cfg Config, bkt objstore.BucketReader, logger *slog.Logger, reg prometheus.Registerer) (*Store, error) {
	if err := cfg.Validate(); err != nil {
		return nil, err
	}
	if logger == nil {
		logger = slog.New(slog.DiscardHandler)
	}
	dataDir, tmp := cfg.DataDir, false
	if dataDir == "" {
		d, err := os.MkdirTemp("", "strata-store-")
		if err != nil {
			return nil, fmt.Errorf("create a temporary data directory (set a data directory instead): %w", err)
		}
		dataDir, tmp = d, true
	} else if err := os.MkdirAll(dataDir, 0o755); err != nil {
		return nil, fmt.Errorf("create the data directory for index-headers: %w", err)
	}
	ctx, cancel := context.WithCancel(context.Background())
	s := &Store{
		cfg:     cfg,
		bkt:     bkt,
		logger:  logger,
		m:       newMetrics(reg),
		hm:      indexheader.NewMetrics(reg),
		dataDir: dataDir,
		tmpDir:  tmp,
		ctx:     ctx,
		cancel:  cancel,
		blocks:  map[ulid.ULID]*block{},
		readyc:  make(chan struct{}),

		seriesSlots: make(chan struct{}, cfg.SeriesMaxConcurrency),

		inv: bucketblock.NewInventory(bkt, bucketblock.Config{Concurrency: cfg.BlockSyncConcurrency}),
	}
	// The time range filter is added at each sync: --min-time and
	// --max-time may be relative to now.
	s.filters = []bucketblock.Filter{
		bucketblock.Labels(s.selected),
		bucketblock.DeletionDelay(cfg.IgnoreDeletionMarksDelay, time.Now),
	}
	return s, nil
}

// Run syncs the blocks now and every SyncInterval until ctx is done; sync
// errors are logged and retried at the next tick. In between, it drops the
// index-headers idle for IndexHeaderIdleTimeout from memory. It returns nil
// when ctx is canceled.
func (s *Store) Run(ctx context.Context) error {
	t := time.NewTicker(s.cfg.SyncInterval)
	defer t.Stop()
	var idle <-chan time.Time
	if d := s.cfg.IndexHeaderIdleTimeout; d > 0 {
		it := time.NewTicker(max(d/4, time.Second))
		defer it.Stop()
		idle = it.C
	}
	doSync := true
	for {
		if doSync {
			if err := s.SyncBlocks(ctx); err != nil && ctx.Err() == nil {
				s.logger.Error("sync blocks", "err", err)
			}
		}
		select {
		case <-ctx.Done():
			return nil
		case now := <-idle:
			s.ReleaseIdle(now)
			doSync = false
		case <-t.C:
			doSync = true
		}
	}
}

// ReleaseIdle drops from memory the index-headers not used since
// now - IndexHeaderIdleTimeout and returns how many it dropped. Run calls
// it periodically.
func (s *Store) ReleaseIdle(now time.Time) int {
	s.mu.RLock()
	defer s.mu.RUnlock()
	n := 0
	for _, b := range s.blocks {
		if b.hdr.ReleaseIfIdle(now, s.cfg.IndexHeaderIdleTimeout) {
			n++
		}
	}
	if n > 0 {
		s.logger.Debug("index-headers released", "count", n)
	}
	return n
}

// headerPath returns the index-header file of block id.
func (s *Store) headerPath(id ulid.ULID) string {
	return filepath.Join(s.dataDir, id.String(), "index-header")
}

// Ready tells whether a sync has completed, i.e. the store serves what the
// bucket holds. Before, Info announces nothing and the other calls fail
// with Unavailable.
func (s *Store) Ready() bool {
	s.mu.RLock()
	defer s.mu.RUnlock()
	return s.ready
}

// ReadyC is closed when Ready becomes true (it never becomes false again).
func (s *Store) ReadyC() <-chan struct{} { return s.readyc }

// Blocks returns the loaded blocks sorted by min time, then ID.
func (s *Store) Blocks() []BlockInfo {
	s.mu.RLock()
	defer s.mu.RUnlock()
	out := make([]BlockInfo, 0, len(s.blocks))
	for _, b := range s.blocks {
		out = append(out, BlockInfo{
			ID: b.meta.ULID, MinTime: b.meta.MinTime, MaxTime: b.meta.MaxTime, Labels: b.ext,
			Resolution: b.meta.Thanos.Downsample.Resolution,
			NumSeries:  b.meta.Stats.NumSeries, NumSamples: b.meta.Stats.NumSamples,
		})
	}
	slices.SortFunc(out, func(a, b BlockInfo) int {
		if a.MinTime != b.MinTime {
			return cmpInt64(a.MinTime, b.MinTime)
		}
		return a.ID.Compare(b.ID)
	})
	return out
}

// Close stops serving: it releases every block (waiting for the calls
// reading them) and cancels fetches. Calls made after Close see no blocks.
func (s *Store) Close() error {
	s.syncMu.Lock()
	defer s.syncMu.Unlock()
	s.mu.Lock()
	blocks := slices.Collect(maps.Values(s.blocks))
	s.blocks = map[ulid.ULID]*block{}
	s.mu.Unlock()
	var errs []error
	for _, b := range blocks {
		errs = append(errs, b.close())
	}
	s.cancel()
	if s.tmpDir {
		errs = append(errs, os.RemoveAll(s.dataDir))
	}
	return errors.Join(errs...)
}

// acquire returns the blocks accepted by keep, each with a reference the
// caller must release.
func (s *Store) acquire(keep func(*block) bool) ([]*block, error) {
	s.mu.RLock()
	defer s.mu.RUnlock()
	if !s.ready {
		return nil, errors.New("store gateway not ready: the first sync of the bucket's blocks has not completed yet")
	}
	var out []*block
	for _, b := range s.blocks {
		if keep(b) {
			b.refs.Add(1)
			out = append(out, b)
		}
	}
	slices.SortFunc(out, func(a, b *block) int {
		if a.meta.MinTime != b.meta.MinTime {
			return cmpInt64(a.meta.MinTime, b.meta.MinTime)
		}
		return a.meta.ULID.Compare(b.meta.ULID)
	})
	return out, nil
}

func releaseAll(bs []*block) {
	for _, b := range bs {
		b.release()
	}
}

// Info implements infopb.InfoServer: the distinct external label sets of
// the loaded blocks and the time range they cover (ms, inclusive; MinTime
// math.MaxInt64 and MaxTime math.MinInt64 while no block is loaded).
func (s *Store) Info(context.Context, *infopb.InfoRequest) (*infopb.InfoResponse, error) {
	type stream struct {
		lset       labels.Labels
		mint, maxt int64
	}
	streams := map[string]*stream{}
	mint, maxt := int64(math.MaxInt64), int64(math.MinInt64)
	s.mu.RLock()
	for _, b := range s.blocks {
		k := b.ext.String()
		st, ok := streams[k]
		if !ok {
			st = &stream{lset: b.ext, mint: math.MaxInt64, maxt: math.MinInt64}
			streams[k] = st
		}
		st.mint, st.maxt = min(st.mint, b.meta.MinTime), max(st.maxt, b.meta.MaxTime-1)
		mint, maxt = min(mint, st.mint), max(maxt, st.maxt)
	}
	s.mu.RUnlock()

	keys := slices.Sorted(maps.Keys(streams))
	resp := &infopb.InfoResponse{
		ComponentType: "store",
		Store: &infopb.StoreInfo{
			MinTime:                      mint,
			MaxTime:                      maxt,
			SupportsWithoutReplicaLabels: true,
		},
	}
	for _, k := range keys {
		st := streams[k]
		ls := &storepb.LabelSet{Labels: storepb.LabelsToProto(st.lset)}
		if st.lset.Len() > 0 {
			resp.LabelSets = append(resp.LabelSets, ls)
		}
		resp.Store.TsdbInfos = append(resp.Store.TsdbInfos, &infopb.TSDBInfo{Labels: ls, MinTime: st.mint, MaxTime: st.maxt})
	}
	return resp, nil
}

func cmpInt64(a, b int64) int {
	switch {
	case a < b:
		return -1
	case a > b:
		return 1
	}
	return 0
}
