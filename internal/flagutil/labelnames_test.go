package flagutil

import (
	"slices"
	"strings"
	"testing"

	"github.com/alecthomas/kingpin/v2"
)

func TestLabelNamesVar(t *testing.T) {
	for _, tc := range []struct {
		args []string
		want []string
		err  string
	}{
		{args: []string{"--replica-label=replica"}, want: []string{"replica"}},
		{args: []string{"--replica-label=replica", "--replica-label=rule_replica"}, want: []string{"replica", "rule_replica"}},
		{args: []string{"--replica-label=replica, prometheus_replica"}, want: []string{"replica", "prometheus_replica"}},
		{args: []string{"--replica-label=replica,"}, err: `--replica-label: "" is not a label name`},
	} {
		app := kingpin.New("t", "")
		var got []string
		LabelNamesVar(app.Flag("replica-label", ""), &got)
		_, err := app.Parse(tc.args)
		if tc.err != "" {
			if err == nil || !strings.Contains(err.Error(), tc.err) {
				t.Errorf("%v: error %v, want %q", tc.args, err, tc.err)
			}
			continue
		}
		if err != nil || !slices.Equal(got, tc.want) {
			t.Errorf("%v: %v (err %v), want %v", tc.args, got, err, tc.want)
		}
	}
}
