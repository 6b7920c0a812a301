package main

import (
	"context"
	"errors"
	"log/slog"

	"github.com/prometheus/client_golang/prometheus"

	"github.com/strata-io/strata/internal/objstore"
)

// openBucket opens the bucket the --objstore.config(-file) flags of obj
// name, for component (a metrics label). needed says what the component
// does with it, for the error when the flags name none; "" makes the
// bucket optional (nil when not set). closeFn releases it; it logs a
// failure.
func openBucket(ctx context.Context, obj *objstore.Flags, logger *slog.Logger, reg prometheus.Registerer, component, needed string) (bkt *objstore.Bucket, closeFn func(), err error) {
	if !obj.IsSet() {
		if needed != "" {
			return nil, nil, errors.New(needed + ": set --objstore.config-file or --objstore.config")
		}
		return nil, func() {}, nil
	}
	if bkt, err = obj.Open(ctx, logger, reg, component); err != nil {
		return nil, nil, err
	}
	logger.Info("bucket opened", "bucket", bkt.BucketName(), "type", bkt.Type())
	return bkt, func() {
		if err := bkt.Close(); err != nil {
			logger.Warn("close bucket", "err", err)
		}
	}, nil
}
