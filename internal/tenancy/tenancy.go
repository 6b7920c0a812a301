// Package tenancy scopes reads to one tenant: it finds the tenant of an
// HTTP request and adds the tenant's equality matcher to PromQL selectors,
// matcher lists and storage queriers, so that only series whose tenant
// label holds that tenant are read.
//
// The added matcher is ANDed with the ones already there: a selector naming
// another tenant explicitly selects nothing, it does not reach that tenant.
package tenancy

import (
	"context"
	"errors"
	"fmt"
	"net/http"
	"strings"
	"unicode"
	"unicode/utf8"

	"github.com/prometheus/common/model"
	"github.com/prometheus/prometheus/model/labels"
	"github.com/prometheus/prometheus/promql/parser"
	"github.com/prometheus/prometheus/storage"
	"github.com/prometheus/prometheus/util/annotations"
)

// Defaults of the querier's tenancy flags (those of Thanos).
const (
	DefaultHeader    = "THANOS-TENANT"
	DefaultTenant    = "default-tenant"
	DefaultLabelName = "tenant_id"
)

// Config says where a request's tenant comes from and whether reads are
// scoped to it. Start from DefaultConfig.
type Config struct {
	// Header is the HTTP header naming the request's tenant
	// (--query.tenant-header).
	Header string
	// DefaultTenant is the tenant of requests without the header
	// (--query.default-tenant-id).
	DefaultTenant string
	// LabelName is the label holding a series' tenant
	// (--query.tenant-label-name).
	LabelName string
	// Enforce scopes every read to the request's tenant
	// (--query.enforce-tenancy); without it the tenant is only logged.
	Enforce bool
}

// DefaultConfig returns Thanos' defaults: tenant in THANOS-TENANT, default
// tenant "default-tenant", label tenant_id, no enforcement.
func DefaultConfig() Config {
	return Config{Header: DefaultHeader, DefaultTenant: DefaultTenant, LabelName: DefaultLabelName}
}

// Validate checks the configuration and names the flag to fix.
func (c Config) Validate() error {
	if c.Header == "" || strings.IndexFunc(c.Header, func(r rune) bool { return !isTokenChar(r) }) >= 0 {
		return fmt.Errorf("--query.tenant-header must be an HTTP header name (letters, digits, - and _), got %q", c.Header)
	}
	if err := ValidTenant(c.DefaultTenant); err != nil {
		return fmt.Errorf("--query.default-tenant-id: %w", err)
	}
	if c.LabelName == "" || strings.HasPrefix(c.LabelName, "__") || !model.UTF8Validation.IsValidLabelName(c.LabelName) {
		return fmt.Errorf("--query.tenant-label-name must be a label name not starting with __, got %q", c.LabelName)
	}
	return nil
}

// isTokenChar reports whether r may appear in an HTTP header name.
func isTokenChar(r rune) bool {
	if r < '!' || r > '~' {
		return false
	}
	return !strings.ContainsRune(`"(),/:;<=>?@[\]{}`, r)
}

// ValidTenant checks a tenant name: not empty, valid UTF-8, no control
// characters, no path separators, not "." or ".." (tenant names become
// directory names on the write path).
func ValidTenant(t string) error {
	switch {
	case t == "":
		return errors.New("tenant must not be empty")
	case !utf8.ValidString(t):
		return errors.New("tenant must be valid UTF-8")
	case t == "." || t == "..":
		return fmt.Errorf("tenant must not be %q", t)
	case strings.ContainsAny(t, `/\`):
		return fmt.Errorf("tenant %q must not contain / or \\", t)
	case strings.IndexFunc(t, unicode.IsControl) >= 0:
		return fmt.Errorf("tenant %q must not contain control characters", t)
	}
	return nil
}

// FromRequest returns the tenant of r: the value of the tenant header,
// trimmed of spaces, or the default tenant when the header is absent. A
// header present but blank, given several times with different values, or
// naming an invalid tenant is an error that says what to fix.
func (c Config) FromRequest(r *http.Request) (string, error) {
	vals := r.Header.Values(c.Header)
	if len(vals) == 0 {
		return c.DefaultTenant, nil
	}
	t := strings.TrimSpace(vals[0])
	for _, v := range vals[1:] {
		if strings.TrimSpace(v) != t {
			return "", fmt.Errorf("header %s is given %d times with different values: send one tenant", c.Header, len(vals))
		}
	}
	if t == "" {
		return "", fmt.Errorf("header %s is empty: send a tenant name, or leave the header out for the default tenant %q", c.Header, c.DefaultTenant)
	}
	if err := ValidTenant(t); err != nil {
		return "", fmt.Errorf("header %s: %w", c.Header, err)
	}
	return t, nil
}

// Matcher returns the matcher that selects tenant's series.
func (c Config) Matcher(tenant string) *labels.Matcher {
	return labels.MustNewMatcher(labels.MatchEqual, c.LabelName, tenant)
}

// EnforceExpr adds m to the matchers of every vector selector of expr,
// including those under matrix selectors, subqueries, function arguments,
// aggregations and binary operations, and returns expr. It changes expr in
// place: pass a freshly parsed expression.
func EnforceExpr(expr parser.Expr, m *labels.Matcher) parser.Expr {
	parser.Inspect(expr, func(n parser.Node, _ []parser.Node) error {
		if vs, ok := n.(*parser.VectorSelector); ok {
			vs.LabelMatchers = EnforceMatchers(vs.LabelMatchers, m)
		}
		return nil
	})
	return expr
}

// EnforceMatchers returns ms with m added (unless ms holds the same
// matcher already), in a new slice; ms is not changed. With no matchers the
// result is m alone.
func EnforceMatchers(ms []*labels.Matcher, m *labels.Matcher) []*labels.Matcher {
	out := make([]*labels.Matcher, 0, len(ms)+1)
	out = append(out, ms...)
	for _, o := range ms {
		if o.Type == m.Type && o.Name == m.Name && o.Value == m.Value {
			return out
		}
	}
	return append(out, m)
}

// Queryable returns q with m added to the matchers of every Select,
// LabelNames and LabelValues call, so that whatever selects through it
// reads one tenant only.
func Queryable(q storage.Queryable, m *labels.Matcher) storage.Queryable {
	return storage.QueryableFunc(func(mint, maxt int64) (storage.Querier, error) {
		inner, err := q.Querier(mint, maxt)
		if err != nil {
			return nil, err
		}
		return &querier{Querier: inner, m: m}, nil
	})
}

// querier adds a tenant matcher to every call of its Querier.
type querier struct {
	storage.Querier
	m *labels.Matcher
}

func (q *querier) Select(ctx context.Context, sortSeries bool, hints *storage.SelectHints, ms ...*labels.Matcher) storage.SeriesSet {
	return q.Querier.Select(ctx, sortSeries, hints, EnforceMatchers(ms, q.m)...)
}

func (q *querier) LabelNames(ctx context.Context, hints *storage.LabelHints, ms ...*labels.Matcher) ([]string, annotations.Annotations, error) {
	return q.Querier.LabelNames(ctx, hints, EnforceMatchers(ms, q.m)...)
}

func (q *querier) LabelValues(ctx context.Context, name string, hints *storage.LabelHints, ms ...*labels.Matcher) ([]string, annotations.Annotations, error) {
	return q.Querier.LabelValues(ctx, name, hints, EnforceMatchers(ms, q.m)...)
}
