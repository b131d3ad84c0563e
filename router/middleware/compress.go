package middleware

import (
	"io"
	"mime"
	"net/http"
	"strconv"
	"strings"
	"sync"

	"github.com/andybalholm/brotli"
	"github.com/klauspost/compress/gzip"
	"github.com/klauspost/compress/zstd"

	"github.com/wharfproxy/wharf/router/dynamic"
)

// compress encodes responses with zstd, brotli or gzip, whichever the client prefers
// (Accept-Encoding with q-values; ties go to the order of encodings). It never compresses
// twice (a response with Content-Encoding passes untouched), nor a response that must not
// change (Cache-Control: no-transform, a 206 range, gRPC), nor formats that are already
// compressed (JPEG, PNG, video, zip, ...) unless includedContentTypes asks for them.
//
// Small bodies are not worth it: a response whose size is unknown is held until
// minResponseBodyBytes have arrived, and sent as it is if it ends before. A response that
// is flushed (server-sent events, a streamed download; the forwarder flushes responses of
// unknown length as they arrive) starts compressing at the first flush and each flush
// pushes out what was compressed so far, so streaming stays streaming.
var compressType = Type{Name: "compress", New: newCompress}

type compressOptions struct {
	ExcludedContentTypes []string
	IncludedContentTypes []string
	MinResponseBodyBytes *int
	DefaultEncoding      string
	Encodings            []string
}

type encoding uint8

const (
	encNone encoding = iota
	encZstd
	encBrotli
	encGzip
	numEncodings
)

var encodingNames = [numEncodings]string{"", "zstd", "br", "gzip"}

// encodingValues are the Content-Encoding header values, built once.
var encodingValues = [numEncodings][]string{nil, headerValue("zstd"), headerValue("br"), headerValue("gzip")}

func parseEncoding(s string) encoding {
	s = strings.TrimSpace(s)
	for e := encZstd; e < numEncodings; e++ {
		if strings.EqualFold(s, encodingNames[e]) {
			return e
		}
	}
	return encNone
}

const (
	defaultMinCompress = 1024
	brotliLevel        = 4 // on-the-fly: most of the ratio of the default (6) at a fraction of the time
)

// incompressible are media types whose content is already compressed: spending CPU on them
// saves nothing. They are skipped unless includedContentTypes is used.
var incompressible = []string{
	"image/jpeg", "image/png", "image/gif", "image/webp", "image/avif", "image/heic", "image/heif",
	"font/woff", "font/woff2", "application/zip", "application/gzip", "application/x-gzip",
	"application/zstd", "application/x-bzip2", "application/x-xz", "application/x-7z-compressed",
	"application/x-rar-compressed", "application/vnd.rar", "application/wasm+gzip",
}

type compressMW struct {
	encodings []encoding // by priority
	preferred encoding   // defaultEncoding: used without Accept-Encoding, and first among equals
	minSize   int
	included  []mediaType
	excluded  []mediaType
	encoders  [numEncodings]sync.Pool
	writers   sync.Pool
}

func newCompress(env *Env, opts *dynamic.Node) (Middleware, error) {
	o, err := decodeOptional[compressOptions](env, opts, "compress")
	if err != nil {
		return nil, err
	}
	c := &compressMW{minSize: defaultMinCompress}
	if o.MinResponseBodyBytes != nil {
		if *o.MinResponseBodyBytes < 0 {
			return nil, env.Invalid(opts, "minResponseBodyBytes", "minResponseBodyBytes must be 0 or more")
		}
		c.minSize = *o.MinResponseBodyBytes
	}
	if len(o.ExcludedContentTypes) > 0 && len(o.IncludedContentTypes) > 0 {
		return nil, env.Invalid(opts, "includedContentTypes", "excludedContentTypes and includedContentTypes cannot be used together")
	}
	if c.excluded, err = parseMediaTypes(append(o.ExcludedContentTypes, incompressible...)); err != nil {
		return nil, env.Invalid(opts, "excludedContentTypes", "%v", err)
	}
	if len(o.IncludedContentTypes) > 0 {
		c.excluded = nil
		if c.included, err = parseMediaTypes(o.IncludedContentTypes); err != nil {
			return nil, env.Invalid(opts, "includedContentTypes", "%v", err)
		}
	}
	if err := c.setEncodings(env, opts, o); err != nil {
		return nil, err
	}
	c.encoders[encGzip].New = func() any { w, _ := gzip.NewWriterLevel(io.Discard, gzip.DefaultCompression); return w }
	c.encoders[encBrotli].New = func() any { return brotli.NewWriterLevel(io.Discard, brotliLevel) }
	c.encoders[encZstd].New = func() any {
		// A 1 MiB window keeps each pooled encoder small; browsers accept up to 8 MiB.
		w, _ := zstd.NewWriter(io.Discard, zstd.WithEncoderConcurrency(1), zstd.WithWindowSize(1<<20), zstd.WithLowerEncoderMem(true))
		return w
	}
	c.writers.New = func() any { return &compressWriter{} }
	return func(next http.Handler) http.Handler { return &compressHandler{compressMW: c, next: next} }, nil
}

func (c *compressMW) setEncodings(env *Env, opts *dynamic.Node, o *compressOptions) error {
	names := o.Encodings
	if len(names) == 0 {
		names = []string{"zstd", "br", "gzip"}
	}
	for _, n := range names {
		e := parseEncoding(n)
		if e == encNone {
			return env.Invalid(opts, "encodings", "unknown encoding %q: choose among zstd, br and gzip", n)
		}
		c.encodings = append(c.encodings, e)
	}
	if o.DefaultEncoding != "" {
		if c.preferred = parseEncoding(o.DefaultEncoding); c.preferred == encNone {
			return env.Invalid(opts, "defaultEncoding", "unknown encoding %q: choose among zstd, br and gzip", o.DefaultEncoding)
		}
	}
	return nil
}

