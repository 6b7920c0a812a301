// Package block is the one inventory of the blocks of a bucket that every
// component shares: which blocks there are, their metadata and markers,
// and which of them a component owns. relabel.go holds the block selector
// of sharded components (store gateway, compactor): Prometheus relabel
// configs applied to each block's external labels plus __block_id, as in
// Thanos' --selector.relabel-config.
package block

import (
	"errors"
	"fmt"
	"os"

	"github.com/alecthomas/kingpin/v2"
	"github.com/oklog/ulid/v2"
	"github.com/prometheus/common/model"
	"github.com/prometheus/prometheus/model/labels"
	"github.com/prometheus/prometheus/model/relabel"
	"go.yaml.in/yaml/v2"
)

// IDLabel is the label holding a block's ULID when the selector relabel
// configs are applied, next to its external labels.
const IDLabel = "__block_id"

// Names of the selector flags.
const (
	RelabelConfigFlag     = "selector.relabel-config"
	RelabelConfigFileFlag = "selector.relabel-config-file"
)

// ParseRelabelConfigs parses a YAML list of Prometheus relabel configs
// (the content of --selector.relabel-config) and validates them. Empty
// content yields none, which keeps every block.
func ParseRelabelConfigs(content []byte) ([]*relabel.Config, error) {
	var cfgs []*relabel.Config
	if err := yaml.UnmarshalStrict(content, &cfgs); err != nil {
		return nil, fmt.Errorf("parse relabel configs (a YAML list of source_labels/regex/action/... entries): %w", err)
	}
	for i, c := range cfgs {
		if c == nil {
			return nil, fmt.Errorf("relabel config %d is empty", i)
		}
		if err := c.Validate(model.UTF8Validation); err != nil {
			return nil, fmt.Errorf("relabel config %d: %w", i, err)
		}
	}
	return cfgs, nil
}

// RelabelKeeps reports whether cfgs keep the block id with external
// labels ext: the configs run over ext plus __block_id=<id>, and a block
// is kept unless they drop it (keep, drop, hashmod followed by keep...).
// No configs keep every block. The labels the configs write are thrown
// away: they select, they do not rename.
func RelabelKeeps(cfgs []*relabel.Config, ext labels.Labels, id ulid.ULID) bool {
	if len(cfgs) == 0 {
		return true
	}
	lb := labels.NewBuilder(ext)
	lb.Set(IDLabel, id.String())
	return relabel.ProcessBuilder(lb, cfgs...)
}

// RegisterRelabelFlags adds --selector.relabel-config and
// --selector.relabel-config-file to cmd; either fills dst with the parsed
// configs when the flags are parsed (the file is read then), and setting
// both is an error. dropped says what the component does not do with the
// blocks the configs drop, for the help text (e.g. "are not served").
func RegisterRelabelFlags(cmd *kingpin.CmdClause, dst *[]*relabel.Config, dropped string) {
	src := &relabelSource{dst: dst}
	cmd.Flag(RelabelConfigFlag, "Relabel configs (YAML list, Prometheus format) applied to each block's external labels plus "+IDLabel+"; blocks they drop "+dropped+". Shards a bucket across instances with keep, drop and hashmod.").
		PlaceHolder("<yaml>").SetValue(&relabelValue{src: src, flag: RelabelConfigFlag})
	cmd.Flag(RelabelConfigFileFlag, "File holding the relabel configs of --"+RelabelConfigFlag+" (set one of the two).").
		PlaceHolder("<path>").SetValue(&relabelValue{src: src, flag: RelabelConfigFileFlag, file: true})
}

// relabelSource is shared by the two selector flags: which one set dst.
type relabelSource struct {
	dst  *[]*relabel.Config
	flag string
}

// relabelValue is the kingpin value of one selector flag.
type relabelValue struct {
	src  *relabelSource
	flag string
	file bool
	raw  string
}

// Set parses the configs (read from the file for the -file flag) into
// the destination.
func (v *relabelValue) Set(s string) error {
	if v.src.flag != "" && v.src.flag != v.flag {
		return errors.New("set --" + RelabelConfigFlag + " or --" + RelabelConfigFileFlag + ", not both")
	}
	content := []byte(s)
	if v.file {
		var err error
		if content, err = os.ReadFile(s); err != nil {
			return fmt.Errorf("read --%s: %w", v.flag, err)
		}
	}
	cfgs, err := ParseRelabelConfigs(content)
	if err != nil {
		return fmt.Errorf("check --%s: %w", v.flag, err)
	}
	v.raw = s
	v.src.flag = v.flag
	*v.src.dst = cfgs
	return nil
}

// String returns the value as given.
func (v *relabelValue) String() string { return v.raw }
