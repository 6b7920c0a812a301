package e2e

import (
	"context"
	"errors"
	"fmt"
	"maps"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/oklog/ulid/v2"
	"github.com/stretchr/testify/require"
	thanosobjstore "github.com/thanos-io/objstore"

	"github.com/strata-io/strata/internal/objstore"
	"github.com/strata-io/strata/internal/objstore/objstoretest"
	"github.com/strata-io/strata/internal/shipper"
	"github.com/strata-io/strata/pkg/metadata"
	"github.com/strata-io/strata/test/e2e/e2eutil"
)

const (
	// shipTimeout bounds the wait for a sidecar to ship its blocks.
	shipTimeout = 60 * time.Second
	// uploadsMetric counts the blocks one sidecar process uploaded.
	uploadsMetric = "strata_shipper_uploads_total"
	// lastSuccessMetric is the time of the last sync that shipped everything due.
	lastSuccessMetric = "strata_shipper_last_success_timestamp_seconds"
)

// TestShippingToS3 runs Prometheus on three backfilled 2h blocks with a
// sidecar shipping to a real S3 server (versitygw): every block arrives
// complete with meta.json last and the stream's labels; a restarted sidecar
// (state file kept, or lost) uploads nothing again.
func TestShippingToS3(t *testing.T) {
	t.Parallel()
	e := newEnv(t, true)
	ext := map[string]string{"cluster": "eu1", "replica": "0"}
	sh := e.shipping("prom", ext, 3)
	sc := sh.sidecar("sidecar", true)
	side := e.client(sc.URL())

	e.eventually(shipTimeout, "3 blocks uploaded", sh.waitUploads(side, 3))

	t.Run("every block is in the bucket, complete, meta.json last", func(t *testing.T) {
		se := sh.sub(t)
		objs := se.objects()
		metas := se.bucketMetas(objs)
		require.ElementsMatch(t, slices.Collect(maps.Keys(sh.local)), slices.Collect(maps.Keys(metas)),
			"every local block, and nothing else, has a meta.json in the bucket")
		se.requireComplete(objs, metas)
		for id, m := range metas {
			require.Equal(t, ext, m.Thanos.Labels, "thanos.labels of %s are Prometheus' external labels", id)
			require.Equal(t, metadata.SidecarSource, m.Thanos.Source, "thanos.source of %s", id)
			se.requireSameAsLocal(m)
		}
		se.requireMetaLast(sh.proxy.Puts())
		require.ElementsMatch(t, slices.Collect(maps.Keys(sh.local)), sh.state(), "thanos.shipper.json lists every uploaded block")
		v, _, err := side.Metric(e.ctx, uploadsMetric)
		require.NoError(t, err)
		require.Equal(t, float64(len(sh.local)), v, "%s counts each block once", uploadsMetric)
	})

	t.Run("restart uploads no block again", func(t *testing.T) {
		se := sh.sub(t)
		require.NoError(t, sc.Process.Stop(20*time.Second), "the sidecar exits cleanly on SIGTERM")
		se.requireNoReupload(sc, func() {})
	})

	t.Run("restart without thanos.shipper.json uploads no block again", func(t *testing.T) {
		se := sh.sub(t)
		require.NoError(t, sc.Process.Stop(20*time.Second))
		se.requireNoReupload(sc, func() {
			require.NoError(t, os.Remove(sh.statePath()))
		})
		require.ElementsMatch(t, slices.Collect(maps.Keys(sh.local)), sh.state(),
			"the sidecar rebuilds thanos.shipper.json from the bucket")
	})
}

