package objstore

import (
	"context"
	"fmt"
	"log/slog"
	"os"
	"strings"

	kitlog "github.com/go-kit/log"
	"github.com/prometheus/client_golang/prometheus"
	"github.com/thanos-io/objstore"
	"github.com/thanos-io/objstore/providers/azure"
	"github.com/thanos-io/objstore/providers/filesystem"
	"github.com/thanos-io/objstore/providers/gcs"
	"github.com/thanos-io/objstore/providers/s3"
	"go.yaml.in/yaml/v3"
)

// Bucket is an instrumented objstore bucket built by NewBucket. It knows the
// configuration it came from, so that Check can name the bucket and the
// endpoint in its errors. It is safe for concurrent use, as objstore buckets are.
type Bucket struct {
	objstore.InstrumentedBucket

	typ      Type
	bucket   string
	endpoint string
}

// Type returns the provider type.
func (b *Bucket) Type() Type { return b.typ }

// Endpoint returns where the bucket lives, for messages: a host[:port] for
// S3, GCS and Azure, the directory for FILESYSTEM, "memory" for MEMORY.
func (b *Bucket) Endpoint() string { return b.endpoint }

// BucketName returns the configured bucket, container or directory.
func (b *Bucket) BucketName() string { return b.bucket }

// NewBucket builds the bucket cfg describes. component (e.g. "sidecar") goes
// into the provider's user agent and, when not empty, into a `component`
// label of the bucket metrics, which are registered on reg (nil: not
// registered) as strata_objstore_bucket_* with a `bucket` label. Registering
// two buckets with the same component on one registerer panics, as any
// duplicate registration does.
//
// NewBucket does not contact the provider, except for AZURE, whose provider
// checks the container and creates it when missing unless the config says
// `storage_create_container: false`; its errors are then explained as
// Check's are. Call Check to verify the bucket. The caller owns the bucket
// and must Close it.
func NewBucket(ctx context.Context, cfg Config, logger *slog.Logger, reg prometheus.Registerer, component string) (*Bucket, error) {
	if err := cfg.Validate(); err != nil {
		return nil, err
	}
	if logger == nil {
		logger = slog.New(slog.DiscardHandler)
	}
	provCfg, err := yaml.Marshal(cfg.Config)
	if err != nil {
		return nil, fmt.Errorf("encode %s provider config: %w", cfg.Type, err)
	}
	if len(cfg.Config) == 0 {
		provCfg = nil
	}
	klog := kitLogger{logger.With("bucket_type", string(cfg.Type))}

	var bkt objstore.Bucket
	switch cfg.Type {
	case FILESYSTEM:
		bkt, err = filesystem.NewBucketFromConfig(provCfg)
	case S3:
		bkt, err = s3.NewBucket(klog, provCfg, component, nil)
	case GCS:
		bkt, err = gcs.NewBucket(ctx, klog, provCfg, component, nil)
	case AZURE:
		bkt, err = azure.NewBucket(klog, provCfg, component, nil)
	case MEMORY:
		bkt = objstore.NewInMemBucket()
	}
	if err != nil {
		if _, cause := classify(err); cause != nil {
			// Azure checks (and creates) its container here.
			return nil, describe(err, cfg.Type, cfg.bucketName(), endpointOf(cfg))
		}
		return nil, fmt.Errorf("create %s bucket: %w", cfg.Type, err)
	}
	bkt = objstore.NewPrefixedBucket(bkt, cfg.Prefix)

	if reg != nil {
		if component != "" {
			reg = prometheus.WrapRegistererWith(prometheus.Labels{"component": component}, reg)
		}
		reg = prometheus.WrapRegistererWithPrefix("strata_", reg)
	}
	return &Bucket{
		InstrumentedBucket: objstore.WrapWithMetrics(bkt, reg, bkt.Name()),
		typ:                cfg.Type,
		bucket:             cfg.bucketName(),
		endpoint:           endpointOf(cfg),
	}, nil
}

// endpointOf describes where the configured bucket lives, for messages.
func endpointOf(cfg Config) string {
	str := func(key string) string { s, _ := cfg.Config[key].(string); return s }
	switch cfg.Type {
	case S3:
		if e := str("endpoint"); e != "" {
			return e
		}
		return "s3.amazonaws.com"
	case GCS:
		if e := os.Getenv("STORAGE_EMULATOR_HOST"); e != "" {
			return e
		}
		return "storage.googleapis.com"
	case AZURE:
		if cs := str("storage_connection_string"); cs != "" {
			for _, part := range strings.Split(cs, ";") {
				if k, v, ok := strings.Cut(part, "="); ok && strings.EqualFold(k, "BlobEndpoint") {
					return v
				}
			}
		}
		e := str("endpoint")
		if e == "" {
			e = "blob.core.windows.net"
		}
		return str("storage_account") + "." + e
	case FILESYSTEM:
		return str("directory")
	default:
		return "memory"
	}
}

// kitLogger adapts slog to the go-kit logger the objstore providers take.
type kitLogger struct{ l *slog.Logger }

func (k kitLogger) Log(keyvals ...any) error {
	lvl := slog.LevelInfo
	msg := ""
	attrs := make([]any, 0, len(keyvals))
	for i := 0; i+1 < len(keyvals); i += 2 {
		key := fmt.Sprint(keyvals[i])
		switch key {
		case "level":
			switch strings.ToLower(fmt.Sprint(keyvals[i+1])) {
			case "debug":
				lvl = slog.LevelDebug
			case "warn":
				lvl = slog.LevelWarn
			case "error":
				lvl = slog.LevelError
			}
		case "msg":
			msg = fmt.Sprint(keyvals[i+1])
		default:
			attrs = append(attrs, key, keyvals[i+1])
		}
	}
	k.l.Log(context.Background(), lvl, msg, attrs...)
	return nil
}

var _ kitlog.Logger = kitLogger{}
