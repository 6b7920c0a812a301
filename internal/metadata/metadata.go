// Package metadata fans a metric-metadata request out to every endpoint that
// serves the thanos.Metadata API and merges the answers, for the querier's
// /api/v1/metadata.
package metadata

import (
	"context"
	"errors"
	"fmt"
	"io"
	"slices"
	"sync"

	"github.com/prometheus/common/model"
	"github.com/prometheus/prometheus/model/metadata"
	"github.com/prometheus/prometheus/util/annotations"

	"github.com/strata-io/strata/pkg/metadatapb"
	"github.com/strata-io/strata/pkg/storepb"
)

// Client is one endpoint that serves metric metadata.
type Client interface {
	metadatapb.MetadataClient
	// String names the endpoint in warnings.
	String() string
}

// Fanout merges the metric metadata of many endpoints.
type Fanout struct {
	clients         func() []Client
	partialResponse bool
}

// NewFanout returns a Fanout over the clients the function returns at each
// call. With partialResponse an endpoint that fails adds a warning; without
// it the request fails.
func NewFanout(clients func() []Client, partialResponse bool) *Fanout {
	return &Fanout{clients: clients, partialResponse: partialResponse}
}

// MetricMetadata returns metadata per metric name, unique entries only, for
// one metric (or all when metric is empty), at most limit metrics (limit < 0:
// all). Endpoints that fail add a warning; the call fails only when
// the Fanout was made with partial responses off.
func (f *Fanout) MetricMetadata(ctx context.Context, metric string, limit int) (map[string][]metadata.Metadata, annotations.Annotations, error) {
	clients := f.clients()
	type answer struct {
		md       map[string][]metadata.Metadata
		warnings []string
		err      error
	}
	answers := make([]answer, len(clients))
	var wg sync.WaitGroup
	for i, c := range clients {
		wg.Add(1)
		go func() {
			defer wg.Done()
			md, ws, err := fetch(ctx, c, metric, limit)
			if err != nil {
				err = fmt.Errorf("endpoint %s: %w", c.String(), err)
			}
			answers[i] = answer{md: md, warnings: ws, err: err}
		}()
	}
	wg.Wait()

	out := map[string][]metadata.Metadata{}
	warnings := annotations.New()
	for _, a := range answers {
		if a.err != nil {
			if !f.partialResponse {
				return nil, nil, a.err
			}
			warnings.Add(a.err)
			continue
		}
		for _, w := range a.warnings {
			warnings.Add(errors.New(w))
		}
		for name, metas := range a.md {
			for _, m := range metas {
				if !slices.Contains(out[name], m) {
					out[name] = append(out[name], m)
				}
			}
		}
	}
	if limit >= 0 && len(out) > limit {
		names := make([]string, 0, len(out))
		for n := range out {
			names = append(names, n)
		}
		slices.Sort(names)
		for _, n := range names[limit:] {
			delete(out, n)
		}
	}
	return out, *warnings, nil
}

func fetch(ctx context.Context, c Client, metric string, limit int) (map[string][]metadata.Metadata, []string, error) {
	stream, err := c.MetricMetadata(ctx, &metadatapb.MetricMetadataRequest{
		Metric:                  metric,
		Limit:                   int32(max(min(limit, 1<<31-1), -1)),
		PartialResponseStrategy: storepb.PartialResponseStrategy_WARN,
	})
	if err != nil {
		return nil, nil, err
	}
	out := map[string][]metadata.Metadata{}
	var warnings []string
	for {
		r, err := stream.Recv()
		if errors.Is(err, io.EOF) {
			return out, warnings, nil
		}
		if err != nil {
			return nil, nil, err
		}
		if w := r.GetWarning(); w != "" {
			warnings = append(warnings, w)
			continue
		}
		for name, entry := range r.GetMetadata().GetMetadata() {
			for _, m := range entry.GetMetas() {
				out[name] = append(out[name], metadata.Metadata{
					Type: model.MetricType(m.GetType()),
					Help: m.GetHelp(),
					Unit: m.GetUnit(),
				})
			}
		}
	}
}
