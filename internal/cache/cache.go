package cache

import (
	"context"
	"crypto/sha256"
	"encoding/base64"
	"strconv"
	"strings"

	"github.com/oklog/ulid/v2"
)

// Cache is a best-effort key-value cache. Implementations are safe for
// concurrent use; they never fail a caller: an item that cannot be stored
// or fetched is simply not cached.
type Cache interface {
	// Store adds or replaces the item key. The cache does not keep v after
	// returning to the caller unless it copies it: the caller must not
	// modify v afterwards (the cache may hold it as is).
	Store(key string, v []byte)
	// Fetch returns the cached values of keys (hits, which the caller must
	// not modify) and the keys not found (misses, in the order of keys).
	// It takes a bounded time (a remote cache's timeout) and reports a
	// cache that cannot be reached as misses, never as an error.
	Fetch(ctx context.Context, keys []string) (hits map[string][]byte, misses []string)
}

// Kinds of items, the first character of a key.
const (
	KindPostings = 'P'
	KindSeries   = 'S'
)

// PostingsKey returns the key of the postings list of name=value in the
// block (see the package documentation).
func PostingsKey(block ulid.ULID, name, value string) string {
	h := sha256.New()
	h.Write([]byte(name))
	h.Write([]byte{0xff})
	h.Write([]byte(value))
	var sb strings.Builder
	sb.Grow(72)
	sb.WriteString("P:")
	sb.WriteString(block.String())
	sb.WriteByte(':')
	sb.WriteString(base64.RawURLEncoding.EncodeToString(h.Sum(nil)))
	return sb.String()
}

// SeriesKey returns the key of the series entry ref of the block.
func SeriesKey(block ulid.ULID, ref uint64) string {
	return "S:" + block.String() + ":" + strconv.FormatUint(ref, 10)
}

// kindName names the kind of a key for metrics: "postings", "series" or
// "other".
func kindName(key string) string {
	if len(key) > 0 {
		switch key[0] {
		case KindPostings:
			return "postings"
		case KindSeries:
			return "series"
		}
	}
	return "other"
}

var kinds = []string{"postings", "series", "other"}
