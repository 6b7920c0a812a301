package compact

import (
	"testing"
	"time"

	"github.com/oklog/ulid/v2"
	"github.com/stretchr/testify/require"

	"github.com/strata-io/strata/internal/block"
	"github.com/strata-io/strata/pkg/metadata"
)

const hourMs = int64(time.Hour / time.Millisecond)

// blk makes a block of stream {cluster="eu1"} over [minH, maxH) hours.
func blk(minH, maxH int64, opts ...func(*Block)) *Block {
	id := ulid.Make()
	m := &metadata.Meta{}
	m.ULID = id
	m.Version = metadata.TSDBVersion1
	m.MinTime, m.MaxTime = minH*hourMs, maxH*hourMs
	m.Compaction.Level = 1
	m.Compaction.Sources = []ulid.ULID{id}
	m.Stats.NumSamples = 100
	m.Thanos.Labels = map[string]string{"cluster": "eu1"}
	b := &Block{Meta: m}
	for _, o := range opts {
		o(b)
	}
	return b
}

func noCompact(b *Block) {
	b.NoCompact = metadata.NewNoCompactMark(b.Meta.ULID, time.Unix(0, 0), metadata.ManualReason, "")
}

func noDownsample(b *Block) {
	b.NoDownsample = metadata.NewNoDownsampleMark(b.Meta.ULID, time.Unix(0, 0), metadata.ManualReason, "")
}

func resolution(r int64) func(*Block) {
	return func(b *Block) { b.Meta.Thanos.Downsample.Resolution = r }
}

func withSources(src ...*Block) func(*Block) {
	return func(b *Block) {
		b.Meta.Compaction.Sources = nil
		for _, s := range src {
			b.Meta.Compaction.Sources = append(b.Meta.Compaction.Sources, s.Meta.Compaction.Sources...)
		}
	}
}

func ids(bs []*Block) []ulid.ULID {
	var out []ulid.ULID
	for _, b := range bs {
		out = append(out, b.Meta.ULID)
	}
	return out
}

func pick(bs []*Block, idx ...int) []ulid.ULID {
	var out []ulid.ULID
	for _, i := range idx {
		out = append(out, bs[i].Meta.ULID)
	}
	return out
}

func defaultRangesMs() []int64 { return DefaultConfig().rangesMs() }

