package store

import (
	"slices"

	"github.com/prometheus/prometheus/model/labels"
)

// The external-label rules of the StoreAPI, shared by every store that
// serves series (bucketstore, promstore, tsdbstore):
//
//   - a matcher on an external label name is evaluated against the store's
//     external label and is not passed to the storage (SplitMatchers); a
//     store whose external labels contradict a matcher answers nothing;
//   - every series served carries the external labels; on a name collision
//     the external label wins over the series' own label (as Thanos does:
//     the external labels identify where the data comes from);
//   - the request's without_replica_labels are removed, external or not;
//   - series are sent sorted by that final label set, which can differ from
//     the order of the storage (SortSeries).

// SplitMatchers evaluates the matchers on the names of the external labels
// ext against ext and returns the other matchers, for the storage, which
// does not hold external labels. ok is false when ext contradicts a matcher:
// no series of the store can match then.
func SplitMatchers(ext labels.Labels, ms []*labels.Matcher) (rest []*labels.Matcher, ok bool) {
	rest = make([]*labels.Matcher, 0, len(ms))
	for _, m := range ms {
		if !ext.Has(m.Name) {
			rest = append(rest, m)
			continue
		}
		if !m.Matches(ext.Get(m.Name)) {
			return nil, false
		}
	}
	return rest, true
}

// SeriesLabels turns the labels of a stored series into the labels a store
// serves: the external labels set (they win over a series label of the same
// name) and the without_replica_labels removed. Build one per request; it
// is not safe for concurrent use.
type SeriesLabels struct {
	ext     labels.Labels
	without []string
	// extSorted is ext with, for each label, whether it is served (not in
	// without); sorted by name like ext.
	extSorted []extLabel
	sb        labels.ScratchBuilder
}

type extLabel struct {
	labels.Label
	served bool
}

// NewSeriesLabels returns a SeriesLabels for a store with external labels ext
// serving a request with the given without_replica_labels.
func NewSeriesLabels(ext labels.Labels, without []string) *SeriesLabels {
	b := &SeriesLabels{ext: ext, without: without, sb: labels.NewScratchBuilder(16)}
	ext.Range(func(l labels.Label) {
		b.extSorted = append(b.extSorted, extLabel{Label: l, served: !slices.Contains(without, l.Name)})
	})
	return b
}

// Unchanged tells whether Apply returns every label set as it is (no
// external labels, nothing to remove). Only then do series read in the
// storage's order stay sorted without SortSeries.
func (b *SeriesLabels) Unchanged() bool {
	return b.ext.IsEmpty() && len(b.without) == 0
}

// Apply returns the served labels of a series whose stored labels are lset.
// The result does not share memory with lset unless Unchanged.
func (b *SeriesLabels) Apply(lset labels.Labels) labels.Labels {
	if b.Unchanged() {
		return lset
	}
	// Both lset and the external labels are sorted: merge them.
	b.sb.Reset()
	i := 0
	lset.Range(func(l labels.Label) {
		for ; i < len(b.extSorted) && b.extSorted[i].Name < l.Name; i++ {
			if b.extSorted[i].served {
				b.sb.Add(b.extSorted[i].Name, b.extSorted[i].Value)
			}
		}
		if i < len(b.extSorted) && b.extSorted[i].Name == l.Name {
			return // the external label wins; added by the loop above or below
		}
		if !slices.Contains(b.without, l.Name) {
			b.sb.Add(l.Name, l.Value)
		}
	})
	for ; i < len(b.extSorted); i++ {
		if b.extSorted[i].served {
			b.sb.Add(b.extSorted[i].Name, b.extSorted[i].Value)
		}
	}
	return b.sb.Labels()
}

// Reset starts the label set of a series, for labels that come one by one
// (Add, then Labels) rather than as a labels.Labels.
func (b *SeriesLabels) Reset() { b.sb.Reset() }

// Add adds a stored label of the series, in any order. Labels named like an
// external label or in without_replica_labels are ignored. name and value
// may be reused by the caller after Labels returns.
func (b *SeriesLabels) Add(name, value string) {
	if !b.ext.Has(name) && !slices.Contains(b.without, name) {
		b.sb.Add(name, value)
	}
}

// Labels returns the served label set of the labels added since Reset: the
// external labels set, the without_replica_labels removed, sorted. It copies
// the names and values (Prometheus' default stringlabels build).
func (b *SeriesLabels) Labels() labels.Labels {
	for _, l := range b.extSorted {
		if l.served {
			b.sb.Add(l.Name, l.Value)
		}
	}
	b.sb.Sort()
	return b.sb.Labels()
}

// SortSeries sorts series by their served label sets, given by lset,
// keeping the relative order of series with equal label sets (so that the
// chunks of one series read from several blocks in time order stay so).
// Setting external labels or removing labels can change the storage's
// order: {a="1"} < {a="1",aa="1"}, but with cluster="x" set,
// {a="1",aa="1",cluster="x"} < {a="1",cluster="x"}.
func SortSeries[E any](series []E, lset func(E) labels.Labels) {
	cmp := func(a, b E) int { return labels.Compare(lset(a), lset(b)) }
	if slices.IsSortedFunc(series, cmp) {
		return // often the case: n-1 comparisons instead of a stable sort
	}
	slices.SortStableFunc(series, cmp)
}

// The label calls follow the same rules: the external label names are
// label names of a store that has matching series, an external label's
// value is its only value, and without_replica_labels are neither names nor
// have values.

// AddExternalNames appends the names of ext to names, the label names the
// storage found for one set of matching series; nothing when it found none
// (no series match: the external labels are not served either).
func AddExternalNames(names []string, ext labels.Labels) []string {
	if len(names) == 0 {
		return names
	}
	ext.Range(func(l labels.Label) { names = append(names, l.Name) })
	return names
}

// FinishLabelNames turns the gathered label names into an answer: sorted,
// unique, without the empty name and the without_replica_labels, at most
// limit when limit > 0. It reuses names' memory.
func FinishLabelNames(names, without []string, limit int64) []string {
	return finish(names, func(n string) bool { return n == "" || slices.Contains(without, n) }, limit)
}

// FinishLabelValues turns the gathered values into an answer: sorted,
// unique, without the empty value (a series without the label), at most
// limit when limit > 0. It reuses values' memory.
func FinishLabelValues(values []string, limit int64) []string {
	return finish(values, func(v string) bool { return v == "" }, limit)
}

func finish(in []string, drop func(string) bool, limit int64) []string {
	in = slices.DeleteFunc(in, drop)
	slices.Sort(in)
	in = slices.Compact(in)
	if limit > 0 && int64(len(in)) > limit {
		in = in[:limit]
	}
	return in
}
