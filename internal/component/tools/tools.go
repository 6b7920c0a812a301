// Package tools assembles `strata tools`, utilities that are not
// long-running components: `strata tools bench gen` (internal/datagen) and
// `strata tools bucket ...` (internal/block, internal/bucketweb,
// internal/compact). It holds their flags, the wiring and the
// presentation (tables and JSON on stdout, progress on stderr); the logic
// is in those libraries.
package tools

import (
	"context"
	"fmt"
	"log/slog"

	"github.com/alecthomas/kingpin/v2"
	"github.com/prometheus/client_golang/prometheus"
)

// BenchGenCommand is the full command name kingpin returns for
// `strata tools bench gen`.
const BenchGenCommand = "tools bench gen"

// Config holds the flags of every `strata tools` subcommand.
type Config struct {
	BenchGen BenchGenConfig
}

// RegisterFlags adds the nested subcommands (bench gen) to cmd, the `tools`
// command.
func (c *Config) RegisterFlags(cmd *kingpin.CmdClause) {
	bench := cmd.Command("bench", "Benchmark helpers.")
	c.BenchGen.RegisterFlags(bench.Command("gen", "Generate Kubernetes-like series as 2h blocks and upload them to a bucket."))
}

// Run runs the tools subcommand named cmd (as kingpin returns it, e.g.
// BenchGenCommand) until it is done or ctx ends.
func Run(ctx context.Context, cmd string, cfg Config, logger *slog.Logger, reg prometheus.Registerer) error {
	switch cmd {
	case BenchGenCommand:
		_, err := RunBenchGen(ctx, cfg.BenchGen, logger, reg)
		return err
	default:
		return fmt.Errorf("unknown tools command %q (see strata tools --help)", cmd)
	}
}