// TestShippingKilledMidUpload kills -9 the sidecar while it uploads a block:
// its chunks and index are in the bucket, its meta.json is on the wire
// (held by a proxy in front of the S3 server, never delivered). Readers see
// no block; the restarted sidecar uploads every block completely.
func TestShippingKilledMidUpload(t *testing.T) {
	t.Parallel()
	e := newEnv(t, true)
	sh := e.shipping("prom", map[string]string{"cluster": "eu1", "replica": "1"}, 2)
	sh.proxy.Hold(func(key string) bool { return strings.HasSuffix(key, "/"+metadata.MetaFilename) })
	sc := sh.sidecar("sidecar", true)

	var held string
	select {
	case held = <-sh.proxy.Held():
	case <-time.After(shipTimeout):
		t.Fatalf("no meta.json upload within %s", shipTimeout)
	}
	sc.Process.Kill()
	code, _ := sc.Process.ExitCode()
	require.Equal(t, -1, code, "the sidecar died of SIGKILL")
	first := sh.oldest()
	require.Equal(t, first.String()+"/"+metadata.MetaFilename, held, "the oldest block is shipped first")

	objs := sh.objects()
	require.Contains(t, objs, first.String()+"/"+metadata.IndexFilename, "the killed upload got as far as the index")
	require.Contains(t, objs, first.String()+"/chunks/000001")
	require.Empty(t, sh.bucketMetas(objs), "no block is visible to readers after the kill: no meta.json in the bucket")
	require.Empty(t, sh.state(), "thanos.shipper.json records no upload")

	sh.proxy.Hold(nil)
	e.restartStrata(sc, true)
	side := e.client(sc.URL())
	e.eventually(shipTimeout, "both blocks uploaded by the restarted sidecar", sh.waitUploads(side, 2))

	objs = sh.objects()
	metas := sh.bucketMetas(objs)
	require.ElementsMatch(t, slices.Collect(maps.Keys(sh.local)), slices.Collect(maps.Keys(metas)))
	sh.requireComplete(objs, metas)
	for _, m := range metas {
		sh.requireSameAsLocal(m)
	}
	sh.requireMetaLast(sh.proxy.Puts())
	require.ElementsMatch(t, slices.Collect(maps.Keys(sh.local)), sh.state())
}

// TestShippingRefusesMisconfiguration: a sidecar exits non-zero, saying what
// to fix, when the bucket refuses its credentials or when Prometheus
// compacts blocks locally (unless compacted blocks are uploaded too).
func TestShippingRefusesMisconfiguration(t *testing.T) {
	t.Parallel()
	e := newEnv(t, true)
	bucket := objstoretest.StartS3(t)
	ext := map[string]string{"cluster": "eu1", "replica": "2"}

	t.Run("wrong secret key", func(t *testing.T) {
		t.Parallel()
		se := e.sub(t)
		p := se.shippingPrometheus("prom-creds", ext, nil)
		bad := bucket
		bad.Config = maps.Clone(bucket.Config)
		bad.Config["secret_key"] = "not-the-secret-key"
		s := se.strata(e2eutil.NewSidecar(bins.Strata, se.dir, "sidecar-creds", p.URL(),
			"--tsdb.path="+p.DataDir(), "--objstore.config="+marshal(t, bad)), false)
		logs := se.requireExit(s)
		require.Contains(t, logs, "credentials", "the error says the credentials are refused")
		require.Contains(t, logs, "secret_key", "the error names the setting to fix")
	})

	t.Run("min and max block durations differ", func(t *testing.T) {
		t.Parallel()
		se := e.sub(t)
		p := se.shippingPrometheus("prom-compacting", ext, func(p *e2eutil.Prometheus) { p.MaxBlockDuration = "24h" })
		args := []string{"--tsdb.path=" + p.DataDir(), "--objstore.config=" + marshal(t, bucket)}
		s := se.strata(e2eutil.NewSidecar(bins.Strata, se.dir, "sidecar-compacting", p.URL(), args...), false)
		logs := se.requireExit(s)
		require.Contains(t, logs, "--storage.tsdb.min-block-duration", "the error names the flags to fix")
		require.Contains(t, logs, "--storage.tsdb.max-block-duration")
		require.Contains(t, logs, "--shipper.upload-compacted", "the error names the alternative")

		s = se.strata(e2eutil.NewSidecar(bins.Strata, se.dir, "sidecar-upload-compacted", p.URL(),
			append(args, "--shipper.upload-compacted")...), true)
		require.False(t, s.Process.Exited(), "with --shipper.upload-compacted the sidecar runs")
	})
}

// shippingEnv is a Prometheus whose data dir holds backfilled blocks, an S3
// server, and a recording proxy in front of it for the sidecars.
type shippingEnv struct {
	*env
	viaProxy objstore.Config  // the same bucket through proxy
	bkt      *objstore.Bucket // the test's own client, direct
	proxy    *e2eutil.ObjectProxy
	prom     *e2eutil.Prometheus
	local    map[ulid.ULID]*metadata.Meta // blocks in the data dir
}

