package component_test

import (
	"errors"
	"os/exec"
	"sort"
	"strings"
	"testing"
)

const componentPrefix = "github.com/strata-io/strata/internal/component/"

// TestComponentsImportNoOtherComponent checks the layout rule of DESIGN.md:
// a component package (internal/component/<name>) is assembly only and
// imports no other component, directly or through another package, in its
// code or its tests. It lives here rather than in .golangci.yml because
// depguard sees only direct imports and would need a rule per component.
func TestComponentsImportNoOtherComponent(t *testing.T) {
	// Helpers for every component, not components: any component may
	// import them.
	shared := map[string]bool{}
	// Components made of other components: allinone runs every component
	// in one process, so it imports them all.
	assemblies := map[string]bool{"allinone": true}

	// go test puts the go command of the toolchain running it first in PATH.
	out, err := exec.Command("go", "list", "-test",
		"-f", `{{.ImportPath}}{{range .Deps}} {{.}}{{end}}`,
		"github.com/strata-io/strata/internal/component/...").Output()
	if err != nil {
		var stderr []byte
		if ee := (*exec.ExitError)(nil); errors.As(err, &ee) {
			stderr = ee.Stderr
		}
		t.Fatalf("go list: %v\n%s", err, stderr)
	}

	seen := map[string]bool{}
	var bad []string
	for line := range strings.Lines(string(out)) {
		fields := strings.Fields(line)
		if len(fields) == 0 {
			continue
		}
		// Test variants read "p [p.test]", "p_test [p.test]" and "p.test".
		pkg := fields[0]
		from := componentOf(pkg)
		if from == "" || shared[from] || assemblies[from] {
			continue
		}
		for _, dep := range fields[1:] {
			if strings.HasPrefix(dep, "[") {
				continue // the " [p.test]" suffix of the previous dep
			}
			to := componentOf(dep)
			if to == "" || to == from || shared[to] {
				continue
			}
			if key := from + " " + to; !seen[key] {
				seen[key] = true
				bad = append(bad, "internal/component/"+from+" imports internal/component/"+to+" (through "+dep+")")
			}
		}
	}
	sort.Strings(bad)
	for _, b := range bad {
		t.Errorf("%s; a component is assembly only: move what both need into a library package outside internal/component", b)
	}
}

// componentOf returns the component name of an import path under
// internal/component/ ("querier" for .../internal/component/querier/x or
// its test packages), or "" for any other path.
func componentOf(importPath string) string {
	rest, ok := strings.CutPrefix(importPath, componentPrefix)
	if !ok {
		return ""
	}
	name, _, _ := strings.Cut(rest, "/")
	name = strings.TrimSuffix(name, ".test")
	return strings.TrimSuffix(name, "_test")
}
