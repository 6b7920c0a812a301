package objstore

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"os"
	"strings"
	"time"

	"github.com/alecthomas/kingpin/v2"
	"github.com/prometheus/client_golang/prometheus"
	"go.yaml.in/yaml/v3"
)

// Type names an object-storage provider. The YAML accepts any letter case;
// ParseConfig normalizes it to the upper-case constants below.
type Type string

// The providers Strata supports.
const (
	FILESYSTEM Type = "FILESYSTEM"
	S3         Type = "S3"
	GCS        Type = "GCS"
	AZURE      Type = "AZURE"
	MEMORY     Type = "MEMORY"
)

// SupportedTypes lists the providers in the order they are documented.
func SupportedTypes() []Type { return []Type{FILESYSTEM, S3, GCS, AZURE, MEMORY} }

func supportedTypesString() string {
	names := make([]string, 0, 5)
	for _, t := range SupportedTypes() {
		names = append(names, string(t))
	}
	return strings.Join(names, ", ")
}

// ErrNotConfigured is returned by Flags.Load when neither --objstore.config-file
// nor --objstore.config was given.
var ErrNotConfigured = errors.New("no object storage configured: give --objstore.config-file=<path> or --objstore.config=<yaml>")

// Config is one object-storage configuration: the `type:`/`config:`/`prefix:`
// YAML document of thanos-io/objstore (see the package documentation).
// The zero value is not valid; build one with ParseConfig or fill Type and Config.
// Config may hold secrets (keys, connection strings): never log it.
type Config struct {
	// Type is the provider, one of SupportedTypes.
	Type Type `yaml:"type"`
	// Config holds the provider's own settings (for S3: bucket, endpoint,
	// access_key, ...). It is handed to the provider unchanged; the provider
	// rejects keys it does not know. MEMORY needs none.
	Config map[string]any `yaml:"config,omitempty"`
	// Prefix, when not empty, puts every object under "<prefix>/".
	Prefix string `yaml:"prefix,omitempty"`
}

// ParseConfig parses and validates one YAML configuration. Unknown top-level
// keys and unknown types are errors that list what is accepted.
func ParseConfig(data []byte) (Config, error) {
	var cfg Config
	dec := yaml.NewDecoder(bytes.NewReader(data))
	dec.KnownFields(true)
	if err := dec.Decode(&cfg); err != nil {
		if errors.Is(err, io.EOF) {
			return Config{}, errors.New("object storage config is empty: it needs at least `type:` (one of " + supportedTypesString() + ")")
		}
		return Config{}, fmt.Errorf("parse object storage config (expected keys: type, config, prefix): %w", err)
	}
	if err := cfg.Validate(); err != nil {
		return Config{}, err
	}
	return cfg, nil
}

// Validate normalizes Type to upper case and checks that it is supported.
// Provider settings are checked by NewBucket, which asks the provider.
func (c *Config) Validate() error {
	if c.Type == "" {
		return errors.New("object storage config has no `type:`: set one of " + supportedTypesString())
	}
	t := Type(strings.ToUpper(strings.TrimSpace(string(c.Type))))
	for _, s := range SupportedTypes() {
		if t == s {
			c.Type = t
			return nil
		}
	}
	return fmt.Errorf("unknown object storage type %q: supported types are %s", c.Type, supportedTypesString())
}

// Marshal renders the configuration as YAML, the form --objstore.config takes.
// The output contains any secrets the configuration holds.
func (c Config) Marshal() ([]byte, error) {
	return yaml.Marshal(c)
}

// bucketName returns the provider's bucket (or container, or directory) for
// messages, or "" when the configuration does not name one.
func (c Config) bucketName() string {
	key := "bucket"
	switch c.Type {
	case AZURE:
		key = "container"
	case FILESYSTEM:
		key = "directory"
	case MEMORY:
		return "memory"
	}
	s, _ := c.Config[key].(string)
	return s
}

// Flags holds the object-storage flags of one command. Register them with
// RegisterFlags, then call Load after parsing.
type Flags struct {
	// ConfigFile is the value of --objstore.config-file.
	ConfigFile string
	// ConfigYAML is the value of --objstore.config.
	ConfigYAML string
}

// RegisterFlags adds --objstore.config-file and --objstore.config to cmd.
// They are mutually exclusive; Load enforces it.
func (f *Flags) RegisterFlags(cmd *kingpin.CmdClause) {
	cmd.Flag("objstore.config-file", "Path to the object-storage YAML config (type: FILESYSTEM|S3|GCS|AZURE|MEMORY, config:, prefix:). Mutually exclusive with --objstore.config.").
		PlaceHolder("<file-path>").StringVar(&f.ConfigFile)
	cmd.Flag("objstore.config", "Object-storage YAML config given inline, same format as --objstore.config-file. Mutually exclusive with --objstore.config-file.").
		PlaceHolder("<content>").StringVar(&f.ConfigYAML)
}

// IsSet reports whether either flag was given.
func (f *Flags) IsSet() bool { return f.ConfigFile != "" || f.ConfigYAML != "" }

// Load reads and parses the configuration the flags point to. It returns an
// error wrapping ErrNotConfigured when neither flag was given (callers for
// which a bucket is optional test for it with errors.Is or check IsSet first),
// and an error when both were.
func (f *Flags) Load() (Config, error) {
	switch {
	case f.ConfigFile != "" && f.ConfigYAML != "":
		return Config{}, errors.New("--objstore.config-file and --objstore.config are mutually exclusive: give only one")
	case f.ConfigFile != "":
		data, err := os.ReadFile(f.ConfigFile)
		if err != nil {
			return Config{}, fmt.Errorf("read --objstore.config-file: %w", err)
		}
		cfg, err := ParseConfig(data)
		if err != nil {
			return Config{}, fmt.Errorf("--objstore.config-file=%s: %w", f.ConfigFile, err)
		}
		return cfg, nil
	case f.ConfigYAML != "":
		cfg, err := ParseConfig([]byte(f.ConfigYAML))
		if err != nil {
			return Config{}, fmt.Errorf("--objstore.config: %w", err)
		}
		return cfg, nil
	default:
		return Config{}, ErrNotConfigured
	}
}

// checkTimeout bounds the Check that Open makes.
const checkTimeout = time.Minute

// Open loads the configuration the flags point to, builds the bucket
// (metrics as NewBucket's, under component) and checks it (Check, within a
// minute), so that a component fails at start with a clear error rather
// than at its first upload. The caller must Close the bucket.
func (f *Flags) Open(ctx context.Context, logger *slog.Logger, reg prometheus.Registerer, component string) (*Bucket, error) {
	cfg, err := f.Load()
	if err != nil {
		return nil, err
	}
	bkt, err := NewBucket(ctx, cfg, logger, reg, component)
	if err != nil {
		return nil, err
	}
	checkCtx, cancel := context.WithTimeout(ctx, checkTimeout)
	defer cancel()
	if err := Check(checkCtx, bkt); err != nil {
		_ = bkt.Close()
		return nil, err
	}
	return bkt, nil
}
