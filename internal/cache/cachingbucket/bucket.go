// Package cachingbucket wraps a bucket with a cache (package cache) for
// what the store gateway reads over and over: ranged reads of chunk files,
// their attributes, blocks' meta.json (and marker files) and the listing
// of the bucket's root. It is Thanos' caching bucket, configured with the
// same YAML (--store.caching-bucket.config).
//
// # What is cached
//
//   - GetRange of <block>/chunks/<file>: as the subranges of
//     ChunkSubrangeSize bytes, aligned on multiples of it, that the range
//     covers (the last one ends with the object). Missing subranges are
//     read with at most MaxChunksGetRangeRequests ranged reads.
//   - Attributes of <block>/chunks/<file> (GetRange needs the size).
//   - Get and Exists of <block>/meta.json, deletion-mark.json and
//     no-compact-mark.json: content, existence and absence.
//   - Iter of the root without options (the list of blocks).
//
// Everything else goes straight to the wrapped bucket. Writes do not
// invalidate the cache: a caching bucket is for readers that tolerate the
// TTLs (a block deleted is still listed for up to BlocksIterTTL).
//
// # Keys and values
//
// Keys are "CB:<kind>:<object name>[:<start>:<end>]", kind one of sub
// (a chunk subrange of bytes [start, end)), attrs, content, exists, iter.
// An object name longer than 150 bytes or holding spaces or control
// characters is replaced by "#" and its base64url SHA-256, so that every
// key suits memcached (at most 250 printable bytes). Values start with the
// expiry time (8 bytes, big-endian unix nanoseconds) so that a backend
// without expiry (IN-MEMORY) never serves a stale item; memcached is also
// told the TTL.
package cachingbucket

import (
	"bytes"
	"context"
	"crypto/sha256"
	"encoding/base64"
	"encoding/binary"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"slices"
	"strconv"
	"strings"
	"sync"
	"time"

	"github.com/oklog/ulid/v2"
	"github.com/prometheus/client_golang/prometheus"
	"github.com/prometheus/client_golang/prometheus/promauto"
	"github.com/thanos-io/objstore"

	"github.com/strata-io/strata/internal/cache"
)

// CacheName names the metrics of the caching bucket's cache backend:
// strata_caching_bucket_cache_hits_total, ...
const CacheName = "caching_bucket_cache"

// Operations, the values of the operation label.
const (
	opGetRange   = "get_range" // counted in subranges
	opAttributes = "attributes"
	opGet        = "get"
	opExists     = "exists"
	opIter       = "iter"
)

// errObjNotFound is returned by Get for a metafile whose absence is cached.
var errObjNotFound = errors.New("object not found (cached)")

// Bucket is an objstore.Bucket that caches reads of the wrapped bucket
// (see the package documentation). Safe for concurrent use.
type Bucket struct {
	objstore.Bucket
	cfg     Config
	cache   cache.Cache
	backend cache.Backend
	logger  *slog.Logger
	now     func() time.Time

	requests, hits *prometheus.CounterVec
	rangeReads     prometheus.Counter
}

// ttlStorer is a cache that can expire items itself (memcached).
type ttlStorer interface {
	StoreWithTTL(key string, v []byte, ttl time.Duration)
}

