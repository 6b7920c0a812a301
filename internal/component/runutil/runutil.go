// Package runutil holds the small helpers components share when they add
// actors to an oklog/run group.
package runutil

import (
	"context"
	"log/slog"
	"os"
	"os/signal"
	"syscall"

	"github.com/oklog/run"
)

// Add adds an actor that runs fn with a context cancelled on interrupt.
func Add(g *run.Group, parent context.Context, fn func(ctx context.Context) error) {
	ctx, cancel := context.WithCancel(parent)
	g.Add(func() error { return fn(ctx) }, func(error) { cancel() })
}

// AddContext adds an actor that ends the group when parent is done (the
// signal handler of main), returning nil.
func AddContext(g *run.Group, parent context.Context) {
	ctx, cancel := context.WithCancel(parent)
	g.Add(func() error { <-ctx.Done(); return nil }, func(error) { cancel() })
}

// AddReloader adds an actor that calls reload on every SIGHUP until
// interrupted. A failed reload is logged and the old configuration stays.
func AddReloader(g *run.Group, parent context.Context, logger *slog.Logger, reload func() error) {
	ctx, cancel := context.WithCancel(parent)
	hup := make(chan os.Signal, 1)
	signal.Notify(hup, syscall.SIGHUP)
	g.Add(func() error {
		for {
			select {
			case <-ctx.Done():
				return nil
			case <-hup:
				if err := reload(); err != nil {
					logger.Error("reload configuration", "err", err)
					continue
				}
				logger.Info("configuration reloaded")
			}
		}
	}, func(error) {
		signal.Stop(hup)
		cancel()
	})
}
