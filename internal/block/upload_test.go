package block_test

import (
	"context"
	"os"
	"path/filepath"
	"testing"
	"time"

	"github.com/prometheus/prometheus/tsdb/tombstones"
	"github.com/stretchr/testify/require"

	"github.com/strata-io/strata/internal/block"
	"github.com/strata-io/strata/internal/datagen"
	"github.com/strata-io/strata/pkg/metadata"
)

// localBlocks writes 3 generated 2h blocks (without a thanos section) into
// a temp TSDB data directory and returns it.
func localBlocks(t *testing.T) string {
	t.Helper()
	dir := t.TempDir()
	dc := datagen.Config{Series: 27, End: genEnd, Duration: 6 * time.Hour, Interval: 5 * time.Minute, Seed: 3}
	_, err := datagen.Generate(context.Background(), dir, dc, nil)
	require.NoError(t, err)
	return dir
}

func TestUploadLocalRoundTripAndIdempotence(t *testing.T) {
	ctx := context.Background()
	local := localBlocks(t)
	require.NoError(t, os.MkdirAll(filepath.Join(local, "wal"), 0o755)) // not a block: ignored
	bkt := newFS(t)

	_, err := block.UploadLocal(ctx, bkt, local, block.UploadConfig{}, nil)
	require.ErrorContains(t, err, "upload 3 of 3 blocks failed")
	require.ErrorContains(t, err, "has no external labels: give them with --label=name=value")
	require.Empty(t, scan(t, bkt))

	var reports []block.LocalUpload
	cfg := block.UploadConfig{
		Labels: map[string]string{"cluster": "eu1", "replica": "a"},
		Report: func(u block.LocalUpload) { reports = append(reports, u) },
	}
	res, err := block.UploadLocal(ctx, bkt, local, cfg, nil)
	require.NoError(t, err)
	require.Equal(t, block.UploadResult{Uploaded: 3}, res)
	require.Len(t, reports, 3)
	blocks := scan(t, bkt)
	require.Len(t, blocks, 3)
	for i, b := range blocks {
		m := b.Meta
		require.Equal(t, block.LocalUpload{N: i + 1, Total: 3, Dir: m.ULID.String(), Uploaded: true}, reports[i], "ULID (time) order")
		require.Equal(t, map[string]string{"cluster": "eu1", "replica": "a"}, m.Thanos.Labels)
		require.Equal(t, metadata.BucketUploadSource, m.Thanos.Source)
		require.False(t, m.Thanos.UploadTime.IsZero())
		localMeta, err := metadata.ReadFromDir(filepath.Join(local, m.ULID.String()))
		require.NoError(t, err)
		require.Equal(t, localMeta.Stats, m.Stats)
		// Every file is in the bucket with the same bytes.
		for _, f := range m.Thanos.Files[:len(m.Thanos.Files)-1] {
			want, err := os.ReadFile(filepath.Join(local, m.ULID.String(), filepath.FromSlash(f.RelPath)))
			require.NoError(t, err)
			require.Equal(t, want, getObject(t, bkt, m.ULID.String()+"/"+f.RelPath), f.RelPath)
		}
	}

	// Again: nothing to do, and the bucket checks out.
	reports = nil
	res, err = block.UploadLocal(ctx, bkt, local, cfg, nil)
	require.NoError(t, err)
	require.Equal(t, block.UploadResult{Skipped: 3}, res)
	require.False(t, reports[0].Uploaded)
	require.NoError(t, reports[0].Err)
	require.Empty(t, verify(t, bkt, block.VerifyConfig{Deep: true}))

	// One block directory; labels given replace those of the same name.
	bkt2 := newFS(t)
	one := filepath.Join(local, blocks[1].ID.String())
	m, err := metadata.ReadFromDir(one)
	require.NoError(t, err)
	m.Thanos.Labels = map[string]string{"cluster": "old", "team": "a"}
	m.Thanos.Source = "sidecar"
	require.NoError(t, m.WriteToDir(one))
	res, err = block.UploadLocal(ctx, bkt2, one, block.UploadConfig{Labels: map[string]string{"cluster": "eu1"}}, nil)
	require.NoError(t, err)
	require.Equal(t, 1, res.Uploaded)
	got := scan(t, bkt2)
	require.Len(t, got, 1)
	require.Equal(t, map[string]string{"cluster": "eu1", "team": "a"}, got[0].Meta.Thanos.Labels)
	require.Equal(t, metadata.SourceType("sidecar"), got[0].Meta.Thanos.Source, "a source the meta names is kept")

	_, err = block.UploadLocal(ctx, bkt2, t.TempDir(), cfg, nil)
	require.ErrorContains(t, err, "holds no block")
}

func TestUploadLocalRefusesBlocksWithTombstones(t *testing.T) {
	ctx := context.Background()
	local := localBlocks(t)
	bkt := newFS(t)
	dirs, err := block.LocalBlocks(local, nil)
	require.NoError(t, err)
	require.Len(t, dirs, 3)
	ts := tombstones.NewMemTombstones()
	ts.AddInterval(1, tombstones.Interval{Mint: 0, Maxt: 1})
	_, err = tombstones.WriteFile(nil, dirs[0], ts)
	require.NoError(t, err)

	res, err := block.UploadLocal(ctx, bkt, local, block.UploadConfig{Labels: map[string]string{"cluster": "eu1"}}, nil)
	require.ErrorContains(t, err, "upload 1 of 3 blocks failed")
	require.ErrorContains(t, err, "has 1 tombstones: uploading it would bring deleted series back")
	require.Equal(t, block.UploadResult{Uploaded: 2}, res)
	require.Len(t, scan(t, bkt), 2)
}
