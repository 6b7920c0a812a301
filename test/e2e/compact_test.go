package e2e

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"maps"
	"math/rand/v2"
	"net/http"
	"net/url"
	"path/filepath"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/oklog/ulid/v2"
	"github.com/stretchr/testify/require"

	"github.com/strata-io/strata/internal/objstore"
	"github.com/strata-io/strata/internal/objstore/objstoretest"
	"github.com/strata-io/strata/pkg/metadata"
	"github.com/strata-io/strata/test/e2e/e2eutil"
)

// compactQueries are compared before and after compaction, deduplicated.
var compactQueries = []string{
	`http_requests_total`,
	`sum by (namespace, cluster) (rate(http_requests_total[10m]))`,
	`max_over_time(container_memory_working_set_bytes[30m])`,
}

// TestCompactor runs `strata compact` against a real S3 server holding a
// Thanos-layout bucket written by `strata tools bench gen`: an HA pair
// (replica a and b) of cluster eu1 and a single us1, 48h of 2h blocks each.
// A store gateway and a querier answer the same range queries before and
// after: two compactors running at once on shards 0/2 and 1/2, then
// compactions killed with SIGKILL at random points followed by a run that
// finishes. In the end each stream's compacted blocks are one copy without
// replica label, larger and not overlapping, and the block viewer lists
// them.
func TestCompactor(t *testing.T) {
	t.Parallel()
	e := newEnv(t, true)
	c := &compactEnv{env: e}
	c.bucket = objstoretest.StartS3(t)
	c.cfg = "--objstore.config=" + marshal(t, c.bucket)
	bkt, err := objstore.NewBucket(e.ctx, c.bucket, nil, nil, "")
	require.NoError(t, err)
	t.Cleanup(func() { _ = bkt.Close() })
	c.bkt = bkt

	// Data ending on a 2d boundary: its 2d window is complete, so it is
	// compacted into one 2d block per stream, which is then downsampled.
	c.end = time.Now().Truncate(48 * time.Hour)
	c.start = c.end.Add(-48 * time.Hour)
	for _, g := range [][]string{{"cluster=eu1", "replica=a"}, {"cluster=eu1", "replica=b"}, {"cluster=us1", "replica=a"}} {
		c.generate(g...)
	}
	raw := c.liveBlocks()
	require.Len(t, raw, 3*24, "24 2h blocks per producer")

	store := e.strata(e2eutil.NewStore(bins.Strata, e.dir, "store", c.cfg, "--sync-block-duration=1s", "--ignore-deletion-marks-delay=0s"), true)
	c.st = e.client(store.URL())
	querier := e.querier("querier", []string{store.GRPCAddr}, "--endpoint.check-interval=1s")
	c.q = e.client(querier.URL())
	c.waitStoreSynced()
	before := c.queryAll()

	t.Run("two sharded compactors at once", func(t *testing.T) {
		s := c.sub(t)
		var procs []*e2eutil.Strata
		for i := range 2 {
			procs = append(procs, s.compactor(fmt.Sprintf("compact-%d", i),
				fmt.Sprintf("--compact.shard=%d/2", i), "--compact.concurrency=2"))
		}
		for _, p := range procs {
			s.requireSuccess(p)
		}
		s.requireCompacted(raw)
		s.waitStoreSynced()
		s.requireSame(before, "after compaction by two sharded compactors")
		d, resp, err := s.q.QueryRange(s.ctx, `max_over_time(container_memory_working_set_bytes[30m])`, s.start, s.end, 30*time.Minute,
			url.Values{"max_source_resolution": {"5m"}})
		require.NoError(t, err)
		require.Empty(t, resp.Warnings)
		require.NotEmpty(t, d.Result, "the 5m blocks answer")
	})

	t.Run("killed compactions leave a bucket that serves and finishes", func(t *testing.T) {
		s := c.sub(t)
		s.generate("cluster=ap1", "replica=a")
		s.generate("cluster=ap1", "replica=b")
		s.waitStoreSynced()
		before = s.queryAll()
		rng := rand.New(rand.NewPCG(uint64(time.Now().UnixNano()), 1))
		for i := range 3 {
			p := s.compactor(fmt.Sprintf("compact-kill-%d", i))
			time.Sleep(time.Duration(200+rng.IntN(1500)) * time.Millisecond)
			p.Process.Kill()
			s.waitStoreSynced()
			s.requireSame(before, fmt.Sprintf("after compaction %d was killed", i))
		}
		s.requireSuccess(s.compactor("compact-final"))
		s.requireCompacted(raw)
		s.waitStoreSynced()
		s.requireSame(before, "after the run that finished")
	})

	t.Run("block viewer lists the streams", func(t *testing.T) {
		s := c.sub(t)
		p := s.strata(e2eutil.NewCompactor(bins.Strata, s.dir, "compact-web", s.cfg, "--wait", "--wait-interval=1h"), true)
		cl := s.client(p.URL())
		var data struct {
			Streams []struct {
				Labels map[string]string `json:"labels"`
			} `json:"streams"`
		}
		want := []string{"ap1", "eu1", "us1"}
		s.eventually(30*time.Second, "the viewer lists the merged streams", func() error {
			resp, err := cl.Get(s.ctx, "/api/v1/blocks", url.Values{"refresh": {"1"}})
			if err != nil {
				return err
			}
			if err := resp.Err(); err != nil {
				return err
			}
			if err := json.Unmarshal(resp.Data, &data); err != nil {
				return err
			}
			var merged []string
			for _, st := range data.Streams {
				if _, ok := st.Labels["replica"]; !ok {
					merged = append(merged, st.Labels["cluster"])
				}
			}
			slices.Sort(merged)
			if !slices.Equal(merged, want) {
				return fmt.Errorf("streams without replica label: %v, want %v", merged, want)
			}
			return nil
		})
		page := httpGet(t, p.URL()+"/")
		require.Contains(t, page, "<html", "the block viewer page")
		require.NoError(t, p.Process.Stop(20*time.Second), "the compactor exits cleanly on SIGTERM")
	})
}

