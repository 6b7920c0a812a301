// Package logging builds the slog logger every component uses from the
// common --log.level and --log.format flags.
package logging

import (
	"fmt"
	"io"
	"log/slog"
	"strings"

	"github.com/alecthomas/kingpin/v2"
)

// Config selects the level and format of log lines.
type Config struct {
	Level  string // debug, info, warn, error
	Format string // logfmt, json
}

// RegisterFlags adds --log.level and --log.format to app.
func (c *Config) RegisterFlags(app *kingpin.Application) {
	app.Flag("log.level", "Only log lines of at least this level: debug, info, warn, error.").
		Default("info").EnumVar(&c.Level, "debug", "info", "warn", "error")
	app.Flag("log.format", "Format of log lines: logfmt or json.").
		Default("logfmt").EnumVar(&c.Format, "logfmt", "json")
}

// New returns a logger writing to w as cfg says.
func New(cfg Config, w io.Writer) (*slog.Logger, error) {
	var lvl slog.Level
	switch strings.ToLower(cfg.Level) {
	case "debug":
		lvl = slog.LevelDebug
	case "", "info":
		lvl = slog.LevelInfo
	case "warn":
		lvl = slog.LevelWarn
	case "error":
		lvl = slog.LevelError
	default:
		return nil, fmt.Errorf("unknown log level %q: use debug, info, warn or error", cfg.Level)
	}
	opts := &slog.HandlerOptions{Level: lvl}
	switch strings.ToLower(cfg.Format) {
	case "", "logfmt":
		return slog.New(slog.NewTextHandler(w, opts)), nil
	case "json":
		return slog.New(slog.NewJSONHandler(w, opts)), nil
	default:
		return nil, fmt.Errorf("unknown log format %q: use logfmt or json", cfg.Format)
	}
}
