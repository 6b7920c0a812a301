package tools

import (
	"context"
	"os"
	"path/filepath"
	"testing"
	"time"

	"github.com/alecthomas/kingpin/v2"
	"github.com/stretchr/testify/require"
	"github.com/thanos-io/objstore"
	"github.com/thanos-io/objstore/providers/filesystem"
	"go.uber.org/goleak"

	"github.com/strata-io/strata/internal/datagen"
	"github.com/strata-io/strata/internal/testkit"
	"github.com/strata-io/strata/pkg/metadata"
)

func TestMain(m *testing.M) {
	goleak.VerifyTestMain(m, goleak.IgnoreTopFunction("go.opencensus.io/stats/view.(*worker).start"))
}

// parse parses args as `tools bench gen` flags.
func parse(t *testing.T, args ...string) (Config, string, error) {
	t.Helper()
	app := kingpin.New("strata", "")
	var cfg Config
	cfg.RegisterFlags(app.Command("tools", ""))
	cmd, err := app.Parse(append([]string{"tools", "bench", "gen"}, args...))
	return cfg, cmd, err
}

func TestBenchGenFlagErrorsSayWhatToFix(t *testing.T) {
	mem := "--objstore.config=type: MEMORY"
	for _, tc := range []struct {
		name string
		args []string
		want string // substring of the error; "" for valid flags
	}{
		{"valid", []string{mem, "--label=cluster=bench", "--label=replica=0"}, ""},
		{"no bucket", []string{"--label=cluster=bench"}, "set --objstore.config-file or --objstore.config"},
		{"no label", []string{mem}, "set at least one --label=name=value"},
		{"label without value", []string{mem, "--label=cluster"}, "want name=value"},
		{"empty value", []string{mem, "--label=cluster="}, "the value is empty"},
		{"bad name", []string{mem, "--label=1x=a"}, `"1x" is not a valid label name`},
		{"reserved name", []string{mem, "--label=__name__=a"}, "not a valid label name"},
		{"repeated name", []string{mem, "--label=a=1", "--label=a=2"}, `label "a" is given twice`},
		{"no series", []string{mem, "--label=a=1", "--series=0"}, "series must be at least 1"},
		{"zero interval", []string{mem, "--label=a=1", "--interval=0s"}, "check --series, --duration and --interval"},
		{"duration below interval", []string{mem, "--label=a=1", "--duration=10s"}, "duration 10s must be at least the interval 30s"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			cfg, cmd, err := parse(t, tc.args...)
			require.NoError(t, err)
			require.Equal(t, BenchGenCommand, cmd)
			err = cfg.BenchGen.Validate()
			if tc.want == "" {
				require.NoError(t, err)
				return
			}
			require.ErrorContains(t, err, tc.want)
		})
	}
}

func TestRunBenchGenWritesFilesystemBucketAndOutDir(t *testing.T) {
	bucketDir, outDir := t.TempDir(), filepath.Join(t.TempDir(), "data")
	cfg, _, err := parse(t,
		"--objstore.config=type: FILESYSTEM\nconfig:\n  directory: "+bucketDir,
		"--series=10", "--duration=4h", "--interval=5m", "--label=cluster=test",
		"--end=2026-03-01T13:00:00Z", "--out-dir="+outDir)
	require.NoError(t, err)

	st, err := RunBenchGen(context.Background(), cfg.BenchGen, nil, nil)
	require.NoError(t, err)
	require.Equal(t, 2, st.Blocks)
	require.Equal(t, 27, st.Series)

	bkt, err := objstoreFS(bucketDir)
	require.NoError(t, err)
	ms := testkit.BucketMetas(t, bkt)
	require.Len(t, ms, 2)
	require.Equal(t, time.Date(2026, 3, 1, 8, 0, 0, 0, time.UTC).UnixMilli(), ms[0].MinTime/datagen.BlockDuration.Milliseconds()*datagen.BlockDuration.Milliseconds())
	for _, m := range ms {
		require.Equal(t, map[string]string{"cluster": "test"}, m.Thanos.Labels)
		// The same block stays in --out-dir, without the thanos section.
		local, err := metadata.ReadFromDir(filepath.Join(outDir, m.ULID.String()))
		require.NoError(t, err)
		require.Equal(t, m.Stats, local.Stats)
		require.Empty(t, local.Thanos.Labels)
	}

	// A second run into the same --out-dir would overlap the blocks there.
	_, err = RunBenchGen(context.Background(), cfg.BenchGen, nil, nil)
	require.ErrorContains(t, err, "already holds block")
	require.Len(t, testkit.BucketMetas(t, bkt), 2)
}

func TestRunBenchGenRefusesMissingFilesystemBucket(t *testing.T) {
	missing := filepath.Join(t.TempDir(), "nope")
	cfg, _, err := parse(t, "--objstore.config=type: FILESYSTEM\nconfig:\n  directory: "+missing, "--label=a=b")
	require.NoError(t, err)
	_, err = RunBenchGen(context.Background(), cfg.BenchGen, nil, nil)
	require.ErrorContains(t, err, "does not exist")
	_, statErr := os.Stat(missing)
	require.ErrorIs(t, statErr, os.ErrNotExist)
}

func objstoreFS(dir string) (objstore.Bucket, error) { return filesystem.NewBucket(dir) }
