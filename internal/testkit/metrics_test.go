package testkit

import (
	"testing"

	"github.com/prometheus/client_golang/prometheus"
	"github.com/stretchr/testify/require"
)

func TestMetricValue(t *testing.T) {
	reg := prometheus.NewRegistry()
	loads := prometheus.NewCounter(prometheus.CounterOpts{Name: "strata_bucket_store_block_loads_total"})
	bytes := prometheus.NewGauge(prometheus.GaugeOpts{Name: "strata_index_cache_items_bytes"})
	reg.MustRegister(loads, bytes)
	loads.Add(3)
	bytes.Set(4096)
	require.Equal(t, 3.0, MetricValue(t, reg, "strata_bucket_store_block_loads_total"))
	require.Equal(t, 4096.0, MetricValue(t, reg, "strata_index_cache_items_bytes"))

	r := &recorder{}
	MetricValue(r, reg, "strata_missing_total")
	require.Equal(t, "metric strata_missing_total not found", r.fatal)
}
