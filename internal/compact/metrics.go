package compact

import (
	"github.com/prometheus/client_golang/prometheus"
	"github.com/prometheus/client_golang/prometheus/promauto"
)

// Values of the marker label of strata_compact_blocks_marked_total.
const (
	markerNoCompact    = "no-compact"
	markerNoDownsample = "no-downsample"
	markerDeletion     = "deletion"
)

// Reasons of deletion marks (the reason label of
// strata_compact_blocks_marked_total{marker="deletion"}).
const (
	deletionReasonCompacted = "compacted"
	deletionReasonRetention = "retention"
)

type metrics struct {
	runs            prometheus.Counter
	runFailures     prometheus.Counter
	lastSuccess     prometheus.Gauge
	syncFailures    prometheus.Counter
	ignored         prometheus.Gauge
	groups          prometheus.Counter
	groupsTodo      prometheus.Gauge
	groupFailures   prometheus.Counter
	compactions     prometheus.Counter
	compactFailures prometheus.Counter
	blocksCompacted prometheus.Counter
	samples         prometheus.Counter
	bytesUploaded   prometheus.Counter
	marked          *prometheus.CounterVec
	downsampled     *prometheus.CounterVec
	downFailures    prometheus.Counter
	retentionHeld   prometheus.Counter
	deleted         *prometheus.CounterVec
	cleanFailures   prometheus.Counter
}

func newMetrics(reg prometheus.Registerer) *metrics {
	f := promauto.With(reg)
	return &metrics{
		runs: f.NewCounter(prometheus.CounterOpts{
			Name: "strata_compact_runs_total",
			Help: "Compactor runs started (sync, clean, compact, downsample, retention, clean).",
		}),
		runFailures: f.NewCounter(prometheus.CounterOpts{
			Name: "strata_compact_run_failures_total",
			Help: "Compactor runs that ended with an error reaching the bucket.",
		}),
		lastSuccess: f.NewGauge(prometheus.GaugeOpts{
			Name: "strata_compact_last_successful_run_timestamp_seconds",
			Help: "Unix time of the end of the last run without any failure (0 before the first).",
		}),
		syncFailures: f.NewCounter(prometheus.CounterOpts{
			Name: "strata_compact_sync_block_failures_total",
			Help: "Blocks skipped during a sync because their meta.json could not be read or is invalid.",
		}),
		ignored: f.NewGauge(prometheus.GaugeOpts{
			Name: "strata_compact_blocks_ignored",
			Help: "Blocks of the last sync that --selector.relabel-config drops: this instance leaves them to others.",
		}),
		groups: f.NewCounter(prometheus.CounterOpts{
			Name: "strata_compact_groups_total",
			Help: "Groups (stream and resolution) processed to the end.",
		}),
		groupsTodo: f.NewGauge(prometheus.GaugeOpts{
			Name: "strata_compact_groups_todo",
			Help: "Groups of the current run not processed yet.",
		}),
		groupFailures: f.NewCounter(prometheus.CounterOpts{
			Name: "strata_compact_group_failures_total",
			Help: "Groups whose processing hit an error; the other groups went on.",
		}),
		compactions: f.NewCounter(prometheus.CounterOpts{
			Name: "strata_compact_compactions_total",
			Help: "Compactions done (each merges several blocks into one).",
		}),
		compactFailures: f.NewCounter(prometheus.CounterOpts{
			Name: "strata_compact_compaction_failures_total",
			Help: "Compactions that failed; their blocks are retried on the next run.",
		}),
		blocksCompacted: f.NewCounter(prometheus.CounterOpts{
			Name: "strata_compact_blocks_compacted_total",
			Help: "Source blocks merged into new blocks.",
		}),
		samples: f.NewCounter(prometheus.CounterOpts{
			Name: "strata_compact_samples_compacted_total",
			Help: "Samples of the source blocks of compactions.",
		}),
		bytesUploaded: f.NewCounter(prometheus.CounterOpts{
			Name: "strata_compact_bytes_uploaded_total",
			Help: "Bytes of the blocks uploaded by compactions and downsampling.",
		}),
		marked: f.NewCounterVec(prometheus.CounterOpts{
			Name: "strata_compact_blocks_marked_total",
			Help: "Markers written, by marker (no-compact, no-downsample, deletion) and reason.",
		}, []string{"marker", "reason"}),
		downsampled: f.NewCounterVec(prometheus.CounterOpts{
			Name: "strata_compact_blocks_downsampled_total",
			Help: "Blocks downsampled, by target resolution (5m, 1h).",
		}, []string{"resolution"}),
		downFailures: f.NewCounter(prometheus.CounterOpts{
			Name: "strata_compact_downsample_failures_total",
			Help: "Downsamplings that failed; retried on the next run.",
		}),
		retentionHeld: f.NewCounter(prometheus.CounterOpts{
			Name: "strata_compact_retention_held_total",
			Help: "Times a block past its retention was kept because its data has no downsampled copy yet.",
		}),
		deleted: f.NewCounterVec(prometheus.CounterOpts{
			Name: "strata_compact_blocks_cleaned_total",
			Help: "Block directories removed from the bucket, by kind (marked: after the delete delay; partial: partial uploads).",
		}, []string{"kind"}),
		cleanFailures: f.NewCounter(prometheus.CounterOpts{
			Name: "strata_compact_clean_failures_total",
			Help: "Block directories whose removal failed; retried on the next run.",
		}),
	}
}
