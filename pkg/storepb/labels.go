package storepb

import (
	"github.com/prometheus/prometheus/model/labels"
)

// LabelsToProto converts Prometheus labels to their wire form.
func LabelsToProto(lset labels.Labels) []*Label {
	out := make([]*Label, 0, lset.Len())
	lset.Range(func(l labels.Label) {
		out = append(out, &Label{Name: l.Name, Value: l.Value})
	})
	return out
}

// LabelsFromProto converts wire labels to Prometheus labels. The input need
// not be sorted; the result is.
func LabelsFromProto(in []*Label) labels.Labels {
	b := labels.NewScratchBuilder(len(in))
	for _, l := range in {
		b.Add(l.GetName(), l.GetValue())
	}
	b.Sort()
	return b.Labels()
}

// LabelSetsToProto converts a list of label sets (e.g. external labels) to wire form.
func LabelSetsToProto(sets []labels.Labels) []*LabelSet {
	out := make([]*LabelSet, 0, len(sets))
	for _, s := range sets {
		out = append(out, &LabelSet{Labels: LabelsToProto(s)})
	}
	return out
}

// LabelSetsFromProto converts wire label sets to Prometheus labels.
func LabelSetsFromProto(in []*LabelSet) []labels.Labels {
	out := make([]labels.Labels, 0, len(in))
	for _, s := range in {
		out = append(out, LabelsFromProto(s.GetLabels()))
	}
	return out
}

// CompareLabels orders wire label lists the way labels.Compare orders
// Prometheus labels: by name, then value, pairwise; shorter first on a tie.
// Both inputs must be sorted by name.
func CompareLabels(a, b []*Label) int {
	n := min(len(a), len(b))
	for i := 0; i < n; i++ {
		if a[i].Name != b[i].Name {
			if a[i].Name < b[i].Name {
				return -1
			}
			return 1
		}
		if a[i].Value != b[i].Value {
			if a[i].Value < b[i].Value {
				return -1
			}
			return 1
		}
	}
	return len(a) - len(b)
}
