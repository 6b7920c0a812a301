package limits

import (
	"context"
	"crypto/sha256"
	"fmt"
	"log/slog"
	"os"
	"time"
)

// Watch re-reads the limits configuration file at path every interval until
// ctx is done, and makes its content the configuration of l (Update) when
// the content differs from the configuration in force. A file that cannot
// be read or parsed leaves the previous configuration in force; the reason
// is logged once per distinct content, and
// strata_receive_limits_config_last_reload_successful drops to 0 until a
// good file is read. l must not be nil; a nil logger discards logs. Watch
// returns when ctx is done.
func Watch(ctx context.Context, path string, interval time.Duration, l *Limiter, logger *slog.Logger) {
	if logger == nil {
		logger = slog.New(slog.DiscardHandler)
	}
	var tried [sha256.Size]byte // the content last read, applied or not
	if cfg := l.Config(); cfg != nil {
		tried = cfg.digest
	}
	unreadable := false
	t := time.NewTicker(interval)
	defer t.Stop()
	for {
		select {
		case <-ctx.Done():
			return
		case <-t.C:
		}
		data, err := os.ReadFile(path)
		if err != nil {
			if !unreadable { // once per failure
				logger.Warn("limits config file unreadable, keeping the limits in force", "file", path, "err", err)
				l.reloads.WithLabelValues("failure").Inc()
				l.reloadSuccess.Set(0)
			}
			unreadable = true
			tried = [sha256.Size]byte{} // reload whatever the file holds next
			continue
		}
		unreadable = false
		sum := sha256.Sum256(data)
		if sum == tried {
			continue
		}
		tried = sum
		if err := l.reload(data); err != nil {
			logger.Error("limits config file not reloaded, keeping the limits in force", "file", path, "err", err)
			continue
		}
		logger.Info("limits config file reloaded", "file", path)
		if ign := l.Config().Ignored(); len(ign) > 0 {
			logger.Info("limits config fields accepted but ignored: Strata counts head series itself", "file", path, "fields", ign)
		}
	}
}

// reload parses data and makes it the configuration in force, counting the
// outcome.
func (l *Limiter) reload(data []byte) error {
	cfg, err := Parse(data)
	if err != nil {
		l.reloads.WithLabelValues("failure").Inc()
		l.reloadSuccess.Set(0)
		return fmt.Errorf("reload: %w", err)
	}
	l.Update(cfg)
	l.reloads.WithLabelValues("success").Inc()
	l.reloadSuccess.Set(1)
	return nil
}