// New wraps bkt with the cache cfg.Backend selects (metrics
// strata_caching_bucket_cache_*). The caching bucket's own metrics are
// strata_caching_bucket_operation_requests_total and
// strata_caching_bucket_operation_hits_total by operation (get_range,
// counted in subranges; attributes; get; exists; iter) and
// strata_caching_bucket_get_range_reads_total. A nil logger discards
// logs; reg may be nil. Close releases the cache, not bkt.
func New(cfg Config, bkt objstore.Bucket, logger *slog.Logger, reg prometheus.Registerer) (*Bucket, error) {
	if err := cfg.Validate(); err != nil {
		return nil, err
	}
	if logger == nil {
		logger = slog.New(slog.DiscardHandler)
	}
	backend, err := cache.New(cfg.Backend, CacheName, logger, reg)
	if err != nil {
		return nil, err
	}
	f := promauto.With(reg)
	b := &Bucket{
		Bucket:  bkt,
		cfg:     cfg,
		cache:   backend,
		backend: backend,
		logger:  logger,
		now:     time.Now,
		requests: f.NewCounterVec(prometheus.CounterOpts{
			Name: "strata_caching_bucket_operation_requests_total",
			Help: "Reads the caching bucket looked up in its cache, by operation (get_range: subranges).",
		}, []string{"operation"}),
		hits: f.NewCounterVec(prometheus.CounterOpts{
			Name: "strata_caching_bucket_operation_hits_total",
			Help: "Reads the caching bucket served from its cache, by operation (get_range: subranges).",
		}, []string{"operation"}),
		rangeReads: f.NewCounter(prometheus.CounterOpts{
			Name: "strata_caching_bucket_get_range_reads_total",
			Help: "Ranged reads of the wrapped bucket made for chunk subranges missing from the cache.",
		}),
	}
	for _, op := range []string{opGetRange, opAttributes, opGet, opExists, opIter} {
		b.requests.WithLabelValues(op)
		b.hits.WithLabelValues(op)
	}
	return b, nil
}

// Close releases the cache. The wrapped bucket is not closed: its owner
// closes it.
func (b *Bucket) Close() error { return b.backend.Close() }

// IsObjNotFoundErr implements objstore.BucketReader, recognizing the
// wrapped bucket's errors and the cached absence of a metafile.
func (b *Bucket) IsObjNotFoundErr(err error) bool {
	return errors.Is(err, errObjNotFound) || b.Bucket.IsObjNotFoundErr(err)
}

// store adds v under key for ttl (nothing when ttl is 0).
func (b *Bucket) store(key string, v []byte, ttl time.Duration) {
	if ttl <= 0 {
		return
	}
	val := make([]byte, 8+len(v))
	binary.BigEndian.PutUint64(val, uint64(b.now().Add(ttl).UnixNano()))
	copy(val[8:], v)
	if s, ok := b.cache.(ttlStorer); ok {
		s.StoreWithTTL(key, val, ttl)
		return
	}
	b.cache.Store(key, val)
}

// fetch looks keys up and returns the unexpired values by key.
func (b *Bucket) fetch(ctx context.Context, keys ...string) map[string][]byte {
	hits, _ := b.cache.Fetch(ctx, keys)
	now := b.now().UnixNano()
	out := make(map[string][]byte, len(hits))
	for k, v := range hits {
		if len(v) >= 8 && int64(binary.BigEndian.Uint64(v)) > now {
			out[k] = v[8:]
		}
	}
	return out
}

// key returns the cache key of kind for the object name (see the package
// documentation).
func key(kind, name string, bounds ...int64) string {
	if len(name) > 150 || strings.ContainsFunc(name, func(r rune) bool { return r <= ' ' || r == 0x7f }) {
		h := sha256.Sum256([]byte(name))
		name = "#" + base64.RawURLEncoding.EncodeToString(h[:])
	}
	var sb strings.Builder
	sb.WriteString("CB:")
	sb.WriteString(kind)
	sb.WriteByte(':')
	sb.WriteString(name)
	for _, n := range bounds {
		sb.WriteByte(':')
		sb.WriteString(strconv.FormatInt(n, 10))
	}
	return sb.String()
}

// blockFile splits name into a block ULID and the rest of the path.
func blockFile(name string) (rest string, ok bool) {
	id, rest, found := strings.Cut(name, "/")
	if !found {
		return "", false
	}
	_, err := ulid.ParseStrict(id)
	return rest, err == nil
}

// isChunkFile tells whether name is <block>/chunks/<file>.
func isChunkFile(name string) bool {
	rest, ok := blockFile(name)
	file, found := strings.CutPrefix(rest, "chunks/")
	return ok && found && file != "" && !strings.Contains(file, "/")
}

