package metadata

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"os"
	"path"
	"path/filepath"
	"time"

	"github.com/oklog/ulid/v2"
	"github.com/prometheus/prometheus/model/labels"
	"github.com/prometheus/prometheus/tsdb"
	"github.com/thanos-io/objstore"
)

// File and directory names of a block, locally and in the bucket.
const (
	// MetaFilename is the block's metadata; in the bucket it is written last
	// and deleted first, so its presence means "complete block".
	MetaFilename = "meta.json"
	// IndexFilename is the Prometheus index (format v2).
	IndexFilename = "index"
	// ChunksDirname holds the chunk segment files 000001, 000002, ...
	ChunksDirname = "chunks"
	// TombstonesFilename is Prometheus' local deletion record; it is never
	// uploaded.
	TombstonesFilename = "tombstones"
)

// Versions of the two parts of meta.json.
const (
	// TSDBVersion1 is the only version of Prometheus' BlockMeta.
	TSDBVersion1 = 1
	// ThanosVersion1 is the only version of the thanos section.
	ThanosVersion1 = 1
)

// Resolutions of a block in ms: the width of the windows its samples were
// aggregated over (0 for raw data).
const (
	ResolutionRaw int64 = 0
	Resolution5m  int64 = 5 * 60 * 1000
	Resolution1h  int64 = 60 * 60 * 1000
)

// ResolutionName names a resolution for flags, logs and tables: "raw",
// "5m", "1h", or the value in ms ("120000ms") for any other.
func ResolutionName(res int64) string {
	switch res {
	case ResolutionRaw:
		return "raw"
	case Resolution5m:
		return "5m"
	case Resolution1h:
		return "1h"
	}
	return fmt.Sprintf("%dms", res)
}

// SourceType names the component that produced a block.
type SourceType string

// The producers of blocks. Readers must accept unknown values.
const (
	SidecarSource      SourceType = "sidecar"
	ReceiveSource      SourceType = "receive"
	CompactorSource    SourceType = "compactor"
	RulerSource        SourceType = "ruler"
	BucketUploadSource SourceType = "bucket.upload"
)

// Errors of the Read functions, wrapped; test with errors.Is.
var (
	// ErrMetaNotFound: the block has no meta.json (a local block still
	// being written, or a partial upload in the bucket).
	ErrMetaNotFound = errors.New("meta.json not found")
	// ErrMetaCorrupt: meta.json was read whole but is not valid JSON, fails
	// Validate or holds another block's ULID. Reading it again does not
	// help, unlike a failure to read it.
	ErrMetaCorrupt = errors.New("corrupted meta.json")
)

// Meta is the content of a block's meta.json: Prometheus' BlockMeta (its
// fields at the top level of the JSON object) plus the thanos section.
// A Meta is a plain value: not safe for concurrent mutation.
type Meta struct {
	tsdb.BlockMeta

	// Thanos is the section Prometheus does not know; absent (zero) in a
	// block Prometheus wrote and nobody uploaded yet.
	Thanos ThanosMeta `json:"thanos"`
}

// ThanosMeta is the "thanos" object of meta.json.
type ThanosMeta struct {
	// Version is ThanosVersion1; 0 (absent) is read as 1.
	Version int `json:"version,omitempty"`
	// Labels are the external labels of the producer: the block's stream.
	Labels map[string]string `json:"labels"`
	// Downsample describes the resolution of the block's samples.
	Downsample ThanosDownsample `json:"downsample"`
	// Source is the component that wrote the block.
	Source SourceType `json:"source"`
	// SegmentFiles are the names of the chunk segment files (without the
	// chunks/ prefix), in ascending order.
	SegmentFiles []string `json:"segment_files,omitempty"`
	// Files lists every file of the block with its size, relative to the
	// block directory; meta.json itself is listed without a size.
	Files []File `json:"files,omitempty"`
	// IndexStats are optional figures about the index, used to size reads.
	IndexStats IndexStats `json:"index_stats,omitzero"`
	// UploadTime is when the block was uploaded (optional).
	UploadTime time.Time `json:"upload_time,omitzero"`
	// Extensions is free-form data of other tools (optional). Read back, it
	// holds whatever encoding/json produced (maps, slices, float64...).
	Extensions any `json:"extensions,omitempty"`
	// Rewrites is the record Thanos tools keep of rewrites (deletions,
	// relabelling) applied to the block; kept as is so that reading and
	// writing a meta.json does not lose it.
	Rewrites json.RawMessage `json:"rewrites,omitempty"`
}

