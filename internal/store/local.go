package store

import (
	"context"
	"math"
	"sync"
	"time"

	"github.com/prometheus/prometheus/model/labels"

	"github.com/strata-io/strata/pkg/infopb"
	"github.com/strata-io/strata/pkg/storepb"
)

// LocalServer is a StoreAPI server in the same process as its caller: the
// Store rpcs and Info. The bucket store, the TSDB store and the Prometheus
// store all are.
type LocalServer interface {
	storepb.StoreServer
	infopb.InfoServer
}

// localInfoMaxAge is how long a LocalClient reuses an Info answer: a fan-out
// asks for label sets and time ranges several times per request.
const localInfoMaxAge = time.Second

// LocalClient is a Client over a LocalServer, called without a network hop
// (storepb.ServerAsClient). Its label sets, time range and capabilities are
// those the server's Info reports, read again at most once a second. It is
// safe for concurrent use.
type LocalClient struct {
	storepb.StoreClient
	name string
	srv  LocalServer
	now  func() time.Time

	mu        sync.Mutex
	fetched   time.Time // when info was read; zero before
	info      *infopb.InfoResponse
	lastError error
}

var _ Client = (*LocalClient)(nil)

// NewLocalClient returns a Client named name (shown in logs, warnings and
// the querier's store list) calling srv in process. srv's Info is called
// lazily, when label sets or the time range are first asked for.
func NewLocalClient(name string, srv LocalServer) *LocalClient {
	return &LocalClient{StoreClient: storepb.ServerAsClient(srv), name: name, srv: srv, now: time.Now}
}

// Info returns the server's last Info answer (nil while none succeeded) and
// the error of the last call, if it failed. A failed call keeps the last
// good answer, like a remote endpoint's check.
func (c *LocalClient) Info() (*infopb.InfoResponse, error) {
	c.mu.Lock()
	defer c.mu.Unlock()
	now := c.now()
	if c.fetched.IsZero() || now.Sub(c.fetched) >= localInfoMaxAge {
		c.fetched = now
		info, err := c.srv.Info(context.Background(), &infopb.InfoRequest{})
		c.lastError = err
		if err == nil {
			c.info = info
		}
	}
	return c.info, c.lastError
}

// LabelSets returns the external label sets of the last good Info.
func (c *LocalClient) LabelSets() []labels.Labels {
	info, _ := c.Info()
	return storepb.LabelSetsFromProto(info.GetLabelSets())
}

// TimeRange returns the time range of the last good Info, unbounded before
// one.
func (c *LocalClient) TimeRange() (mint, maxt int64) {
	info, _ := c.Info()
	if info.GetStore() == nil {
		return math.MinInt64, math.MaxInt64
	}
	return info.GetStore().GetMinTime(), info.GetStore().GetMaxTime()
}

// SupportsWithoutReplicaLabels tells what the last good Info said.
func (c *LocalClient) SupportsWithoutReplicaLabels() bool {
	info, _ := c.Info()
	return info.GetStore().GetSupportsWithoutReplicaLabels()
}

// String returns the client's name.
func (c *LocalClient) String() string { return c.name }
