package ui

import (
	"io"
	"net/http"
	"net/http/httptest"
	"testing"

	"github.com/stretchr/testify/require"
)

func TestRegister(t *testing.T) {
	for _, tc := range []struct {
		prefix, path string
		wantCode     int
	}{
		{"", "/", http.StatusOK},
		{"/strata", "/strata/", http.StatusOK},
		{"", "/other", http.StatusNotFound},
	} {
		t.Run(tc.prefix+tc.path, func(t *testing.T) {
			mux := http.NewServeMux()
			Register(mux, tc.prefix)
			w := httptest.NewRecorder()
			mux.ServeHTTP(w, httptest.NewRequest(http.MethodGet, tc.path, nil))
			require.Equal(t, tc.wantCode, w.Code)
			if tc.wantCode != http.StatusOK {
				return
			}
			require.Equal(t, "text/html; charset=utf-8", w.Header().Get("Content-Type"))
			b, err := io.ReadAll(w.Body)
			require.NoError(t, err)
			require.Contains(t, string(b), `fetch("api/v1/query"`)
			require.Contains(t, string(b), `<textarea id="expr"`)
		})
	}
}
