package e2eutil

import (
	"io"
	"net/http"
	"net/http/httptest"
	"net/http/httputil"
	"net/url"
	"strings"
	"sync"
)

// ObjectProxy is an HTTP reverse proxy on 127.0.0.1 in front of a
// path-style object-storage server (S3 with `bucket` in the path). It
// records the object keys of successful PUTs in the order the server
// answered them, and can hold PUT requests whose key matches a predicate:
// a held request is read but never forwarded, and its handler waits until
// the client goes away (e.g. is killed) or the proxy is closed. That makes
// "the uploader dies in the middle of an upload" reproducible.
//
// The Host header is passed through unchanged, so request signatures made
// for the proxy's address stay valid at the server. Methods are safe for
// concurrent use.
type ObjectProxy struct {
	bucket string
	srv    *httptest.Server
	tr     *http.Transport

	mu   sync.Mutex
	puts []string
	hold func(key string) bool

	held    chan string
	closing chan struct{}
	once    sync.Once
}

// StartObjectProxy starts a proxy to the server at upstream (host:port) for
// bucket. Close it when done.
func StartObjectProxy(upstream, bucket string) *ObjectProxy {
	p := &ObjectProxy{
		bucket:  bucket,
		tr:      &http.Transport{},
		held:    make(chan string, 16),
		closing: make(chan struct{}),
	}
	target := &url.URL{Scheme: "http", Host: upstream}
	rp := &httputil.ReverseProxy{
		Rewrite: func(pr *httputil.ProxyRequest) {
			pr.SetURL(target)
			pr.Out.Host = pr.In.Host // signed by the client
		},
		Transport: p.tr,
		ModifyResponse: func(resp *http.Response) error {
			if resp.Request.Method == http.MethodPut && resp.StatusCode/100 == 2 && resp.Request.URL.RawQuery == "" {
				if key, ok := p.key(resp.Request.URL.Path); ok {
					p.mu.Lock()
					p.puts = append(p.puts, key)
					p.mu.Unlock()
				}
			}
			return nil
		},
	}
	p.srv = httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if r.Method == http.MethodPut {
			if key, ok := p.key(r.URL.Path); ok && p.holds(key) {
				p.holdRequest(w, r, key)
				return
			}
		}
		rp.ServeHTTP(w, r)
	}))
	return p
}

// Addr is the proxy's host:port, to use as the endpoint in place of the
// server's.
func (p *ObjectProxy) Addr() string { return strings.TrimPrefix(p.srv.URL, "http://") }

// Puts returns the keys of the objects stored through the proxy so far, in
// order (an object stored twice appears twice).
func (p *ObjectProxy) Puts() []string {
	p.mu.Lock()
	defer p.mu.Unlock()
	return append([]string(nil), p.puts...)
}

// Hold makes the proxy hold every later PUT whose object key satisfies f;
// nil holds nothing. Requests held already stay held.
func (p *ObjectProxy) Hold(f func(key string) bool) {
	p.mu.Lock()
	defer p.mu.Unlock()
	p.hold = f
}

// Held receives the key of each request the proxy starts holding (up to 16
// are buffered; more are not announced).
func (p *ObjectProxy) Held() <-chan string { return p.held }

// Close releases held requests, stops the proxy and closes its connections
// to the server.
func (p *ObjectProxy) Close() {
	p.once.Do(func() { close(p.closing) })
	p.srv.Close()
	p.tr.CloseIdleConnections()
}

func (p *ObjectProxy) holds(key string) bool {
	p.mu.Lock()
	defer p.mu.Unlock()
	return p.hold != nil && p.hold(key)
}

// holdRequest reads the request (so the server notices when the client's
// connection closes) and answers only once the client is gone or the proxy
// closes; the object never reaches the server.
func (p *ObjectProxy) holdRequest(w http.ResponseWriter, r *http.Request, key string) {
	_, _ = io.Copy(io.Discard, r.Body)
	select {
	case p.held <- key:
	default:
	}
	select {
	case <-r.Context().Done():
	case <-p.closing:
	}
	http.Error(w, "held by the test proxy", http.StatusServiceUnavailable)
}

// key returns the object key of a path-style request path /<bucket>/<key>.
func (p *ObjectProxy) key(path string) (string, bool) {
	key, ok := strings.CutPrefix(path, "/"+p.bucket+"/")
	return key, ok && key != ""
}
