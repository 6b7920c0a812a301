package handler

import (
	"bytes"
	"context"
	"errors"
	"net/http"
	"net/http/httptest"
	"testing"
	"time"

	"github.com/golang/snappy"
	"github.com/prometheus/prometheus/prompb"
	"github.com/stretchr/testify/require"

	"github.com/strata-io/strata/internal/receive/multitsdb"
	"github.com/strata-io/strata/internal/receive/remotewrite"
)

// appendFunc is an Appender calling itself.
type appendFunc func(ctx context.Context, tenant string, series []remotewrite.Series) (multitsdb.WriteStats, error)

func (f appendFunc) Append(ctx context.Context, tenant string, series []remotewrite.Series) (multitsdb.WriteStats, error) {
	return f(ctx, tenant, series)
}

func newHandler(t *testing.T, maxConcurrent int, app Appender) *Handler {
	t.Helper()
	dec, err := remotewrite.NewDecoder(remotewrite.DefaultConfig())
	require.NoError(t, err)
	h, err := New(dec, app, Options{MaxConcurrent: maxConcurrent}, nil, nil)
	require.NoError(t, err)
	return h
}

func request(t *testing.T, ctx context.Context) *http.Request {
	t.Helper()
	b, err := (&prompb.WriteRequest{Timeseries: []prompb.TimeSeries{{
		Labels:  []prompb.Label{{Name: "__name__", Value: "up"}},
		Samples: []prompb.Sample{{Timestamp: 1, Value: 1}},
	}}}).Marshal()
	require.NoError(t, err)
	return httptest.NewRequestWithContext(ctx, http.MethodPost, "/api/v1/receive", bytes.NewReader(snappy.Encode(nil, b)))
}

// A storage failure other than a conflict is a 5xx, which senders retry.
func TestStorageFailureIsRetryable(t *testing.T) {
	h := newHandler(t, 1, appendFunc(func(context.Context, string, []remotewrite.Series) (multitsdb.WriteStats, error) {
		return multitsdb.WriteStats{}, errors.New("disk full")
	}))
	rec := httptest.NewRecorder()
	h.ServeHTTP(rec, request(t, t.Context()))
	require.Equal(t, http.StatusInternalServerError, rec.Code)
	require.Contains(t, rec.Body.String(), "disk full")

	h = newHandler(t, 1, appendFunc(func(context.Context, string, []remotewrite.Series) (multitsdb.WriteStats, error) {
		return multitsdb.WriteStats{}, multitsdb.ErrClosed
	}))
	rec = httptest.NewRecorder()
	h.ServeHTTP(rec, request(t, t.Context()))
	require.Equal(t, http.StatusServiceUnavailable, rec.Code)
}

// At most maxConcurrent requests are appended at once; a request waiting
// for a slot until it is cancelled is a 503 and is not appended.
func TestConcurrencyBound(t *testing.T) {
	entered := make(chan struct{})
	release := make(chan struct{})
	calls := 0
	h := newHandler(t, 1, appendFunc(func(context.Context, string, []remotewrite.Series) (multitsdb.WriteStats, error) {
		calls++
		entered <- struct{}{}
		<-release
		return multitsdb.WriteStats{Samples: 1}, nil
	}))
	first := httptest.NewRecorder()
	done := make(chan struct{})
	go func() { h.ServeHTTP(first, request(t, context.Background())); close(done) }()
	<-entered

	ctx, cancel := context.WithTimeout(t.Context(), 50*time.Millisecond)
	defer cancel()
	second := httptest.NewRecorder()
	h.ServeHTTP(second, request(t, ctx))
	require.Equal(t, http.StatusServiceUnavailable, second.Code)

	close(release)
	<-done
	require.Equal(t, http.StatusNoContent, first.Code)
	require.Equal(t, 1, calls)
}

func TestNewChecksArguments(t *testing.T) {
	dec, err := remotewrite.NewDecoder(remotewrite.DefaultConfig())
	require.NoError(t, err)
	_, err = New(dec, appendFunc(nil), Options{}, nil, nil)
	require.ErrorContains(t, err, "--receive.max-concurrent-writes")
	_, err = New(nil, appendFunc(nil), Options{MaxConcurrent: 1}, nil, nil)
	require.Error(t, err)
}
