// Package cache holds the store gateway's caches: a small key-value
// interface (Cache) with an in-memory LRU bounded in bytes (NewLRU) and a
// memcached client that degrades to "no cache" when memcached is down
// (NewMemcached).
//
// Both are configured with Thanos' YAML (ParseBackend, New): `type:
// IN-MEMORY` or `type: MEMCACHED` and a `config:` block, the format of
// --index-cache.config(-file) (IndexCacheFlags) and of the backend part of
// --store.caching-bucket.config(-file).
//
// # Index cache keys
//
// Keys are built by PostingsKey and SeriesKey only, so that every backend
// sees the same layout. Each key names the kind of item, the block (its
// ULID, 26 characters: blocks are immutable, so an item never goes stale
// and needs no invalidation) and the item inside the block:
//
//	P:<block ULID>:<postings id>   postings list of one label pair
//	S:<block ULID>:<series ref>    series entry (labels and chunk metas)
//
// <postings id> is the unpadded base64url SHA-256 of the label name, a 0xff
// byte and the label value (43 characters): label values can be long and
// hold any byte, while memcached keys are at most 250 bytes of printable
// ASCII without spaces. <series ref> is the series reference of the
// block's index in decimal. Both kinds are at most 72 bytes.
//
// # Values
//
// Values are opaque to the cache: the store gateway encodes and decodes
// them (and treats a value it cannot decode as a miss). A cache may drop
// any item at any time.
package cache
