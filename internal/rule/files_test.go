package rule

import (
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/stretchr/testify/require"
)

const thanosRules = `groups:
- name: fast
  partial_response_strategy: warn   # keep going
  interval: 10s
  rules:
  - record: job:up:sum
    expr: sum by (job) (up)
- partial_response_strategy: "ABORT"
  name: strict
  rules:
  - alert: Down
    expr: up == 0
    for: 5m
- name: plain
  rules:
  - record: x
    expr: vector(1)
`

func TestParseStripsStrategies(t *testing.T) {
	f, errs := Parse("r.yml", []byte(thanosRules), nil)
	require.Empty(t, errs)
	require.Equal(t, map[string]Strategy{"fast": Warn, "strict": Abort, "plain": Abort}, f.Strategies)
	require.NotContains(t, string(f.Content), strategyField)
	// Blanked in place: the lines stay where they were.
	require.Equal(t, strings.Count(thanosRules, "\n"), strings.Count(string(f.Content), "\n"))
	require.Equal(t, strings.Split(thanosRules, "\n")[5], strings.Split(string(f.Content), "\n")[5])
}

func TestParseFlowStyleGroup(t *testing.T) {
	in := `groups: [{name: g, partial_response_strategy: warn, rules: [{record: x, expr: "vector(1)"}]}]`
	f, errs := Parse("r.yml", []byte(in), nil)
	require.Empty(t, errs)
	require.Equal(t, Warn, f.Strategies["g"])
	require.NotContains(t, string(f.Content), strategyField)
}

func TestParseReportsProblems(t *testing.T) {
	for name, tc := range map[string]struct{ in, want string }{
		"unknown strategy": {
			in:   "groups:\n- name: g\n  partial_response_strategy: maybe\n  rules:\n  - record: x\n    expr: vector(1)\n",
			want: `3:30: group 1 "g": partial_response_strategy "maybe" is neither warn nor abort`,
		},
		"bad promql": {
			in:   "groups:\n- name: g\n  partial_response_strategy: warn\n  rules:\n  - record: x\n    expr: sum(\n",
			want: "6:11: group \"g\", rule 1, \"x\": could not parse expression",
		},
		"bad template": {
			in:   "groups:\n- name: g\n  rules:\n  - alert: A\n    expr: vector(1)\n    annotations:\n      summary: '{{ .Nope'\n",
			want: "annotation \"summary\"",
		},
		"unknown field": {
			in:   "groups:\n- name: g\n  intervl: 1m\n  rules: []\n",
			want: "field intervl not found",
		},
	} {
		t.Run(name, func(t *testing.T) {
			_, errs := Parse("r.yml", []byte(tc.in), nil)
			require.NotEmpty(t, errs)
			var msgs []string
			for _, e := range errs {
				msgs = append(msgs, e.Error())
			}
			require.Contains(t, strings.Join(msgs, "\n"), tc.want)
		})
	}
}

func TestLoadGlobs(t *testing.T) {
	dir := t.TempDir()
	require.NoError(t, os.WriteFile(filepath.Join(dir, "a.yml"), []byte(thanosRules), 0o600))
	require.NoError(t, os.WriteFile(filepath.Join(dir, "b.yml"), []byte("groups: []\n"), 0o600))
	set, errs := Load([]string{filepath.Join(dir, "*.yml"), filepath.Join(dir, "a.yml"), filepath.Join(dir, "none-*.yml")}, nil)
	require.Empty(t, errs)
	require.Equal(t, []string{filepath.Join(dir, "a.yml"), filepath.Join(dir, "b.yml")}, set.Paths())
	require.Equal(t, Warn, set.Strategy(filepath.Join(dir, "a.yml"), "fast"))
	require.Equal(t, Abort, set.Strategy(filepath.Join(dir, "a.yml"), "nope"))

	require.NoError(t, os.WriteFile(filepath.Join(dir, "c.yml"), []byte("groups: [\n"), 0o600))
	_, errs = Load([]string{filepath.Join(dir, "*.yml")}, nil)
	require.Len(t, errs, 1)
	require.Contains(t, errs[0].Error(), filepath.Join(dir, "c.yml")+": ")
}