// ThanosDownsample holds the block's resolution.
type ThanosDownsample struct {
	// Resolution in ms: ResolutionRaw, Resolution5m or Resolution1h.
	Resolution int64 `json:"resolution"`
}

// File is one file of a block.
type File struct {
	// RelPath is the path relative to the block directory, with '/' as
	// separator, e.g. "chunks/000001".
	RelPath string `json:"rel_path"`
	// SizeBytes is the file size; 0 (absent) when unknown.
	SizeBytes int64 `json:"size_bytes,omitempty"`
	// Hash is the optional content hash.
	Hash *ObjectHash `json:"hash,omitempty"`
}

// HashFunc names a hash function of ObjectHash.
type HashFunc string

// SHA256Func is the hash function used by the ecosystem for block files.
const SHA256Func HashFunc = "SHA256"

// ObjectHash is the hash of one file.
type ObjectHash struct {
	Func  HashFunc `json:"hashFunc"`
	Value string   `json:"value"`
}

// IndexStats are figures about the index of a block, all optional.
type IndexStats struct {
	// SeriesMaxSize is the size in bytes of the largest series entry.
	SeriesMaxSize int64 `json:"series_max_size,omitempty"`
	// ChunkMaxSize is the size in bytes of the largest chunk.
	ChunkMaxSize int64 `json:"chunk_max_size,omitempty"`
}

// SetLabels sets the thanos labels from ls.
func (t *ThanosMeta) SetLabels(ls labels.Labels) { t.Labels = ls.Map() }

// LabelSet returns the thanos labels as labels.Labels (sorted).
func (t ThanosMeta) LabelSet() labels.Labels { return labels.FromMap(t.Labels) }

// Validate checks what every reader relies on: the versions, a ULID, a
// non-empty time range and a known resolution. The error says what is wrong.
func (m *Meta) Validate() error {
	if m.Version != TSDBVersion1 {
		return fmt.Errorf("meta.json has version %d, want %d", m.Version, TSDBVersion1)
	}
	if m.ULID == (ulid.ULID{}) {
		return errors.New("meta.json has no ulid")
	}
	if m.MinTime >= m.MaxTime {
		return fmt.Errorf("meta.json of block %s: minTime %d is not before maxTime %d", m.ULID, m.MinTime, m.MaxTime)
	}
	if v := m.Thanos.Version; v != 0 && v != ThanosVersion1 {
		return fmt.Errorf("meta.json of block %s: thanos.version is %d, want %d", m.ULID, v, ThanosVersion1)
	}
	switch r := m.Thanos.Downsample.Resolution; r {
	case ResolutionRaw, Resolution5m, Resolution1h:
	default:
		return fmt.Errorf("meta.json of block %s: thanos.downsample.resolution %d ms is not 0, %d or %d", m.ULID, r, Resolution5m, Resolution1h)
	}
	return nil
}

// Read decodes and validates a meta.json from r. Unknown fields are ignored
// so that newer writers stay readable. Content that cannot be decoded or
// fails Validate is ErrMetaCorrupt; an error reading r is returned as is.
func Read(r io.Reader) (*Meta, error) {
	b, err := io.ReadAll(r)
	if err != nil {
		return nil, fmt.Errorf("read meta.json: %w", err)
	}
	var m Meta
	if err := json.Unmarshal(b, &m); err != nil {
		return nil, fmt.Errorf("%w: decode meta.json: %w", ErrMetaCorrupt, err)
	}
	if m.Thanos.Version == 0 {
		m.Thanos.Version = ThanosVersion1
	}
	if err := m.Validate(); err != nil {
		return nil, fmt.Errorf("%w: %w", ErrMetaCorrupt, err)
	}
	return &m, nil
}