// shipping starts an S3 server with a proxy in front and a Prometheus with
// external labels ext whose data dir holds nBlocks 2h blocks of 5 series,
// ending 2h to 4h ago.
func (e *env) shipping(name string, ext map[string]string, nBlocks int) *shippingEnv {
	e.t.Helper()
	cfg := objstoretest.StartS3(e.t)
	proxy := e2eutil.StartObjectProxy(cfg.Config["endpoint"].(string), cfg.Config["bucket"].(string))
	e.t.Cleanup(proxy.Close)
	viaProxy := cfg
	viaProxy.Config = maps.Clone(cfg.Config)
	viaProxy.Config["endpoint"] = proxy.Addr()

	bkt, err := objstore.NewBucket(e.ctx, cfg, nil, nil, "")
	require.NoError(e.t, err)
	e.t.Cleanup(func() { _ = bkt.Close() })

	dataDir := filepath.Join(e.dir, name, "data")
	step := 15 * time.Second
	start, end := e2eutil.AlignedRange(time.Now(), 2*time.Hour, nBlocks, step)
	input := filepath.Join(e.dir, name+".om")
	require.NoError(e.t, e2eutil.WriteOpenMetrics(input, e2eutil.SyntheticData{
		Metric: "e2e_shipped", Series: 5, Start: start, End: end, Step: step,
	}))
	require.NoError(e.t, e2eutil.CreateBlocks(e.ctx, bins.Promtool, input, dataDir))
	local := localBlocks(e.t, dataDir)
	require.Len(e.t, local, nBlocks, "promtool cuts one block per 2h of input")

	p := e.shippingPrometheus(name, ext, nil)
	require.Equal(e.t, dataDir, p.DataDir())
	return &shippingEnv{env: e, viaProxy: viaProxy, bkt: bkt, proxy: proxy, prom: p, local: local}
}

// shippingPrometheus starts a Prometheus fit for a shipping sidecar: 2h
// blocks (unless mutate changes them), a 30d retention, external labels.
func (e *env) shippingPrometheus(name string, ext map[string]string, mutate func(*e2eutil.Prometheus)) *e2eutil.Prometheus {
	e.t.Helper()
	p := &e2eutil.Prometheus{
		Bin:    bins.Prometheus,
		Name:   name,
		Dir:    filepath.Join(e.dir, name),
		Config: e2eutil.PromConfig{ExternalLabels: ext, ScrapeInterval: time.Second},
		Retain: "30d",
	}
	if mutate != nil {
		mutate(p)
	}
	e.watch(name, func() *e2eutil.Process { return p.Process })
	ctx, cancel := context.WithTimeout(e.ctx, readyTimeout)
	defer cancel()
	require.NoError(e.t, p.Start(ctx, ports), "start %s", name)
	return p
}

// sub returns the shipping env for subtest t.
func (s *shippingEnv) sub(t *testing.T) *shippingEnv {
	c := *s
	c.env = s.env.sub(t)
	return &c
}

// sidecar starts a sidecar shipping the Prometheus' blocks through the proxy
// every second.
func (s *shippingEnv) sidecar(name string, waitReady bool) *e2eutil.Strata {
	s.t.Helper()
	return s.strata(e2eutil.NewSidecar(bins.Strata, s.dir, name, s.prom.URL(),
		"--tsdb.path="+s.prom.DataDir(),
		"--objstore.config="+marshal(s.t, s.viaProxy),
		"--shipper.interval=1s"), waitReady)
}

// restartStrata starts s again (new ports, same data); its log and cleanup
// are those of the first start.
func (e *env) restartStrata(s *e2eutil.Strata, waitReady bool) {
	e.t.Helper()
	ctx, cancel := context.WithTimeout(e.ctx, readyTimeout)
	defer cancel()
	require.NoError(e.t, s.Start(ctx, ports, waitReady), "restart %s", s.Name)
}

// requireExit waits for s to exit and requires a non-zero code; it returns
// the log.
func (e *env) requireExit(s *e2eutil.Strata) string {
	e.t.Helper()
	ctx, cancel := context.WithTimeout(e.ctx, 90*time.Second)
	defer cancel()
	_ = s.Process.Wait(ctx)
	code, exited := s.Process.ExitCode()
	require.True(e.t, exited, "%s must exit", s.Name)
	require.NotEqual(e.t, 0, code, "%s must exit non-zero", s.Name)
	return s.Process.Logs()
}

