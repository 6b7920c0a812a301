package server

import (
	"context"
	"fmt"
	"log/slog"
	"runtime/debug"

	"github.com/prometheus/client_golang/prometheus"
	"github.com/prometheus/client_golang/prometheus/promauto"
	"google.golang.org/grpc"
	"google.golang.org/grpc/codes"
	"google.golang.org/grpc/status"
)

// recoverer turns a panic in a gRPC handler into a codes.Internal error for
// that call alone: logged with its stack, counted, and the process serves
// on. It covers the handler's goroutine; a goroutine the handler starts must
// recover its own panics.
type recoverer struct {
	logger *slog.Logger
	panics prometheus.Counter
}

func newRecoverer(reg prometheus.Registerer, logger *slog.Logger) *recoverer {
	return &recoverer{
		logger: logger,
		panics: promauto.With(reg).NewCounter(prometheus.CounterOpts{
			Name: "strata_grpc_server_panics_total",
			Help: "gRPC calls whose handler panicked; each was answered with an Internal error.",
		}),
	}
}

// recovered is deferred by the interceptors: it turns a panic into *err.
func (r *recoverer) recovered(method string, err *error) {
	p := recover()
	if p == nil {
		return
	}
	r.panics.Inc()
	r.logger.Error("grpc handler panicked", "method", method, "panic", fmt.Sprint(p), "stack", string(debug.Stack()))
	*err = status.Errorf(codes.Internal, "%s: internal error (panic: %v); the server logged the stack", method, p)
}

func (r *recoverer) unary(ctx context.Context, req any, info *grpc.UnaryServerInfo, handler grpc.UnaryHandler) (_ any, err error) {
	defer r.recovered(info.FullMethod, &err)
	return handler(ctx, req)
}

func (r *recoverer) stream(srv any, ss grpc.ServerStream, info *grpc.StreamServerInfo, handler grpc.StreamHandler) (err error) {
	defer r.recovered(info.FullMethod, &err)
	return handler(srv, ss)
}
