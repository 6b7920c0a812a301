package benchutil

import (
	"os"
	"path/filepath"
	"runtime"
	"testing"

	"github.com/stretchr/testify/require"
)

func TestReadProcMem(t *testing.T) {
	if runtime.GOOS != "linux" {
		t.Skip("reads /proc")
	}
	m, err := ReadProcMem(os.Getpid())
	require.NoError(t, err)
	require.Positive(t, m.HWM, "a running process has a peak RSS")
	require.GreaterOrEqual(t, m.HWM, m.Anon, "the peak is at least the current anonymous RSS")

	_, err = ReadProcMem(-1)
	require.ErrorContains(t, err, "pid -1")
}

func TestDirSizeAndMiB(t *testing.T) {
	dir := t.TempDir()
	require.NoError(t, os.MkdirAll(filepath.Join(dir, "a", "b"), 0o755))
	require.NoError(t, os.WriteFile(filepath.Join(dir, "x"), make([]byte, 1<<20), 0o644))
	require.NoError(t, os.WriteFile(filepath.Join(dir, "a", "b", "y"), make([]byte, 1<<19), 0o644))

	n, err := DirSize(dir)
	require.NoError(t, err)
	require.Equal(t, int64(1<<20+1<<19), n)
	require.Equal(t, "1.5MiB", MiB(n))

	_, err = DirSize(filepath.Join(dir, "missing"))
	require.ErrorContains(t, err, "missing")
}
