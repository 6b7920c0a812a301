// Package ui serves the querier's minimal query page: a PromQL text area and
// a table of the instant query's result, talking to the HTTP API v1 that is
// registered under the same prefix. It has no external assets.
package ui

import (
	_ "embed"
	"net/http"
)

//go:embed index.html
var indexHTML []byte

// Register serves the page at prefix + "/" (exactly; other paths are left to
// the mux). prefix is "" or a path such as "/strata" without a trailing
// slash; the page calls prefix + "/api/v1/query".
func Register(mux *http.ServeMux, prefix string) {
	mux.Handle("GET "+prefix+"/{$}", Handler())
}

// Handler returns the page's handler; it must be mounted at a path ending in
// "/" whose "api/v1/" sibling is the API.
func Handler() http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, _ *http.Request) {
		w.Header().Set("Content-Type", "text/html; charset=utf-8")
		w.Header().Set("Content-Security-Policy", "default-src 'self'; script-src 'unsafe-inline'; style-src 'unsafe-inline'")
		_, _ = w.Write(indexHTML)
	})
}
