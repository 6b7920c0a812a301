// Package cachetest starts a real memcached for tests.
package cachetest

import (
	"fmt"
	"net"
	"os"
	"os/exec"
	"strconv"
	"testing"
	"time"

	"github.com/strata-io/strata/internal/testkit"
)

// Memcached is a memcached process started by a test on loopback.
type Memcached struct {
	// Addr is host:port.
	Addr string
	bin  string
	port int
	cmd  *exec.Cmd
	done chan struct{}
}

// StartMemcached starts `memcached -l 127.0.0.1 -p <free port> -U 0` and
// waits until it accepts connections; it is killed when the test ends.
// Without a memcached binary (scripts/install-test-deps.sh installs it) the
// test is skipped, or fails when CI=true.
func StartMemcached(t testing.TB) *Memcached {
	t.Helper()
	bin, err := exec.LookPath("memcached")
	testkit.RequireOrSkip(t, "memcached (install it with scripts/install-test-deps.sh)", err)
	port := testkit.FreePort(t)
	m := &Memcached{Addr: net.JoinHostPort("127.0.0.1", strconv.Itoa(port)), bin: bin, port: port}
	m.start(t)
	return m
}

// Restart starts memcached again, empty, on the same address after Kill.
func (m *Memcached) Restart(t testing.TB) {
	t.Helper()
	m.start(t)
}

func (m *Memcached) start(t testing.TB) {
	t.Helper()
	bin, port := m.bin, m.port
	m.done = make(chan struct{})
	args := []string{"-l", "127.0.0.1", "-p", strconv.Itoa(port), "-U", "0", "-m", "64"}
	if os.Geteuid() == 0 {
		args = append(args, "-u", "root")
	}
	m.cmd = exec.Command(bin, args...)
	m.cmd.Stdout, m.cmd.Stderr = os.Stderr, os.Stderr
	if err := m.cmd.Start(); err != nil {
		t.Fatalf("start memcached: %v", err)
	}
	cmd, done := m.cmd, m.done
	go func() { _ = cmd.Wait(); close(done) }()
	t.Cleanup(m.Kill)
	deadline := time.Now().Add(10 * time.Second)
	for {
		c, err := net.DialTimeout("tcp", m.Addr, time.Second)
		if err == nil {
			_ = c.Close()
			return
		}
		select {
		case <-m.done:
			t.Fatalf("memcached exited before accepting connections on %s", m.Addr)
		default:
		}
		if time.Now().After(deadline) {
			m.Kill()
			t.Fatalf("memcached does not accept connections on %s after 10s: %v", m.Addr, err)
		}
		time.Sleep(20 * time.Millisecond)
	}
}

// Kill kills memcached (SIGKILL) and waits for it to exit. Idempotent.
func (m *Memcached) Kill() {
	_ = m.cmd.Process.Kill()
	<-m.done
}

// String returns the address.
func (m *Memcached) String() string { return fmt.Sprintf("memcached at %s", m.Addr) }