func TestPlanCompaction(t *testing.T) {
	// 2025-01-01 is a multiple of 8h since the epoch but not of 48h.
	day := int64(20089 * 24)
	for _, tc := range []struct {
		name   string
		blocks []*Block
		nowH   int64
		want   []int // indices into blocks; nil = nothing to do
	}{
		{
			name:   "four 2h blocks fill an 8h window",
			blocks: []*Block{blk(0, 2), blk(2, 4), blk(4, 6), blk(6, 8)},
			nowH:   8, want: []int{0, 1, 2, 3},
		},
		{
			name:   "blocks whose max time is their last sample still complete the window",
			blocks: []*Block{blk(0, 2), blk(2, 4), blk(4, 6), {Meta: func() *metadata.Meta { m := blk(6, 8).Meta; m.MaxTime -= 30_000; return m }()}},
			nowH:   8, want: []int{0, 1, 2, 3},
		},
		{
			name:   "incomplete 8h window waits",
			blocks: []*Block{blk(0, 2), blk(2, 4), blk(4, 6)},
			nowH:   7, want: nil,
		},
		{
			name:   "newer data completes a window with a gap",
			blocks: []*Block{blk(0, 2), blk(2, 4), blk(8, 10)},
			nowH:   10, want: []int{0, 1},
		},
		{
			name:   "a window one range in the past is complete without newer data",
			blocks: []*Block{blk(0, 2), blk(2, 4)},
			nowH:   16, want: []int{0, 1},
		},
		{
			name:   "a window less than one range in the past is not",
			blocks: []*Block{blk(0, 2), blk(2, 4)},
			nowH:   15, want: nil,
		},
		{
			name:   "overlapping blocks are merged first, whatever the windows",
			blocks: []*Block{blk(0, 2), blk(1, 3), blk(2, 4), blk(4, 6), blk(6, 8)},
			nowH:   8, want: []int{0, 1, 2},
		},
		{
			name:   "HA replica blocks of one window overlap: offline dedup",
			blocks: []*Block{blk(0, 2), blk(0, 2)},
			nowH:   2, want: []int{0, 1},
		},
		{
			name:   "an overlap spanning larger windows is still one vertical compaction",
			blocks: []*Block{blk(0, 48), blk(40, 42), blk(47, 49)},
			nowH:   49, want: []int{0, 1, 2},
		},
		{
			name:   "no-compact blocks are planned around",
			blocks: []*Block{blk(0, 2, noCompact), blk(2, 4), blk(4, 6), blk(6, 8)},
			nowH:   8, want: []int{1, 2, 3},
		},
		{
			name:   "an overlap with a no-compact block is left alone",
			blocks: []*Block{blk(0, 2, noCompact), blk(0, 2)},
			nowH:   100, want: nil,
		},
		{
			name:   "blocks already spanning the window are not mixed with others",
			blocks: []*Block{blk(0, 8), blk(8, 10), blk(10, 12), blk(12, 14), blk(14, 16)},
			nowH:   16, want: []int{1, 2, 3, 4},
		},
		{
			name:   "8h blocks are compacted in their 48h window",
			blocks: []*Block{blk(day, day+8), blk(day+8, day+16), blk(day+16, day+24), blk(day+24, day+32), blk(day+32, day+40), blk(day+40, day+48), blk(day+48, day+56)},
			nowH:   day + 56, want: []int{0, 1, 2}, // day 20089 is in the 48h window [day-24h, day+24h)
		},
		{
			name:   "a block crossing a window boundary is skipped at that level",
			blocks: []*Block{blk(6, 10), blk(10, 12), blk(12, 14), blk(14, 16)},
			nowH:   16, want: []int{1, 2, 3},
		},
		{
			name:   "a single block has nothing to do",
			blocks: []*Block{blk(0, 2)},
			nowH:   1000, want: nil,
		},
		{
			name:   "smaller levels come before larger ones",
			blocks: []*Block{blk(0, 8), blk(8, 16), blk(16, 24), blk(24, 26), blk(26, 28), blk(28, 30), blk(30, 32)},
			nowH:   32, want: []int{3, 4, 5, 6},
		},
	} {
		t.Run(tc.name, func(t *testing.T) {
			got := planCompaction(tc.blocks, defaultRangesMs(), tc.nowH*hourMs)
			if tc.want == nil {
				require.Nil(t, got)
				return
			}
			require.Equal(t, pick(tc.blocks, tc.want...), ids(got))
		})
	}
}

func TestPlanCompaction48h(t *testing.T) {
	// Six 8h blocks of one 48h window (aligned on a multiple of 48h).
	base := int64(20088 * 24)
	var bs []*Block
	for i := range int64(6) {
		bs = append(bs, blk(base+8*i, base+8*i+8))
	}
	require.Equal(t, ids(bs), ids(planCompaction(bs, defaultRangesMs(), (base+48)*hourMs)))
	// Five of them: not complete until one range later.
	require.Nil(t, planCompaction(bs[:5], defaultRangesMs(), (base+48)*hourMs))
	require.Equal(t, ids(bs[:5]), ids(planCompaction(bs[:5], defaultRangesMs(), (base+96)*hourMs)))
}

