package limits

import (
	"bytes"
	"context"
	"log/slog"
	"os"
	"path/filepath"
	"sync"
	"testing"
	"time"

	"github.com/prometheus/client_golang/prometheus"
	"github.com/prometheus/client_golang/prometheus/testutil"
	"github.com/stretchr/testify/require"
	"go.uber.org/goleak"
)

func TestMain(m *testing.M) {
	goleak.VerifyTestMain(m)
}

// syncBuffer is a log sink safe for the watcher's goroutine and the test.
type syncBuffer struct {
	mu  sync.Mutex
	buf bytes.Buffer
}

func (b *syncBuffer) Write(p []byte) (int, error) {
	b.mu.Lock()
	defer b.mu.Unlock()
	return b.buf.Write(p)
}

func (b *syncBuffer) String() string {
	b.mu.Lock()
	defer b.mu.Unlock()
	return b.buf.String()
}

func writeFile(t *testing.T, path, content string) {
	t.Helper()
	// Write then rename, as config management tools do, so the watcher
	// never reads a half-written file.
	tmp := path + ".tmp"
	require.NoError(t, os.WriteFile(tmp, []byte(content), 0o600))
	require.NoError(t, os.Rename(tmp, path))
}

func seriesLimit(n string) string {
	return "write:\n  default:\n    request:\n      series_limit: " + n + "\n"
}

// eventually polls cond until it holds; the test's own deadline bounds it.
func eventually(t *testing.T, cond func() bool) {
	t.Helper()
	require.Eventually(t, cond, time.Minute, 5*time.Millisecond)
}

func TestWatchReloadsChangedFile(t *testing.T) {
	path := filepath.Join(t.TempDir(), "limits.yaml")
	writeFile(t, path, seriesLimit("100"))
	cfg, err := LoadFile(path)
	require.NoError(t, err)
	reg := prometheus.NewRegistry()
	l := New(cfg, reg)
	logs := &syncBuffer{}

	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan struct{})
	go func() {
		defer close(done)
		Watch(ctx, path, 5*time.Millisecond, l, slog.New(slog.NewTextHandler(logs, nil)))
	}()
	defer func() { cancel(); <-done }()

	overLimit := func(n int) func() bool {
		return func() bool { return l.CheckRequest("acme", 1, n, 1) != nil }
	}
	require.True(t, overLimit(101)())

	// A new limit applies without restart.
	writeFile(t, path, seriesLimit("500"))
	eventually(t, func() bool { return !overLimit(101)() && overLimit(501)() })
	require.Equal(t, 1.0, testutil.ToFloat64(l.reloadSuccess))
	require.Equal(t, 1.0, testutil.ToFloat64(l.reloads.WithLabelValues("success")))

	// A broken file keeps the last good limits; the metric says so and the
	// log says why.
	writeFile(t, path, "write:\n  default:\n    request:\n      series_limit: -3\n")
	eventually(t, func() bool { return testutil.ToFloat64(l.reloadSuccess) == 0 })
	require.True(t, overLimit(501)())
	require.False(t, overLimit(500)())
	require.Equal(t, 1.0, testutil.ToFloat64(l.reloads.WithLabelValues("failure")))
	eventually(t, func() bool {
		return bytes.Contains([]byte(logs.String()), []byte("write.default.request.series_limit is -3"))
	})

	// Unknown fields too.
	writeFile(t, path, "write:\n  default:\n    request:\n      series_limt: 1\n")
	eventually(t, func() bool { return testutil.ToFloat64(l.reloads.WithLabelValues("failure")) == 2 })
	require.False(t, overLimit(500)())

	// Fixed: applied, metric back to 1.
	writeFile(t, path, seriesLimit("50"))
	eventually(t, func() bool { return overLimit(51)() })
	require.Equal(t, 1.0, testutil.ToFloat64(l.reloadSuccess))

	// A removed file keeps the limits too.
	require.NoError(t, os.Remove(path))
	eventually(t, func() bool { return testutil.ToFloat64(l.reloadSuccess) == 0 })
	require.True(t, overLimit(51)())

	// Restored with the limits in force: the reload succeeds again.
	writeFile(t, path, seriesLimit("50"))
	eventually(t, func() bool { return testutil.ToFloat64(l.reloadSuccess) == 1 })
	require.True(t, overLimit(51)())
}

func TestWatchUnchangedFileIsNotReloaded(t *testing.T) {
	path := filepath.Join(t.TempDir(), "limits.yaml")
	writeFile(t, path, seriesLimit("100"))
	cfg, err := LoadFile(path)
	require.NoError(t, err)
	l := New(cfg, nil)

	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan struct{})
	go func() {
		defer close(done)
		Watch(ctx, path, time.Millisecond, l, nil)
	}()
	// Wait for a later change to be seen: every poll before it read the
	// unchanged file.
	writeFile(t, path, seriesLimit("100")+"# edited\n")
	eventually(t, func() bool { return testutil.ToFloat64(l.reloads.WithLabelValues("success")) > 0 })
	cancel()
	<-done
	require.Equal(t, 1.0, testutil.ToFloat64(l.reloads.WithLabelValues("success")))
	require.Zero(t, testutil.ToFloat64(l.reloads.WithLabelValues("failure")))
}
