package rule

import (
	"context"
	"errors"
	"net"
	"net/http"
	"net/http/httptest"
	"net/url"
	"strings"
	"sync/atomic"
	"testing"
	"time"

	"github.com/stretchr/testify/require"
)

// fakeResolver answers every name with the addresses it holds.
type fakeResolver struct {
	hosts atomic.Pointer[[]string]
	srv   []*net.SRV
	fail  atomic.Bool
}

func (f *fakeResolver) LookupHost(context.Context, string) ([]string, error) {
	if f.fail.Load() {
		return nil, errors.New("dns down")
	}
	return *f.hosts.Load(), nil
}

func (f *fakeResolver) LookupSRV(context.Context, string, string, string) (string, []*net.SRV, error) {
	if f.fail.Load() {
		return "", nil, errors.New("dns down")
	}
	return "", f.srv, nil
}

// dns+ and dnssrv+ query URLs are expanded into one URL per address found
// (queries go to all of them in turn), cached, and kept when DNS fails.
func TestQueryDNSDiscovery(t *testing.T) {
	var hits atomic.Int64
	api := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, _ *http.Request) {
		hits.Add(1)
		_, _ = w.Write([]byte(`{"status":"success","data":{"resultType":"scalar","result":[0,"1"]}}`))
	}))
	t.Cleanup(api.Close)
	host, port, err := net.SplitHostPort(strings.TrimPrefix(api.URL, "http://"))
	require.NoError(t, err)

	res := &fakeResolver{}
	res.hosts.Store(&[]string{host})
	p, err := net.LookupPort("tcp", port)
	require.NoError(t, err)
	res.srv = []*net.SRV{{Target: "localhost.", Port: uint16(p)}}

	for _, raw := range []string{"dns+http://query.example:" + port, "dnssrv+http://_http._tcp.query.example"} {
		u, err := url.Parse(raw)
		require.NoError(t, err)
		require.NoError(t, CheckQueryURL(u))
		q, err := NewQuerier([]*url.URL{u}, nil, nil, nil)
		require.NoError(t, err)
		now := time.Unix(0, 0)
		q.dns.resolver, q.dns.now = res, func() time.Time { return now }
		before := hits.Load()
		_, err = q.Query(context.Background(), "1", time.Now(), Abort)
		require.NoError(t, err, raw)
		require.Equal(t, before+1, hits.Load(), raw)

		res.fail.Store(true)
		now = now.Add(time.Minute)
		_, err = q.Query(context.Background(), "1", time.Now(), Abort)
		require.NoError(t, err, "%s: a failed lookup keeps the last answer", raw)
		res.fail.Store(false)
	}

	for _, bad := range []string{"dns+http://query.example", "ftp://q:1", "dns+ftp://q:1"} {
		u, err := url.Parse(bad)
		require.NoError(t, err)
		require.Error(t, CheckQueryURL(u), bad)
	}
}
