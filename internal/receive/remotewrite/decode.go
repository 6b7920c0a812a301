package remotewrite

import (
	"errors"
	"fmt"
	"io"
	"mime"
	"net/http"
	"slices"
	"strings"
	"sync"
	"unicode/utf8"

	"github.com/golang/snappy"
)

// Media types and headers of remote write.
const (
	// ContentType is the media type of both protobuf messages.
	ContentType = "application/x-protobuf"
	// ContentTypeV1 is the Content-Type of a 1.0 request.
	ContentTypeV1 = ContentType
	// ContentTypeV2 is the Content-Type of a 2.0 request.
	ContentTypeV2 = ContentType + ";proto=" + protoV2
	// VersionHeader is the header in which senders give the protocol version.
	VersionHeader = "X-Prometheus-Remote-Write-Version"
	// Version1HeaderValue is VersionHeader's value from a 1.0 sender.
	Version1HeaderValue = "0.1.0"
	// Version2HeaderValue is VersionHeader's value from a 2.0 sender.
	Version2HeaderValue = "2.0.0"

	protoV1 = "prometheus.WriteRequest"
	protoV2 = "io.prometheus.write.v2.Request"
)

// Decoder decodes remote-write requests. It is safe for concurrent use.
type Decoder struct {
	cfg Config
	// bufs holds *[]byte buffers for compressed and decoded bodies: the
	// decoded form copies what it keeps, so they are reused.
	bufs sync.Pool
	// wires and wiresV2 hold the scratch arrays of decodeV1 and decodeV2.
	wires   sync.Pool
	wiresV2 sync.Pool
}

// NewDecoder returns a Decoder for cfg.
func NewDecoder(cfg Config) (*Decoder, error) {
	if err := cfg.Validate(); err != nil {
		return nil, fmt.Errorf("remote write decoder: %w", err)
	}
	return &Decoder{cfg: cfg}, nil
}

// Config returns the decoder's configuration.
func (d *Decoder) Config() Config { return d.cfg }

// Decode reads, decompresses, unmarshals and validates the remote-write
// request r, and returns its internal form. It reads r.Body but does not
// close it. An error maps to an HTTP status with ErrorStatus; errors about
// one series are *SeriesError values. The caller checks the method.
func (d *Decoder) Decode(r *http.Request) (*Request, error) {
	return d.DecodeLimit(r, 0)
}

// Tenant returns the tenant of r: its tenant header, or the default
// tenant. It does not validate it (Decode does).
func (d *Decoder) Tenant(r *http.Request) string {
	if tenant := r.Header.Get(d.cfg.TenantHeader); tenant != "" {
		return tenant
	}
	return d.cfg.DefaultTenant
}

// DecodeLimit is Decode with a body limit below Config.MaxBodyBytes (a
// tenant's size_bytes_limit); 0 means Config.MaxBodyBytes.
func (d *Decoder) DecodeLimit(r *http.Request, maxBody int64) (*Request, error) {
	if maxBody <= 0 || maxBody > d.cfg.MaxBodyBytes {
		maxBody = d.cfg.MaxBodyBytes
	}
	version, err := parseContentType(r.Header.Get("Content-Type"))
	if err != nil {
		return nil, err
	}
	if err := checkEncoding(r.Header.Get("Content-Encoding")); err != nil {
		return nil, err
	}
	tenant := d.Tenant(r)
	if err := validTenant(tenant); err != nil {
		return nil, err
	}

	body := d.getBuf()
	defer d.putBuf(body)
	*body, err = readBody((*body)[:0], r.Body, r.ContentLength, maxBody)
	if err != nil {
		return nil, err
	}
	req, err := d.decodeBody(version, tenant, *body)
	if err != nil {
		return nil, err
	}
	req.BodyBytes = len(*body)
	return req, nil
}

// decodeBody decompresses and decodes a read body.
func (d *Decoder) decodeBody(version Version, tenant string, body []byte) (*Request, error) {
	n, err := snappy.DecodedLen(body)
	if err != nil {
		return nil, fmt.Errorf("%w: %w", ErrSnappy, err)
	}
	if int64(n) > d.cfg.MaxDecodedBytes {
		return nil, fmt.Errorf("%w: snappy header declares %d bytes, the limit is %d", ErrDecodedTooLarge, n, d.cfg.MaxDecodedBytes)
	}
	dec := d.getBuf()
	defer d.putBuf(dec)
	if cap(*dec) < n {
		*dec = make([]byte, n)
	}
	msg, err := snappy.Decode((*dec)[:n], body)
	if err != nil {
		return nil, fmt.Errorf("%w: %w", ErrSnappy, err)
	}

	req := &Request{Version: version, Tenant: tenant}
	c := converter{scheme: d.cfg.NameValidation}
	switch version {
	case V1:
		if err := d.decodeV1(&c, req, msg); err != nil {
			return nil, err
		}
	default:
		if err := d.decodeV2(&c, req, msg); err != nil {
			return nil, err
		}
	}
	return req, nil
}

