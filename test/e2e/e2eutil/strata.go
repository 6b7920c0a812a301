package e2eutil

import (
	"context"
	"fmt"
	"path/filepath"
)

// Strata is one `strata <component>` process with its gRPC and HTTP listeners.
type Strata struct {
	Bin       string
	Name      string
	Dir       string
	Component string   // "sidecar", "query", ...
	Args      []string // component flags other than the listen addresses
	GRPCAddr  string   // 127.0.0.1:port
	HTTPAddr  string   // 127.0.0.1:port
	LogLevel  string   // --log.level; "" means debug
	// HTTPOnly: the component serves no gRPC (the compactor); GRPCAddr
	// stays empty.
	HTTPOnly bool
	Process  *Process
}

// URL is the base URL of the HTTP listener.
func (s *Strata) URL() string { return "http://" + s.HTTPAddr }

// Spec returns the process spec for the current addresses.
func (s *Strata) Spec() Spec {
	level := s.LogLevel
	if level == "" {
		level = "debug"
	}
	args := []string{s.Component}
	if !s.HTTPOnly {
		args = append(args, "--grpc-address="+s.GRPCAddr)
	}
	args = append(append(args, "--http-address="+s.HTTPAddr, "--log.level="+level), s.Args...)
	return Spec{Name: s.Name, Bin: s.Bin, Args: args, Dir: s.Dir, ReadyURL: s.URL() + "/-/ready"}
}

// Start starts the component on free ports and waits until /-/ready answers
// 200. With waitReady false it returns right after the process started
// (for components expected to fail or stay unready).
func (s *Strata) Start(ctx context.Context, ports *Ports, waitReady bool) error {
	pick := func() (Spec, error) {
		var err error
		if !s.HTTPOnly {
			if s.GRPCAddr, err = ports.Addr(); err != nil {
				return Spec{}, err
			}
		}
		if s.HTTPAddr, err = ports.Addr(); err != nil {
			return Spec{}, err
		}
		return s.Spec(), nil
	}
	if !waitReady {
		spec, err := pick()
		if err != nil {
			return err
		}
		s.Process, err = Start(spec)
		return err
	}
	proc, err := StartReady(ctx, 3, pick)
	if proc != nil {
		s.Process = proc
	}
	return err
}

// NewSidecar describes a sidecar for the Prometheus at promURL.
func NewSidecar(bin, dir, name, promURL string, extra ...string) *Strata {
	return &Strata{Bin: bin, Name: name, Dir: filepath.Join(dir, name), Component: "sidecar",
		Args: append([]string{"--prometheus.url=" + promURL}, extra...)}
}

// NewQuerier describes a querier over endpoints (gRPC host:port) that
// deduplicates on the "replica" label.
func NewQuerier(bin, dir, name string, endpoints []string, extra ...string) *Strata {
	args := []string{"--query.replica-label=replica"}
	for _, e := range endpoints {
		args = append(args, "--endpoint="+e)
	}
	return &Strata{Bin: bin, Name: name, Dir: filepath.Join(dir, name), Component: "query",
		Args: append(args, extra...)}
}

// NewCompactor describes a compactor (`strata compact`, HTTP only) with
// its scratch directory in its own directory; extra holds its flags, at
// least the bucket.
func NewCompactor(bin, dir, name string, extra ...string) *Strata {
	return &Strata{Bin: bin, Name: name, Dir: filepath.Join(dir, name), Component: "compact", HTTPOnly: true,
		Args: append([]string{"--data-dir=" + filepath.Join(dir, name, "data")}, extra...)}
}

// String names the component and its addresses, for messages.
func (s *Strata) String() string {
	return fmt.Sprintf("%s (grpc %s, http %s)", s.Name, s.GRPCAddr, s.HTTPAddr)
}
