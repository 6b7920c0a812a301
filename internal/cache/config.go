package cache

import (
	"bytes"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"os"
	"slices"
	"strings"

	"github.com/alecthomas/kingpin/v2"
	"github.com/alecthomas/units"
	"github.com/prometheus/client_golang/prometheus"
	"go.yaml.in/yaml/v3"
)

// Type names a cache backend: the `type:` of a cache configuration. The
// YAML accepts any letter case; ParseBackend normalizes it to the
// upper-case constants below.
type Type string

// The cache backends Strata supports.
const (
	TypeInMemory  Type = "IN-MEMORY"
	TypeMemcached Type = "MEMCACHED"
)

// SupportedTypes lists the backends in the order they are documented.
func SupportedTypes() []Type { return []Type{TypeInMemory, TypeMemcached} }

func supportedTypesString() string {
	names := make([]string, 0, 2)
	for _, t := range SupportedTypes() {
		names = append(names, string(t))
	}
	return strings.Join(names, ", ")
}

// BackendConfig is the backend part of a cache configuration, Thanos'
// format of --index-cache.config and --store.caching-bucket.config:
//
//	type: IN-MEMORY | MEMCACHED
//	config:
//	  <InMemoryConfig or MemcachedConfig, by type>
//
// The zero value (Type empty) means no cache.
type BackendConfig struct {
	Type Type
	// InMemory is used when Type is TypeInMemory.
	InMemory InMemoryConfig
	// Memcached is used when Type is TypeMemcached.
	Memcached MemcachedConfig
}

// Validate checks the configuration of the selected backend.
func (c BackendConfig) Validate() error {
	switch c.Type {
	case "":
		return nil
	case TypeInMemory:
		return c.InMemory.Validate()
	case TypeMemcached:
		return c.Memcached.Validate()
	}
	return fmt.Errorf("unknown cache type %q: supported types are %s", c.Type, supportedTypesString())
}

// InMemoryConfig configures an LRU (`type: IN-MEMORY`).
type InMemoryConfig struct {
	// MaxSize bounds the keys and values held, in bytes.
	MaxSize units.Base2Bytes `yaml:"max_size"`
	// MaxItemSize is the largest item (key and value) stored; larger ones
	// are skipped. 0: only MaxSize bounds an item.
	MaxItemSize units.Base2Bytes `yaml:"max_item_size"`
}

// DefaultInMemoryConfig returns Thanos' defaults: 250MiB, items up to
// 125MiB.
func DefaultInMemoryConfig() InMemoryConfig {
	return InMemoryConfig{MaxSize: DefaultLRUSize, MaxItemSize: 125 << 20}
}

// Validate reports a configuration the cache cannot run with.
func (c InMemoryConfig) Validate() error {
	switch {
	case c.MaxSize <= 0:
		return fmt.Errorf("in-memory cache: max_size must be positive, got %s", c.MaxSize)
	case c.MaxItemSize < 0:
		return fmt.Errorf("in-memory cache: max_item_size must not be negative, got %s", c.MaxItemSize)
	}
	return nil
}

// Backend is a Cache built from a BackendConfig; Close releases it.
type Backend interface {
	Cache
	io.Closer
}

// New builds the cache cfg selects, or returns nil when cfg.Type is empty.
// name prefixes its metrics (strata_<name>_hits_total, ...; see NewLRU
// and NewMemcached). A nil logger discards logs; reg may be nil.
func New(cfg BackendConfig, name string, logger *slog.Logger, reg prometheus.Registerer) (Backend, error) {
	if err := cfg.Validate(); err != nil {
		return nil, err
	}
	switch cfg.Type {
	case TypeInMemory:
		return NewLRU(cfg.InMemory, name, reg), nil
	case TypeMemcached:
		return NewMemcached(cfg.Memcached, name, logger, reg)
	}
	return nil, nil
}

// ParseBackend parses a cache configuration: `type:` and `config:`, onto
// the defaults of the backend (DefaultInMemoryConfig,
// DefaultMemcachedConfig), rejecting unknown keys. The other top-level
// keys are decoded into extra (a pointer to a struct with yaml tags), or
// are an error when extra is nil. Empty data yields a zero BackendConfig
// (no cache) and leaves extra untouched.
func ParseBackend(data []byte, extra any) (BackendConfig, error) {
	var doc map[string]yaml.Node
	if err := yaml.Unmarshal(data, &doc); err != nil {
		return BackendConfig{}, fmt.Errorf("parse cache config (expected keys: type, config): %w", err)
	}
	if len(doc) == 0 {
		return BackendConfig{}, nil
	}
	typeNode, ok := doc["type"]
	if !ok {
		return BackendConfig{}, errors.New("cache config has no `type:`: set one of " + supportedTypesString())
	}
	var typ string
	if err := typeNode.Decode(&typ); err != nil {
		return BackendConfig{}, fmt.Errorf("cache config `type:`: %w", err)
	}
	cfg := BackendConfig{Type: Type(strings.ToUpper(strings.TrimSpace(typ)))}
	configNode := doc["config"]
	delete(doc, "type")
	delete(doc, "config")
	switch cfg.Type {
	case TypeInMemory:
		cfg.InMemory = DefaultInMemoryConfig()
		if err := decodeStrict(&configNode, &cfg.InMemory); err != nil {
			return BackendConfig{}, fmt.Errorf("parse in-memory cache config (keys: max_size, max_item_size): %w", err)
		}
	case TypeMemcached:
		cfg.Memcached = DefaultMemcachedConfig()
		if err := decodeStrict(&configNode, &cfg.Memcached); err != nil {
			return BackendConfig{}, fmt.Errorf("parse memcached cache config (keys: addresses, timeout, max_idle_connections, max_async_concurrency, max_async_buffer_size, max_get_multi_concurrency, max_get_multi_batch_size, max_item_size, dns_provider_update_interval, auto_discovery): %w", err)
		}
	default:
		return BackendConfig{}, fmt.Errorf("unknown cache type %q: supported types are %s", typ, supportedTypesString())
	}
	if len(doc) > 0 {
		if extra == nil {
			keys := make([]string, 0, len(doc))
			for k := range doc {
				keys = append(keys, k)
			}
			slices.Sort(keys)
			return BackendConfig{}, fmt.Errorf("unknown keys %s in cache config: accepted keys are type, config", strings.Join(keys, ", "))
		}
		rest := &yaml.Node{Kind: yaml.MappingNode}
		for k, v := range doc {
			rest.Content = append(rest.Content, &yaml.Node{Kind: yaml.ScalarNode, Value: k}, &v)
		}
		if err := decodeStrict(rest, extra); err != nil {
			return BackendConfig{}, err
		}
	}
	if err := cfg.Validate(); err != nil {
		return BackendConfig{}, err
	}
	return cfg, nil
}

