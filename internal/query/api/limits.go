package api

import (
	"context"
	"errors"
	"fmt"
	"strings"
)

// Defaults of QueryLimits. Prometheus has no such limits; these leave a wide
// margin over the largest dashboard queries while keeping the parser, whose
// type check is quadratic in the number of binary operators, under ~50ms.
const (
	DefaultMaxQueryLength     = 64 << 10 // bytes
	DefaultMaxNestingDepth    = 256
	DefaultMaxBinaryOperators = 1000
)

// QueryLimits bound the PromQL text the API hands to the parser. They are
// checked by a linear scan before parsing, so that a huge expression is
// rejected in microseconds instead of pinning a core for minutes. 0 turns a
// limit off.
type QueryLimits struct {
	// MaxLength is the maximum length of a query or selector, in bytes
	// (--query.max-length).
	MaxLength int
	// MaxNestingDepth is the maximum nesting of parentheses, brackets and
	// braces (--query.max-nesting-depth).
	MaxNestingDepth int
	// MaxBinaryOperators is the maximum number of binary (and unary)
	// operators (--query.max-binary-operators).
	MaxBinaryOperators int
}

// DefaultQueryLimits returns the flag defaults.
func DefaultQueryLimits() QueryLimits {
	return QueryLimits{
		MaxLength:          DefaultMaxQueryLength,
		MaxNestingDepth:    DefaultMaxNestingDepth,
		MaxBinaryOperators: DefaultMaxBinaryOperators,
	}
}

// check returns an error naming param, the limit and the flag to raise it
// when qs is over a limit. It does not validate the syntax: the parser does.
func (l QueryLimits) check(param, qs string) error {
	if l.MaxLength > 0 && len(qs) > l.MaxLength {
		return fmt.Errorf("%s is %d bytes long, over the limit of %d bytes (raise it with --query.max-length)", param, len(qs), l.MaxLength)
	}
	depth, curly, ops := 0, 0, 0
	for i := 0; i < len(qs); i++ {
		c := qs[i]
		switch {
		case c == '"' || c == '\'' || c == '`':
			i = skipString(qs, i)
		case c == '#':
			for i < len(qs) && qs[i] != '\n' {
				i++
			}
		case c == '(' || c == '[' || c == '{':
			depth++
			if c == '{' {
				curly++
			}
			if l.MaxNestingDepth > 0 && depth > l.MaxNestingDepth {
				return fmt.Errorf("%s nests parentheses, brackets or braces deeper than %d levels (raise it with --query.max-nesting-depth)", param, l.MaxNestingDepth)
			}
		case c == ')' || c == ']' || c == '}':
			if depth > 0 {
				depth--
			}
			if c == '}' && curly > 0 {
				curly--
			}
		case curly > 0:
			// Label matchers: = != =~ !~ are not operators.
		case strings.IndexByte("+-*/%^<>", c) >= 0:
			ops++
			if i+1 < len(qs) && qs[i+1] == '=' {
				i++
			}
		case (c == '=' || c == '!') && i+1 < len(qs) && qs[i+1] == '=':
			ops++
			i++
		case isIdentStart(c):
			j := i + 1
			for j < len(qs) && isIdentChar(qs[j]) {
				j++
			}
			switch w := qs[i:j]; {
			case strings.EqualFold(w, "and"), strings.EqualFold(w, "or"), strings.EqualFold(w, "unless"), strings.EqualFold(w, "atan2"):
				ops++
			}
			i = j - 1
		}
		if l.MaxBinaryOperators > 0 && ops > l.MaxBinaryOperators {
			return fmt.Errorf("%s has more than %d operators (raise it with --query.max-binary-operators)", param, l.MaxBinaryOperators)
		}
	}
	return nil
}

// skipString returns the index of the quote closing the string that starts
// at i (or the end of qs). Backquoted strings have no escapes.
func skipString(qs string, i int) int {
	q := qs[i]
	for i++; i < len(qs); i++ {
		switch qs[i] {
		case '\\':
			if q != '`' {
				i++
			}
		case q:
			return i
		}
	}
	return i
}

func isIdentStart(c byte) bool {
	return c == '_' || c == ':' || (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z')
}

func isIdentChar(c byte) bool { return isIdentStart(c) || (c >= '0' && c <= '9') }

// checkQueries checks every value of a query or selector parameter.
func (a *API) checkQueries(param string, values []string) *apiError {
	for _, v := range values {
		if err := a.cfg.Limits.check(param, v); err != nil {
			return &apiError{errorBadData, fmt.Errorf("invalid parameter %q: %w", param, err)}
		}
	}
	return nil
}

// acquireSlot waits for one of the --query.max-concurrent slots; release
// gives it back. Waiting ends with ctx: a timeout is a 503 timeout, the
// client going away a 499.
func (a *API) acquireSlot(ctx context.Context) (release func(), apiErr *apiError) {
	if a.slots == nil {
		return func() {}, nil
	}
	release = func() { <-a.slots }
	select {
	case a.slots <- struct{}{}: // a free slot wins over a done ctx
		return release, nil
	default:
	}
	select {
	case a.slots <- struct{}{}:
		return release, nil
	case <-ctx.Done():
		err := fmt.Errorf("waiting for a free query slot (%d queries running, --query.max-concurrent): %w", cap(a.slots), ctx.Err())
		if errors.Is(ctx.Err(), context.DeadlineExceeded) {
			return nil, &apiError{errorTimeout, fmt.Errorf("query timed out %w", err)}
		}
		return nil, &apiError{errorCanceled, err}
	}
}
