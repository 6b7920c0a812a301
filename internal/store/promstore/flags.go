package promstore

import (
	"context"
	"errors"
	"fmt"
	"time"

	"github.com/prometheus/common/model"
	"google.golang.org/grpc/status"
)

// Flags returns the command-line flags Prometheus runs with (flag name
// without dashes → value), from its /api/v1/status/flags. The call is
// bounded by the refresh timeout.
func (s *Store) Flags(ctx context.Context) (map[string]string, error) {
	ctx, cancel := context.WithTimeout(ctx, s.cfg.RefreshTimeout)
	defer cancel()
	var flags map[string]string
	if err := s.get(ctx, "flags", "/api/v1/status/flags", nil, &flags); err != nil {
		// Callers log this error: no gRPC decoration.
		return nil, fmt.Errorf("read prometheus flags: %s", status.Convert(err).Message())
	}
	return flags, nil
}

// CheckBlockDurations refuses a Prometheus that compacts blocks locally
// (--storage.tsdb.min-block-duration and --storage.tsdb.max-block-duration
// differ) unless compacted blocks are uploaded too: a block compacted
// before it was shipped would otherwise never reach the bucket. It also
// fails when the flags cannot be read or lack the durations (an agent).
func (s *Store) CheckBlockDurations(ctx context.Context, uploadCompacted bool) error {
	flags, err := s.Flags(ctx)
	if err != nil {
		return err
	}
	minFlag, maxFlag := flags["storage.tsdb.min-block-duration"], flags["storage.tsdb.max-block-duration"]
	minD, err1 := model.ParseDuration(minFlag)
	maxD, err2 := model.ParseDuration(maxFlag)
	if err := errors.Join(err1, err2); err != nil {
		return fmt.Errorf("prometheus at %s reports no usable --storage.tsdb.min-block-duration/--storage.tsdb.max-block-duration (%q, %q): is it running in agent mode? %w", s.cfg.URL.Redacted(), minFlag, maxFlag, err)
	}
	if minD != maxD && !uploadCompacted {
		return fmt.Errorf("prometheus compacts blocks locally (--storage.tsdb.min-block-duration=%s, --storage.tsdb.max-block-duration=%s), so some blocks would be compacted before they are uploaded and never reach the bucket: start Prometheus with both set to the same value (2h), or run the sidecar with --shipper.upload-compacted", minD, maxD)
	}
	return nil
}

// Wait calls CheckPrometheus until it succeeds, logging each failure and
// waiting 500ms after the first, twice as long after each next, at most
// 5s. It returns at once an error wrapping ErrNoExternalLabels: that needs
// a change of Prometheus' configuration, not time. When ctx ends first it
// returns the last failure.
func (s *Store) Wait(ctx context.Context) error {
	backoff := 500 * time.Millisecond
	for {
		err := s.CheckPrometheus(ctx)
		if err == nil || errors.Is(err, ErrNoExternalLabels) {
			return err
		}
		s.logger.Warn("waiting for prometheus", "err", err)
		select {
		case <-ctx.Done():
			return err
		case <-time.After(backoff):
		}
		backoff = min(2*backoff, 5*time.Second)
	}
}
