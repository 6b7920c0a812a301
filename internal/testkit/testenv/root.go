// Package testenv is the part of the test support that does not import
// package testing, so that test/e2e/e2eutil (which bench/ uses) can call it:
// finding the repository root and the CI rule for missing test dependencies.
// Package testkit holds the helpers for tests.
package testenv

import (
	"bytes"
	"errors"
	"fmt"
	"os"
	"path/filepath"
)

// RepoRoot returns the directory holding the Strata go.mod, searching upward
// from the working directory.
func RepoRoot() (string, error) {
	dir, err := os.Getwd()
	if err != nil {
		return "", fmt.Errorf("get working directory: %w", err)
	}
	for {
		data, err := os.ReadFile(filepath.Join(dir, "go.mod"))
		if err == nil && bytes.Contains(data, []byte("module github.com/strata-io/strata\n")) {
			return dir, nil
		}
		parent := filepath.Dir(dir)
		if parent == dir {
			return "", errors.New("no go.mod of github.com/strata-io/strata above the working directory: run from inside the repository")
		}
		dir = parent
	}
}
