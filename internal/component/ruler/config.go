package ruler

import (
	"errors"
	"fmt"
	"net/url"
	"os"
	"strconv"
	"strings"
	"time"

	"github.com/alecthomas/kingpin/v2"
	"github.com/prometheus/common/model"
	"github.com/prometheus/prometheus/model/relabel"

	"github.com/strata-io/strata/internal/block"
	"github.com/strata-io/strata/internal/flagutil"
	"github.com/strata-io/strata/internal/rule"
	"github.com/strata-io/strata/internal/shipper"
)

// Defaults of the ruler's flags, upstream's.
const (
	DefaultEvalInterval    = time.Minute
	DefaultRetention       = 48 * time.Hour
	DefaultSendTimeout     = 10 * time.Second
	DefaultResendDelay     = time.Minute
	DefaultOutageTolerance = time.Hour
	DefaultForGracePeriod  = 10 * time.Minute
	// BlockDuration is the default length of the blocks the ruler's TSDB
	// cuts, upstream's.
	BlockDuration = 2 * time.Hour
	// DefaultShipInterval is how often the TSDB directory is looked at for
	// blocks to upload.
	DefaultShipInterval = 30 * time.Second
)

// Config is the configuration of `strata rule`. The HTTP and gRPC server
// flags and the bucket flags are the process'.
type Config struct {
	// Rule configures evaluation (--rule-file, --eval-interval,
	// --rule-concurrent-evaluation, --for-*, --resend-delay, --label,
	// --alert.query-url).
	Rule rule.Config
	// Queries are the query APIs (--query).
	Queries []*url.URL
	// Alertmanagers configures notification (--alertmanagers.*,
	// --alert.label-drop).
	Alertmanagers rule.AlertmanagersConfig
	// AlertmanagersFile and AlertmanagersContent are
	// --alertmanagers.config-file and --alertmanagers.config.
	AlertmanagersFile, AlertmanagersContent string
	// AlertRelabelFile and AlertRelabelContent are
	// --alert.relabel-config-file and --alert.relabel-config.
	AlertRelabelFile, AlertRelabelContent string
	// DataDir holds the TSDB of the results (--data-dir).
	DataDir string
	// Retention is how long blocks stay on local disk (--tsdb.retention).
	Retention time.Duration
	// WALCompression compresses the WAL (--tsdb.wal-compression).
	WALCompression bool
	// NoLockfile does not lock the data directory (--tsdb.no-lockfile).
	NoLockfile bool
	// BlockDuration is the length of the blocks cut from the head
	// (--tsdb.block-duration).
	BlockDuration time.Duration
	// ShipperMetaFile is the name of the shipper's state file in DataDir
	// (--shipper.meta-file-name).
	ShipperMetaFile string
	// ShipInterval is the time between two looks for blocks to upload.
	ShipInterval time.Duration
	// RemoteWriteFile (--remote-write.config-file) or RemoteWriteContent
	// (--remote-write.config), Prometheus' remote_write YAML, turn on the
	// stateless mode: results go through a WAL in DataDir to remote
	// write, nothing is kept or served locally.
	RemoteWriteFile, RemoteWriteContent string
}

// DefaultConfig returns the ruler's defaults.
func DefaultConfig() Config {
	return Config{
		Rule: rule.Config{
			EvalInterval:    DefaultEvalInterval,
			Concurrency:     1,
			OutageTolerance: DefaultOutageTolerance,
			ForGracePeriod:  DefaultForGracePeriod,
			ResendDelay:     DefaultResendDelay,
		},
		Alertmanagers:   rule.AlertmanagersConfig{Timeout: DefaultSendTimeout},
		DataDir:         "data/",
		Retention:       DefaultRetention,
		WALCompression:  true,
		BlockDuration:   BlockDuration,
		ShipperMetaFile: shipper.DefaultMetaFileName,
		ShipInterval:    DefaultShipInterval,
	}
}

