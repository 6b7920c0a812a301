package testkit

import (
	"errors"
	"fmt"
	"testing"

	"github.com/stretchr/testify/require"
)

// recorder records how RequireOrSkip ends a test instead of ending it.
type recorder struct {
	testing.TB
	fatal, skip string
}

func (r *recorder) Helper()                        {}
func (r *recorder) Fatalf(format string, a ...any) { r.fatal = fmt.Sprintf(format, a...) }
func (r *recorder) Skipf(format string, a ...any)  { r.skip = fmt.Sprintf(format, a...) }

func TestRequireOrSkip(t *testing.T) {
	missing := errors.New("memcached not found")

	t.Setenv("CI", "")
	r := &recorder{}
	RequireOrSkip(r, "memcached", nil)
	require.Empty(t, r.fatal+r.skip, "nothing missing, the test goes on")
	RequireOrSkip(r, "memcached", missing)
	require.Empty(t, r.fatal)
	require.Equal(t, "memcached: memcached not found (this fails under CI=true)", r.skip)

	t.Setenv("CI", "true")
	r = &recorder{}
	RequireOrSkip(r, "memcached", missing)
	require.Empty(t, r.skip)
	require.Equal(t, "memcached: memcached not found", r.fatal)
}
