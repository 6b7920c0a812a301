// Package shipper uploads the finished blocks of a local TSDB directory to
// a bucket, each exactly once, remembering what it uploaded in a state file
// in that directory.
package shipper

import (
	"cmp"
	"context"
	"errors"
	"fmt"
	"log/slog"
	"os"
	"path"
	"path/filepath"
	"slices"
	"sync"
	"time"

	"github.com/oklog/ulid/v2"
	"github.com/prometheus/client_golang/prometheus"
	"github.com/prometheus/client_golang/prometheus/promauto"
	"github.com/prometheus/prometheus/model/labels"
	"github.com/thanos-io/objstore"

	"github.com/strata-io/strata/pkg/metadata"
)

// DefaultMetaFileName is the name of the state file in the TSDB directory,
// the one Thanos sidecars use.
const DefaultMetaFileName = "thanos.shipper.json"

// ErrNoExternalLabels is returned by Sync when the producer has no external
// labels: a block without them belongs to no stream.
var ErrNoExternalLabels = errors.New("no external labels: set external_labels in the Prometheus configuration so that uploaded blocks belong to a stream")

// Config is the configuration of a Shipper.
type Config struct {
	// Dir is the TSDB directory whose blocks are shipped; the state file is
	// written there too.
	Dir string
	// ExternalLabels returns the producer's external labels, set on every
	// uploaded block. Called once per Sync; it must be goroutine-safe.
	ExternalLabels func() labels.Labels
	// Source is written to thanos.source of every block (default sidecar).
	Source metadata.SourceType
	// UploadCompacted also ships blocks of compaction level > 1, except
	// those whose sources were all uploaded already. Off, only level-1
	// blocks are shipped.
	UploadCompacted bool
	// MetaFileName is the state file's name inside Dir (default
	// DefaultMetaFileName).
	MetaFileName string
	// RetryMinBackoff is Run's first wait after a failed Sync; it doubles
	// up to the sync interval (default 1s).
	RetryMinBackoff time.Duration
}

// DefaultConfig returns a Config with every default set; Dir and
// ExternalLabels remain to be set.
func DefaultConfig() Config {
	return Config{
		Source:          metadata.SidecarSource,
		MetaFileName:    DefaultMetaFileName,
		RetryMinBackoff: time.Second,
	}
}

// Validate says what to fix in the configuration.
func (c Config) Validate() error {
	if c.Dir == "" {
		return errors.New("shipper: the TSDB directory is not set (--tsdb.path)")
	}
	if c.ExternalLabels == nil {
		return errors.New("shipper: no external labels function")
	}
	return nil
}

// Shipper uploads new blocks of Config.Dir. Its methods are goroutine-safe;
// concurrent Syncs run one after the other.
type Shipper struct {
	cfg    Config
	bkt    objstore.Bucket
	logger *slog.Logger

	mu sync.Mutex // serialises Sync

	uploads     prometheus.Counter
	failures    prometheus.Counter
	lastSuccess prometheus.Gauge
}

// New returns a Shipper over cfg.Dir that uploads to bkt, filling in the
// defaults of the zero fields of cfg. Metrics are registered on reg when it
// is not nil; a nil logger discards.
func New(cfg Config, bkt objstore.Bucket, logger *slog.Logger, reg prometheus.Registerer) (*Shipper, error) {
	def := DefaultConfig()
	if cfg.Source == "" {
		cfg.Source = def.Source
	}
	if cfg.MetaFileName == "" {
		cfg.MetaFileName = def.MetaFileName
	}
	if cfg.RetryMinBackoff <= 0 {
		cfg.RetryMinBackoff = def.RetryMinBackoff
	}
	if err := cfg.Validate(); err != nil {
		return nil, err
	}
	if logger == nil {
		logger = slog.New(slog.DiscardHandler)
	}
	f := promauto.With(reg)
	return &Shipper{
		cfg:    cfg,
		bkt:    bkt,
		logger: logger,
		uploads: f.NewCounter(prometheus.CounterOpts{
			Name: "strata_shipper_uploads_total",
			Help: "Blocks uploaded to the bucket.",
		}),
		failures: f.NewCounter(prometheus.CounterOpts{
			Name: "strata_shipper_upload_failures_total",
			Help: "Block uploads that failed; they are retried on the next sync.",
		}),
		lastSuccess: f.NewGauge(prometheus.GaugeOpts{
			Name: "strata_shipper_last_success_timestamp_seconds",
			Help: "Unix time of the last sync that shipped every block due (0 before the first).",
		}),
	}, nil
}

