package compactor

import (
	"testing"
	"time"

	"github.com/alecthomas/kingpin/v2"
	"github.com/stretchr/testify/require"

	"github.com/strata-io/strata/internal/block"
	"github.com/strata-io/strata/internal/compact"
)

// parse registers the flags on a fresh app and parses args.
func parse(t *testing.T, args ...string) (*Config, error) {
	t.Helper()
	app := kingpin.New("strata", "")
	var cfg Config
	cfg.RegisterFlags(app.Command("compact", ""))
	_, err := app.Parse(append([]string{"compact"}, args...))
	return &cfg, err
}

func TestFlagsReachTheCompactor(t *testing.T) {
	cfg, err := parse(t, "--objstore.config=type: MEMORY", "--data-dir=/tmp/x",
		"--deduplication.replica-label=replica", "--deduplication.replica-label=rule_replica",
		"--deduplication.func=penalty", "--compact.shard=1/3", "--compact.concurrency=4",
		"--delete-delay=2h", "--retention.resolution-raw=30d", "--retention.resolution-5m=90d", "--retention.resolution-1h=1y",
		"--downsampling.disable")
	require.NoError(t, err)
	require.NoError(t, cfg.Validate())
	cc := cfg.compactConfig()
	require.Equal(t, "/tmp/x", cc.WorkDir)
	require.Equal(t, []string{"replica", "rule_replica"}, cc.ReplicaLabels)
	require.Equal(t, compact.Shard{Index: 1, Count: 3}, cc.Shard)
	require.Equal(t, 4, cc.Concurrency)
	require.Equal(t, 2*time.Hour, cc.DeleteDelay)
	require.True(t, cc.DisableDownsampling)
	require.Equal(t, block.Retention{Raw: 30 * 24 * time.Hour, FiveMinutes: 90 * 24 * time.Hour, OneHour: 365 * 24 * time.Hour}, cc.Retention)
	mc, err := cfg.mergeConfig()
	require.NoError(t, err)
	require.Equal(t, "penalty", mc.Mode.String())
	require.Equal(t, int64(64<<30), mc.IndexSizeLimit)
}

func TestConfigErrorsSayWhatToFix(t *testing.T) {
	for _, tc := range []struct {
		name    string
		args    []string
		wantErr string
	}{
		{name: "no bucket", args: nil, wantErr: "--objstore.config"},
		{name: "bad shard", args: []string{"--objstore.config=type: MEMORY", "--compact.shard=3/3"}, wantErr: "--compact.shard"},
		{name: "zero wait interval", args: []string{"--objstore.config=type: MEMORY", "--wait", "--wait-interval=0s"}, wantErr: "--wait-interval"},
		{name: "bad dedup func", args: []string{"--objstore.config=type: MEMORY", "--deduplication.func=median"}, wantErr: "median"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			cfg, err := parse(t, tc.args...)
			if err == nil {
				err = cfg.Validate()
			}
			require.ErrorContains(t, err, tc.wantErr)
		})
	}
}
