package sidecar

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"net/http"
	"net/url"
	"os"
	"strings"
	"time"

	"github.com/alecthomas/kingpin/v2"
	"github.com/prometheus/client_golang/prometheus"
	"github.com/prometheus/common/model"
	"github.com/prometheus/prometheus/model/labels"

	"github.com/strata-io/strata/internal/objstore"
	"github.com/strata-io/strata/internal/shipper"
)

// ShipperConfig is the block-shipping part of the sidecar's configuration.
// Shipping runs when a bucket is configured; it then needs TSDBPath.
type ShipperConfig struct {
	// TSDBPath is Prometheus' data directory (its --storage.tsdb.path).
	TSDBPath string
	// UploadCompacted also ships blocks Prometheus compacted locally.
	UploadCompacted bool
	// Interval is the time between two looks at TSDBPath.
	Interval time.Duration
	// Objstore holds the bucket flags.
	Objstore objstore.Flags
}

// RegisterFlags adds the shipping flags to cmd.
func (c *ShipperConfig) RegisterFlags(cmd *kingpin.CmdClause) {
	cmd.Flag("tsdb.path", "Data directory of the Prometheus (its --storage.tsdb.path). With a bucket configured, every finished block found there is uploaded once.").
		PlaceHolder("<dir>").StringVar(&c.TSDBPath)
	cmd.Flag("shipper.upload-compacted", "Also upload blocks Prometheus compacted locally (level > 1). Needed when Prometheus' min and max block durations differ; blocks whose sources were all uploaded already are skipped.").
		BoolVar(&c.UploadCompacted)
	cmd.Flag("shipper.interval", "How often to look for new blocks to upload; failed uploads are retried sooner, with backoff.").
		Default("30s").DurationVar(&c.Interval)
	c.Objstore.RegisterFlags(cmd)
}

// Enabled tells whether blocks are shipped: a bucket is configured.
func (c *ShipperConfig) Enabled() bool { return c.Objstore.IsSet() }

// Validate says what to fix in the shipping flags.
func (c *ShipperConfig) Validate() error {
	if !c.Enabled() {
		return nil
	}
	if c.TSDBPath == "" {
		return errors.New("a bucket is configured but --tsdb.path is not: set it to Prometheus' data directory (its --storage.tsdb.path) so the sidecar can upload blocks, or drop the --objstore flags")
	}
	if c.Interval <= 0 {
		return fmt.Errorf("--shipper.interval=%s must be positive", c.Interval)
	}
	// Parse the bucket configuration now, so a mistake in it shows before
	// the sidecar waits for Prometheus.
	_, err := c.Objstore.Load()
	return err
}

// setupShipper opens the bucket, checks it and Prometheus' block durations,
// and returns the shipper with a function that closes the bucket. It
// returns a nil shipper when shipping is disabled.
// extLabels returns Prometheus' current external labels.
func setupShipper(ctx context.Context, cfg ShipperConfig, promURL *url.URL, extLabels func() labels.Labels, logger *slog.Logger, reg prometheus.Registerer) (*shipper.Shipper, func(), error) {
	if !cfg.Enabled() {
		if cfg.TSDBPath != "" {
			logger.Info("no bucket configured: blocks are not uploaded", "tsdb_path", cfg.TSDBPath)
		}
		return nil, func() {}, nil
	}
	if info, err := os.Stat(cfg.TSDBPath); err != nil || !info.IsDir() {
		return nil, nil, fmt.Errorf("--tsdb.path=%s is not a readable directory: point it at Prometheus' --storage.tsdb.path", cfg.TSDBPath)
	}
	bcfg, err := cfg.Objstore.Load()
	if err != nil {
		return nil, nil, err
	}
	if err := checkBlockDurations(ctx, http.DefaultClient, promURL, cfg.UploadCompacted); err != nil {
		return nil, nil, err
	}
	bkt, err := objstore.NewBucket(ctx, bcfg, logger, reg, "sidecar")
	if err != nil {
		return nil, nil, err
	}
	closeBkt := func() {
		if err := bkt.Close(); err != nil {
			logger.Warn("close bucket", "err", err)
		}
	}
	checkCtx, cancel := context.WithTimeout(ctx, time.Minute)
	defer cancel()
	if err := objstore.Check(checkCtx, bkt); err != nil {
		closeBkt()
		return nil, nil, err
	}
	scfg := shipper.DefaultConfig()
	scfg.Dir = cfg.TSDBPath
	scfg.UploadCompacted = cfg.UploadCompacted
	scfg.ExternalLabels = extLabels
	sh, err := shipper.New(scfg, bkt, logger.With("subsystem", "shipper"), reg)
	if err != nil {
		closeBkt()
		return nil, nil, err
	}
	logger.Info("shipping blocks", "tsdb_path", cfg.TSDBPath, "bucket", bkt.BucketName(), "type", bkt.Type(), "upload_compacted", cfg.UploadCompacted)
	return sh, closeBkt, nil
}

// checkBlockDurations refuses a Prometheus that compacts blocks locally
// (min and max block durations differ) unless compacted blocks are
// uploaded too: otherwise a block compacted before it was shipped would
// never reach the bucket.
func checkBlockDurations(ctx context.Context, client *http.Client, promURL *url.URL, uploadCompacted bool) error {
	u := promURL.JoinPath("/api/v1/status/flags")
	req, err := http.NewRequestWithContext(ctx, http.MethodGet, u.String(), nil)
	if err != nil {
		return err
	}
	resp, err := client.Do(req)
	if err != nil {
		return fmt.Errorf("read prometheus flags from %s: %w", u.Redacted(), err)
	}
	defer resp.Body.Close()
	body, err := io.ReadAll(io.LimitReader(resp.Body, 1<<20))
	if err != nil {
		return fmt.Errorf("read prometheus flags from %s: %w", u.Redacted(), err)
	}
	if resp.StatusCode != http.StatusOK {
		return fmt.Errorf("read prometheus flags from %s: HTTP %d: %s", u.Redacted(), resp.StatusCode, strings.TrimSpace(string(body)))
	}
	var out struct {
		Data map[string]string `json:"data"`
	}
	if err := json.Unmarshal(body, &out); err != nil {
		return fmt.Errorf("decode prometheus flags from %s: %w", u.Redacted(), err)
	}
	minFlag, maxFlag := out.Data["storage.tsdb.min-block-duration"], out.Data["storage.tsdb.max-block-duration"]
	minD, err1 := model.ParseDuration(minFlag)
	maxD, err2 := model.ParseDuration(maxFlag)
	if err := errors.Join(err1, err2); err != nil {
		return fmt.Errorf("prometheus at %s reports no usable --storage.tsdb.min-block-duration/--storage.tsdb.max-block-duration (%q, %q): is it running in agent mode? %w", promURL.Redacted(), minFlag, maxFlag, err)
	}
	if minD != maxD && !uploadCompacted {
		return fmt.Errorf("prometheus compacts blocks locally (--storage.tsdb.min-block-duration=%s, --storage.tsdb.max-block-duration=%s), so some blocks would be compacted before they are uploaded and never reach the bucket: start Prometheus with both set to the same value (2h), or run the sidecar with --shipper.upload-compacted", minD, maxD)
	}
	return nil
}
