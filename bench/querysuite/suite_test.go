package querysuite

import (
	"bytes"
	"testing"
	"time"

	"github.com/stretchr/testify/require"

	"github.com/strata-io/strata/test/e2e/e2eutil"
)

func matrix(metric map[string]string, pts ...e2eutil.Point) *e2eutil.QueryData {
	return &e2eutil.QueryData{ResultType: "matrix", Result: []e2eutil.Series{{Metric: metric, Values: pts}}}
}

func TestCompareIgnoresDroppedLabelsAndTinyFloatNoise(t *testing.T) {
	prom := map[string]string{"namespace": "ns-0"}
	strata := map[string]string{"namespace": "ns-0", "cluster": "bench"}
	drop := []string{"cluster"}
	for _, tc := range []struct {
		name      string
		want, got *e2eutil.QueryData
		diff      string // substring; "" for equal
	}{
		{"equal after drop", matrix(prom, e2eutil.Point{T: 1, V: "1.5"}), matrix(strata, e2eutil.Point{T: 1, V: "1.5"}), ""},
		{"float noise", matrix(prom, e2eutil.Point{T: 1, V: "1"}), matrix(strata, e2eutil.Point{T: 1, V: "1.0000000000001"}), ""},
		{"NaN equals NaN", matrix(prom, e2eutil.Point{T: 1, V: "NaN"}), matrix(strata, e2eutil.Point{T: 1, V: "NaN"}), ""},
		{"value differs", matrix(prom, e2eutil.Point{T: 1, V: "1"}), matrix(strata, e2eutil.Point{T: 1, V: "1.01"}), "1 vs 1.01"},
		{"timestamp differs", matrix(prom, e2eutil.Point{T: 1, V: "1"}), matrix(strata, e2eutil.Point{T: 2, V: "1"}), "time 1 vs 2"},
		{"missing point", matrix(prom, e2eutil.Point{T: 1, V: "1"}, e2eutil.Point{T: 2, V: "1"}), matrix(strata, e2eutil.Point{T: 1, V: "1"}), "2 points vs 1"},
		{"other series", matrix(prom, e2eutil.Point{T: 1, V: "1"}), matrix(map[string]string{"namespace": "ns-1"}, e2eutil.Point{T: 1, V: "1"}), "missing"},
		{"type differs", matrix(prom), &e2eutil.QueryData{ResultType: "vector"}, "result type"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			d := compare(tc.want, tc.got, drop)
			if tc.diff == "" {
				require.Empty(t, d)
				return
			}
			require.Contains(t, d, tc.diff)
		})
	}
}

func TestSelect(t *testing.T) {
	all, err := Select("")
	require.NoError(t, err)
	require.Equal(t, Dashboard, all)
	hist, err := Select("histogram_quantile")
	require.NoError(t, err)
	require.Len(t, hist, 2)
	_, err = Select("no_such_metric")
	require.ErrorContains(t, err, "matches no suite query")
	_, err = Select("(")
	require.ErrorContains(t, err, "--query")
}

func TestPrintTableShowsMediansRatiosAndTotals(t *testing.T) {
	ms := func(n ...int) []time.Duration {
		var out []time.Duration
		for _, v := range n {
			out = append(out, time.Duration(v)*time.Millisecond)
		}
		return out
	}
	rows := []*Result{
		{Query: "up", Kind: "range", Prom: ms(10, 30, 20), Strata: ms(40, 20, 30), Series: 3},
		{Query: "up", Kind: "instant", Prom: ms(1, 3), Strata: ms(2, 2), Series: 3, Diff: "1 vs 2"},
	}
	var buf bytes.Buffer
	PrintTable(&buf, "title", rows)
	out := buf.String()
	require.Contains(t, out, "title")
	require.Regexp(t, `up\s+range\s+3\s+20\.0ms\s+30\.0ms\s+1\.50\s+yes`, out)
	require.Regexp(t, `up\s+instant\s+3\s+2\.0ms\s+2\.0ms\s+1\.00\s+NO`, out)
	require.Regexp(t, `TOTAL\s+range\s+20\.0ms\s+30\.0ms\s+1\.50`, out)
	p, s := Totals(rows, "")
	require.Equal(t, 22*time.Millisecond, p)
	require.Equal(t, 32*time.Millisecond, s)
}
