package e2eutil

import (
	"fmt"
	"net"
	"strconv"
	"sync"
)

// Ports hands out loopback TCP ports that were free a moment ago. A port is
// never handed out twice by the same Ports, so processes started in parallel
// by one test binary do not collide with each other; another program on the
// machine may still take a port before our process binds it, which is why
// StartReady retries on "address already in use". Safe for concurrent use.
type Ports struct {
	mu   sync.Mutex
	used map[int]bool
}

// NewPorts returns an empty Ports.
func NewPorts() *Ports { return &Ports{used: map[int]bool{}} }

// Addr returns "127.0.0.1:<port>" for a currently free port.
func (p *Ports) Addr() (string, error) {
	port, err := p.Port()
	if err != nil {
		return "", err
	}
	return net.JoinHostPort("127.0.0.1", strconv.Itoa(port)), nil
}

// Port returns a currently free loopback port.
func (p *Ports) Port() (int, error) {
	p.mu.Lock()
	defer p.mu.Unlock()
	for range 50 {
		l, err := net.Listen("tcp", "127.0.0.1:0")
		if err != nil {
			return 0, fmt.Errorf("listen on a free loopback port: %w", err)
		}
		port := l.Addr().(*net.TCPAddr).Port
		_ = l.Close()
		if p.used[port] {
			continue
		}
		p.used[port] = true
		return port, nil
	}
	return 0, fmt.Errorf("no unused loopback port after 50 attempts")
}

// ClosedAddr returns a loopback address on which nothing listens (a port that
// was just free), for tests of unreachable endpoints.
func (p *Ports) ClosedAddr() (string, error) { return p.Addr() }
