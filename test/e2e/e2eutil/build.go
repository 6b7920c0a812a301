// Package e2eutil runs real Strata, Prometheus and promtool processes on
// loopback for the end-to-end tests (test/e2e) and the macro benchmarks
// (bench/). It builds the binaries, hands out free ports, starts processes
// with captured logs, waits for readiness and speaks the Prometheus HTTP API.
//
// Nothing here depends on package testing, so that benchmarks can use it; the
// tests wrap it with t.Cleanup. Every helper binds or dials 127.0.0.1 only.
package e2eutil

import (
	"bytes"
	"context"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"

	"github.com/strata-io/strata/internal/testkit/testenv"
)

// Binaries holds absolute paths of the built executables.
type Binaries struct {
	Strata     string
	Prometheus string
	Promtool   string
}

// RepoRoot returns the directory holding the Strata go.mod, searching upward
// from the working directory (testenv.RepoRoot, which does not import
// package testing either).
func RepoRoot() (string, error) { return testenv.RepoRoot() }

// BinDir is the git-ignored folder, relative to the repository root, that
// holds built executables.
const BinDir = ".bin"

// BuildPrometheus builds prometheus and promtool from the Prometheus module the
// repository depends on into root/.bin. The go build cache makes it cheap when
// nothing changed (a first build takes minutes on two cores).
func BuildPrometheus(ctx context.Context, root string) (Binaries, error) {
	b := paths(root)
	err := goBuild(ctx, root, filepath.Join(root, BinDir)+string(filepath.Separator),
		"github.com/prometheus/prometheus/cmd/prometheus",
		"github.com/prometheus/prometheus/cmd/promtool")
	return b, err
}

// BuildStrata builds ./cmd/strata into root/.bin/strata.
func BuildStrata(ctx context.Context, root string) (Binaries, error) {
	b := paths(root)
	return b, goBuild(ctx, root, b.Strata, "./cmd/strata")
}

func paths(root string) Binaries {
	bin := filepath.Join(root, BinDir)
	return Binaries{
		Strata:     filepath.Join(bin, "strata"),
		Prometheus: filepath.Join(bin, "prometheus"),
		Promtool:   filepath.Join(bin, "promtool"),
	}
}

func goBuild(ctx context.Context, root, out string, pkgs ...string) error {
	goBin := os.Getenv("GO")
	if goBin == "" {
		goBin = "go"
	}
	args := append([]string{"build", "-o", out}, pkgs...)
	cmd := exec.CommandContext(ctx, goBin, args...)
	cmd.Dir = root
	var buf bytes.Buffer
	cmd.Stdout = &buf
	cmd.Stderr = &buf
	if err := cmd.Run(); err != nil {
		return fmt.Errorf("go %v: %w\n%s", args, err, buf.String())
	}
	return nil
}