// waitUploads returns a check that the sidecar reports n uploads and every
// local block has its meta.json in the bucket.
func (s *shippingEnv) waitUploads(side *e2eutil.Client, n int) func() error {
	return func() error {
		v, _, err := side.Metric(s.ctx, uploadsMetric)
		if err != nil {
			return err
		}
		if v < float64(n) {
			return fmt.Errorf("%s = %v, want %d", uploadsMetric, v, n)
		}
		for id := range s.local {
			ok, err := s.bkt.Exists(s.ctx, id.String()+"/"+metadata.MetaFilename)
			if err != nil || !ok {
				return fmt.Errorf("meta.json of %s in the bucket: %v, %v", id, ok, err)
			}
		}
		return nil
	}
}

// requireNoReupload restarts the stopped sidecar sc after prepare, waits for
// a complete sync and two more intervals, and requires that nothing was
// uploaded: the process' counter is 0, no PUT went through the proxy, and
// the bucket's objects and upload times are unchanged.
func (s *shippingEnv) requireNoReupload(sc *e2eutil.Strata, prepare func()) {
	s.t.Helper()
	before := s.objects()
	metasBefore := s.bucketMetas(before)
	puts := len(s.proxy.Puts())
	prepare()

	s.restartStrata(sc, true)
	side := s.client(sc.URL())
	s.eventually(shipTimeout, "a complete sync of the restarted sidecar", func() error {
		v, _, err := side.Metric(s.ctx, lastSuccessMetric)
		if err == nil && v <= 0 {
			err = fmt.Errorf("%s = %v", lastSuccessMetric, v)
		}
		return err
	})
	time.Sleep(2500 * time.Millisecond) // two more syncs at --shipper.interval=1s

	v, found, err := side.Metric(s.ctx, uploadsMetric)
	require.NoError(s.t, err)
	require.True(s.t, found, "the restarted sidecar exports %s", uploadsMetric)
	require.Zero(s.t, v, "the restarted sidecar uploads nothing")
	require.Len(s.t, s.proxy.Puts(), puts, "no object was written after the restart")
	after := s.objects()
	require.Equal(s.t, before, after, "bucket objects (names, sizes, modification times) are unchanged")
	for id, m := range s.bucketMetas(after) {
		require.Equal(s.t, metasBefore[id].Thanos.UploadTime, m.Thanos.UploadTime, "upload time of %s", id)
	}
}

// objAttrs is what the tests compare of a bucket object.
type objAttrs struct {
	Size     int64
	Modified time.Time
}

// objects lists every object of the bucket with its attributes.
func (s *shippingEnv) objects() map[string]objAttrs {
	s.t.Helper()
	out := map[string]objAttrs{}
	err := s.bkt.Iter(s.ctx, "", func(name string) error {
		if strings.HasSuffix(name, "/") {
			return nil
		}
		a, err := s.bkt.Attributes(s.ctx, name)
		if err != nil {
			return fmt.Errorf("attributes of %s: %w", name, err)
		}
		out[name] = objAttrs{Size: a.Size, Modified: a.LastModified.UTC()}
		return nil
	}, thanosobjstore.WithRecursiveIter())
	require.NoError(s.t, err, "list the bucket")
	return out
}

// bucketMetas reads the meta.json of every block that has one among objs:
// the blocks a reader of the bucket sees.
func (s *shippingEnv) bucketMetas(objs map[string]objAttrs) map[ulid.ULID]*metadata.Meta {
	s.t.Helper()
	out := map[ulid.ULID]*metadata.Meta{}
	for name := range objs {
		dir, ok := strings.CutSuffix(name, "/"+metadata.MetaFilename)
		if !ok || strings.Contains(dir, "/") {
			continue
		}
		id, err := ulid.ParseStrict(dir)
		require.NoError(s.t, err, "block directory %s in the bucket", dir)
		m, err := metadata.ReadFromBucket(s.ctx, s.bkt, id)
		require.NoError(s.t, err)
		out[id] = m
	}
	return out
}

// requireComplete requires that every block with a meta.json has every file
// its meta.json lists, at the listed size, and no other object.
func (s *shippingEnv) requireComplete(objs map[string]objAttrs, metas map[ulid.ULID]*metadata.Meta) {
	s.t.Helper()
	for id, m := range metas {
		want := map[string]int64{}
		for _, f := range m.Thanos.Files {
			if f.RelPath == metadata.MetaFilename {
				continue
			}
			want[id.String()+"/"+f.RelPath] = f.SizeBytes
		}
		require.NotEmpty(s.t, want, "meta.json of %s lists its files", id)
		got := map[string]int64{}
		for name, a := range objs {
			if strings.HasPrefix(name, id.String()+"/") && name != id.String()+"/"+metadata.MetaFilename {
				got[name] = a.Size
			}
		}
		require.Equal(s.t, want, got, "objects of block %s in the bucket vs thanos.files", id)
	}
}

