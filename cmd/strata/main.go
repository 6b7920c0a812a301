// Command strata runs one Strata component per subcommand. It only parses
// flags, builds the logger and registry, and dispatches to the runner of the
// subcommand (one file each: sidecar.go, store.go, query.go, compact.go, receive.go,
// tools.go); the components live in internal/component.
package main

import (
	"context"
	"fmt"
	"log/slog"
	"os"
	"os/signal"
	"syscall"

	"github.com/alecthomas/kingpin/v2"
	"github.com/prometheus/client_golang/prometheus"
	"github.com/prometheus/client_golang/prometheus/collectors"
	versioncollector "github.com/prometheus/client_golang/prometheus/collectors/version"
	"github.com/prometheus/common/version"

	"github.com/strata-io/strata/internal/logging"
)

func main() {
	os.Exit(run(os.Args[1:]))
}

// devVersion names a build made without the Makefile's version flags.
const devVersion = "0.1.0-dev"

// runFunc runs one subcommand with the process' logger and registry until
// ctx is done (SIGINT, SIGTERM) or the subcommand ends.
type runFunc func(ctx context.Context, logger *slog.Logger, reg *prometheus.Registry) error

// commands maps kingpin's full command names ("store", "tools bucket ls")
// to their runners.
type commands map[string]runFunc

// newApp builds the command line: the global flags (written to the
// returned logging config on Parse) and every subcommand with its flags and
// runner. Parsing runs no component.
func newApp() (*kingpin.Application, *logging.Config, commands) {
	app := kingpin.New("strata", "Global, highly available, long-term Prometheus: one query view over many Prometheus servers.")
	app.Version(version.Print("strata"))
	app.HelpFlag.Short('h')

	logCfg := &logging.Config{}
	logCfg.RegisterFlags(app)

	cmds := commands{}
	registerSidecar(app, cmds)
	registerStore(app, cmds)
	registerQuery(app, cmds)
	registerCompact(app, cmds)
	registerReceive(app, cmds)
	registerRule(app, cmds)
	registerTools(app, cmds)
	return app, logCfg, cmds
}

func run(args []string) int {
	if version.Version == "" {
		version.Version = devVersion // set by -ldflags in `make build`
	}
	app, logCfg, cmds := newApp()
	cmd, err := app.Parse(args)
	if err != nil {
		fmt.Fprintf(os.Stderr, "strata: %v (see strata --help)\n", err)
		return 2
	}
	logger, err := logging.New(*logCfg, os.Stderr)
	if err != nil {
		fmt.Fprintf(os.Stderr, "strata: %v\n", err)
		return 2
	}
	reg := prometheus.NewRegistry()
	reg.MustRegister(
		collectors.NewGoCollector(),
		collectors.NewProcessCollector(collectors.ProcessCollectorOpts{}),
		versioncollector.NewCollector("strata"),
	)

	ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt, syscall.SIGTERM)
	defer stop()
	logger = logger.With("component", cmd)
	logger.Info("starting strata", "version", version.Version, "revision", version.Revision)

	runCmd, ok := cmds[cmd]
	if !ok {
		err = fmt.Errorf("unknown command %q", cmd)
	} else {
		err = runCmd(ctx, logger, reg)
	}
	if err != nil {
		logger.Error("exiting", "err", err)
		return 1
	}
	logger.Info("stopped")
	return 0
}