// StatePath is the path of the state file.
func (s *Shipper) StatePath() string { return filepath.Join(s.cfg.Dir, s.cfg.MetaFileName) }

// Sync uploads every block of the directory that is due and not yet in the
// bucket, oldest first, and returns how many it uploaded. A block is due
// when it has a meta.json (a directory being written has none, or a name
// that is not a ULID), holds samples, and is of compaction level 1 (any
// level with UploadCompacted). A block already recorded in the state file
// or whose meta.json is already in the bucket is recorded and not uploaded
// again. The state file is rewritten after each upload.
//
// A block that fails does not stop the others: Sync goes on and returns
// the joined errors, and the next Sync retries it.
func (s *Shipper) Sync(ctx context.Context) (uploaded int, err error) {
	s.mu.Lock()
	defer s.mu.Unlock()

	state, err := ReadState(s.StatePath())
	if err != nil {
		// The bucket check below still prevents a second upload.
		s.logger.Warn("shipper state unreadable, starting from an empty one", "file", s.StatePath(), "err", err)
		state = &State{Version: StateVersion1}
	}
	done := make(map[ulid.ULID]bool, len(state.Uploaded))
	for _, id := range state.Uploaded {
		done[id] = true
	}
	metas, errs, err := s.localBlocks()
	if err != nil {
		return 0, err
	}
	s.failures.Add(float64(len(errs)))
	ext := s.cfg.ExternalLabels()
	if ext.IsEmpty() {
		return 0, ErrNoExternalLabels
	}

	for _, m := range metas {
		if err := ctx.Err(); err != nil {
			errs = append(errs, err)
			break
		}
		id := m.ULID
		if done[id] || m.Stats.NumSamples == 0 {
			continue
		}
		if m.Compaction.Level > 1 {
			if !s.cfg.UploadCompacted {
				continue
			}
			if s.sourcesUploaded(m, done) {
				s.logger.Info("compacted block holds only uploaded blocks, not uploading it", "block", id)
				done[id] = true
				if err := s.writeState(done, metas); err != nil {
					errs = append(errs, err)
				}
				continue
			}
		}
		ok, err := s.bkt.Exists(ctx, path.Join(id.String(), metadata.MetaFilename))
		if err != nil {
			s.failures.Inc()
			errs = append(errs, fmt.Errorf("check block %s in the bucket: %w", id, err))
			continue
		}
		if !ok {
			if err := s.upload(ctx, m, ext); err != nil {
				s.failures.Inc()
				s.logger.Warn("block upload failed, will retry", "block", id, "err", err)
				errs = append(errs, err)
				continue
			}
			s.uploads.Inc()
			uploaded++
			s.logger.Info("block uploaded", "block", id, "min_time", m.MinTime, "max_time", m.MaxTime, "level", m.Compaction.Level)
		} else {
			s.logger.Info("block already in the bucket, recording it", "block", id)
		}
		done[id] = true
		if err := s.writeState(done, metas); err != nil {
			errs = append(errs, err)
		}
	}
	if len(errs) > 0 {
		return uploaded, errors.Join(errs...)
	}
	s.lastSuccess.SetToCurrentTime()
	return uploaded, nil
}

