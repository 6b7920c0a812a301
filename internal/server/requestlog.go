package server

import (
	"context"
	"log/slog"
	"net/http"
	"strings"
	"time"

	"github.com/alecthomas/kingpin/v2"
	"google.golang.org/grpc"
	"google.golang.org/grpc/codes"
	"google.golang.org/grpc/peer"
	"google.golang.org/grpc/status"

	"github.com/strata-io/strata/pkg/storepb"
)

// RequestLogConfig says which requests get a log line. Failed requests
// (HTTP 5xx, gRPC codes other than OK and Canceled) always do, at warn.
type RequestLogConfig struct {
	// SlowThreshold logs requests that take longer, at warn (0 = off).
	SlowThreshold time.Duration
	// All logs every request, at info.
	All bool
}

// RegisterFlags adds the request logging flags to cmd.
func (c *RequestLogConfig) RegisterFlags(cmd *kingpin.CmdClause) {
	cmd.Flag("request.logging.slow-threshold", "Log HTTP and gRPC requests that take longer than this, with their query (0 = off). Failed requests are always logged.").
		Default("10s").DurationVar(&c.SlowThreshold)
	cmd.Flag("request.logging.all", "Log every HTTP and gRPC request.").
		Default("false").BoolVar(&c.All)
}

// level returns the level to log a request at, and false when it is not
// logged.
func (c RequestLogConfig) level(failed bool, took time.Duration) (slog.Level, string, bool) {
	switch {
	case failed:
		return slog.LevelWarn, "request failed", true
	case c.SlowThreshold > 0 && took > c.SlowThreshold:
		return slog.LevelWarn, "slow request", true
	case c.All:
		return slog.LevelInfo, "request", true
	}
	return 0, "", false
}

// logRequests wraps next with one log line per request that cfg selects:
// method, path, status, duration, remote address and the PromQL query
// (query, or match[] joined by ", ").
func logRequests(cfg RequestLogConfig, logger *slog.Logger, next http.Handler) http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		start := time.Now()
		rec := &codeRecorder{ResponseWriter: w, code: http.StatusOK}
		next.ServeHTTP(rec, r)
		took := time.Since(start)
		lvl, msg, ok := cfg.level(rec.code >= 500, took)
		if !ok {
			return
		}
		attrs := []slog.Attr{
			slog.String("proto", "http"),
			slog.String("method", r.Method),
			slog.String("path", r.URL.Path),
			slog.Int("status", rec.code),
			slog.Duration("duration", took),
			slog.String("remote", r.RemoteAddr),
		}
		// Read only what the handler parsed: reading a body here would
		// block on a slow client and consume what the handler did not.
		form := r.Form
		if form == nil {
			form = r.URL.Query()
		}
		if q := form.Get("query"); q != "" {
			attrs = append(attrs, slog.String("query", q))
		}
		if m := form["match[]"]; len(m) > 0 {
			attrs = append(attrs, slog.String("match", strings.Join(m, ", ")))
		}
		logger.LogAttrs(r.Context(), lvl, msg, attrs...)
	})
}

// codeRecorder remembers the status code written through it.
type codeRecorder struct {
	http.ResponseWriter
	code int
}

func (c *codeRecorder) WriteHeader(code int) {
	c.code = code
	c.ResponseWriter.WriteHeader(code)
}

// Flush keeps streaming handlers (pprof, metrics) working.
func (c *codeRecorder) Flush() {
	if f, ok := c.ResponseWriter.(http.Flusher); ok {
		f.Flush()
	}
}

// Unwrap lets http.ResponseController reach the connection.
func (c *codeRecorder) Unwrap() http.ResponseWriter { return c.ResponseWriter }

// requestLogOptions returns the interceptors that log gRPC calls as cfg
// selects: method, code, duration, remote address and, for Series, the
// matchers and time range.
func logUnary(cfg RequestLogConfig, logger *slog.Logger) grpc.UnaryServerInterceptor {
	return func(ctx context.Context, req any, info *grpc.UnaryServerInfo, handler grpc.UnaryHandler) (any, error) {
		start := time.Now()
		resp, err := handler(ctx, req)
		logCall(ctx, cfg, logger, info.FullMethod, req, err, time.Since(start))
		return resp, err
	}
}

func logStream(cfg RequestLogConfig, logger *slog.Logger) grpc.StreamServerInterceptor {
	return func(srv any, ss grpc.ServerStream, info *grpc.StreamServerInfo, handler grpc.StreamHandler) error {
		start := time.Now()
		rs := &recvStream{ServerStream: ss}
		err := handler(srv, rs)
		logCall(ss.Context(), cfg, logger, info.FullMethod, rs.first, err, time.Since(start))
		return err
	}
}

// recvStream remembers the first message the handler received.
type recvStream struct {
	grpc.ServerStream
	first any
}

func (s *recvStream) RecvMsg(m any) error {
	err := s.ServerStream.RecvMsg(m)
	if err == nil && s.first == nil {
		s.first = m
	}
	return err
}

func logCall(ctx context.Context, cfg RequestLogConfig, logger *slog.Logger, method string, req any, err error, took time.Duration) {
	code := status.Code(err)
	lvl, msg, ok := cfg.level(code != codes.OK && code != codes.Canceled, took)
	if !ok {
		return
	}
	attrs := []slog.Attr{
		slog.String("proto", "grpc"),
		slog.String("method", method),
		slog.String("code", code.String()),
		slog.Duration("duration", took),
	}
	if p, ok := peer.FromContext(ctx); ok && p.Addr != nil {
		attrs = append(attrs, slog.String("remote", p.Addr.String()))
	}
	if sr, ok := req.(*storepb.SeriesRequest); ok {
		attrs = append(attrs,
			slog.String("matchers", matchersString(sr.GetMatchers())),
			slog.Int64("mint", sr.GetMinTime()),
			slog.Int64("maxt", sr.GetMaxTime()))
	}
	if err != nil {
		attrs = append(attrs, slog.String("err", err.Error()))
	}
	logger.LogAttrs(ctx, lvl, msg, attrs...)
}

func matchersString(pms []*storepb.LabelMatcher) string {
	ms, err := storepb.MatchersFromProto(pms)
	if err != nil {
		return "invalid: " + err.Error()
	}
	parts := make([]string, 0, len(ms))
	for _, m := range ms {
		parts = append(parts, m.String())
	}
	return "{" + strings.Join(parts, ", ") + "}"
}
