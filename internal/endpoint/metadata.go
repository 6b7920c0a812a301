package endpoint

import (
	"github.com/strata-io/strata/internal/metadata"
	"github.com/strata-io/strata/pkg/metadatapb"
)

// MetadataClients returns a client for every endpoint whose last good Info
// said it serves the Metadata API, sorted by address.
func (s *Set) MetadataClients() []metadata.Client {
	s.mu.RLock()
	defer s.mu.RUnlock()
	var out []metadata.Client
	for _, c := range s.sorted() {
		c.mu.RLock()
		ok := c.metadata
		c.mu.RUnlock()
		if ok {
			out = append(out, metadataClient{MetadataClient: metadatapb.NewMetadataClient(c.conn), addr: c.addr})
		}
	}
	return out
}

type metadataClient struct {
	metadatapb.MetadataClient
	addr string
}

func (m metadataClient) String() string { return m.addr }