// httpGet returns the body of a GET that must answer 200.
func httpGet(t *testing.T, u string) string {
	t.Helper()
	resp, err := http.Get(u)
	require.NoError(t, err)
	defer resp.Body.Close()
	b, err := io.ReadAll(resp.Body)
	require.NoError(t, err)
	require.Equal(t, http.StatusOK, resp.StatusCode, "GET %s: %s", u, b)
	return string(b)
}

// compactEnv is the compactor's e2e setup.
type compactEnv struct {
	*env
	bucket     objstore.Config
	cfg        string // --objstore.config=...
	bkt        *objstore.Bucket
	st, q      *e2eutil.Client // store gateway, querier
	start, end time.Time
}

func (c *compactEnv) sub(t *testing.T) *compactEnv {
	s := *c
	s.env = c.env.sub(t)
	return &s
}

// generate writes 48h of 2h blocks with the given external labels into the
// bucket with `strata tools bench gen` (the same data for every producer).
func (c *compactEnv) generate(lbls ...string) {
	c.t.Helper()
	name := "gen-" + strings.NewReplacer("=", "-", ",", "-").Replace(strings.Join(lbls, "-"))
	args := []string{"tools", "bench", "gen", c.cfg, "--series=60", "--duration=48h", "--interval=2m",
		"--end=" + c.end.Format(time.RFC3339), "--log.level=info"}
	for _, l := range lbls {
		args = append(args, "--label="+l)
	}
	p, err := e2eutil.Start(e2eutil.Spec{Name: name, Bin: bins.Strata, Args: args, Dir: filepath.Join(c.dir, name)})
	require.NoError(c.t, err)
	c.watch(name, func() *e2eutil.Process { return p })
	ctx, cancel := context.WithTimeout(c.ctx, time.Minute)
	defer cancel()
	require.NoError(c.t, p.Wait(ctx), "%s: %s", name, tail(p.Logs(), 2000))
}

// compactor starts a one-shot `strata compact` deduplicating replicas.
func (c *compactEnv) compactor(name string, extra ...string) *e2eutil.Strata {
	c.t.Helper()
	args := append([]string{c.cfg, "--deduplication.replica-label=replica", "--deduplication.func=penalty",
		"--delete-delay=0s"}, extra...)
	s := e2eutil.NewCompactor(bins.Strata, c.dir, name, args...)
	s.LogLevel = "info"
	return c.strata(s, false)
}

// requireSuccess waits for a one-shot compactor to exit 0.
func (c *compactEnv) requireSuccess(s *e2eutil.Strata) {
	c.t.Helper()
	ctx, cancel := context.WithTimeout(c.ctx, 2*time.Minute)
	defer cancel()
	err := s.Process.Wait(ctx)
	require.NoError(c.t, err, "%s exits 0:\n%s", s.Name, tail(s.Process.Logs(), 4000))
}

// liveBlocks returns the metas of the blocks with meta.json and no
// deletion mark.
func (c *compactEnv) liveBlocks() map[ulid.ULID]*metadata.Meta {
	c.t.Helper()
	out := map[ulid.ULID]*metadata.Meta{}
	require.NoError(c.t, c.bkt.Iter(c.ctx, "", func(name string) error {
		id, err := ulid.ParseStrict(strings.TrimSuffix(name, "/"))
		if err != nil {
			return nil
		}
		m, err := metadata.ReadFromBucket(c.ctx, c.bkt, id)
		if errors.Is(err, metadata.ErrMetaNotFound) {
			return nil // partial upload
		}
		if err != nil {
			return err
		}
		var mark metadata.DeletionMark
		switch err := metadata.ReadMarker(c.ctx, c.bkt, id, &mark); {
		case err == nil:
			return nil
		case !errors.Is(err, metadata.ErrMarkerNotFound):
			return err
		}
		out[id] = m
		return nil
	}))
	return out
}

