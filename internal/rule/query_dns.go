package rule

import (
	"context"
	"fmt"
	"net"
	"net/url"
	"strconv"
	"strings"
	"sync"
	"time"
)

// dnsRefresh is how long a DNS answer for a dns+ or dnssrv+ query API is
// used before it is looked up again.
const dnsRefresh = 30 * time.Second

// Resolver is the part of *net.Resolver the Querier uses; tests inject
// fakes.
type Resolver interface {
	LookupHost(ctx context.Context, host string) ([]string, error)
	LookupSRV(ctx context.Context, service, proto, name string) (string, []*net.SRV, error)
}

// discovery expands the --query URLs whose scheme is prefixed with dns+
// (A/AAAA records of the host, port kept) or dnssrv+ (SRV records of the
// host, ports from the records) into the URLs of every address found, as
// upstream's --query does. Answers are cached for dnsRefresh; when a lookup
// fails the previous answer stays in use.
type discovery struct {
	resolver Resolver
	now      func() time.Time

	mu      sync.Mutex
	cache   map[string][]*url.URL // by the --query URL
	fetched map[string]time.Time
}

// CheckQueryURL checks a --query URL: http(s)://host:port[/prefix], with
// the scheme optionally prefixed by dns+ or dnssrv+.
func CheckQueryURL(u *url.URL) error {
	_, err := discovered(u)
	return err
}

// discovered reports whether u needs DNS, and checks its form.
func discovered(u *url.URL) (bool, error) {
	scheme, ok := strings.CutPrefix(u.Scheme, "dnssrv+")
	if !ok {
		scheme, ok = strings.CutPrefix(u.Scheme, "dns+")
	}
	if scheme != "http" && scheme != "https" || u.Host == "" {
		return false, fmt.Errorf("--query=%s is not a URL like http://strata-query:10902 (dns+http:// and dnssrv+http:// look the host up)", u.Redacted())
	}
	if ok && strings.HasPrefix(u.Scheme, "dns+") && u.Port() == "" {
		return false, fmt.Errorf("--query=%s: a dns+ URL needs a port", u.Redacted())
	}
	return ok, nil
}

// expand returns the URLs to try for u: u itself unless it is dns+ or
// dnssrv+.
func (d *discovery) expand(ctx context.Context, u *url.URL) ([]*url.URL, error) {
	if !strings.HasPrefix(u.Scheme, "dns+") && !strings.HasPrefix(u.Scheme, "dnssrv+") {
		return []*url.URL{u}, nil
	}
	key := u.String()
	d.mu.Lock()
	cached, at := d.cache[key], d.fetched[key]
	d.mu.Unlock()
	if cached != nil && d.now().Sub(at) < dnsRefresh {
		return cached, nil
	}
	found, err := d.lookup(ctx, u)
	if err != nil {
		if cached != nil {
			return cached, nil
		}
		return nil, fmt.Errorf("look up %s: %w", u.Redacted(), err)
	}
	d.mu.Lock()
	d.cache[key], d.fetched[key] = found, d.now()
	d.mu.Unlock()
	return found, nil
}

func (d *discovery) lookup(ctx context.Context, u *url.URL) ([]*url.URL, error) {
	var hostports []string
	if scheme, ok := strings.CutPrefix(u.Scheme, "dnssrv+"); ok {
		_, srvs, err := d.resolver.LookupSRV(ctx, "", "", u.Hostname())
		if err != nil {
			return nil, err
		}
		for _, s := range srvs {
			hostports = append(hostports, net.JoinHostPort(strings.TrimSuffix(s.Target, "."), strconv.Itoa(int(s.Port))))
		}
		return withHosts(u, scheme, hostports)
	}
	scheme := strings.TrimPrefix(u.Scheme, "dns+")
	addrs, err := d.resolver.LookupHost(ctx, u.Hostname())
	if err != nil {
		return nil, err
	}
	for _, a := range addrs {
		hostports = append(hostports, net.JoinHostPort(a, u.Port()))
	}
	return withHosts(u, scheme, hostports)
}

// withHosts returns u with scheme for each of hostports.
func withHosts(u *url.URL, scheme string, hostports []string) ([]*url.URL, error) {
	if len(hostports) == 0 {
		return nil, fmt.Errorf("no address found for %s", u.Hostname())
	}
	out := make([]*url.URL, 0, len(hostports))
	for _, hp := range hostports {
		c := *u
		c.Scheme, c.Host = scheme, hp
		out = append(out, &c)
	}
	return out, nil
}
