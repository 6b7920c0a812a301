// Command strata runs one Strata component per subcommand. It only parses
// flags, builds the logger and registry, and dispatches; the components live
// in internal/component.
package main

import (
	"context"
	"fmt"
	"os"
	"os/signal"
	"syscall"

	"github.com/alecthomas/kingpin/v2"
	"github.com/prometheus/client_golang/prometheus"
	"github.com/prometheus/client_golang/prometheus/collectors"
	versioncollector "github.com/prometheus/client_golang/prometheus/collectors/version"
	"github.com/prometheus/common/version"

	"github.com/strata-io/strata/internal/component/compactor"
	"github.com/strata-io/strata/internal/component/querier"
	"github.com/strata-io/strata/internal/component/sidecar"
	"github.com/strata-io/strata/internal/component/storegateway"
	"github.com/strata-io/strata/internal/component/tools"
	"github.com/strata-io/strata/internal/logging"
)

func main() {
	os.Exit(run(os.Args[1:]))
}

// devVersion names a build made without the Makefile's version flags.
const devVersion = "0.1.0-dev"

func run(args []string) int {
	if version.Version == "" {
		version.Version = devVersion // set by -ldflags in `make build`
	}
	app := kingpin.New("strata", "Global, highly available, long-term Prometheus: one query view over many Prometheus servers.")
	app.Version(version.Print("strata"))
	app.HelpFlag.Short('h')

	var logCfg logging.Config
	logCfg.RegisterFlags(app)

	var sidecarCfg sidecar.Config
	sidecarCfg.RegisterFlags(app.Command("sidecar", "Serve a Prometheus over the StoreAPI, next to it."))
	var storeCfg storegateway.Config
	storeCfg.RegisterFlags(app.Command("store", "Serve the blocks of a bucket over the StoreAPI (store gateway)."))
	var queryCfg querier.Config
	queryCfg.RegisterFlags(app.Command("query", "Query many StoreAPI endpoints as one Prometheus, with replica deduplication."))
	var compactCfg compactor.Config
	compactCfg.RegisterFlags(app.Command("compact", "Keep a bucket compacted, deduplicated, downsampled and within retention; serves the block viewer."))
	var toolsCfg tools.Config
	toolsCmd := app.Command("tools", "Utilities: bucket tools and block viewer (tools bucket ...), benchmark data (tools bench gen).")
	toolsCfg.RegisterFlags(toolsCmd)
	bucketCfg := registerToolsBucket(toolsCmd)

	cmd, err := app.Parse(args)
	if err != nil {
		fmt.Fprintf(os.Stderr, "strata: %v (see strata --help)\n", err)
		return 2
	}
	logger, err := logging.New(logCfg, os.Stderr)
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

	switch cmd {
	case "sidecar":
		err = sidecar.Run(ctx, sidecarCfg, logger, reg)
	case "query":
		err = querier.Run(ctx, queryCfg, logger, reg)
	case "store":
		err = storegateway.Run(ctx, storeCfg, logger, reg)
	case "compact":
		err = compactor.Run(ctx, compactCfg, logger, reg)
	case tools.BenchGenCommand:
		err = tools.Run(ctx, cmd, toolsCfg, logger, reg)
	default:
		if tools.IsBucketCommand(cmd) {
			err = runToolsBucket(ctx, cmd, *bucketCfg, logger, reg)
			break
		}
		err = fmt.Errorf("unknown command %q", cmd)
	}
	if err != nil {
		logger.Error("exiting", "err", err)
		return 1
	}
	logger.Info("stopped")
	return 0
}
