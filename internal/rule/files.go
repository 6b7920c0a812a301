// Package rule evaluates Prometheus recording and alerting rules over a
// remote query API: it reads rule files (Prometheus' format plus the
// Thanos group field partial_response_strategy), runs them with the
// Prometheus module's rules manager, and serves them over
// /api/v1/rules and /api/v1/alerts.
package rule

import (
	"bytes"
	"fmt"
	"os"
	"path/filepath"
	"slices"
	"strings"

	"github.com/prometheus/common/model"
	"github.com/prometheus/prometheus/model/rulefmt"
	"github.com/prometheus/prometheus/promql/parser"
	"go.yaml.in/yaml/v3"
)

// Strategy is a group's partial_response_strategy: what an evaluation does
// when part of the data is unavailable.
type Strategy string

// The strategies of the Thanos rule file format.
const (
	// Abort fails the evaluation when a store does not answer (the
	// default).
	Abort Strategy = "abort"
	// Warn evaluates over the data available, with a warning.
	Warn Strategy = "warn"
)

// strategyField is the Thanos extension of a rule group.
const strategyField = "partial_response_strategy"

// ParseStrategy reads a partial_response_strategy value, case
// insensitively; the empty string is Abort.
func ParseStrategy(s string) (Strategy, error) {
	switch strings.ToLower(strings.TrimSpace(s)) {
	case "", string(Abort):
		return Abort, nil
	case string(Warn):
		return Warn, nil
	}
	return "", fmt.Errorf("%s %q is neither warn nor abort", strategyField, s)
}

// File is one rule file read from disk, with the Thanos extension taken
// out.
type File struct {
	// Path is the file's path as the glob matched it.
	Path string
	// Content is the file in Prometheus' format: the file with the
	// partial_response_strategy fields blanked out (line numbers kept
	// when possible).
	Content []byte
	// Strategies maps each group name to its strategy.
	Strategies map[string]Strategy
	// Groups are the file's groups as Prometheus reads them.
	Groups []rulefmt.RuleGroup
}

// Set is the rule files of one load, by path.
type Set struct {
	// Files are the files in the order they were matched.
	Files  []*File
	byPath map[string]*File
}

// Paths returns the files' paths in load order.
func (s *Set) Paths() []string {
	out := make([]string, len(s.Files))
	for i, f := range s.Files {
		out[i] = f.Path
	}
	return out
}

// Strategy returns the strategy of the group of file, Abort when unknown.
func (s *Set) Strategy(file, group string) Strategy {
	if f, ok := s.byPath[file]; ok {
		if st, ok := f.Strategies[group]; ok {
			return st
		}
	}
	return Abort
}

// Expand returns the files matched by the glob patterns, each once, in
// pattern order (each pattern's matches sorted). A pattern matching
// nothing is not an error: the directory may be filled later.
func Expand(patterns []string) ([]string, error) {
	var out []string
	seen := map[string]bool{}
	for _, p := range patterns {
		ms, err := filepath.Glob(p)
		if err != nil {
			return nil, fmt.Errorf("rule file pattern %q: %w", p, err)
		}
		slices.Sort(ms)
		for _, m := range ms {
			if !seen[m] {
				seen[m] = true
				out = append(out, m)
			}
		}
	}
	return out, nil
}

// Load reads the files matched by patterns and checks them: YAML, group
// and rule fields, PromQL, templates and partial_response_strategy. Every
// problem found is returned, each naming its file.
func Load(patterns []string, p parser.Parser) (*Set, []error) {
	paths, err := Expand(patterns)
	if err != nil {
		return nil, []error{err}
	}
	set := &Set{byPath: map[string]*File{}}
	var errs []error
	for _, path := range paths {
		f, ferrs := ReadFile(path, p)
		if len(ferrs) > 0 {
			errs = append(errs, ferrs...)
			continue
		}
		set.Files = append(set.Files, f)
		set.byPath[path] = f
	}
	if len(errs) > 0 {
		return nil, errs
	}
	return set, nil
}

// ReadFile reads and checks one rule file. The errors start with the
// file's path.
func ReadFile(path string, p parser.Parser) (*File, []error) {
	b, err := os.ReadFile(path)
	if err != nil {
		return nil, []error{fmt.Errorf("%s: %w", path, err)}
	}
	f, errs := Parse(path, b, p)
	for i := range errs {
		errs[i] = fmt.Errorf("%s: %w", path, errs[i])
	}
	return f, errs
}

