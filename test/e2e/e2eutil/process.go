package e2eutil

import (
	"context"
	"errors"
	"fmt"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"syscall"
	"time"
)

// Spec describes one process to run.
type Spec struct {
	// Name identifies the process in errors and names its log file.
	Name string
	// Bin is the executable path, Args its arguments.
	Bin  string
	Args []string
	// Dir is the working directory; the log file Dir/<Name>.log receives
	// stdout and stderr (appended, so restarts keep earlier output).
	Dir string
	// ReadyURL, when set, is polled by StartReady until it answers 200.
	ReadyURL string
}

// LogPath is where the process' output goes.
func (s Spec) LogPath() string { return filepath.Join(s.Dir, s.Name+".log") }

// Process is a started child process. Methods are safe for concurrent use.
type Process struct {
	Spec
	cmd  *exec.Cmd
	done chan struct{}
	err  error // set before done is closed
}

// Start starts the process described by spec without waiting for readiness.
func Start(spec Spec) (*Process, error) {
	if err := os.MkdirAll(spec.Dir, 0o755); err != nil {
		return nil, fmt.Errorf("create dir of %s: %w", spec.Name, err)
	}
	f, err := os.OpenFile(spec.LogPath(), os.O_CREATE|os.O_WRONLY|os.O_APPEND, 0o644)
	if err != nil {
		return nil, fmt.Errorf("open log of %s: %w", spec.Name, err)
	}
	fmt.Fprintf(f, "=== %s start: %s %s\n", time.Now().UTC().Format(time.RFC3339Nano), spec.Bin, strings.Join(spec.Args, " "))
	cmd := exec.Command(spec.Bin, spec.Args...)
	cmd.Dir = spec.Dir
	cmd.Stdout = f
	cmd.Stderr = f
	cmd.SysProcAttr = sysProcAttr()
	if err := cmd.Start(); err != nil {
		_ = f.Close()
		return nil, fmt.Errorf("start %s: %w", spec.Name, err)
	}
	p := &Process{Spec: spec, cmd: cmd, done: make(chan struct{})}
	go func() {
		p.err = cmd.Wait()
		fmt.Fprintf(f, "=== %s exit: %v\n", time.Now().UTC().Format(time.RFC3339Nano), p.err)
		_ = f.Close()
		close(p.done)
	}()
	return p, nil
}

// Pid returns the operating-system process id.
func (p *Process) Pid() int { return p.cmd.Process.Pid }

// Done is closed once the process has exited.
func (p *Process) Done() <-chan struct{} { return p.done }

// Exited reports whether the process has exited.
func (p *Process) Exited() bool {
	select {
	case <-p.done:
		return true
	default:
		return false
	}
}

// ExitCode returns the exit code once exited (-1 when killed by a signal),
// and false while still running.
func (p *Process) ExitCode() (int, bool) {
	if !p.Exited() {
		return 0, false
	}
	return p.cmd.ProcessState.ExitCode(), true
}

// Wait waits for the process to exit or ctx to end and returns cmd.Wait's error.
func (p *Process) Wait(ctx context.Context) error {
	select {
	case <-p.done:
		return p.err
	case <-ctx.Done():
		return fmt.Errorf("wait for %s to exit: %w", p.Name, ctx.Err())
	}
}

// Kill sends SIGKILL and waits until the process is gone. Killing an exited
// process is a no-op.
func (p *Process) Kill() {
	if p.Exited() {
		return
	}
	_ = p.cmd.Process.Signal(syscall.SIGKILL)
	<-p.done
}

// Stop sends SIGTERM, waits up to timeout for a graceful exit and kills the
// process after that. It returns the exit error of a graceful exit.
func (p *Process) Stop(timeout time.Duration) error {
	if p.Exited() {
		return p.err
	}
	_ = p.cmd.Process.Signal(syscall.SIGTERM)
	select {
	case <-p.done:
		return p.err
	case <-time.After(timeout):
		p.Kill()
		return fmt.Errorf("%s did not exit within %s of SIGTERM; killed", p.Name, timeout)
	}
}

// Logs returns the captured output so far.
func (p *Process) Logs() string {
	data, err := os.ReadFile(p.LogPath())
	if err != nil {
		return fmt.Sprintf("(no log: %v)", err)
	}
	return string(data)
}

// ErrAddrInUse means a process could not bind its port: another program took
// it between our probe and the process' bind. StartReady retries on it.
var ErrAddrInUse = errors.New("address already in use")

// WaitReady polls p.ReadyURL until it answers 200, the process exits or ctx
// ends. An exit whose log mentions a busy address wraps ErrAddrInUse.
func (p *Process) WaitReady(ctx context.Context) error {
	if p.ReadyURL == "" {
		return nil
	}
	client := &http.Client{Timeout: 2 * time.Second}
	defer client.CloseIdleConnections()
	tick := time.NewTicker(100 * time.Millisecond)
	defer tick.Stop()
	var last string // why the previous probe failed
	for {
		req, err := http.NewRequestWithContext(ctx, http.MethodGet, p.ReadyURL, nil)
		if err != nil {
			return fmt.Errorf("build readiness request for %s: %w", p.Name, err)
		}
		if resp, err := client.Do(req); err == nil {
			_ = resp.Body.Close()
			if resp.StatusCode == http.StatusOK {
				return nil
			}
			last = resp.Status
		} else {
			last = err.Error()
		}
		select {
		case <-p.done:
			if strings.Contains(p.Logs(), "address already in use") {
				return fmt.Errorf("%s exited before ready (%v): %w", p.Name, p.err, ErrAddrInUse)
			}
			return fmt.Errorf("%s exited before ready: %v; log %s", p.Name, p.err, p.LogPath())
		case <-ctx.Done():
			return fmt.Errorf("%s not ready at %s (last: %s): %w; log %s", p.Name, p.ReadyURL, last, ctx.Err(), p.LogPath())
		case <-tick.C:
		}
	}
}

// StartReady starts the process that makeSpec describes and waits until it is
// ready. makeSpec is called again (so it can pick fresh ports) when the
// process could not bind its address, up to attempts times in all.
func StartReady(ctx context.Context, attempts int, makeSpec func() (Spec, error)) (*Process, error) {
	var lastErr error
	for range max(attempts, 1) {
		spec, err := makeSpec()
		if err != nil {
			return nil, err
		}
		p, err := Start(spec)
		if err != nil {
			return nil, err
		}
		err = p.WaitReady(ctx)
		if err == nil {
			return p, nil
		}
		p.Kill()
		if !errors.Is(err, ErrAddrInUse) {
			return p, err
		}
		lastErr = err
		time.Sleep(200 * time.Millisecond)
	}
	return nil, lastErr
}
