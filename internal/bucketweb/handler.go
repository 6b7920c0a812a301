package bucketweb

import (
	"context"
	_ "embed"
	"encoding/json"
	"errors"
	"fmt"
	"log/slog"
	"net/http"
	"net/url"
	"strconv"
	"sync"
	"time"

	"github.com/alecthomas/kingpin/v2"
	"github.com/oklog/ulid/v2"
	"github.com/prometheus/client_golang/prometheus"
	"github.com/prometheus/client_golang/prometheus/promauto"
	"github.com/thanos-io/objstore"

	"github.com/strata-io/strata/internal/block"
)

// AdminFlag is the flag that enables the viewer's admin actions, named in
// the 403 answer when they are disabled.
const AdminFlag = "web.enable-admin-actions"

//go:embed page.html
var page []byte

// Config configures a Handler.
type Config struct {
	// RefreshInterval is how often Run lists the bucket again.
	RefreshInterval time.Duration
	// Admin enables POST /api/v1/blocks/mark (marking blocks for deletion,
	// no-compact, no-downsample). Off by default.
	Admin bool
	// ListConcurrency is how many block directories are read at once.
	ListConcurrency int
}

// DefaultConfig returns the defaults of the flags.
func DefaultConfig() Config {
	return Config{RefreshInterval: 5 * time.Minute, ListConcurrency: block.DefaultConcurrency}
}

// RegisterFlags adds the viewer's flags to cmd: --web.refresh-interval,
// --web.enable-admin-actions and --web.list-concurrency.
func (c *Config) RegisterFlags(cmd *kingpin.CmdClause) {
	def := DefaultConfig()
	cmd.Flag("web.refresh-interval", "How often the block viewer lists the bucket again (the page's Refresh button lists it at once).").
		Default(def.RefreshInterval.String()).DurationVar(&c.RefreshInterval)
	cmd.Flag(AdminFlag, "Let the block viewer mark blocks for deletion, no-compact and no-downsample (POST /api/v1/blocks/mark). Anyone reaching the HTTP port can then use it: protect it with --http.config.").
		BoolVar(&c.Admin)
	cmd.Flag("web.list-concurrency", "How many block directories the block viewer reads at once when listing the bucket.").
		Default(strconv.Itoa(def.ListConcurrency)).IntVar(&c.ListConcurrency)
}

// Validate checks the configuration and says what to fix.
func (c Config) Validate() error {
	if c.RefreshInterval <= 0 {
		return fmt.Errorf("--web.refresh-interval must be positive, got %s", c.RefreshInterval)
	}
	if c.ListConcurrency < 1 {
		return fmt.Errorf("--web.list-concurrency must be at least 1, got %d", c.ListConcurrency)
	}
	return nil
}

// Handler serves the block viewer of one bucket:
//
//	GET  /                      the viewer page (self-contained HTML)
//	GET  /api/v1/blocks         the cached listing as JSON (BlocksResponse);
//	                            ?refresh=1 lists the bucket first
//	POST /api/v1/blocks/mark    form values id, marker, details, remove=1:
//	                            writes or removes a marker (admin only)
//
// Paths are relative: mount it at "/" or under a prefix with
// http.StripPrefix (the page uses relative URLs). The listing is cached and
// refreshed by Run; a request before the first listing lists the bucket
// itself. A Handler is safe for concurrent use.
type Handler struct {
	cfg    Config
	bkt    objstore.Bucket
	inv    *block.Inventory
	logger *slog.Logger
	m      *metrics
	mux    *http.ServeMux
	now    func() time.Time

	listMu sync.Mutex // serialises listings

	mu          sync.RWMutex
	blocks      []*block.Block
	listed      bool
	refreshedAt time.Time
	lastErr     error
}

type metrics struct {
	refreshes, failures prometheus.Counter
	blocks              prometheus.Gauge
	lastSuccess         prometheus.Gauge
}