// requireSameAsLocal requires that the bucket meta m describes the local
// block: same time range and stats, thanos.files = the local chunk segments
// and index with their sizes.
func (s *shippingEnv) requireSameAsLocal(m *metadata.Meta) {
	s.t.Helper()
	l, ok := s.local[m.ULID]
	require.True(s.t, ok, "block %s in the bucket is a local block", m.ULID)
	require.Equal(s.t, l.MinTime, m.MinTime)
	require.Equal(s.t, l.MaxTime, m.MaxTime)
	require.Equal(s.t, l.Stats, m.Stats)
	dir := filepath.Join(s.prom.DataDir(), m.ULID.String())
	want := map[string]int64{metadata.IndexFilename: fileSize(s.t, filepath.Join(dir, metadata.IndexFilename))}
	segs, err := os.ReadDir(filepath.Join(dir, metadata.ChunksDirname))
	require.NoError(s.t, err)
	for _, seg := range segs {
		want[metadata.ChunksDirname+"/"+seg.Name()] = fileSize(s.t, filepath.Join(dir, metadata.ChunksDirname, seg.Name()))
	}
	got := map[string]int64{}
	for _, f := range m.Thanos.Files {
		if f.RelPath != metadata.MetaFilename {
			got[f.RelPath] = f.SizeBytes
		}
	}
	require.Equal(s.t, want, got, "thanos.files of %s vs the local block", m.ULID)
	require.NotEmpty(s.t, m.Thanos.SegmentFiles)
}

// requireMetaLast requires, from the PUTs in order, that each local block's
// meta.json was written exactly once and after every other file of the
// block.
func (s *shippingEnv) requireMetaLast(puts []string) {
	s.t.Helper()
	for id := range s.local {
		var mine []string
		for _, k := range puts {
			if strings.HasPrefix(k, id.String()+"/") {
				mine = append(mine, k)
			}
		}
		meta := id.String() + "/" + metadata.MetaFilename
		require.NotEmpty(s.t, mine, "block %s was uploaded", id)
		require.Equal(s.t, meta, mine[len(mine)-1], "meta.json of %s is written last: %v", id, mine)
		n := 0
		for _, k := range mine {
			if k == meta {
				n++
			}
		}
		require.Equal(s.t, 1, n, "meta.json of %s is written once: %v", id, mine)
	}
}

// oldest returns the local block with the lowest min time.
func (s *shippingEnv) oldest() ulid.ULID {
	ids := slices.SortedFunc(maps.Keys(s.local), func(a, b ulid.ULID) int {
		return int(s.local[a].MinTime - s.local[b].MinTime)
	})
	return ids[0]
}

func (s *shippingEnv) statePath() string {
	return filepath.Join(s.prom.DataDir(), shipper.DefaultMetaFileName)
}

// state returns the blocks thanos.shipper.json records (none when missing).
func (s *shippingEnv) state() []ulid.ULID {
	s.t.Helper()
	st, err := shipper.ReadState(s.statePath())
	require.NoError(s.t, err)
	return st.Uploaded
}

// localBlocks reads the meta.json of every block in dataDir.
func localBlocks(t *testing.T, dataDir string) map[ulid.ULID]*metadata.Meta {
	t.Helper()
	entries, err := os.ReadDir(dataDir)
	require.NoError(t, err)
	out := map[ulid.ULID]*metadata.Meta{}
	for _, e := range entries {
		id, err := ulid.ParseStrict(e.Name())
		if err != nil || !e.IsDir() {
			continue
		}
		m, err := metadata.ReadFromDir(filepath.Join(dataDir, e.Name()))
		if errors.Is(err, metadata.ErrMetaNotFound) {
			continue
		}
		require.NoError(t, err)
		out[id] = m
	}
	return out
}

func fileSize(t *testing.T, path string) int64 {
	t.Helper()
	info, err := os.Stat(path)
	require.NoError(t, err)
	return info.Size()
}

// marshal renders a bucket config as the YAML of --objstore.config.
func marshal(t *testing.T, cfg objstore.Config) string {
	t.Helper()
	b, err := cfg.Marshal()
	require.NoError(t, err)
	return string(b)
}