func (d *Decoder) getBuf() *[]byte {
	if b, ok := d.bufs.Get().(*[]byte); ok {
		return b
	}
	b := make([]byte, 0, 64<<10)
	return &b
}

// maxPooledBuf keeps the buffers of rare huge requests out of the pool.
const maxPooledBuf = 4 << 20

func (d *Decoder) putBuf(b *[]byte) {
	if cap(*b) <= maxPooledBuf {
		*b = (*b)[:0]
		d.bufs.Put(b)
	}
}

// parseContentType returns the protobuf message a Content-Type names.
func parseContentType(ct string) (Version, error) {
	if strings.TrimSpace(ct) == "" {
		return V1, nil
	}
	mediaType, params, err := mime.ParseMediaType(ct)
	if err != nil {
		return 0, fmt.Errorf("%w %s: %w; use %q or %q", ErrUnsupportedContentType, quote(ct), err, ContentTypeV1, ContentTypeV2)
	}
	if mediaType != ContentType {
		return 0, fmt.Errorf("%w %s: use %q or %q", ErrUnsupportedContentType, quote(ct), ContentTypeV1, ContentTypeV2)
	}
	switch proto, ok := params["proto"]; {
	case !ok, proto == protoV1:
		return V1, nil
	case proto == protoV2:
		return V2, nil
	default:
		return 0, fmt.Errorf("%w: protobuf message %s: use proto=%s or proto=%s", ErrUnsupportedContentType, quote(proto), protoV1, protoV2)
	}
}

// checkEncoding accepts snappy, and no encoding as snappy.
func checkEncoding(enc string) error {
	enc = strings.TrimSpace(enc)
	if enc == "" || strings.EqualFold(enc, "snappy") {
		return nil
	}
	return fmt.Errorf("%w %s: remote write bodies are snappy block-compressed (Content-Encoding: snappy)", ErrUnsupportedEncoding, quote(enc))
}

// readBody appends the body r to dst, refusing more than limit bytes; a
// declared length (-1 when unknown) above limit is refused without reading.
func readBody(dst []byte, r io.Reader, declared, limit int64) ([]byte, error) {
	if declared > limit {
		return dst, fmt.Errorf("%w: Content-Length is %d bytes, the limit is %d", ErrBodyTooLarge, declared, limit)
	}
	if r == nil || r == http.NoBody {
		return dst, nil
	}
	if declared > 0 && int64(cap(dst)) < declared {
		// One byte more, to see the end of the body without growing.
		dst = make([]byte, 0, declared+1)
	}
	for {
		if len(dst) == cap(dst) {
			// Double, but to no more than the limit plus one byte: len(dst)
			// is at most limit here.
			grow := min(max(int64(cap(dst)), 4096), limit+1-int64(len(dst)))
			dst = slices.Grow(dst, int(grow))
		}
		n, err := r.Read(dst[len(dst):cap(dst)])
		dst = dst[:len(dst)+n]
		if int64(len(dst)) > limit {
			return dst, fmt.Errorf("%w: the limit is %d bytes", ErrBodyTooLarge, limit)
		}
		if errors.Is(err, io.EOF) {
			return dst, nil
		}
		if err != nil {
			var mbe *http.MaxBytesError
			if errors.As(err, &mbe) {
				return dst, fmt.Errorf("%w: %w", ErrBodyTooLarge, err)
			}
			return dst, fmt.Errorf("%w: %w", ErrReadBody, err)
		}
	}
}

// validTenant refuses a tenant that cannot name a directory or a label value.
func validTenant(t string) error {
	switch {
	case t == "":
		return fmt.Errorf("%w: empty", ErrInvalidTenant)
	case t == "." || t == "..", strings.ContainsAny(t, `/\`):
		return fmt.Errorf("%w %s: a tenant cannot be . or .. or contain a slash", ErrInvalidTenant, quote(t))
	case !utf8.ValidString(t):
		return fmt.Errorf("%w %s: not valid UTF-8", ErrInvalidTenant, quote(t))
	}
	return nil
}
