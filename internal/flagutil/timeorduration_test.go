package flagutil

import (
	"testing"
	"time"

	"github.com/alecthomas/kingpin/v2"
	"github.com/stretchr/testify/require"
)

func TestTimeOrDuration(t *testing.T) {
	now := time.Date(2026, 11, 21, 12, 0, 0, 0, time.UTC)
	for _, tc := range []struct {
		in      string
		want    int64
		wantErr string
	}{
		{in: "", want: MinMillis},
		{in: "2026-01-02T15:04:05Z", want: time.Date(2026, 1, 2, 15, 4, 5, 0, time.UTC).UnixMilli()},
		{in: "-2w", want: now.Add(-14 * 24 * time.Hour).UnixMilli()},
		{in: "-36h", want: now.Add(-36 * time.Hour).UnixMilli()},
		{in: "0d", want: now.UnixMilli()},
		{in: "yesterday", wantErr: "neither an RFC 3339 time"},
	} {
		t.Run(tc.in, func(t *testing.T) {
			var d TimeOrDuration
			err := d.Set(tc.in)
			if tc.wantErr != "" {
				require.ErrorContains(t, err, tc.wantErr)
				return
			}
			require.NoError(t, err)
			require.Equal(t, tc.want, d.Millis(now, MinMillis))
		})
	}
}

func TestTimeOrDurationFlag(t *testing.T) {
	app := kingpin.New("t", "")
	cmd := app.Command("store", "")
	minT := NewTimeOrDuration(cmd, "min-time", "", "0000-01-01T00:00:00Z")
	maxT := NewTimeOrDuration(cmd, "max-time", "", "9999-12-31T23:59:59Z")
	_, err := app.Parse([]string{"store", "--min-time=-1w"})
	require.NoError(t, err)
	now := time.Now()
	require.Equal(t, now.Add(-7*24*time.Hour).UnixMilli(), minT.Millis(now, MinMillis))
	require.Greater(t, maxT.Millis(now, MaxMillis), now.UnixMilli())
	_, err = app.Parse([]string{"store", "--min-time=soon"})
	require.ErrorContains(t, err, "relative to now")
}
