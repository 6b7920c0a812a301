package tools

import (
	"bytes"
	"os"
	"path/filepath"
	"testing"

	"github.com/stretchr/testify/require"
)

func TestRulesCheck(t *testing.T) {
	dir := t.TempDir()
	good := filepath.Join(dir, "good.yml")
	require.NoError(t, os.WriteFile(good, []byte(`groups:
- name: g
  partial_response_strategy: warn
  rules:
  - record: job:up:sum
    expr: sum by (job) (up)
  - alert: Down
    expr: up == 0
    annotations:
      summary: '{{ $labels.job }} is down'
`), 0o600))
	var out bytes.Buffer
	require.NoError(t, RunRulesCheck(RulesCheckConfig{Files: []string{good}}, &out))
	require.Equal(t, "SUCCESS: "+good+": 1 groups, 2 rules\n", out.String())

	bad := filepath.Join(dir, "bad.yml")
	require.NoError(t, os.WriteFile(bad, []byte(`groups:
- name: g
  partial_response_strategy: sometimes
  rules:
  - record: x
    expr: vector(1)
- name: h
  rules:
  - alert: A
    expr: sum(up
`), 0o600))
	out.Reset()
	err := RunRulesCheck(RulesCheckConfig{Files: []string{good, bad, filepath.Join(dir, "missing.yml")}}, &out)
	require.EqualError(t, err, "2 of 3 rule files have problems")
	require.Contains(t, out.String(), bad+`: 3:30: group 1 "g": partial_response_strategy "sometimes" is neither warn nor abort`)
	require.Contains(t, out.String(), bad+`: 10:11: group "h", rule 1, "A": could not parse expression`)
	require.Contains(t, out.String(), "FAILED: "+filepath.Join(dir, "missing.yml"))
}
