package tools

import (
	"fmt"
	"io"
	"os"

	"github.com/alecthomas/kingpin/v2"

	"github.com/strata-io/strata/internal/rule"
)

// RulesCheckCommand is the full command name kingpin returns for
// `strata tools rules check`.
const RulesCheckCommand = "tools rules check"

// RulesCheckConfig holds the arguments of `strata tools rules check`.
type RulesCheckConfig struct {
	// Files are the rule files to check.
	Files []string
}

// RegisterFlags adds `rules check` to cmd, the `tools` command.
func (c *RulesCheckConfig) RegisterFlags(cmd *kingpin.CmdClause) {
	check := cmd.Command("rules", "Rule file helpers.").
		Command("check", "Check rule files as `strata rule` reads them (YAML, fields, PromQL, templates, partial_response_strategy): one line per problem, exit code 1 when there is any.")
	check.Arg("rule-files", "Rule files to check.").Required().StringsVar(&c.Files)
}

// RunRulesCheck checks every file, writing one line per problem (file,
// group and rule, position when known) or a summary per valid file to
// out (nil: os.Stdout). It returns an error when any file has a problem.
func RunRulesCheck(cfg RulesCheckConfig, out io.Writer) error {
	if out == nil {
		out = os.Stdout
	}
	bad := 0
	for _, path := range cfg.Files {
		f, errs := rule.ReadFile(path, nil)
		if len(errs) > 0 {
			bad++
			_, _ = fmt.Fprintf(out, "FAILED: %s: %d problem(s)\n", path, len(errs))
			for _, err := range errs {
				_, _ = fmt.Fprintf(out, "  %v\n", err)
			}
			continue
		}
		rules := 0
		for _, g := range f.Groups {
			rules += len(g.Rules)
		}
		_, _ = fmt.Fprintf(out, "SUCCESS: %s: %d groups, %d rules\n", path, len(f.Groups), rules)
	}
	if bad > 0 {
		return fmt.Errorf("%d of %d rule files have problems", bad, len(cfg.Files))
	}
	return nil
}
