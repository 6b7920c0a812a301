package router

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"net/http"
	"sync"
	"time"

	"github.com/prometheus/client_golang/prometheus"
	"github.com/prometheus/client_golang/prometheus/promauto"
	"google.golang.org/grpc"
	"google.golang.org/grpc/backoff"
	"google.golang.org/grpc/codes"
	"google.golang.org/grpc/credentials/insecure"
	"google.golang.org/grpc/status"

	_ "github.com/strata-io/strata/internal/grpcsnappy" // registers the "snappy" compressor
	"github.com/strata-io/strata/internal/receive/remotewrite"
	"github.com/strata-io/strata/pkg/storepb"
	"github.com/strata-io/strata/pkg/writepb"
)

// Backoff of a peer that failed: writes to it fail at once until it is
// over, so a node that is down costs no time per request.
const (
	minPeerBackoff = 250 * time.Millisecond
	maxPeerBackoff = 5 * time.Second
)

// PeersConfig configures the connections to other nodes.
type PeersConfig struct {
	// Compression is the gRPC compressor of forwarded writes
	// (--receive.grpc-compression): "snappy" or "none".
	Compression string
	// DialOptions are added to every connection; they must set the
	// transport credentials (TLS). None: plaintext.
	DialOptions []grpc.DialOption
}

// Peers forwards writes to other nodes over gRPC, one connection per node,
// made on first use. Safe for concurrent use.
type Peers struct {
	cfg    PeersConfig
	logger *slog.Logger

	mu    sync.Mutex
	peers map[string]*peer

	forwards *prometheus.CounterVec
}

type peer struct {
	conn   *grpc.ClientConn
	client writepb.WriteableStoreClient

	mu       sync.Mutex
	downTill time.Time
	backoff  time.Duration
	lastErr  error
}

// NewPeers returns a connection pool.
func NewPeers(cfg PeersConfig, logger *slog.Logger, reg prometheus.Registerer) (*Peers, error) {
	switch cfg.Compression {
	case "", "none", "snappy":
	default:
		return nil, fmt.Errorf("--receive.grpc-compression=%q: want snappy or none", cfg.Compression)
	}
	if logger == nil {
		logger = slog.New(slog.DiscardHandler)
	}
	return &Peers{
		cfg:    cfg,
		logger: logger,
		peers:  map[string]*peer{},
		forwards: promauto.With(reg).NewCounterVec(prometheus.CounterOpts{
			Name: "strata_receive_forward_requests_total",
			Help: "Writes forwarded to other receivers, by result (success, refused, error, skipped while the peer is backing off).",
		}, []string{"result"}),
	}, nil
}

func (p *Peers) get(endpoint string) (*peer, error) {
	p.mu.Lock()
	defer p.mu.Unlock()
	if pr, ok := p.peers[endpoint]; ok {
		return pr, nil
	}
	opts := append([]grpc.DialOption{
		grpc.WithDefaultCallOptions(grpc.ForceCodecV2(storepb.Codec{})),
		// A restarted node is reconnected to within a second or two;
		// gRPC's default backoff grows to two minutes, which would keep
		// a quorum short long after the node is back.
		grpc.WithConnectParams(grpc.ConnectParams{
			Backoff:           backoff.Config{BaseDelay: 100 * time.Millisecond, Multiplier: 1.6, Jitter: 0.2, MaxDelay: maxPeerBackoff / 2},
			MinConnectTimeout: 5 * time.Second,
		}),
	}, p.cfg.DialOptions...)
	if len(p.cfg.DialOptions) == 0 {
		opts = append(opts, grpc.WithTransportCredentials(insecure.NewCredentials()))
	}
	if p.cfg.Compression == "snappy" {
		opts = append(opts, grpc.WithDefaultCallOptions(grpc.UseCompressor("snappy")))
	}
	conn, err := grpc.NewClient(endpoint, opts...)
	if err != nil {
		return nil, fmt.Errorf("connect to receiver %s: %w", endpoint, err)
	}
	pr := &peer{conn: conn, client: writepb.NewWriteableStoreClient(conn)}
	p.peers[endpoint] = pr
	return pr, nil
}