// New returns a Handler over bkt, which it uses but does not close.
// Metrics (strata_block_viewer_*) are registered on reg (nil: none).
func New(cfg Config, bkt objstore.Bucket, logger *slog.Logger, reg prometheus.Registerer) (*Handler, error) {
	if err := cfg.Validate(); err != nil {
		return nil, err
	}
	if logger == nil {
		logger = slog.New(slog.DiscardHandler)
	}
	f := promauto.With(reg)
	h := &Handler{
		cfg: cfg, bkt: bkt, logger: logger, now: time.Now,
		inv: block.NewInventory(bkt, block.Config{Concurrency: cfg.ListConcurrency}),
		m: &metrics{
			refreshes: f.NewCounter(prometheus.CounterOpts{Name: "strata_block_viewer_refreshes_total", Help: "Listings of the bucket by the block viewer."}),
			failures:  f.NewCounter(prometheus.CounterOpts{Name: "strata_block_viewer_refresh_failures_total", Help: "Listings of the bucket by the block viewer that failed."}),
			blocks:    f.NewGauge(prometheus.GaugeOpts{Name: "strata_block_viewer_blocks", Help: "Block directories in the last listing, partial ones included."}),
			lastSuccess: f.NewGauge(prometheus.GaugeOpts{Name: "strata_block_viewer_last_refresh_success_timestamp_seconds",
				Help: "Unix time of the last successful listing."}),
		},
	}
	mux := http.NewServeMux()
	mux.HandleFunc("GET /{$}", h.servePage)
	mux.HandleFunc("GET /api/v1/blocks", h.serveBlocks)
	mux.HandleFunc("POST /api/v1/blocks/mark", h.serveMark)
	h.mux = mux
	return h, nil
}

// ServeHTTP implements http.Handler.
func (h *Handler) ServeHTTP(w http.ResponseWriter, r *http.Request) { h.mux.ServeHTTP(w, r) }

// Run lists the bucket at once and then every RefreshInterval until ctx
// ends; a failed listing is logged and the previous one kept. It returns
// nil when ctx ends.
func (h *Handler) Run(ctx context.Context) error {
	t := time.NewTicker(h.cfg.RefreshInterval)
	defer t.Stop()
	for {
		if err := h.Refresh(ctx, time.Time{}); err != nil && ctx.Err() == nil {
			h.logger.Warn("list bucket for the block viewer", "err", err)
		}
		select {
		case <-ctx.Done():
			return nil
		case <-t.C:
		}
	}
}

// Refresh lists the bucket and replaces the cached listing, unless a
// listing that started after notBefore finished meanwhile (so concurrent
// callers share one listing). On error the cached listing is kept.
func (h *Handler) Refresh(ctx context.Context, notBefore time.Time) error {
	h.listMu.Lock()
	defer h.listMu.Unlock()
	h.mu.RLock()
	fresh := h.listed && !notBefore.IsZero() && !h.refreshedAt.Before(notBefore)
	h.mu.RUnlock()
	if fresh {
		return nil
	}
	start := h.now()
	h.m.refreshes.Inc()
	blocks, err := h.inv.Scan(ctx)
	h.mu.Lock()
	defer h.mu.Unlock()
	if err != nil {
		err = fmt.Errorf("list blocks in the bucket: %w", err)
		h.m.failures.Inc()
		h.lastErr = err
		return err
	}
	block.SortBlocks(blocks)
	h.blocks, h.listed, h.refreshedAt, h.lastErr = blocks, true, start, nil
	h.m.blocks.Set(float64(len(blocks)))
	h.m.lastSuccess.Set(float64(start.Unix()))
	h.logger.Debug("bucket listed for the block viewer", "blocks", len(blocks), "took", time.Since(start))
	return nil
}

// Listed reports whether a listing succeeded: a readiness check.
func (h *Handler) Listed() bool {
	h.mu.RLock()
	defer h.mu.RUnlock()
	return h.listed
}

// Blocks returns the cached listing (nil before the first one). The
// slice must not be modified.
func (h *Handler) Blocks() []*block.Block {
	h.mu.RLock()
	defer h.mu.RUnlock()
	return h.blocks
}

func (h *Handler) servePage(w http.ResponseWriter, _ *http.Request) {
	w.Header().Set("Content-Type", "text/html; charset=utf-8")
	w.Header().Set("Cache-Control", "no-cache")
	_, _ = w.Write(page)
}