// ReadFromDir reads <dir>/meta.json. A missing file is ErrMetaNotFound.
func ReadFromDir(dir string) (_ *Meta, err error) {
	f, err := os.Open(filepath.Join(dir, MetaFilename))
	if errors.Is(err, os.ErrNotExist) {
		return nil, fmt.Errorf("%s: %w", dir, ErrMetaNotFound)
	}
	if err != nil {
		return nil, err
	}
	defer func() { err = errors.Join(err, f.Close()) }()
	m, err := Read(f)
	if err != nil {
		return nil, fmt.Errorf("%s: %w", f.Name(), err)
	}
	return m, nil
}

// ReadFromBucket reads <id>/meta.json from bkt. A missing object (a partial
// upload or an unknown block) is ErrMetaNotFound.
func ReadFromBucket(ctx context.Context, bkt objstore.BucketReader, id ulid.ULID) (_ *Meta, err error) {
	name := path.Join(id.String(), MetaFilename)
	rc, err := bkt.Get(ctx, name)
	if err != nil {
		if bkt.IsObjNotFoundErr(err) {
			return nil, fmt.Errorf("block %s: %w", id, ErrMetaNotFound)
		}
		return nil, fmt.Errorf("get %s: %w", name, err)
	}
	defer func() { err = errors.Join(err, rc.Close()) }()
	m, err := Read(rc)
	if err != nil {
		return nil, fmt.Errorf("%s: %w", name, err)
	}
	if m.ULID != id {
		return nil, fmt.Errorf("%s: %w: holds ulid %s", name, ErrMetaCorrupt, m.ULID)
	}
	return m, nil
}

// Marshal returns the meta.json encoding of m, indented with tabs like the
// files Prometheus writes.
func (m *Meta) Marshal() ([]byte, error) {
	var buf bytes.Buffer
	enc := json.NewEncoder(&buf)
	enc.SetIndent("", "\t")
	if err := enc.Encode(m); err != nil {
		return nil, fmt.Errorf("encode meta.json of block %s: %w", m.ULID, err)
	}
	return buf.Bytes(), nil
}

// WriteToDir writes m to <dir>/meta.json atomically: a reader sees the old
// file or the new one, never a partial one, even after a crash.
func (m *Meta) WriteToDir(dir string) error {
	b, err := m.Marshal()
	if err != nil {
		return err
	}
	return WriteFileAtomic(filepath.Join(dir, MetaFilename), b)
}

// WriteFileAtomic writes b to name through a temporary file, fsync and
// rename, then fsyncs the directory: after a crash the file holds the old or
// the new content, never a torn one.
func WriteFileAtomic(name string, b []byte) (err error) {
	tmp := name + ".tmp"
	f, err := os.Create(tmp)
	if err != nil {
		return err
	}
	defer func() {
		if err != nil {
			_ = os.Remove(tmp)
		}
	}()
	if _, err := f.Write(b); err != nil {
		_ = f.Close()
		return fmt.Errorf("write %s: %w", tmp, err)
	}
	if err := f.Sync(); err != nil {
		_ = f.Close()
		return fmt.Errorf("sync %s: %w", tmp, err)
	}
	if err := f.Close(); err != nil {
		return fmt.Errorf("close %s: %w", tmp, err)
	}
	if err := os.Rename(tmp, name); err != nil {
		return err
	}
	d, err := os.Open(filepath.Dir(name))
	if err != nil {
		return err
	}
	return errors.Join(d.Sync(), d.Close())
}
