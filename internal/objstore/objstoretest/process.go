// Package objstoretest starts real object-storage servers on loopback for
// tests: versitygw for S3, fake-gcs-server for GCS and Azurite for Azure.
// The binaries are looked up in <repo>/.bin, where
// scripts/install-test-deps.sh puts them. When one is missing the test is
// skipped, or fails under CI=true, with the command that installs it.
//
// Every server is stopped by t.Cleanup. The helpers are not for parallel
// tests that need different settings of process-wide state: StartGCS sets
// STORAGE_EMULATOR_HOST with t.Setenv.
package objstoretest

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"net"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"sync"
	"testing"
	"time"

	"github.com/strata-io/strata/internal/testkit"
	"github.com/strata-io/strata/internal/testkit/testenv"
)

// installCmd is what a developer runs to get the test servers.
const installCmd = "scripts/install-test-deps.sh (or `make deps`)"

// Binary returns the path of <repo>/.bin/<rel>. When it does not exist the
// test fails under CI=true and is skipped otherwise, naming the install
// command in both cases.
func Binary(t testing.TB, rel string) string {
	t.Helper()
	root, err := testenv.RepoRoot()
	if err != nil {
		t.Fatal(err)
	}
	path := filepath.Join(root, ".bin", rel)
	if _, err := os.Stat(path); err != nil {
		testkit.RequireOrSkip(t, rel, fmt.Errorf("%s is missing: run %s", path, installCmd))
	}
	return path
}

// syncBuffer collects a process's output for failure messages.
type syncBuffer struct {
	mu  sync.Mutex
	buf bytes.Buffer
}

func (b *syncBuffer) Write(p []byte) (int, error) {
	b.mu.Lock()
	defer b.mu.Unlock()
	if b.buf.Len() > 64<<10 {
		return len(p), nil
	}
	return b.buf.Write(p)
}

func (b *syncBuffer) String() string {
	b.mu.Lock()
	defer b.mu.Unlock()
	return b.buf.String()
}

// startProcess starts the command built by mkCmd on a free port and waits
// until the port accepts connections. It retries with another port when the
// process exits early (the port may have been taken in between). The process
// is killed by t.Cleanup; its output is logged when the test failed.
func startProcess(t testing.TB, name string, mkCmd func(port int) *exec.Cmd) (addr string) {
	t.Helper()
	var lastErr error
	for attempt := 0; attempt < 3; attempt++ {
		port := testkit.FreePort(t)
		cmd := mkCmd(port)
		out := &syncBuffer{}
		cmd.Stdout, cmd.Stderr = out, out
		if err := cmd.Start(); err != nil {
			t.Fatalf("start %s: %v", name, err)
		}
		exited := make(chan struct{})
		go func() {
			_ = cmd.Wait()
			close(exited)
		}()
		addr = "127.0.0.1:" + strconv.Itoa(port)
		if err := waitListening(addr, exited, 30*time.Second); err != nil {
			_ = cmd.Process.Kill()
			<-exited
			lastErr = fmt.Errorf("%w; output:\n%s", err, out.String())
			continue
		}
		t.Cleanup(func() {
			_ = cmd.Process.Kill()
			<-exited
			if t.Failed() {
				t.Logf("%s output:\n%s", name, out.String())
			}
		})
		return addr
	}
	t.Fatalf("start %s: %v", name, lastErr)
	return ""
}

// waitListening polls addr until it accepts a TCP connection, the process
// exits or the timeout passes.
func waitListening(addr string, exited <-chan struct{}, timeout time.Duration) error {
	ctx, cancel := context.WithTimeout(context.Background(), timeout)
	defer cancel()
	var d net.Dialer
	for {
		conn, err := d.DialContext(ctx, "tcp", addr)
		if err == nil {
			return conn.Close()
		}
		select {
		case <-exited:
			return errors.New("exited before listening on " + addr)
		case <-ctx.Done():
			return errors.New("not listening on " + addr + " after " + timeout.String())
		case <-time.After(50 * time.Millisecond):
		}
	}
}