// RegisterFlags resets c to DefaultConfig and adds the ruler's flags to
// cmd, with upstream's names and defaults.
func (c *Config) RegisterFlags(cmd *kingpin.CmdClause) {
	*c = DefaultConfig()
	def := DefaultConfig()
	dur := func(d time.Duration) string { return model.Duration(d).String() }
	cmd.Flag("query", "Query API the rules are evaluated against: http://host:port of a strata query or any Prometheus-compatible API (repeatable; taken in turn, the next one tried when one fails). dns+http://host:port uses every address of host, dnssrv+http://host its SRV records.").
		PlaceHolder("<url>").URLListVar(&c.Queries)
	cmd.Flag("rule-file", "Rule files (globs allowed, repeatable): Prometheus' format, plus partial_response_strategy: warn|abort per group (default abort). Re-read on SIGHUP and POST /-/reload.").
		PlaceHolder("<glob>").StringsVar(&c.Rule.Files)
	flagutil.DurationVar(cmd.Flag("eval-interval", "Evaluation interval of groups that set none.").
		Default(dur(def.Rule.EvalInterval)), &c.Rule.EvalInterval)
	flagutil.DurationVar(cmd.Flag("rule-query-offset", "query_offset of groups that set none: evaluations query this far in the past, so that late samples are in.").
		Default("0s"), &c.Rule.QueryOffset)
	cmd.Flag("rule-concurrent-evaluation", "Rules evaluated at once when their dependencies allow; 1 evaluates them one at a time.").
		Default(strconv.Itoa(def.Rule.Concurrency)).IntVar(&c.Rule.Concurrency)
	cmd.Flag("data-dir", "Directory of the TSDB holding rule results and alert state.").
		Default(def.DataDir).StringVar(&c.DataDir)
	flagutil.DurationVar(cmd.Flag("tsdb.retention", "How long blocks are kept on local disk.").
		Default(dur(def.Retention)), &c.Retention)
	cmd.Flag("tsdb.wal-compression", "Compress the WAL.").
		Default("true").BoolVar(&c.WALCompression)
	cmd.Flag("tsdb.no-lockfile", "Do not lock the data directory.").
		Default("false").BoolVar(&c.NoLockfile)
	flagutil.DurationVar(cmd.Flag("tsdb.block-duration", "Length of the blocks cut from the TSDB's head (and shipped); they are not compacted further locally.").
		Default(dur(def.BlockDuration)), &c.BlockDuration)
	cmd.Flag("shipper.meta-file-name", "Name of the shipper's state file in --data-dir (what was uploaded).").
		Default(def.ShipperMetaFile).StringVar(&c.ShipperMetaFile)
	cmd.Flag("remote-write.config-file", "Prometheus remote_write YAML (a remote_write: list). Given, the ruler is stateless: results and alert state go through a WAL in --data-dir to these remote-write endpoints (e.g. strata receive) and nothing is stored or served over the StoreAPI locally.").
		PlaceHolder("<file>").StringVar(&c.RemoteWriteFile)
	cmd.Flag("remote-write.config", "The remote_write YAML, inline (instead of --remote-write.config-file).").
		PlaceHolder("<yaml>").StringVar(&c.RemoteWriteContent)
	flagutil.ExternalLabelsVar(cmd.Flag("label", `External label of the ruler's results, blocks and alerts, as name="value" (repeatable), e.g. --label='ruler_replica="a"'.`), &c.Rule.ExternalLabels, `ruler_replica="a"`)
	cmd.Flag("alertmanagers.url", "Alertmanager to send alerts to (API v2): http(s)://host:port[/prefix] (repeatable; every one gets every alert).").
		PlaceHolder("<url>").URLListVar(&c.Alertmanagers.URLs)
	cmd.Flag("alertmanagers.config-file", "YAML file of Alertmanagers (upstream's format: alertmanagers: [{http_config, static_configs, scheme, path_prefix, timeout, api_version}]), in addition to --alertmanagers.url.").
		Default("").StringVar(&c.AlertmanagersFile)
	cmd.Flag("alertmanagers.config", "The --alertmanagers.config-file YAML, inline.").
		Default("").StringVar(&c.AlertmanagersContent)
	cmd.Flag("alert.relabel-config-file", "File of relabel configs (YAML list, Prometheus format) applied to every alert after --alert.label-drop; an alert they drop is not sent.").
		Default("").StringVar(&c.AlertRelabelFile)
	cmd.Flag("alert.relabel-config", "The --alert.relabel-config-file YAML, inline.").
		Default("").StringVar(&c.AlertRelabelContent)
	flagutil.DurationVar(cmd.Flag("alertmanagers.send-timeout", "Timeout of one send to an Alertmanager.").
		Default(dur(def.Alertmanagers.Timeout)), &c.Alertmanagers.Timeout)
	cmd.Flag("alert.label-drop", "Label removed from alerts before they are sent (repeatable): the replica label of an HA pair of rulers, so that Alertmanager deduplicates them.").
		PlaceHolder("<name>").StringsVar(&c.Alertmanagers.DropLabels)
	cmd.Flag("alert.query-url", "Base URL of the generator URL of alerts, e.g. the strata query UI.").
		PlaceHolder("<url>").StringVar(&c.Rule.QueryURL)
	flagutil.DurationVar(cmd.Flag("resend-delay", "Minimum time between two sends of a still-firing alert.").
		Default(dur(def.Rule.ResendDelay)), &c.Rule.ResendDelay)
	flagutil.DurationVar(cmd.Flag("for-outage-tolerance", "Longest ruler outage within which the `for` state of alerts is restored from ALERTS_FOR_STATE; after a longer one they start pending anew.").
		Default(dur(def.Rule.OutageTolerance)), &c.Rule.OutageTolerance)
	flagutil.DurationVar(cmd.Flag("for-grace-period", "Minimum time an alert whose `for` state was restored stays pending, when its `for` is at least this long.").
		Default(dur(def.Rule.ForGracePeriod)), &c.Rule.ForGracePeriod)
}

