// Package e2e runs Strata as users do: real `strata`, `prometheus`,
// `promtool` and `alertmanager` processes on 127.0.0.1, asserted through the
// HTTP API.
//
// TestMain builds the binaries into .bin/ (cheap when the go build cache is
// warm). When a build fails, the tests that need the binary fail under
// CI=true and are skipped otherwise, with the build output in the message.
package e2e

import (
	"context"
	"fmt"
	"os"
	"sync"
	"testing"
	"time"

	"go.uber.org/goleak"

	"github.com/strata-io/strata/internal/testkit"
	"github.com/strata-io/strata/test/e2e/e2eutil"
)

// Set once by TestMain, read-only afterwards.
var (
	bins           e2eutil.Binaries
	promBuildErr   error
	strataBuildErr error
	amBin          string // .bin/alertmanager; amtool is beside it
	amBuildErr     error
	ports          = e2eutil.NewPorts()
)

func TestMain(m *testing.M) {
	os.Exit(runMain(m))
}

func runMain(m *testing.M) int {
	root, err := e2eutil.RepoRoot()
	if err != nil {
		fmt.Fprintln(os.Stderr, "e2e:", err)
		return 1
	}
	ctx, cancel := context.WithTimeout(context.Background(), 20*time.Minute)
	defer cancel()
	start := time.Now()
	var wg sync.WaitGroup
	wg.Go(func() { bins, promBuildErr = e2eutil.BuildPrometheus(ctx, root) })
	wg.Go(func() { _, strataBuildErr = e2eutil.BuildStrata(ctx, root) })
	wg.Go(func() { amBin, amBuildErr = e2eutil.BuildAlertmanager(ctx, root) })
	wg.Wait()
	fmt.Fprintf(os.Stderr, "e2e: binaries built in %s (prometheus: %v, strata: %v, alertmanager: %v)\n",
		time.Since(start).Round(time.Millisecond), errOrOK(promBuildErr), errOrOK(strataBuildErr), errOrOK(amBuildErr))
	for what, err := range map[string]error{"prometheus": promBuildErr, "strata": strataBuildErr, "alertmanager": amBuildErr} {
		if err != nil {
			fmt.Fprintf(os.Stderr, "e2e: build %s: %v\n", what, err)
		}
	}

	code := m.Run()
	if code == 0 {
		if err := goleak.Find(); err != nil {
			fmt.Fprintln(os.Stderr, "e2e: leaked goroutines:", err)
			return 1
		}
	}
	return code
}

func errOrOK(err error) string {
	if err != nil {
		return "FAILED"
	}
	return "ok"
}

// requireBinaries fails (under CI=true) or skips the test when a binary the
// test needs could not be built.
func requireBinaries(t *testing.T, needStrata bool) {
	t.Helper()
	testkit.RequireOrSkip(t, "build prometheus and promtool", promBuildErr)
	if needStrata {
		testkit.RequireOrSkip(t, "build strata", strataBuildErr)
	}
}

// requireAlertmanager fails (under CI=true) or skips the test when
// alertmanager could not be built.
func requireAlertmanager(t *testing.T) {
	t.Helper()
	testkit.RequireOrSkip(t, "build alertmanager (scripts/build-alertmanager.sh)", amBuildErr)
}
