package indexheader_test

import (
	"context"
	"os"
	"path/filepath"
	"sync"
	"testing"
	"time"

	"github.com/prometheus/client_golang/prometheus"
	"github.com/prometheus/prometheus/model/labels"
	"github.com/prometheus/prometheus/tsdb/chunks"
	"github.com/prometheus/prometheus/tsdb/encoding"
	"github.com/prometheus/prometheus/tsdb/index"
	"github.com/stretchr/testify/require"
	"github.com/thanos-io/objstore"

	"github.com/strata-io/strata/internal/store/indexheader"
)

func TestLazyReader(t *testing.T) {
	ctx := context.Background()
	fx := newIndexFixture(t, 100)
	cb := &countingBucket{BucketReader: fx.bkt}
	reg := prometheus.NewPedanticRegistry()
	m := indexheader.NewMetrics(reg)
	path := filepath.Join(t.TempDir(), fx.id.String(), "index-header")
	l := indexheader.NewLazyReader(cb, fx.id, path, m)
	t.Cleanup(func() { require.NoError(t, l.Close()) })

	require.False(t, l.Loaded())
	require.Empty(t, cb.ranges, "nothing read before the first call")
	require.NoFileExists(t, path)

	// First call: the header is built and loaded.
	values, err := l.LabelValues(ctx, "zone")
	require.NoError(t, err)
	require.Equal(t, []string{"ap-3", "eu-1", "us-2"}, values)
	require.True(t, l.Loaded())
	require.FileExists(t, path)
	gets := len(cb.ranges)
	requireMetrics(t, reg, map[string]float64{"loads": 1, "builds": 1, "releases": 0, "load_failures": 0}, 1)

	v, err := l.IndexVersion(ctx)
	require.NoError(t, err)
	require.Equal(t, 2, v)
	names, err := l.LabelNames(ctx)
	require.NoError(t, err)
	require.Equal(t, []string{"__name__", "instance", "path", "pod", "zone"}, names)
	rng, err := l.PostingsOffset(ctx, "pod", "pod-000042")
	require.NoError(t, err)
	require.Less(t, rng.Start, rng.End)
	_, err = l.PostingsOffset(ctx, "pod", "pod-999999")
	require.ErrorIs(t, err, indexheader.ErrNotFound)
	sym, err := l.LookupSymbol(ctx, 1)
	require.NoError(t, err)

	// Recently used: kept. Idle: released, the file stays.
	require.False(t, l.ReleaseIfIdle(time.Now(), time.Minute))
	require.True(t, l.Loaded())
	require.True(t, l.ReleaseIfIdle(time.Now().Add(2*time.Minute), time.Minute))
	require.False(t, l.Loaded())
	require.False(t, l.ReleaseIfIdle(time.Now().Add(2*time.Minute), time.Minute), "nothing left to release")
	require.FileExists(t, path)
	require.NotEmpty(t, sym, "strings stay valid after a release")
	requireMetrics(t, reg, map[string]float64{"loads": 1, "builds": 1, "releases": 1}, 0)

	// Next call reloads from the file, without reading the bucket.
	sym2, err := l.LookupSymbol(ctx, 1)
	require.NoError(t, err)
	require.Equal(t, sym, sym2)
	require.Len(t, cb.ranges, gets, "reload read the bucket")
	requireMetrics(t, reg, map[string]float64{"loads": 2, "builds": 1}, 1)

	// A corrupt file is rebuilt on the next load.
	require.True(t, l.ReleaseIfIdle(time.Now().Add(time.Hour), time.Minute))
	require.NoError(t, os.WriteFile(path, []byte("garbage"), 0o644))
	names2, err := l.LabelNames(ctx)
	require.NoError(t, err)
	require.Equal(t, names, names2)
	requireMetrics(t, reg, map[string]float64{"loads": 3, "builds": 2, "releases": 2}, 1)

	require.NoError(t, l.Close())
	require.False(t, l.Loaded())
	_, err = l.LabelNames(ctx)
	require.ErrorContains(t, err, "closed")
	requireMetrics(t, reg, map[string]float64{"loads": 3}, 0)
}

