// Package testkit holds helpers shared by the tests of several packages:
// the CI rule for missing test dependencies (RequireOrSkip), chunks and
// blocks from samples (XORChunk, Sample, CreateBlock, WriteChunks), PromQL
// range queries (EvalRange), in-process stores for the querier
// (LocalStore), loopback ports (FreePort, ClosedAddr) and metric values
// (MetricValue).
//
// It depends on no component package and not on bench/. Its part that does
// not import package testing (RepoRoot, InCI) is package testenv, for
// test/e2e/e2eutil, which bench/ uses.
package testkit

import (
	"testing"

	"github.com/strata-io/strata/internal/testkit/testenv"
)

// RequireOrSkip does nothing when err is nil. Otherwise what the test needs
// (what) is missing: the test fails under CI=true and is skipped otherwise,
// with err as the reason (say in err how to install what is missing).
func RequireOrSkip(t testing.TB, what string, err error) {
	t.Helper()
	if err == nil {
		return
	}
	if testenv.InCI() {
		t.Fatalf("%s: %v", what, err)
		return
	}
	t.Skipf("%s: %v (this fails under CI=true)", what, err)
}