func (h *Handler) serveBlocks(w http.ResponseWriter, r *http.Request) {
	h.mu.RLock()
	listed := h.listed
	h.mu.RUnlock()
	if refresh := r.URL.Query().Get("refresh"); !listed || (refresh != "" && refresh != "0" && refresh != "false") {
		if err := h.Refresh(r.Context(), h.now()); err != nil {
			writeError(w, http.StatusServiceUnavailable, "unavailable", fmt.Errorf("list the bucket: %w", err))
			return
		}
	}
	h.mu.RLock()
	data := BlocksData{RefreshedAt: h.refreshedAt, Admin: h.cfg.Admin}
	if h.lastErr != nil {
		data.RefreshError = h.lastErr.Error()
	}
	data.Streams, data.Partial = group(h.blocks)
	h.mu.RUnlock()
	writeJSON(w, http.StatusOK, BlocksResponse{Status: "success", Data: data})
}

func (h *Handler) serveMark(w http.ResponseWriter, r *http.Request) {
	if !h.cfg.Admin {
		writeError(w, http.StatusForbidden, "forbidden",
			fmt.Errorf("admin actions are disabled: start with --%s to mark blocks from the block viewer", AdminFlag))
		return
	}
	if err := sameOrigin(r); err != nil {
		writeError(w, http.StatusForbidden, "forbidden", err)
		return
	}
	if err := r.ParseForm(); err != nil {
		writeError(w, http.StatusBadRequest, "bad_data", fmt.Errorf("parse form: %w", err))
		return
	}
	id, err := ulid.ParseStrict(r.Form.Get("id"))
	if err != nil {
		writeError(w, http.StatusBadRequest, "bad_data", fmt.Errorf("id=%q is not a block ULID: %w", r.Form.Get("id"), err))
		return
	}
	marker, err := block.ParseMarkerName(r.Form.Get("marker"))
	if err != nil {
		writeError(w, http.StatusBadRequest, "bad_data", err)
		return
	}
	remove, _ := strconv.ParseBool(r.Form.Get("remove"))
	var changed bool
	if remove {
		changed, err = block.Unmark(r.Context(), h.bkt, id, marker)
	} else {
		changed, err = block.Mark(r.Context(), h.bkt, id, marker, r.Form.Get("details"), h.now())
	}
	switch {
	case errors.Is(err, block.ErrBlockNotFound):
		writeError(w, http.StatusNotFound, "not_found", err)
		return
	case err != nil:
		writeError(w, http.StatusInternalServerError, "internal", err)
		return
	}
	h.logger.Info("block marker changed from the block viewer", "block", id, "marker", marker, "removed", remove, "changed", changed, "remote", r.RemoteAddr)
	b, err := h.inv.Read(r.Context(), id)
	if err != nil {
		writeError(w, http.StatusInternalServerError, "internal", err)
		return
	}
	h.replace(b)
	writeJSON(w, http.StatusOK, MarkResponse{Status: "success", Data: MarkData{Changed: changed, Block: blockJSON(b)}})
}

// replace puts b into the cached listing in place of the block of the same id.
func (h *Handler) replace(b *block.Block) {
	h.mu.Lock()
	defer h.mu.Unlock()
	blocks := make([]*block.Block, len(h.blocks))
	copy(blocks, h.blocks) // Blocks() callers keep the old slice.
	for i := range blocks {
		if blocks[i].ID == b.ID {
			blocks[i] = b
			h.blocks = blocks
			return
		}
	}
	h.blocks = append(blocks, b)
	block.SortBlocks(h.blocks)
}

// sameOrigin refuses a cross-site form post: a browser sends Origin with
// it, and a page on another site must not mark blocks.
func sameOrigin(r *http.Request) error {
	o := r.Header.Get("Origin")
	if o == "" {
		return nil
	}
	u, err := url.Parse(o)
	if err != nil || u.Host != r.Host {
		return fmt.Errorf("cross-origin request from %q refused: use the block viewer page served by this host", o)
	}
	return nil
}

func writeJSON(w http.ResponseWriter, code int, v any) {
	w.Header().Set("Content-Type", "application/json")
	w.WriteHeader(code)
	_ = json.NewEncoder(w).Encode(v)
}

// ErrorResponse is the body of every error answer, in the Prometheus API's shape.
type ErrorResponse struct {
	Status    string `json:"status"` // "error"
	ErrorType string `json:"errorType"`
	Error     string `json:"error"`
}

func writeError(w http.ResponseWriter, code int, typ string, err error) {
	writeJSON(w, code, ErrorResponse{Status: "error", ErrorType: typ, Error: err.Error()})
}
