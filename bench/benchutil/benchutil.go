// Package benchutil holds the small helpers the macro benchmarks
// (bench/cmd/...) share: memory figures of a child process, sizes and
// error messages carrying the tail of a process' log. Linux only where it
// reads /proc.
package benchutil

import (
	"bufio"
	"fmt"
	"io/fs"
	"log/slog"
	"os"
	"path/filepath"
	"strconv"
	"strings"

	"github.com/strata-io/strata/test/e2e/e2eutil"
)

// ProcMem holds memory figures of a process in bytes, from
// /proc/<pid>/status.
type ProcMem struct {
	// HWM is the peak resident set size (VmHWM) since the process started.
	HWM int64
	// Anon is the current anonymous resident memory (RssAnon).
	Anon int64
	// File is the current file-backed resident memory (RssFile), e.g.
	// mmapped blocks.
	File int64
}

// ReadProcMem reads VmHWM, RssAnon and RssFile of pid (Linux only). The
// process must still be running (an exited child has no memory figures).
func ReadProcMem(pid int) (ProcMem, error) {
	f, err := os.Open(fmt.Sprintf("/proc/%d/status", pid))
	if err != nil {
		return ProcMem{}, fmt.Errorf("read memory of pid %d (Linux only): %w", pid, err)
	}
	defer func() { _ = f.Close() }()
	var m ProcMem
	sc := bufio.NewScanner(f)
	for sc.Scan() {
		key, val, ok := strings.Cut(sc.Text(), ":")
		if !ok {
			continue
		}
		var dst *int64
		switch key {
		case "VmHWM":
			dst = &m.HWM
		case "RssAnon":
			dst = &m.Anon
		case "RssFile":
			dst = &m.File
		default:
			continue
		}
		kb, err := strconv.ParseInt(strings.TrimSuffix(strings.TrimSpace(val), " kB"), 10, 64)
		if err != nil {
			return m, fmt.Errorf("parse %s of pid %d: %w", key, pid, err)
		}
		*dst = kb << 10
	}
	return m, sc.Err()
}

// MiB formats a byte count as mebibytes with one decimal, e.g. "12.5MiB".
func MiB(b int64) string { return strconv.FormatFloat(float64(b)/(1<<20), 'f', 1, 64) + "MiB" }

// DirSize returns the total size in bytes of the regular files under dir.
func DirSize(dir string) (int64, error) {
	var n int64
	err := filepath.WalkDir(dir, func(_ string, d fs.DirEntry, err error) error {
		if err != nil || d.IsDir() {
			return err
		}
		info, err := d.Info()
		if err == nil {
			n += info.Size()
		}
		return err
	})
	if err != nil {
		return 0, fmt.Errorf("size of %s: %w", dir, err)
	}
	return n, nil
}

// WithLog kills p (when not nil) and returns err followed by the last 4KiB
// of p's log, so that a benchmark failure says what the process said.
func WithLog(err error, p *e2eutil.Process) error {
	if p == nil {
		return err
	}
	p.Kill()
	logs := p.Logs()
	if len(logs) > 4<<10 {
		logs = logs[len(logs)-4<<10:]
	}
	return fmt.Errorf("%w\n----- %s -----\n%s", err, p.LogPath(), logs)
}

// WorkDir returns the work directory of a benchmark run (dir, created if
// needed, or a new temporary directory named after prefix when dir is
// empty) and the function that removes it at the end, which only logs the
// path when keep is set.
func WorkDir(dir, prefix string, keep bool, logger *slog.Logger) (string, func() error, error) {
	if dir == "" {
		var err error
		if dir, err = os.MkdirTemp("", prefix); err != nil {
			return "", nil, fmt.Errorf("create work dir: %w", err)
		}
	} else if err := os.MkdirAll(dir, 0o755); err != nil {
		return "", nil, fmt.Errorf("create work dir: %w", err)
	}
	return dir, func() error {
		if keep {
			logger.Info("kept work dir", "dir", dir)
			return nil
		}
		if err := os.RemoveAll(dir); err != nil {
			return fmt.Errorf("remove work dir: %w", err)
		}
		return nil
	}, nil
}