// requireCompacted checks the live raw blocks: those the compactor wrote
// (level 2 and more) carry no replica label and never overlap within their
// stream; some are level 3 or more (8h and larger); blocks of the newest,
// still open window may stay as uploaded. The eu1 and us1 streams hold
// exactly one replica's samples: none lost, none twice.
func (c *compactEnv) requireCompacted(input map[ulid.ULID]*metadata.Meta) {
	c.t.Helper()
	live := c.liveBlocks()
	compacted := map[string][]*metadata.Meta{}
	maxLevel, uncompacted := 0, 0
	var samples uint64
	for _, m := range live {
		if m.Thanos.Downsample.Resolution != 0 {
			continue
		}
		k := m.Thanos.LabelSet().String()
		if m.Compaction.Level > 1 {
			require.NotContains(c.t, m.Thanos.Labels, "replica", "block %s: replicas merged", m.ULID)
			compacted[k] = append(compacted[k], m)
			maxLevel = max(maxLevel, m.Compaction.Level)
		} else {
			uncompacted++
		}
		if !strings.Contains(k, "ap1") && m.Thanos.Labels["replica"] != "b" {
			samples += m.Stats.NumSamples
		}
	}
	require.GreaterOrEqual(c.t, maxLevel, 3, "blocks compacted to 8h and more")
	downsampled := map[string]bool{}
	for _, m := range live {
		if m.Thanos.Downsample.Resolution == 300_000 {
			downsampled[m.Thanos.LabelSet().String()] = true
		}
	}
	for k := range compacted {
		require.True(c.t, downsampled[k], "stream %s has a 5m block", k)
	}
	require.Less(c.t, uncompacted, len(input)/3, "most raw blocks compacted")
	for k, ms := range compacted {
		slices.SortFunc(ms, func(a, b *metadata.Meta) int { return int(a.MinTime - b.MinTime) })
		for i := 1; i < len(ms); i++ {
			require.LessOrEqual(c.t, ms[i-1].MaxTime, ms[i].MinTime, "stream %s: blocks %s and %s overlap", k, ms[i-1].ULID, ms[i].ULID)
		}
	}
	var rawSamples uint64
	for _, m := range input {
		if m.Thanos.Labels["replica"] == "a" {
			rawSamples += m.Stats.NumSamples
		}
	}
	require.Equal(c.t, rawSamples, samples, "eu1 and us1 hold one replica's samples each")
}

// waitStoreSynced waits until the store gateway serves exactly the live
// blocks of the bucket.
func (c *compactEnv) waitStoreSynced() {
	c.t.Helper()
	c.eventually(60*time.Second, "the store serves the live blocks", func() error {
		want := slices.SortedFunc(maps.Keys(c.liveBlocks()), func(a, b ulid.ULID) int { return a.Compare(b) })
		got, err := c.st.Blocks(c.ctx)
		if err != nil {
			return err
		}
		var ids []ulid.ULID
		for _, b := range got {
			id, err := ulid.ParseStrict(b.ULID)
			if err != nil {
				return err
			}
			ids = append(ids, id)
		}
		slices.SortFunc(ids, func(a, b ulid.ULID) int { return a.Compare(b) })
		if !slices.Equal(want, ids) {
			return fmt.Errorf("store serves %d blocks, the bucket has %d live ones", len(ids), len(want))
		}
		return nil
	})
}

// queryAll runs the compact queries, deduplicated, over the data's range.
func (c *compactEnv) queryAll() map[string]e2eutil.QueryData {
	c.t.Helper()
	out := map[string]e2eutil.QueryData{}
	for _, q := range compactQueries {
		d, resp, err := c.q.QueryRange(c.ctx, q, c.start, c.end, 5*time.Minute, url.Values{"dedup": {"true"}})
		require.NoError(c.t, err, q)
		require.Empty(c.t, resp.Warnings, q)
		require.NotEmpty(c.t, d.Result, q)
		out[q] = d
	}
	return out
}

// requireSame requires the queries to answer as before.
func (c *compactEnv) requireSame(before map[string]e2eutil.QueryData, when string) {
	c.t.Helper()
	got := c.queryAll()
	for _, q := range compactQueries {
		require.Empty(c.t, diffSeries(before[q].Sorted(), got[q].Sorted()), "%s: same answer %s", q, when)
	}
}
