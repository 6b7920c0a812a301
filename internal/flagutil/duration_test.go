package flagutil

import (
	"testing"
	"time"

	"github.com/alecthomas/kingpin/v2"
	"github.com/stretchr/testify/require"
)

func TestDurationVar(t *testing.T) {
	parse := func(args ...string) (time.Duration, error) {
		app := kingpin.New("t", "")
		d := 5 * time.Minute
		DurationVar(app.Flag("delete-delay", "").Default("48h"), &d)
		_, err := app.Parse(args)
		return d, err
	}
	for in, want := range map[string]time.Duration{"30d": 30 * 24 * time.Hour, "1y": 365 * 24 * time.Hour, "2h30m": 150 * time.Minute, "0s": 0, "0d": 0} {
		d, err := parse("--delete-delay=" + in)
		require.NoError(t, err, in)
		require.Equal(t, want, d, in)
	}
	d, err := parse()
	require.NoError(t, err)
	require.Equal(t, 48*time.Hour, d, "the default")
	_, err = parse("--delete-delay=2 days")
	require.EqualError(t, err, `--delete-delay: "2 days" is not a duration such as 30d, 12h or 0s`)
}
