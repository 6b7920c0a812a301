package querier

import (
	"testing"
	"time"

	"github.com/stretchr/testify/require"

	"github.com/strata-io/strata/internal/server"
)

func TestHTTPTimeoutsFollowQueryTimeout(t *testing.T) {
	for _, qt := range []time.Duration{time.Second, 2 * time.Minute, time.Hour} {
		c := httpConfig(server.HTTPConfig{}, qt)
		require.LessOrEqual(t, c.ReadTimeout, qt, "a trickled body must not outlive --query.timeout")
		require.Greater(t, c.WriteTimeout, c.ReadTimeout+qt, "a query using all its time must still be able to answer")
	}
}
