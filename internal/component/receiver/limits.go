package receiver

import (
	"context"
	"fmt"
	"time"

	"github.com/strata-io/strata/internal/receive/limits"
	"github.com/strata-io/strata/internal/receive/multitsdb"
	"github.com/strata-io/strata/internal/receive/remotewrite"
)

// limitsReloadInterval is how often --receive.limits-config-file is
// re-read; a changed file applies without a restart.
const limitsReloadInterval = 15 * time.Second

// loadLimits reads --receive.limits-config-file or --receive.limits-config;
// nil without either.
func (c *Config) loadLimits() (*limits.Config, error) {
	switch {
	case c.LimitsFile != "":
		cfg, err := limits.LoadFile(c.LimitsFile)
		if err != nil {
			return nil, fmt.Errorf("--receive.limits-config-file: %w", err)
		}
		return cfg, nil
	case c.LimitsContent != "":
		cfg, err := limits.Parse([]byte(c.LimitsContent))
		if err != nil {
			return nil, fmt.Errorf("--receive.limits-config: %w", err)
		}
		return cfg, nil
	}
	return nil, nil
}

// limitedStore stores on this node under the tenants' head_series_limit:
// a tenant whose head holds as many series as its limit takes no write
// (429) until series leave the head. The limit counts the series of this
// node's head, for writes from senders and from other nodes alike.
type limitedStore struct {
	db  *multitsdb.MultiTSDB
	lim *limits.Limiter
}

func (s limitedStore) Append(ctx context.Context, tenant string, series []remotewrite.Series) (multitsdb.WriteStats, error) {
	if db := s.db.TenantDB(tenant); db != nil {
		if err := s.lim.CheckHeadSeries(tenant, db.Head().NumSeries(), -1); err != nil {
			return multitsdb.WriteStats{}, err
		}
	}
	return s.db.Append(ctx, tenant, series)
}