// mediaType is a configured content type: the type/subtype, lowercased, and parameters
// that must also match when given.
type mediaType struct {
	typ    string
	params map[string]string
}

func parseMediaTypes(list []string) ([]mediaType, error) {
	out := make([]mediaType, 0, len(list))
	for _, s := range list {
		t, params, err := mime.ParseMediaType(strings.ReplaceAll(s, " ", ""))
		if err != nil {
			return nil, &listError{value: s, msg: "is not a media type (like text/event-stream)"}
		}
		out = append(out, mediaType{typ: t, params: params})
	}
	return out, nil
}

func matchMediaType(list []mediaType, contentType string) bool {
	typ := contentType
	if i := strings.IndexByte(typ, ';'); i >= 0 {
		typ = typ[:i]
	}
	typ = strings.TrimSpace(typ)
	for _, m := range list {
		if !strings.EqualFold(m.typ, typ) {
			continue
		}
		if len(m.params) == 0 {
			return true
		}
		_, params, err := mime.ParseMediaType(contentType)
		if err != nil {
			continue
		}
		all := true
		for k, v := range m.params {
			all = all && strings.EqualFold(params[k], v)
		}
		if all {
			return true
		}
	}
	return false
}

// compressible decides from the response's header (not its body) whether to compress.
func (c *compressMW) compressible(h http.Header, status int) bool {
	if status < 200 || status == http.StatusNoContent || status == http.StatusPartialContent || status == http.StatusNotModified {
		return false
	}
	if v := h["Content-Encoding"]; len(v) > 0 && v[0] != "" || len(h["Content-Range"]) > 0 || len(h["Trailer"]) > 0 {
		return false
	}
	for _, v := range h["Cache-Control"] {
		if containsFold(v, "no-transform") {
			return false
		}
	}
	ct := ""
	if v := h["Content-Type"]; len(v) > 0 {
		ct = v[0]
	}
	if strings.HasPrefix(ct, "application/grpc") {
		return false
	}
	if c.included != nil {
		return matchMediaType(c.included, ct)
	}
	return !matchMediaType(c.excluded, ct)
}

func containsFold(s, sub string) bool {
	for i := 0; i+len(sub) <= len(s); i++ {
		if strings.EqualFold(s[i:i+len(sub)], sub) {
			return true
		}
	}
	return false
}

type compressHandler struct {
	*compressMW
	next http.Handler
}

func (h *compressHandler) ServeHTTP(w http.ResponseWriter, r *http.Request) {
	enc := h.negotiate(r.Header)
	if enc == encNone || r.Method == http.MethodHead || len(r.Header["Upgrade"]) > 0 ||
		strings.HasPrefix(headerFirst(r.Header, "Content-Type"), "application/grpc") {
		h.next.ServeHTTP(w, r)
		return
	}
	cw := h.writers.Get().(*compressWriter)
	*cw = compressWriter{rw: w, c: h.compressMW, enc: enc, buf: cw.buf[:0]}
	defer h.release(cw)
	h.next.ServeHTTP(cw, r)
	cw.finish()
}

func (h *compressHandler) release(cw *compressWriter) {
	if cw.encoder != nil {
		cw.encoder.Reset(io.Discard) // drop the reference to this response
		h.encoders[cw.enc].Put(cw.encoder)
	}
	buf := cw.buf
	if cap(buf) > 64<<10 {
		buf = nil
	}
	*cw = compressWriter{buf: buf[:0]}
	h.writers.Put(cw)
}

func headerFirst(h http.Header, k string) string {
	if v := h[k]; len(v) > 0 {
		return v[0]
	}
	return ""
}

// negotiate picks the encoding from Accept-Encoding (RFC 9110 §12.5.3) without allocating:
// the highest q-value wins; "*" stands for every encoding not listed; q=0 refuses; ties go
// to defaultEncoding, then to the order of encodings. No header at all means
// defaultEncoding (none unless set); an empty header means none.
func (c *compressMW) negotiate(h http.Header) encoding {
	values, ok := h["Accept-Encoding"]
	if !ok {
		return c.preferred
	}
	var q [numEncodings]float64
	for i := range q {
		q[i] = -1
	}
	star := -1.0
	for _, v := range values {
		for v != "" {
			var item string
			item, v, _ = strings.Cut(v, ",")
			name, params, _ := strings.Cut(item, ";")
			name = strings.TrimSpace(name)
			qv := parseQ(params)
			if name == "*" {
				star = qv
			} else if strings.EqualFold(name, "x-gzip") {
				q[encGzip] = qv
			} else if e := parseEncoding(name); e != encNone {
				q[e] = qv
			}
		}
	}
	best, bestQ := encNone, 0.0
	for _, e := range c.encodings {
		qe := q[e]
		if qe < 0 {
			qe = star
		}
		if qe > bestQ || (qe == bestQ && qe > 0 && e == c.preferred) {
			best, bestQ = e, qe
		}
	}
	return best
}

// parseQ reads the q parameter of an Accept-Encoding item; without one, q is 1.
func parseQ(params string) float64 {
	for params != "" {
		var p string
		p, params, _ = strings.Cut(params, ";")
		k, v, ok := strings.Cut(strings.TrimSpace(p), "=")
		if ok && strings.EqualFold(strings.TrimSpace(k), "q") {
			f, err := strconv.ParseFloat(strings.TrimSpace(v), 64)
			if err != nil || f < 0 {
				return 0
			}
			return min(f, 1)
		}
	}
	return 1
}
