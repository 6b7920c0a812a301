package endpoint

import (
	"github.com/strata-io/strata/pkg/rulespb"
)

// RulesClients returns a client for every endpoint whose last good Info
// said it serves the Rules API, sorted by address.
func (s *Set) RulesClients() []rulespb.Endpoint {
	s.mu.RLock()
	defer s.mu.RUnlock()
	var out []rulespb.Endpoint
	for _, c := range s.sorted() {
		c.mu.RLock()
		ok := c.rules
		c.mu.RUnlock()
		if ok {
			out = append(out, rulesClient{RulesClient: rulespb.NewRulesClient(c.conn), addr: c.addr})
		}
	}
	return out
}

type rulesClient struct {
	rulespb.RulesClient
	addr string
}

func (r rulesClient) String() string { return r.addr }