// Validate checks the configuration and says what to fix.
func (c *Config) Validate() error {
	var errs []error
	if len(c.Queries) == 0 {
		errs = append(errs, errors.New("no --query: give the query API the rules are evaluated against, e.g. --query=http://strata-query:10902"))
	}
	for _, u := range c.Queries {
		if err := rule.CheckQueryURL(u); err != nil {
			errs = append(errs, err)
		}
	}
	if c.AlertRelabelFile != "" && c.AlertRelabelContent != "" {
		errs = append(errs, errors.New("give --alert.relabel-config-file or --alert.relabel-config, not both"))
	}
	if c.AlertmanagersFile != "" && c.AlertmanagersContent != "" {
		errs = append(errs, errors.New("give --alertmanagers.config-file or --alertmanagers.config, not both"))
	}
	if len(c.Rule.Files) == 0 {
		errs = append(errs, errors.New("no --rule-file: give the rule files to evaluate, e.g. --rule-file='rules/*.yml'"))
	}
	if err := c.Rule.Validate(); err != nil {
		errs = append(errs, err)
	}
	if err := c.Alertmanagers.Validate(); err != nil {
		errs = append(errs, err)
	}
	if c.DataDir == "" {
		errs = append(errs, errors.New("--data-dir must be set"))
	}
	if c.Retention <= 0 {
		errs = append(errs, fmt.Errorf("--tsdb.retention=%s must be positive", c.Retention))
	}
	if c.BlockDuration < time.Minute {
		errs = append(errs, fmt.Errorf("--tsdb.block-duration=%s must be at least 1m", c.BlockDuration))
	}
	if c.ShipperMetaFile == "" || strings.ContainsRune(c.ShipperMetaFile, '/') {
		errs = append(errs, fmt.Errorf("--shipper.meta-file-name=%q must be a file name", c.ShipperMetaFile))
	}
	if c.RemoteWriteFile != "" && c.RemoteWriteContent != "" {
		errs = append(errs, errors.New("give --remote-write.config-file or --remote-write.config, not both"))
	}
	if c.ShipInterval <= 0 {
		errs = append(errs, fmt.Errorf("ship interval %s must be positive", c.ShipInterval))
	}
	return errors.Join(errs...)
}

// alertRelabel reads --alert.relabel-config-file or --alert.relabel-config.
func (c *Config) alertRelabel() ([]*relabel.Config, error) {
	content, flag := []byte(c.AlertRelabelContent), "--alert.relabel-config"
	if c.AlertRelabelFile != "" {
		b, err := os.ReadFile(c.AlertRelabelFile)
		if err != nil {
			return nil, fmt.Errorf("read --alert.relabel-config-file: %w", err)
		}
		content, flag = b, "--alert.relabel-config-file="+c.AlertRelabelFile
	}
	if len(content) == 0 {
		return nil, nil
	}
	cfgs, err := block.ParseRelabelConfigs(content)
	if err != nil {
		return nil, fmt.Errorf("%s: %w", flag, err)
	}
	return cfgs, nil
}
