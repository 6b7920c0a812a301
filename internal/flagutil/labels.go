package flagutil

import (
	"fmt"
	"strconv"
	"strings"

	"github.com/alecthomas/kingpin/v2"
	"github.com/prometheus/common/model"
	"github.com/prometheus/prometheus/model/labels"
)

// ExternalLabelsVar makes a repeatable flag add labels to dst, each value
// written as upstream writes --label: name="value" (a quoted Go string) or
// name=value (taken as is). A malformed value, a reserved or invalid name,
// an empty value or a name given twice is an error naming the flag and
// example shows the form in the error.
func ExternalLabelsVar(flag *kingpin.FlagClause, dst *labels.Labels, example string) {
	flag.PlaceHolder(`<name>="<value>"`).SetValue(&labelsValue{dst: dst, flag: flag.Model().Name, example: example})
}

type labelsValue struct {
	dst     *labels.Labels
	flag    string
	example string
}

// Set adds one label.
func (v *labelsValue) Set(s string) error {
	name, value, ok := strings.Cut(s, "=")
	if !ok {
		return fmt.Errorf(`--%s=%s: want name="value", e.g. --%s='%s'`, v.flag, s, v.flag, v.example)
	}
	if strings.HasPrefix(value, `"`) {
		uq, err := strconv.Unquote(value)
		if err != nil {
			return fmt.Errorf("--%s=%s: the value is not a valid quoted string: %w", v.flag, s, err)
		}
		value = uq
	}
	switch {
	case !model.UTF8Validation.IsValidLabelName(name) || strings.HasPrefix(name, "__"):
		return fmt.Errorf("--%s=%s: %q is not a label name (or is reserved, starting with __)", v.flag, s, name)
	case value == "":
		return fmt.Errorf(`--%s=%s: the value is empty; give %s="<value>"`, v.flag, s, name)
	case v.dst.Has(name):
		return fmt.Errorf("--%s=%s: label %q is given twice; give each name once", v.flag, s, name)
	}
	*v.dst = labels.NewBuilder(*v.dst).Set(name, value).Labels()
	return nil
}

// String returns the labels as {name="value", ...}.
func (v *labelsValue) String() string { return v.dst.String() }

// IsCumulative tells kingpin the flag may be repeated.
func (v *labelsValue) IsCumulative() bool { return true }
