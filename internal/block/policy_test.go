package block_test

import (
	"context"
	"testing"
	"time"

	"github.com/alecthomas/kingpin/v2"
	"github.com/oklog/ulid/v2"
	"github.com/stretchr/testify/require"
	"github.com/thanos-io/objstore"

	"github.com/strata-io/strata/internal/block"
	"github.com/strata-io/strata/pkg/metadata"
)

func TestMarkAndUnmark(t *testing.T) {
	ctx := context.Background()
	bkt := objstore.NewInMemBucket()
	id := putBlock(t, bkt, 0, hour, 0)
	inv := block.NewInventory(bkt, block.Config{})

	changed, err := block.Mark(ctx, bkt, id, "no-compact", "bad chunk", time.Unix(100, 0))
	require.NoError(t, err)
	require.True(t, changed)
	changed, err = block.Mark(ctx, bkt, id, metadata.NoCompactMarkFilename, "again", time.Unix(200, 0))
	require.NoError(t, err)
	require.False(t, changed, "an existing marker is kept")
	b, err := inv.Read(ctx, id)
	require.NoError(t, err)
	require.Equal(t, "bad chunk", b.NoCompact.Details)
	require.Equal(t, metadata.ManualReason, b.NoCompact.Reason)
	require.Equal(t, int64(100), b.NoCompact.NoCompactTime)

	changed, err = block.Unmark(ctx, bkt, id, "no-compact")
	require.NoError(t, err)
	require.True(t, changed)
	changed, err = block.Unmark(ctx, bkt, id, "no-compact")
	require.NoError(t, err)
	require.False(t, changed)
	b, err = inv.Read(ctx, id)
	require.NoError(t, err)
	require.Nil(t, b.NoCompact)

	_, err = block.Mark(ctx, bkt, ulid.Make(), "deletion", "", time.Now())
	require.ErrorIs(t, err, block.ErrBlockNotFound)
	_, err = block.Mark(ctx, bkt, id, "tombstone", "", time.Now())
	require.ErrorContains(t, err, "deletion-mark.json, no-compact-mark.json, no-downsample-mark.json")
}

func TestFilters(t *testing.T) {
	now := time.Unix(1_000_000, 0)
	mk := func(minT, maxT int64, cluster string, deletedAgo time.Duration) *block.Block {
		id := ulid.Make()
		b := &block.Block{ID: id, Meta: &metadata.Meta{}}
		b.Meta.ULID, b.Meta.MinTime, b.Meta.MaxTime = id, minT, maxT
		b.Meta.Thanos.Labels = map[string]string{"cluster": cluster}
		if deletedAgo > 0 {
			b.Deletion = metadata.NewDeletionMark(id, now.Add(-deletedAgo), "")
		}
		return b
	}
	filters := []block.Filter{
		block.TimeRange(10*hour, 20*hour),
		block.Labels(func(m *metadata.Meta) bool { return m.Thanos.Labels["cluster"] == "eu1" }),
		block.DeletionDelay(time.Hour, func() time.Time { return now }),
	}
	for _, tc := range []struct {
		name string
		b    *block.Block
		want string
	}{
		{"inside", mk(12*hour, 14*hour, "eu1", 0), ""},
		{"ends where the range starts (max time exclusive)", mk(8*hour, 10*hour, "eu1", 0), block.ExcludedByTime},
		{"ends just after the range starts", mk(8*hour, 10*hour+1, "eu1", 0), ""},
		{"starts at the range's end (inclusive)", mk(20*hour, 22*hour, "eu1", 0), ""},
		{"starts after the range", mk(20*hour+1, 22*hour, "eu1", 0), block.ExcludedByTime},
		{"other labels", mk(12*hour, 14*hour, "us1", 0), block.ExcludedByLabels},
		{"time is checked first", mk(0, hour, "us1", 2*time.Hour), block.ExcludedByTime},
		{"deletion mark younger than the delay", mk(12*hour, 14*hour, "eu1", 30*time.Minute), ""},
		{"deletion mark older than the delay", mk(12*hour, 14*hour, "eu1", 2*time.Hour), block.ExcludedByDeletion},
	} {
		t.Run(tc.name, func(t *testing.T) {
			require.Equal(t, tc.want, block.Apply(tc.b, filters...))
		})
	}
	require.Empty(t, block.Apply(mk(0, hour, "us1", 0)), "no filter keeps everything")
}

func parseRetention(t *testing.T, args ...string) (block.Retention, error) {
	t.Helper()
	app := kingpin.New("strata", "")
	var r block.Retention
	r.RegisterFlags(app.Command("compact", ""))
	_, err := app.Parse(append([]string{"compact"}, args...))
	return r, err
}

func TestRetentionFlags(t *testing.T) {
	const day = 24 * time.Hour
	r, err := parseRetention(t)
	require.NoError(t, err)
	require.Equal(t, block.Retention{}, r, "0d by default: forever")
	require.False(t, r.Enabled())
	require.NoError(t, r.Validate())

	r, err = parseRetention(t, "--retention.resolution-raw=30d", "--retention.resolution-5m=0d", "--retention.resolution-1h=1y")
	require.NoError(t, err)
	require.Equal(t, block.Retention{Raw: 30 * day, OneHour: 365 * day}, r)
	require.True(t, r.Enabled())

	r, err = parseRetention(t, "--retention.resolution-5m=12w")
	require.NoError(t, err)
	require.Equal(t, block.Retention{FiveMinutes: 84 * day}, r)

	_, err = parseRetention(t, "--retention.resolution-raw=thirty days")
	require.ErrorContains(t, err, "retention.resolution-raw")

	err = block.Retention{Raw: -time.Hour, OneHour: -day}.Validate()
	require.ErrorContains(t, err, "--retention.resolution-raw")
	require.ErrorContains(t, err, "--retention.resolution-1h")
	require.NotContains(t, err.Error(), "--retention.resolution-5m")
}
