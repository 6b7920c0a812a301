package flagutil

import (
	"fmt"
	"strings"

	"github.com/alecthomas/kingpin/v2"
	"github.com/prometheus/common/model"
)

// LabelNamesVar makes a repeatable flag append label names to dst, each
// value also read as a comma-separated list (--query.replica-label=a,b is
// --query.replica-label=a --query.replica-label=b, as upstream takes it). A
// value that is not a label name is an error naming the flag.
func LabelNamesVar(flag *kingpin.FlagClause, dst *[]string) {
	flag.SetValue(&labelNamesValue{dst: dst, flag: flag.Model().Name})
}

type labelNamesValue struct {
	dst  *[]string
	flag string
}

// Set appends the names of s.
func (v *labelNamesValue) Set(s string) error {
	for n := range strings.SplitSeq(s, ",") {
		n = strings.TrimSpace(n)
		if !model.UTF8Validation.IsValidLabelName(n) {
			return fmt.Errorf("--%s: %q is not a label name", v.flag, n)
		}
		*v.dst = append(*v.dst, n)
	}
	return nil
}

// String returns the names as a comma-separated list.
func (v *labelNamesValue) String() string { return strings.Join(*v.dst, ",") }

// IsCumulative tells kingpin the flag may be repeated.
func (v *labelNamesValue) IsCumulative() bool { return true }