// decodeStrict decodes n into out, rejecting keys out has no field for.
// An empty node leaves out as it is.
func decodeStrict(n *yaml.Node, out any) error {
	if n.Kind == 0 {
		return nil
	}
	b, err := yaml.Marshal(n)
	if err != nil {
		return err
	}
	dec := yaml.NewDecoder(bytes.NewReader(b))
	dec.KnownFields(true)
	if err := dec.Decode(out); err != nil && !errors.Is(err, io.EOF) {
		return err
	}
	return nil
}

// ReadConfigFlags returns the content of a pair of configuration flags:
// the file fileFlag names (path file) or the inline YAML of inlineFlag, not
// both; nil when neither is set.
func ReadConfigFlags(file, inline, fileFlag, inlineFlag string) ([]byte, error) {
	switch {
	case file != "" && inline != "":
		return nil, fmt.Errorf("--%s and --%s are mutually exclusive: give only one", fileFlag, inlineFlag)
	case file != "":
		b, err := os.ReadFile(file)
		if err != nil {
			return nil, fmt.Errorf("read --%s: %w", fileFlag, err)
		}
		return b, nil
	case inline != "":
		return []byte(inline), nil
	}
	return nil, nil
}

// IndexCacheFlags are the store gateway's index cache flags, with Thanos'
// names: --index-cache-size sizes the in-memory cache used when neither
// --index-cache.config-file nor --index-cache.config is given.
type IndexCacheFlags struct {
	// InMemory is the cache without a configuration; --index-cache-size
	// sets its MaxSize (0: no index cache).
	InMemory InMemoryConfig
	// ConfigFile is the value of --index-cache.config-file, ConfigYAML
	// that of --index-cache.config.
	ConfigFile, ConfigYAML string
}

// RegisterFlags adds the index cache flags to cmd.
func (f *IndexCacheFlags) RegisterFlags(cmd *kingpin.CmdClause) {
	f.InMemory = DefaultInMemoryConfig()
	cmd.Flag("index-cache-size", "Size of the in-memory index cache (postings and series entries), used when no --index-cache.config(-file) is given. 0: no index cache.").
		Default(strings.Replace(f.InMemory.MaxSize.String(), "iB", "B", 1)).BytesVar(&f.InMemory.MaxSize) // 250MB, as upstream shows it
	cmd.Flag("index-cache.config-file", "Path to the index cache YAML config: type: IN-MEMORY (config: max_size, max_item_size) or MEMCACHED (config: addresses, timeout, ...). Mutually exclusive with --index-cache.config.").
		PlaceHolder("<file-path>").StringVar(&f.ConfigFile)
	cmd.Flag("index-cache.config", "Index cache YAML config given inline, same format as --index-cache.config-file. Mutually exclusive with --index-cache.config-file.").
		PlaceHolder("<content>").StringVar(&f.ConfigYAML)
}

// Load returns the index cache configuration the flags select: the one
// of --index-cache.config(-file), else the in-memory cache of
// --index-cache-size, else (size 0) none (Type empty).
func (f *IndexCacheFlags) Load() (BackendConfig, error) {
	data, err := ReadConfigFlags(f.ConfigFile, f.ConfigYAML, "index-cache.config-file", "index-cache.config")
	if err != nil {
		return BackendConfig{}, err
	}
	if data == nil {
		switch {
		case f.InMemory.MaxSize < 0:
			return BackendConfig{}, fmt.Errorf("--index-cache-size must not be negative, got %s", f.InMemory.MaxSize)
		case f.InMemory.MaxSize == 0:
			return BackendConfig{}, nil
		}
		return BackendConfig{Type: TypeInMemory, InMemory: f.InMemory}, nil
	}
	cfg, err := ParseBackend(data, nil)
	if err != nil {
		return BackendConfig{}, fmt.Errorf("check --index-cache.config(-file): %w", err)
	}
	if cfg.Type == "" {
		return BackendConfig{}, errors.New("check --index-cache.config(-file): the config is empty: it needs at least `type:` (one of " + supportedTypesString() + ")")
	}
	return cfg, nil
}