// isMetafile tells whether name is a block's meta.json or marker file.
func isMetafile(name string) bool {
	rest, ok := blockFile(name)
	if !ok {
		return false
	}
	switch rest {
	case "meta.json", "deletion-mark.json", "no-compact-mark.json":
		return true
	}
	return false
}

// Attributes implements objstore.BucketReader, cached for chunk files.
func (b *Bucket) Attributes(ctx context.Context, name string) (objstore.ObjectAttributes, error) {
	if !isChunkFile(name) || b.cfg.ChunkObjectAttrsTTL <= 0 {
		return b.Bucket.Attributes(ctx, name)
	}
	b.requests.WithLabelValues(opAttributes).Inc()
	k := key("attrs", name)
	if v, ok := b.fetch(ctx, k)[k]; ok && len(v) == 16 {
		b.hits.WithLabelValues(opAttributes).Inc()
		return objstore.ObjectAttributes{
			Size:         int64(binary.BigEndian.Uint64(v)),
			LastModified: time.Unix(0, int64(binary.BigEndian.Uint64(v[8:]))),
		}, nil
	}
	attrs, err := b.Bucket.Attributes(ctx, name)
	if err != nil {
		return attrs, err
	}
	v := make([]byte, 16)
	binary.BigEndian.PutUint64(v, uint64(attrs.Size))
	binary.BigEndian.PutUint64(v[8:], uint64(attrs.LastModified.UnixNano()))
	b.store(k, v, b.cfg.ChunkObjectAttrsTTL)
	return attrs, nil
}

// GetRange implements objstore.BucketReader; ranges of chunk files are
// served from cached subranges, reading the missing ones.
func (b *Bucket) GetRange(ctx context.Context, name string, off, length int64) (io.ReadCloser, error) {
	if !isChunkFile(name) || off < 0 || length <= 0 || b.cfg.ChunkSubrangeTTL <= 0 {
		return b.Bucket.GetRange(ctx, name, off, length)
	}
	attrs, err := b.Attributes(ctx, name)
	if err != nil {
		return nil, err
	}
	size := attrs.Size
	if off >= size {
		return b.Bucket.GetRange(ctx, name, off, length)
	}
	end := size
	if length < size-off {
		end = off + length
	}
	sub := b.cfg.ChunkSubrangeSize
	first := off / sub * sub
	n := int((end - first + sub - 1) / sub)
	bounds := func(i int) (int64, int64) {
		s := first + int64(i)*sub
		return s, min(s+sub, size)
	}
	keys := make([]string, n)
	for i := range n {
		s, e := bounds(i)
		keys[i] = key("sub", name, s, e)
	}
	hits := b.fetch(ctx, keys...)
	parts := make([][]byte, n)
	var missing []int
	for i, k := range keys {
		s, e := bounds(i)
		if v, ok := hits[k]; ok && int64(len(v)) == e-s {
			parts[i] = v
			continue
		}
		missing = append(missing, i)
	}
	b.requests.WithLabelValues(opGetRange).Add(float64(n))
	b.hits.WithLabelValues(opGetRange).Add(float64(n - len(missing)))

	if len(missing) > 0 {
		if err := b.readSubranges(ctx, name, missing, parts, keys, bounds); err != nil {
			return nil, err
		}
	}
	out := make([]byte, 0, end-off)
	for i, p := range parts {
		s, _ := bounds(i)
		lo := max(off-s, 0)
		hi := min(end-s, int64(len(p)))
		out = append(out, p[lo:hi]...)
	}
	return objstore.NopCloserWithSize(bytes.NewReader(out)), nil
}