func TestPlanDownsampling(t *testing.T) {
	ranges := defaultRangesMs()
	base := int64(20088 * 24) // multiple of 48h; 14d windows: 20088 % 14 = 12 days in
	w14 := base - 12*24       // start of the 14d window holding base
	raw48 := blk(base, base+48)
	covered := blk(base+48, base+96)
	short := blk(base+96, base+98)
	for _, tc := range []struct {
		name   string
		blocks []*Block
		from   int64
		nowH   int64
		want   []int
	}{
		{
			name:   "a raw block spanning 48h is downsampled",
			blocks: []*Block{raw48},
			nowH:   base + 50, want: []int{0},
		},
		{
			name:   "a raw 2h block that will still be compacted waits",
			blocks: []*Block{short, blk(base+98, base+100)},
			nowH:   base + 100, want: nil,
		},
		{
			name:   "a raw 2h block marked no-compact is downsampled although it never reached 40h",
			blocks: []*Block{blk(base+96, base+98, noCompact), blk(base+98, base+100)},
			nowH:   base + 100, want: []int{0},
		},
		{
			name:   "a raw 2h block alone in its old 14d window is downsampled",
			blocks: []*Block{blk(w14+2, w14+4), blk(w14+14*24+2, w14+14*24+4)},
			nowH:   w14 + 14*24 + 4, want: []int{0},
		},
		{
			name:   "a raw 2h block alone in a recent 14d window waits",
			blocks: []*Block{blk(w14+14*24+2, w14+14*24+4)},
			nowH:   w14 + 14*24 + 4, want: nil,
		},
		{
			name:   "a raw block whose sources are all in 5m blocks is skipped",
			blocks: []*Block{covered, blk(base+48, base+96, resolution(metadata.Resolution5m), withSources(covered))},
			nowH:   base + 100, want: nil,
		},
		{
			name:   "a raw block with a no-downsample mark is skipped",
			blocks: []*Block{blk(base, base+48, noDownsample)},
			nowH:   base + 100, want: nil,
		},
		{
			name:   "a 5m block spanning 14d is downsampled to 1h",
			blocks: []*Block{blk(w14, w14+14*24, resolution(metadata.Resolution5m)), blk(w14, w14+14*24)},
			from:   metadata.Resolution5m, nowH: w14 + 15*24, want: []int{0},
		},
		{
			name:   "a 5m block spanning 2d waits for 1h",
			blocks: []*Block{blk(w14+24, w14+72, resolution(metadata.Resolution5m)), blk(w14+72, w14+120, resolution(metadata.Resolution5m))},
			from:   metadata.Resolution5m, nowH: w14 + 120, want: nil,
		},
		{
			name:   "a 5m block alone in its complete 14d window is downsampled to 1h",
			blocks: []*Block{blk(base, base+48, resolution(metadata.Resolution5m)), blk(base+48, base+96, resolution(metadata.Resolution5m))},
			from:   metadata.Resolution5m, nowH: base + 96, want: []int{0},
		},
	} {
		t.Run(tc.name, func(t *testing.T) {
			tasks := planDownsampling(tc.blocks, tc.from, ranges, tc.nowH*hourMs)
			var got []*Block
			for _, task := range tasks {
				got = append(got, task.block)
				want := metadata.Resolution5m
				if tc.from == metadata.Resolution5m {
					want = metadata.Resolution1h
				}
				require.Equal(t, want, task.resolution)
			}
			if tc.want == nil {
				require.Empty(t, got)
				return
			}
			require.Equal(t, pick(tc.blocks, tc.want...), ids(got))
		})
	}
}

