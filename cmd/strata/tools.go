package main

import (
	"context"
	"log/slog"

	"github.com/alecthomas/kingpin/v2"
	"github.com/prometheus/client_golang/prometheus"

	"github.com/strata-io/strata/internal/component/tools"
)

// registerTools adds `strata tools` and its nested subcommands: bench gen,
// rules check, and bucket ... (tables go to stdout, progress to stderr).
func registerTools(app *kingpin.Application, cmds commands) {
	toolsCmd := app.Command("tools", "Utilities: bucket tools and block viewer (tools bucket ...), benchmark data (tools bench gen), rule file checks (tools rules check).")
	var cfg tools.Config
	cfg.RegisterFlags(toolsCmd)
	cmds[tools.BenchGenCommand] = func(ctx context.Context, logger *slog.Logger, reg *prometheus.Registry) error {
		return tools.Run(ctx, tools.BenchGenCommand, cfg, logger, reg)
	}
	var rulesCfg tools.RulesCheckConfig
	rulesCfg.RegisterFlags(toolsCmd)
	cmds[tools.RulesCheckCommand] = func(context.Context, *slog.Logger, *prometheus.Registry) error {
		return tools.RunRulesCheck(rulesCfg, nil)
	}
	var bucketCfg tools.BucketConfig
	bucketCfg.RegisterFlags(toolsCmd)
	for _, name := range tools.BucketCommands() {
		cmds[name] = func(ctx context.Context, logger *slog.Logger, reg *prometheus.Registry) error {
			return tools.RunBucket(ctx, name, bucketCfg, tools.BucketDeps{}, logger, reg)
		}
	}
}