// readSubranges reads the subranges missing (indexes into parts, sorted)
// from the wrapped bucket, with at most MaxChunksGetRangeRequests ranged
// reads, fills parts and caches them.
func (b *Bucket) readSubranges(ctx context.Context, name string, missing []int, parts [][]byte, keys []string, bounds func(int) (int64, int64)) error {
	// Runs of consecutive missing subranges, [from, to] inclusive.
	var runs [][2]int
	for _, i := range missing {
		if l := len(runs); l > 0 && runs[l-1][1] == i-1 {
			runs[l-1][1] = i
			continue
		}
		runs = append(runs, [2]int{i, i})
	}
	// Too many reads: merge the two runs closest to each other (reading
	// the cached subranges between them again) until few enough.
	for maxReads := b.cfg.MaxChunksGetRangeRequests; maxReads > 0 && len(runs) > maxReads; {
		best := 0
		for j := 1; j < len(runs)-1; j++ {
			if runs[j+1][0]-runs[j][1] < runs[best+1][0]-runs[best][1] {
				best = j
			}
		}
		runs[best][1] = runs[best+1][1]
		runs = append(runs[:best+1], runs[best+2:]...)
	}

	var (
		wg   sync.WaitGroup
		mu   sync.Mutex
		errs []error
	)
	for _, r := range runs {
		wg.Go(func() {
			start, _ := bounds(r[0])
			_, stop := bounds(r[1])
			b.rangeReads.Inc()
			data, err := b.readRange(ctx, name, start, stop-start)
			if err != nil {
				mu.Lock()
				errs = append(errs, err)
				mu.Unlock()
				return
			}
			for i := r[0]; i <= r[1]; i++ {
				s, e := bounds(i)
				p := data[s-start : e-start : e-start]
				if parts[i] == nil {
					b.store(keys[i], p, b.cfg.ChunkSubrangeTTL)
				}
				parts[i] = p
			}
		})
	}
	wg.Wait()
	return errors.Join(errs...)
}

// readRange reads exactly length bytes at off of name.
func (b *Bucket) readRange(ctx context.Context, name string, off, length int64) ([]byte, error) {
	rc, err := b.Bucket.GetRange(ctx, name, off, length)
	if err != nil {
		return nil, err
	}
	defer func() { _ = rc.Close() }()
	data := make([]byte, length)
	if _, err := io.ReadFull(rc, data); err != nil {
		return nil, fmt.Errorf("read %s at %d (%d bytes): %w", name, off, length, err)
	}
	return data, nil
}

// Exists implements objstore.BucketReader, cached for metafiles.
func (b *Bucket) Exists(ctx context.Context, name string) (bool, error) {
	if !isMetafile(name) {
		return b.Bucket.Exists(ctx, name)
	}
	b.requests.WithLabelValues(opExists).Inc()
	k := key("exists", name)
	if v, ok := b.fetch(ctx, k)[k]; ok && len(v) == 1 {
		b.hits.WithLabelValues(opExists).Inc()
		return v[0] == 1, nil
	}
	ok, err := b.Bucket.Exists(ctx, name)
	if err != nil {
		return false, err
	}
	b.storeExists(k, ok)
	return ok, nil
}

func (b *Bucket) storeExists(k string, ok bool) {
	if ok {
		b.store(k, []byte{1}, b.cfg.MetafileExistsTTL)
		return
	}
	b.store(k, []byte{0}, b.cfg.MetafileDoesntExistTTL)
}