func TestLazyReaderLoadFailure(t *testing.T) {
	fx := newIndexFixture(t, 5)
	reg := prometheus.NewPedanticRegistry()
	l := indexheader.NewLazyReader(objstore.NewInMemBucket(), fx.id, filepath.Join(t.TempDir(), "h"), indexheader.NewMetrics(reg))
	_, err := l.LabelNames(context.Background())
	require.ErrorContains(t, err, fx.id.String())
	require.False(t, l.Loaded())
	requireMetrics(t, reg, map[string]float64{"loads": 0, "load_failures": 1}, 0)
	require.NoError(t, l.Close())
}

// TestLazyReaderConcurrentRelease runs lookups while the header is released
// over and over (run with -race): every lookup answers correctly.
func TestLazyReaderConcurrentRelease(t *testing.T) {
	ctx := context.Background()
	fx := newIndexFixture(t, 50)
	l := indexheader.NewLazyReader(fx.bkt, fx.id, filepath.Join(t.TempDir(), "h"), indexheader.NewMetrics(nil))
	t.Cleanup(func() { require.NoError(t, l.Close()) })

	var wg sync.WaitGroup
	stop := make(chan struct{})
	wg.Go(func() {
		for {
			select {
			case <-stop:
				return
			default:
				l.ReleaseIfIdle(time.Now().Add(time.Hour), time.Minute)
			}
		}
	})
	var lookups sync.WaitGroup
	for range 4 {
		lookups.Go(func() {
			for range 50 {
				values, err := l.LabelValues(ctx, "zone")
				if !assertNoErr(t, err) || len(values) != 3 {
					t.Errorf("zone values: %v", values)
					return
				}
			}
		})
	}
	lookups.Wait()
	close(stop)
	wg.Wait()
}

func assertNoErr(t *testing.T, err error) bool {
	t.Helper()
	if err != nil {
		t.Errorf("unexpected error: %v", err)
		return false
	}
	return true
}

// requireMetrics checks the given strata_indexheader_<name>_total counters
// and the strata_indexheader_loaded gauge.
func requireMetrics(t *testing.T, reg *prometheus.Registry, counters map[string]float64, loaded float64) {
	t.Helper()
	mfs, err := reg.Gather()
	require.NoError(t, err)
	got := map[string]float64{}
	for _, mf := range mfs {
		got[mf.GetName()] = mf.GetMetric()[0].GetCounter().GetValue() + mf.GetMetric()[0].GetGauge().GetValue()
	}
	for name, want := range counters {
		require.Equal(t, want, got["strata_indexheader_"+name+"_total"], name)
	}
	require.Equal(t, loaded, got["strata_indexheader_loaded"], "loaded")
}

// TestLazyReaderDecodesSeries decodes every series entry of the index,
// read by range, with the header as the symbol table, as a store does.
func TestLazyReaderDecodesSeries(t *testing.T) {
	ctx := context.Background()
	fx := newIndexFixture(t, 120)
	l := indexheader.NewLazyReader(fx.bkt, fx.id, filepath.Join(t.TempDir(), "h"), indexheader.NewMetrics(nil))
	t.Cleanup(func() { require.NoError(t, l.Close()) })
	ir, err := index.NewFileReader(fx.path, index.DecodePostingsRaw)
	require.NoError(t, err)
	t.Cleanup(func() { require.NoError(t, ir.Close()) })

	// The all-postings list, read at the range the header gives.
	rng, err := l.PostingsOffset(ctx, "", "")
	require.NoError(t, err)
	_, p, err := index.DecodePostingsRaw(encoding.NewDecbufAt(byteSlice(fx.data[rng.Start:rng.End]), 0, castagnoli))
	require.NoError(t, err)
	refs, err := index.ExpandPostings(p)
	require.NoError(t, err)
	require.Len(t, refs, 120)

	dec := index.Decoder{LookupSymbol: l.LookupSymbol}
	var got, want labels.ScratchBuilder
	var gotChks, wantChks []chunks.Meta
	for _, ref := range refs {
		// Version 2 series references are offsets divided by 16.
		d := encoding.NewDecbufUvarintAt(byteSlice(fx.data), int(ref)*16, castagnoli)
		require.NoError(t, d.Err())
		require.NoError(t, dec.Series(d.Get(), &got, &gotChks))
		require.NoError(t, ir.Series(ref, &want, &wantChks))
		require.Equal(t, want.Labels(), got.Labels())
		require.Equal(t, wantChks, gotChks)
	}
}
