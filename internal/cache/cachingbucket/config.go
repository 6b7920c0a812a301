package cachingbucket

import (
	"errors"
	"fmt"
	"time"

	"github.com/alecthomas/kingpin/v2"
	"github.com/alecthomas/units"

	"github.com/strata-io/strata/internal/cache"
)

// Config configures a caching bucket: Thanos' --store.caching-bucket.config
// format, the backend (`type:`, `config:`, see cache.ParseBackend) and
// the keys below at the top level. A TTL of 0 turns off the caching it
// governs.
type Config struct {
	// Backend is the cache the items go to.
	Backend cache.BackendConfig `yaml:"-"`

	// ChunkSubrangeSize is the unit of chunk caching: ranged reads of
	// chunk files are cached as the aligned subranges of this many bytes
	// they cover.
	ChunkSubrangeSize int64 `yaml:"chunk_subrange_size"`
	// MaxChunksGetRangeRequests bounds the ranged reads one GetRange makes
	// for the subranges it misses: beyond it, neighbouring runs of
	// missing subranges are read together. 0: no bound.
	MaxChunksGetRangeRequests int `yaml:"max_chunks_get_range_requests"`
	// ChunkObjectAttrsTTL is how long a chunk file's attributes (its size)
	// are cached, ChunkSubrangeTTL how long a subrange is.
	ChunkObjectAttrsTTL time.Duration `yaml:"chunk_object_attrs_ttl"`
	ChunkSubrangeTTL    time.Duration `yaml:"chunk_subrange_ttl"`

	// BlocksIterTTL is how long the listing of the bucket's root (the
	// blocks) is cached.
	BlocksIterTTL time.Duration `yaml:"blocks_iter_ttl"`
	// MetafileExistsTTL and MetafileDoesntExistTTL are how long the
	// existence, or absence, of a block's meta.json, deletion-mark.json or
	// no-compact-mark.json is cached; MetafileContentTTL how long its
	// content is, when at most MetafileMaxSize.
	MetafileExistsTTL      time.Duration    `yaml:"metafile_exists_ttl"`
	MetafileDoesntExistTTL time.Duration    `yaml:"metafile_doesnt_exist_ttl"`
	MetafileContentTTL     time.Duration    `yaml:"metafile_content_ttl"`
	MetafileMaxSize        units.Base2Bytes `yaml:"metafile_max_size"`
}

// DefaultConfig returns Thanos' defaults, without a backend: 16000-byte
// subranges, 3 ranged reads per GetRange, chunk attributes and subranges
// for 24h, the blocks listing for 5m, metafile existence for 2h, absence
// for 15m, content for 24h when at most 1MiB.
func DefaultConfig() Config {
	return Config{
		ChunkSubrangeSize:         16000,
		MaxChunksGetRangeRequests: 3,
		ChunkObjectAttrsTTL:       24 * time.Hour,
		ChunkSubrangeTTL:          24 * time.Hour,
		BlocksIterTTL:             5 * time.Minute,
		MetafileExistsTTL:         2 * time.Hour,
		MetafileDoesntExistTTL:    15 * time.Minute,
		MetafileContentTTL:        24 * time.Hour,
		MetafileMaxSize:           1 << 20,
	}
}

// Validate reports a configuration the caching bucket cannot run with.
func (c Config) Validate() error {
	if c.Backend.Type == "" {
		return errors.New("caching bucket: no cache `type:`: set IN-MEMORY or MEMCACHED")
	}
	if err := c.Backend.Validate(); err != nil {
		return err
	}
	switch {
	case c.ChunkSubrangeSize <= 0:
		return fmt.Errorf("caching bucket: chunk_subrange_size must be positive, got %d", c.ChunkSubrangeSize)
	case c.MaxChunksGetRangeRequests < 0:
		return fmt.Errorf("caching bucket: max_chunks_get_range_requests must not be negative, got %d", c.MaxChunksGetRangeRequests)
	case c.MetafileMaxSize < 0:
		return fmt.Errorf("caching bucket: metafile_max_size must not be negative, got %s", c.MetafileMaxSize)
	}
	for name, d := range map[string]time.Duration{
		"chunk_object_attrs_ttl": c.ChunkObjectAttrsTTL, "chunk_subrange_ttl": c.ChunkSubrangeTTL,
		"blocks_iter_ttl": c.BlocksIterTTL, "metafile_exists_ttl": c.MetafileExistsTTL,
		"metafile_doesnt_exist_ttl": c.MetafileDoesntExistTTL, "metafile_content_ttl": c.MetafileContentTTL,
	} {
		if d < 0 {
			return fmt.Errorf("caching bucket: %s must not be negative, got %s", name, d)
		}
	}
	return nil
}

// Parse parses a caching bucket configuration onto DefaultConfig.
func Parse(data []byte) (Config, error) {
	cfg := DefaultConfig()
	backend, err := cache.ParseBackend(data, &cfg)
	if err != nil {
		return Config{}, err
	}
	cfg.Backend = backend
	if err := cfg.Validate(); err != nil {
		return Config{}, err
	}
	return cfg, nil
}

// Flags are --store.caching-bucket.config-file and
// --store.caching-bucket.config, Thanos' names.
type Flags struct {
	ConfigFile, ConfigYAML string
}

// RegisterFlags adds the caching bucket flags to cmd.
func (f *Flags) RegisterFlags(cmd *kingpin.CmdClause) {
	cmd.Flag("store.caching-bucket.config-file", "Path to the caching bucket YAML config (type: IN-MEMORY|MEMCACHED, config:, chunk_subrange_size, *_ttl, ...): chunk subranges, chunk attributes, meta.json and the blocks listing are cached. Mutually exclusive with --store.caching-bucket.config.").
		PlaceHolder("<file-path>").StringVar(&f.ConfigFile)
	cmd.Flag("store.caching-bucket.config", "Caching bucket YAML config given inline, same format as --store.caching-bucket.config-file. Mutually exclusive with --store.caching-bucket.config-file.").
		PlaceHolder("<content>").StringVar(&f.ConfigYAML)
}

// Load returns the configuration the flags give, and false when neither
// is set (no caching bucket).
func (f *Flags) Load() (Config, bool, error) {
	data, err := cache.ReadConfigFlags(f.ConfigFile, f.ConfigYAML, "store.caching-bucket.config-file", "store.caching-bucket.config")
	if err != nil || data == nil {
		return Config{}, false, err
	}
	cfg, err := Parse(data)
	if err != nil {
		return Config{}, false, fmt.Errorf("check --store.caching-bucket.config(-file): %w", err)
	}
	return cfg, true, nil
}