// sourcesUploaded tells whether every source of the compacted block m is
// recorded as uploaded, so its data is already in the bucket. It warns when
// only some are: uploading m then duplicates part of the data.
func (s *Shipper) sourcesUploaded(m *metadata.Meta, done map[ulid.ULID]bool) bool {
	n := 0
	for _, src := range m.Compaction.Sources {
		if done[src] {
			n++
		}
	}
	if n > 0 && n < len(m.Compaction.Sources) {
		s.logger.Warn("compacted block overlaps blocks already uploaded; the bucket will hold their samples twice until the compactor merges them", "block", m.ULID, "uploaded_sources", n, "sources", len(m.Compaction.Sources))
	}
	return n > 0 && n == len(m.Compaction.Sources)
}

// upload ships one block with its thanos section filled in.
func (s *Shipper) upload(ctx context.Context, m *metadata.Meta, ext labels.Labels) error {
	meta := *m
	meta.Thanos.SetLabels(ext)
	meta.Thanos.Source = s.cfg.Source
	meta.Thanos.Files = nil
	meta.Thanos.SegmentFiles = nil
	meta.Thanos.UploadTime = time.Time{}
	return metadata.Upload(ctx, s.logger, s.bkt, filepath.Join(s.cfg.Dir, m.ULID.String()), &meta)
}

// writeState records the uploaded blocks that still exist locally, so the
// file does not grow forever as Prometheus deletes old blocks.
func (s *Shipper) writeState(done map[ulid.ULID]bool, metas []*metadata.Meta) error {
	st := &State{Version: StateVersion1, Uploaded: []ulid.ULID{}}
	for _, m := range metas {
		if done[m.ULID] {
			st.Uploaded = append(st.Uploaded, m.ULID)
		}
	}
	if err := WriteState(s.StatePath(), st); err != nil {
		return fmt.Errorf("write shipper state: %w", err)
	}
	return nil
}

// localBlocks returns the metas of the complete blocks of the directory,
// oldest first. Directories that are not blocks or are still being written
// (no meta.json) are skipped; blocks with an unreadable meta.json are
// skipped and returned as problems, so that Sync reports them.
func (s *Shipper) localBlocks() (metas []*metadata.Meta, problems []error, err error) {
	entries, err := os.ReadDir(s.cfg.Dir)
	if err != nil {
		return nil, nil, fmt.Errorf("list TSDB directory (--tsdb.path): %w", err)
	}
	for _, e := range entries {
		id, err := ulid.ParseStrict(e.Name())
		if err != nil || !e.IsDir() {
			continue
		}
		m, err := metadata.ReadFromDir(filepath.Join(s.cfg.Dir, e.Name()))
		if errors.Is(err, metadata.ErrMetaNotFound) {
			continue
		}
		if err != nil {
			problems = append(problems, fmt.Errorf("local block %s cannot be shipped: %w", id, err))
			continue
		}
		if m.ULID != id {
			problems = append(problems, fmt.Errorf("local block %s cannot be shipped: its meta.json names block %s", id, m.ULID))
			continue
		}
		metas = append(metas, m)
	}
	slices.SortFunc(metas, func(a, b *metadata.Meta) int {
		return cmp.Or(cmp.Compare(a.MinTime, b.MinTime), a.ULID.Compare(b.ULID))
	})
	return metas, problems, nil
}

// Run calls Sync at once and then every interval until ctx is done; after
// a failed Sync it retries sooner, waiting RetryMinBackoff and doubling up
// to interval. It returns nil when ctx is done.
func (s *Shipper) Run(ctx context.Context, interval time.Duration) error {
	backoff := min(s.cfg.RetryMinBackoff, interval)
	timer := time.NewTimer(0)
	defer timer.Stop()
	for {
		select {
		case <-ctx.Done():
			return nil
		case <-timer.C:
		}
		n, err := s.Sync(ctx)
		wait := interval
		switch {
		case ctx.Err() != nil:
			return nil
		case err != nil:
			s.logger.Warn("shipper sync failed", "uploaded", n, "retry_in", backoff, "err", err)
			wait = backoff
			backoff = min(2*backoff, interval)
		default:
			backoff = min(s.cfg.RetryMinBackoff, interval)
		}
		timer.Reset(wait)
	}
}
