package block_test

import (
	"fmt"
	"os"
	"path/filepath"
	"testing"

	"github.com/alecthomas/kingpin/v2"
	"github.com/oklog/ulid/v2"
	"github.com/prometheus/prometheus/model/labels"
	"github.com/prometheus/prometheus/model/relabel"
	"github.com/stretchr/testify/require"

	"github.com/strata-io/strata/internal/block"
)

func TestParseRelabelConfigsErrors(t *testing.T) {
	for _, tc := range []struct{ yaml, want string }{
		{yaml: `[{source_labels: [__block_id], target_label: shard, action: hashmod}]`, want: "requires non-zero modulus"},
		{yaml: `{action: keep}`, want: "parse relabel configs"},
		{yaml: `[{action: explode}]`, want: "unknown relabel action"},
		{yaml: `[{action: keep, bogus: 1}]`, want: "bogus"},
		{yaml: `[null]`, want: "relabel config 0 is empty"},
	} {
		t.Run(tc.want, func(t *testing.T) {
			_, err := block.ParseRelabelConfigs([]byte(tc.yaml))
			require.ErrorContains(t, err, tc.want)
		})
	}
}

// hashmodYAML keeps the blocks whose cluster label hashes to shard i of n.
func hashmodYAML(i, n int) string {
	return fmt.Sprintf(`
- action: hashmod
  source_labels: [cluster]
  target_label: __tmp_shard
  modulus: %d
- action: keep
  source_labels: [__tmp_shard]
  regex: "%d"
`, n, i)
}

func TestRelabelKeeps(t *testing.T) {
	id := ulid.MustParse("01JAAAAAAAAAAAAAAAAAAAAAAA")
	parse := func(s string) []*relabel.Config {
		cfgs, err := block.ParseRelabelConfigs([]byte(s))
		require.NoError(t, err)
		return cfgs
	}
	eu := labels.FromStrings("cluster", "eu1", "replica", "a")
	require.True(t, block.RelabelKeeps(nil, eu, id), "no configs keep every block")
	require.True(t, block.RelabelKeeps(parse(""), eu, id), "empty content keeps every block")
	require.True(t, block.RelabelKeeps(parse(`[{action: keep, source_labels: [cluster], regex: eu.*}]`), eu, id))
	require.False(t, block.RelabelKeeps(parse(`[{action: drop, source_labels: [cluster], regex: eu.*}]`), eu, id))
	require.True(t, block.RelabelKeeps(parse(`[{action: keep, source_labels: [__block_id], regex: `+id.String()+`}]`), eu, id), "__block_id holds the ULID")
	require.False(t, block.RelabelKeeps(parse(`[{action: keep, source_labels: [__block_id], regex: 01JB.*}]`), eu, id))

	// Complementary hashmod shards own every block exactly once, and
	// replicas (same cluster) land on the same shard.
	for c := range 50 {
		owners := 0
		for i := range 3 {
			a := block.RelabelKeeps(parse(hashmodYAML(i, 3)), labels.FromStrings("cluster", fmt.Sprint("c", c), "replica", "a"), id)
			b := block.RelabelKeeps(parse(hashmodYAML(i, 3)), labels.FromStrings("cluster", fmt.Sprint("c", c), "replica", "b"), id)
			require.Equal(t, a, b)
			if a {
				owners++
			}
		}
		require.Equal(t, 1, owners, "cluster c%d has one owner", c)
	}
}

// parseFlags registers the selector flags on a fresh app and parses args.
func parseFlags(args ...string) ([]*relabel.Config, error) {
	app := kingpin.New("strata", "")
	cmd := app.Command("store", "")
	var cfgs []*relabel.Config
	block.RegisterRelabelFlags(cmd, &cfgs, "are not served")
	_, err := app.Parse(append([]string{"store"}, args...))
	return cfgs, err
}

func TestRelabelFlags(t *testing.T) {
	const keepEU = `[{action: keep, source_labels: [cluster], regex: eu.*}]`
	file := filepath.Join(t.TempDir(), "relabel.yaml")
	require.NoError(t, os.WriteFile(file, []byte(keepEU), 0o644))

	cfgs, err := parseFlags()
	require.NoError(t, err)
	require.Empty(t, cfgs, "no flag: no configs")

	cfgs, err = parseFlags("--selector.relabel-config=" + keepEU)
	require.NoError(t, err)
	require.Len(t, cfgs, 1)
	require.Equal(t, relabel.Keep, cfgs[0].Action)

	cfgs, err = parseFlags("--selector.relabel-config-file=" + file)
	require.NoError(t, err)
	require.Len(t, cfgs, 1)

	for _, tc := range []struct {
		name string
		args []string
		want string
	}{
		{"both", []string{"--selector.relabel-config=" + keepEU, "--selector.relabel-config-file=" + file}, "set --selector.relabel-config or --selector.relabel-config-file, not both"},
		{"missing file", []string{"--selector.relabel-config-file=" + file + ".missing"}, "read --selector.relabel-config-file"},
		{"bad yaml", []string{"--selector.relabel-config=[{action: explode}]"}, "check --selector.relabel-config: "},
	} {
		t.Run(tc.name, func(t *testing.T) {
			_, err := parseFlags(tc.args...)
			require.ErrorContains(t, err, tc.want)
		})
	}
}