// Parse takes the Thanos extension out of content and checks the rest as
// Prometheus does. path only names the File.
func Parse(path string, content []byte, p parser.Parser) (*File, []error) {
	if p == nil {
		p = parser.NewParser(parser.Options{})
	}
	clean, strategies, errs := stripStrategies(content)
	if clean == nil {
		return nil, errs
	}
	// Check the rest even when a strategy is wrong: every problem is
	// reported at once.
	rgs, perrs := rulefmt.Parse(clean, false, model.UTF8Validation, p, nil)
	if errs = append(errs, perrs...); len(errs) > 0 {
		return nil, errs
	}
	return &File{Path: path, Content: clean, Strategies: strategies, Groups: rgs.Groups}, nil
}

// stripStrategies returns content without the groups'
// partial_response_strategy fields and the strategy of every group, and
// the problems of those fields; the content is nil when it is not YAML. A
// field written key and value on one line is blanked out in place, so
// that the line and column numbers of later errors stay true; otherwise
// the document is re-encoded.
func stripStrategies(content []byte) ([]byte, map[string]Strategy, []error) {
	strategies := map[string]Strategy{}
	var doc yaml.Node
	if err := yaml.Unmarshal(content, &doc); err != nil {
		return nil, nil, []error{err}
	}
	if len(doc.Content) == 0 {
		return content, strategies, nil
	}
	root := doc.Content[0]
	groups := mappingValue(root, "groups")
	if groups == nil || groups.Kind != yaml.SequenceNode {
		// Not ours to judge: rulefmt says what is wrong.
		return content, strategies, nil
	}
	lines := bytes.SplitAfter(bytes.Clone(content), []byte("\n"))
	reencode := false
	var errs []error
	for i, g := range groups.Content {
		if g.Kind != yaml.MappingNode {
			continue
		}
		name := ""
		if n := mappingValue(g, "name"); n != nil {
			name = n.Value
		}
		st := Abort
		for j := 0; j+1 < len(g.Content); j += 2 {
			k, v := g.Content[j], g.Content[j+1]
			if k.Value != strategyField {
				continue
			}
			var err error
			if v.Kind != yaml.ScalarNode {
				err = fmt.Errorf("%s must be warn or abort", strategyField)
			} else {
				st, err = ParseStrategy(v.Value)
			}
			if err != nil {
				errs = append(errs, fmt.Errorf("%d:%d: group %d %q: %w", v.Line, v.Column, i+1, name, err))
			}
			if !blank(lines, k, v, g) {
				reencode = true
			}
			g.Content = slices.Delete(g.Content, j, j+2)
			break
		}
		strategies[name] = st
	}
	if !reencode {
		return bytes.Join(lines, nil), strategies, errs
	}
	out, err := yaml.Marshal(&doc)
	if err != nil {
		return nil, nil, append(errs, fmt.Errorf("re-encode without %s: %w", strategyField, err))
	}
	return out, strategies, errs
}

// blank replaces key: value by spaces in lines when both sit on one line
// of a block mapping and nothing but a comment follows; it reports
// whether it did.
func blank(lines [][]byte, k, v, group *yaml.Node) bool {
	if group.Style&yaml.FlowStyle != 0 || k.Line != v.Line || k.Line < 1 || k.Line > len(lines) {
		return false
	}
	if v.Style&(yaml.LiteralStyle|yaml.FoldedStyle) != 0 {
		return false
	}
	line := lines[k.Line-1]
	start := bytes.Index(line, []byte(strategyField))
	if start < 0 {
		return false
	}
	end := len(bytes.TrimRight(line, "\r\n"))
	rest := line[start:end]
	// Keep a trailing comment out of the decision: the value must be all
	// that follows the key.
	if h := bytes.Index(rest, []byte(" #")); h >= 0 {
		rest = rest[:h]
	}
	after, ok := bytes.CutPrefix(bytes.TrimSpace(rest), []byte(strategyField))
	if !ok {
		return false
	}
	after = bytes.TrimSpace(bytes.TrimPrefix(bytes.TrimSpace(after), []byte(":")))
	if unq := strings.Trim(string(after), `"'`); unq != v.Value {
		return false
	}
	for i := start; i < end; i++ {
		line[i] = ' '
	}
	return true
}

// mappingValue returns the value of key in the mapping n, or nil.
func mappingValue(n *yaml.Node, key string) *yaml.Node {
	if n == nil || n.Kind != yaml.MappingNode {
		return nil
	}
	for i := 0; i+1 < len(n.Content); i += 2 {
		if n.Content[i].Value == key {
			return n.Content[i+1]
		}
	}
	return nil
}