func TestPlanRetention(t *testing.T) {
	day := int64(24)
	raw := blk(0, 48)
	fiveM := blk(0, 48, resolution(metadata.Resolution5m), withSources(raw))
	oneH := blk(0, 48, resolution(metadata.Resolution1h), withSources(raw))
	ret := block.Retention{Raw: 30 * 24 * time.Hour, FiveMinutes: 90 * 24 * time.Hour, OneHour: 365 * 24 * time.Hour}
	for _, tc := range []struct {
		name         string
		blocks       []*Block
		ret          block.Retention
		downsampling bool
		nowH         int64
		del, held    []int
	}{
		{name: "raw within retention is kept", blocks: []*Block{raw}, ret: ret, downsampling: true, nowH: 10 * day},
		{name: "raw past retention without a 5m copy is held", blocks: []*Block{raw}, ret: ret, downsampling: true, nowH: 40 * day, held: []int{0}},
		{name: "raw past retention with a 5m copy is deleted", blocks: []*Block{raw, fiveM}, ret: ret, downsampling: true, nowH: 40 * day, del: []int{0}},
		{name: "raw past retention with a 1h copy is deleted", blocks: []*Block{raw, oneH}, ret: ret, downsampling: true, nowH: 40 * day, del: []int{0}},
		{name: "raw past retention is deleted when downsampling is off", blocks: []*Block{raw}, ret: ret, downsampling: false, nowH: 40 * day, del: []int{0}},
		{name: "raw with a no-downsample mark is deleted", blocks: []*Block{blk(0, 48, noDownsample)}, ret: ret, downsampling: true, nowH: 40 * day, del: []int{0}},
		{name: "5m past retention without 1h is held", blocks: []*Block{raw, fiveM}, ret: ret, downsampling: true, nowH: 100 * day, del: []int{0}, held: []int{1}},
		{name: "everything past retention with copies", blocks: []*Block{raw, fiveM, oneH}, ret: ret, downsampling: true, nowH: 400 * day, del: []int{0, 1, 2}},
		{name: "0 keeps forever", blocks: []*Block{raw, fiveM, oneH}, ret: block.Retention{}, downsampling: true, nowH: 4000 * day},
	} {
		t.Run(tc.name, func(t *testing.T) {
			del, held := planRetention(tc.blocks, tc.ret, tc.downsampling, tc.nowH*hourMs)
			require.Equal(t, pick(tc.blocks, tc.del...), ids(del))
			require.Equal(t, pick(tc.blocks, tc.held...), ids(held))
		})
	}
}

func TestWindowStart(t *testing.T) {
	require.Equal(t, int64(0), windowStart(0, 10))
	require.Equal(t, int64(0), windowStart(9, 10))
	require.Equal(t, int64(10), windowStart(10, 10))
	require.Equal(t, int64(-10), windowStart(-1, 10))
	require.Equal(t, int64(-10), windowStart(-10, 10))
}

func TestPlanBatch(t *testing.T) {
	ranges := DefaultConfig().rangesMs()
	now := 1000 * hourMs
	// Four complete 8h windows of four 2h blocks each.
	var windows [][]*Block
	var all []*Block
	for w := range int64(4) {
		var win []*Block
		for i := range int64(4) {
			win = append(win, blk(8*w+2*i, 8*w+2*i+2))
		}
		windows = append(windows, win)
		all = append(all, win...)
	}
	t.Run("windows of one range run together, up to n", func(t *testing.T) {
		plans := planBatch(all, ranges, now, 3)
		require.Len(t, plans, 3)
		for i, p := range plans {
			require.Equal(t, ids(windows[i]), ids(p))
		}
		require.Len(t, planBatch(all, ranges, now, 8), 4)
		require.Len(t, planBatch(all, ranges, now, 1), 1)
	})
	t.Run("a larger range waits for the next batch", func(t *testing.T) {
		// Window 0 already compacted: the next 8h windows come first, the 2d
		// plan that would take their outputs is not in this batch.
		done := blk(0, 8, func(b *Block) { b.Meta.Compaction.Level = 2 })
		blocks := append([]*Block{done}, windows[1]...)
		plans := planBatch(blocks, ranges, now, 4)
		require.Len(t, plans, 1)
		require.Equal(t, ids(windows[1]), ids(plans[0]))
	})
	t.Run("separate overlaps run together, not with window merges", func(t *testing.T) {
		a1, a2 := blk(0, 2), blk(0, 2)
		b1, b2 := blk(10, 12), blk(10, 12)
		blocks := append([]*Block{a1, a2, b1, b2}, windows[3]...)
		plans := planBatch(blocks, ranges, now, 4)
		require.Len(t, plans, 2)
		require.ElementsMatch(t, ids([]*Block{a1, a2}), ids(plans[0]))
		require.ElementsMatch(t, ids([]*Block{b1, b2}), ids(plans[1]))
	})
	t.Run("nothing to do", func(t *testing.T) {
		require.Nil(t, planBatch([]*Block{blk(0, 2)}, ranges, now, 4))
	})
}
