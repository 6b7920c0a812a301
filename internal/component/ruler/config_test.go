package ruler

import (
	"testing"

	"github.com/alecthomas/kingpin/v2"
	"github.com/prometheus/prometheus/model/labels"
	"github.com/stretchr/testify/require"
)

func parseFlags(t *testing.T, args ...string) (Config, error) {
	t.Helper()
	app := kingpin.New("t", "")
	cmd := app.Command("rule", "")
	var cfg Config
	cfg.RegisterFlags(cmd)
	_, err := app.Parse(append([]string{"rule"}, args...))
	return cfg, err
}

func TestFlags(t *testing.T) {
	cfg, err := parseFlags(t, "--query=http://q:10902", "--rule-file=rules/*.yml",
		`--label=ruler_replica="a"`, "--label=cluster=eu", "--alert.label-drop=ruler_replica",
		"--alertmanagers.url=http://am:9093", "--tsdb.retention=2d")
	require.NoError(t, err)
	require.NoError(t, cfg.Validate())
	require.Equal(t, labels.FromStrings("cluster", "eu", "ruler_replica", "a"), cfg.Rule.ExternalLabels)
	require.Equal(t, DefaultEvalInterval, cfg.Rule.EvalInterval)
	require.Equal(t, 1, cfg.Rule.Concurrency)

	for name, tc := range map[string]struct {
		args []string
		want string
	}{
		"no query":          {[]string{"--rule-file=r.yml"}, "no --query"},
		"no rule file":      {[]string{"--query=http://q:10902"}, "no --rule-file"},
		"query not a URL":   {[]string{"--query=q:10902", "--rule-file=r.yml"}, "--query=q:10902 is not a URL"},
		"label twice":       {[]string{"--label=a=1", "--label=a=2"}, `label "a" is given twice`},
		"label no value":    {[]string{"--label=a"}, `want name="value"`},
		"alertmanager URL":  {[]string{"--query=http://q:10902", "--rule-file=r.yml", "--alertmanagers.url=am:9093"}, "is not a URL like http://alertmanager:9093"},
		"concurrency":       {[]string{"--query=http://q:10902", "--rule-file=r.yml", "--rule-concurrent-evaluation=0"}, "must be at least 1"},
		"both remote write": {[]string{"--query=http://q:10902", "--rule-file=r.yml", "--remote-write.config-file=a.yml", "--remote-write.config=x"}, "not both"},
	} {
		t.Run(name, func(t *testing.T) {
			cfg, err := parseFlags(t, tc.args...)
			if err == nil {
				err = cfg.Validate()
			}
			require.ErrorContains(t, err, tc.want)
		})
	}
}