// Forward sends series of tenant to endpoint as replica replica.
func (p *Peers) Forward(ctx context.Context, endpoint, tenant string, replica uint64, series []remotewrite.Series) error {
	pr, err := p.get(endpoint)
	if err != nil {
		p.forwards.WithLabelValues("error").Inc()
		return &Error{Status: http.StatusInternalServerError, Err: err}
	}
	if err := pr.available(); err != nil {
		p.forwards.WithLabelValues("skipped").Inc()
		return err
	}
	_, err = pr.client.RemoteWrite(ctx, &writepb.WriteRequest{
		Timeseries: remotewrite.ToProto(series),
		Tenant:     tenant,
		Replica:    int64(replica),
	})
	if err == nil {
		pr.succeeded()
		p.forwards.WithLabelValues("success").Inc()
		return nil
	}
	werr := fromGRPC(endpoint, err)
	if werr.Status >= http.StatusInternalServerError {
		pr.failed(werr)
		p.forwards.WithLabelValues("error").Inc()
	} else {
		p.forwards.WithLabelValues("refused").Inc()
	}
	return werr
}

// available fails while the peer backs off after a failure.
func (pr *peer) available() error {
	pr.mu.Lock()
	defer pr.mu.Unlock()
	if wait := time.Until(pr.downTill); wait > 0 {
		return &Error{Status: http.StatusServiceUnavailable, Err: fmt.Errorf("skipped for %s after its last failure: %w", wait.Round(time.Millisecond), pr.lastErr)}
	}
	return nil
}

func (pr *peer) failed(err error) {
	pr.mu.Lock()
	defer pr.mu.Unlock()
	pr.backoff = min(max(2*pr.backoff, minPeerBackoff), maxPeerBackoff)
	pr.downTill = time.Now().Add(pr.backoff)
	pr.lastErr = err
}

func (pr *peer) succeeded() {
	pr.mu.Lock()
	defer pr.mu.Unlock()
	pr.backoff, pr.downTill, pr.lastErr = 0, time.Time{}, nil
}

// Retain closes the connections to nodes not in endpoints (after a
// hashrings change).
func (p *Peers) Retain(endpoints []string) {
	keep := map[string]bool{}
	for _, e := range endpoints {
		keep[e] = true
	}
	p.mu.Lock()
	defer p.mu.Unlock()
	for e, pr := range p.peers {
		if !keep[e] {
			_ = pr.conn.Close()
			delete(p.peers, e)
		}
	}
}

// Close closes every connection.
func (p *Peers) Close() error {
	p.mu.Lock()
	defer p.mu.Unlock()
	var errs []error
	for e, pr := range p.peers {
		errs = append(errs, pr.conn.Close())
		delete(p.peers, e)
	}
	return errors.Join(errs...)
}

// fromGRPC maps a forwarding failure to the status the sender gets: the
// peer's refusals stay 4xx, everything else is 503 (a retry can succeed).
func fromGRPC(endpoint string, err error) *Error {
	st, _ := status.FromError(err)
	code := http.StatusServiceUnavailable
	switch st.Code() {
	case codes.InvalidArgument:
		code = http.StatusBadRequest
	case codes.AlreadyExists:
		code = http.StatusConflict
	case codes.ResourceExhausted:
		code = http.StatusTooManyRequests
	case codes.FailedPrecondition, codes.OutOfRange:
		code = http.StatusBadRequest
	}
	return &Error{Status: code, Err: fmt.Errorf("forward to %s: %s: %s", endpoint, st.Code(), st.Message())}
}

// toGRPC maps a local write failure to the gRPC status a forwarding node
// maps back (fromGRPC).
func toGRPC(err error) error {
	c := codes.Internal
	switch StatusOf(err) {
	case http.StatusBadRequest, http.StatusRequestEntityTooLarge:
		c = codes.InvalidArgument
	case http.StatusConflict:
		c = codes.AlreadyExists
	case http.StatusTooManyRequests:
		c = codes.ResourceExhausted
	case http.StatusServiceUnavailable:
		c = codes.Unavailable
	}
	return status.Error(c, err.Error())
}
