package e2eutil

import (
	"os"
	"path/filepath"
	"testing"
	"time"

	"github.com/stretchr/testify/require"
)

func TestWriteFamilies(t *testing.T) {
	path := filepath.Join(t.TempDir(), "in.om")
	start := time.Unix(7200, 0)
	require.NoError(t, WriteFamilies(path, start, start.Add(time.Minute), 30*time.Second,
		Family{Name: "reqs", Counter: true, Series: 2, Value: CounterWithResets(2)},
		Family{Name: "temp", Series: 1, Value: func(s, i int) float64 { return 0.1 + float64(i) }},
	))
	b, err := os.ReadFile(path)
	require.NoError(t, err)
	require.Equal(t, `# HELP reqs Synthetic counter written by the e2e tests.
# TYPE reqs counter
reqs_total{series="0"} 0 7200
reqs_total{series="0"} 0.5 7230
reqs_total{series="0"} 0 7260
reqs_total{series="1"} 0 7200
reqs_total{series="1"} 1 7230
reqs_total{series="1"} 0 7260
# HELP temp Synthetic gauge written by the e2e tests.
# TYPE temp gauge
temp{series="0"} 0.1 7200
temp{series="0"} 1.1 7230
temp{series="0"} 2.1 7260
# EOF
`, string(b), "counters as <name>_total with resets, values at full precision, one block of samples per series")

	for name, fams := range map[string][]Family{
		"no families":    nil,
		"no value":       {{Name: "x", Series: 1}},
		"no series":      {{Name: "x", Value: Wave(10)}},
		"no family name": {{Series: 1, Value: Wave(10)}},
	} {
		require.Error(t, WriteFamilies(path, start, start, time.Second, fams...), name)
	}
	require.Error(t, WriteFamilies(path, start, start.Add(-time.Second), time.Second, Family{Name: "x", Series: 1, Value: Wave(10)}),
		"end before start")
}