// Get implements objstore.BucketReader; the content and absence of
// metafiles are cached.
func (b *Bucket) Get(ctx context.Context, name string) (io.ReadCloser, error) {
	if !isMetafile(name) {
		return b.Bucket.Get(ctx, name)
	}
	b.requests.WithLabelValues(opGet).Inc()
	ck, ek := key("content", name), key("exists", name)
	hits := b.fetch(ctx, ck, ek)
	if v, ok := hits[ck]; ok {
		b.hits.WithLabelValues(opGet).Inc()
		return objstore.NopCloserWithSize(bytes.NewReader(v)), nil
	}
	if v, ok := hits[ek]; ok && len(v) == 1 && v[0] == 0 {
		b.hits.WithLabelValues(opGet).Inc()
		return nil, fmt.Errorf("get %s: %w", name, errObjNotFound)
	}
	rc, err := b.Bucket.Get(ctx, name)
	if err != nil {
		if b.Bucket.IsObjNotFoundErr(err) {
			b.storeExists(ek, false)
		}
		return nil, err
	}
	defer func() { _ = rc.Close() }()
	data, err := io.ReadAll(rc)
	if err != nil {
		return nil, fmt.Errorf("read %s: %w", name, err)
	}
	if int64(len(data)) <= int64(b.cfg.MetafileMaxSize) {
		b.store(ck, data, b.cfg.MetafileContentTTL)
	}
	b.storeExists(ek, true)
	return objstore.NopCloserWithSize(bytes.NewReader(data)), nil
}

// Iter implements objstore.BucketReader; the listing of the root without
// options is cached.
func (b *Bucket) Iter(ctx context.Context, dir string, f func(string) error, options ...objstore.IterOption) error {
	if dir != "" || len(options) > 0 || b.cfg.BlocksIterTTL <= 0 {
		return b.Bucket.Iter(ctx, dir, f, options...)
	}
	b.requests.WithLabelValues(opIter).Inc()
	k := key("iter", dir)
	var names []string
	if v, ok := b.fetch(ctx, k)[k]; ok {
		b.hits.WithLabelValues(opIter).Inc()
		if len(v) > 0 {
			names = strings.Split(string(v), "\n")
		}
	} else {
		if err := b.Bucket.Iter(ctx, dir, func(name string) error {
			names = append(names, name)
			return nil
		}); err != nil {
			return err
		}
		if !slices.ContainsFunc(names, func(n string) bool { return strings.Contains(n, "\n") }) {
			b.store(k, []byte(strings.Join(names, "\n")), b.cfg.BlocksIterTTL)
		}
	}
	for _, name := range names {
		if err := f(name); err != nil {
			return err
		}
	}
	return nil
}

// IterWithAttributes serves the recursive listing of the whole bucket (the
// block inventory's one listing per sync) from the cache for
// blocks_iter_ttl, names and last-modified times together; other listings
// go to the bucket.
func (b *Bucket) IterWithAttributes(ctx context.Context, dir string, f func(objstore.IterObjectAttributes) error, options ...objstore.IterOption) error {
	params := objstore.ApplyIterOptions(options...)
	if dir != "" || !params.Recursive || b.cfg.BlocksIterTTL <= 0 {
		return b.Bucket.IterWithAttributes(ctx, dir, f, options...)
	}
	b.requests.WithLabelValues(opIter).Inc()
	k := key("iter-recursive", fmt.Sprint(params.LastModified))
	var objs []listedObject
	if v, ok := b.fetch(ctx, k)[k]; ok && json.Unmarshal(v, &objs) == nil {
		b.hits.WithLabelValues(opIter).Inc()
	} else {
		objs = objs[:0]
		if err := b.Bucket.IterWithAttributes(ctx, dir, func(a objstore.IterObjectAttributes) error {
			o := listedObject{Name: a.Name}
			if t, ok := a.LastModified(); ok {
				o.LastModified = t
			}
			objs = append(objs, o)
			return nil
		}, options...); err != nil {
			return err
		}
		if v, err := json.Marshal(objs); err == nil {
			b.store(k, v, b.cfg.BlocksIterTTL)
		}
	}
	for _, o := range objs {
		a := objstore.IterObjectAttributes{Name: o.Name}
		if !o.LastModified.IsZero() {
			a.SetLastModified(o.LastModified)
		}
		if err := f(a); err != nil {
			return err
		}
	}
	return nil
}

// listedObject is one object of a cached recursive listing.
type listedObject struct {
	Name         string    `json:"n"`
	LastModified time.Time `json:"t,omitzero"`
}
