// Package runutil holds the small helpers components share when they add
// actors to an oklog/run group.
package runutil

import (
	"context"

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
