package ruler

import (
	"errors"
	"fmt"
	"log/slog"
	"os"
	"time"

	"github.com/prometheus/client_golang/prometheus"
	"github.com/prometheus/prometheus/config"
	"github.com/prometheus/prometheus/model/labels"
	"github.com/prometheus/prometheus/scrape"
	"github.com/prometheus/prometheus/storage"
	"github.com/prometheus/prometheus/storage/remote"
	"github.com/prometheus/prometheus/tsdb/agent"
	"github.com/prometheus/prometheus/util/compression"
	"go.yaml.in/yaml/v2"
)

// flushDeadline bounds the sending of what is queued at shutdown.
const flushDeadline = time.Minute

// remoteWriteYAML is the stateless mode's configuration: Prometheus'
// remote_write section.
type remoteWriteYAML struct {
	RemoteWrite []*config.RemoteWriteConfig `yaml:"remote_write"`
}

// loadRemoteWrite reads --remote-write.config-file or --remote-write.config;
// nil when neither is given or the configuration lists no destination (as
// upstream, an empty configuration keeps the stateful mode).
func (c *Config) loadRemoteWrite() ([]*config.RemoteWriteConfig, error) {
	content, what := []byte(c.RemoteWriteContent), "--remote-write.config"
	if c.RemoteWriteFile != "" {
		what = "--remote-write.config-file=" + c.RemoteWriteFile
		b, err := os.ReadFile(c.RemoteWriteFile)
		if err != nil {
			return nil, fmt.Errorf("%s: %w", what, err)
		}
		content = b
	}
	if len(content) == 0 {
		return nil, nil
	}
	var rw remoteWriteYAML
	if err := yaml.UnmarshalStrict(content, &rw); err != nil {
		return nil, fmt.Errorf("%s: not a remote_write configuration: %w", what, err)
	}
	for i, rc := range rw.RemoteWrite {
		if rc == nil || rc.URL == nil {
			return nil, fmt.Errorf("%s: remote_write entry %d has no url", what, i+1)
		}
		// No scrape manager here: there is no metadata to send.
		rc.MetadataConfig.Send = false
	}
	return rw.RemoteWrite, nil
}

// stateless is the storage of the stateless mode: a WAL (the Prometheus
// agent's) whose samples are sent by remote write.
type stateless struct {
	remote *remote.Storage
	db     *agent.DB
	// appendable writes to the WAL and tells the remote storage.
	appendable storage.Appendable
}

// openStateless opens the WAL under dir and starts sending it to rws.
// External labels are added to every series sent.
func openStateless(dir string, rws []*config.RemoteWriteConfig, ext labels.Labels, walCompression, noLockfile bool, logger *slog.Logger, reg prometheus.Registerer) (*stateless, error) {
	rs := remote.NewStorage(logger.With("subsystem", "remote_write"), reg, func() (int64, error) { return 0, nil }, dir, flushDeadline, noScrapeManager{}, false)
	pcfg := &config.Config{RemoteWriteConfigs: rws}
	pcfg.GlobalConfig.ExternalLabels = ext
	if err := rs.ApplyConfig(pcfg); err != nil {
		return nil, errors.Join(fmt.Errorf("remote write configuration: %w", err), rs.Close())
	}
	opts := agent.DefaultOptions()
	opts.NoLockfile = noLockfile
	if walCompression {
		opts.WALCompression = compression.Snappy
	}
	db, err := agent.Open(logger.With("subsystem", "wal"), reg, rs, dir, opts)
	if err != nil {
		return nil, errors.Join(fmt.Errorf("open WAL in --data-dir=%s: %w", dir, err), rs.Close())
	}
	db.SetWriteNotified(rs)
	return &stateless{remote: rs, db: db, appendable: storage.NewFanout(logger, db, rs)}, nil
}

// Close flushes what it can and closes the WAL.
func (s *stateless) Close() error {
	return errors.Join(s.db.Close(), s.remote.Close())
}

// noScrapeManager is the remote storage's ReadyScrapeManager: there is
// none in the ruler.
type noScrapeManager struct{}

// Get implements remote.ReadyScrapeManager.
func (noScrapeManager) Get() (*scrape.Manager, error) {
	return nil, errors.New("the ruler has no scrape manager")
}

// emptyQueryable is the stateless mode's storage for restoring the `for`
// state of alerts: it holds nothing, so alerts start anew after a restart.
func emptyQueryable() storage.Queryable {
	return storage.QueryableFunc(func(int64, int64) (storage.Querier, error) {
		return storage.NoopQuerier(), nil
	})
}
