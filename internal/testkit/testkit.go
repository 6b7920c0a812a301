// Package testkit holds helpers shared by the tests of several packages:
// the CI rule for missing test dependencies and building chunks and blocks
// from samples. It depends on no component package and not on bench/; its
// testing-free part (RepoRoot, InCI) is package testenv.
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
