// Package accesslog writes one line per request: JSON through zerolog by default, or the
// Common Log Format, to stdout or a file that logrotate can move (Reopen).
//
// It never writes a credential: Authorization, Proxy-Authorization and cookies are redacted
// whatever the configuration says, headers are dropped unless named, and the values of query
// parameters whose names mark them as secrets (token, password, api_key, ...) are replaced by
// REDACTED. A line costs no allocation in the common case: fields are appended to pooled
// buffers, not formatted into strings.
package accesslog

import (
	"crypto/rand"
	"encoding/hex"
	"fmt"
	"io"
	"net"
	"net/http"
	"net/url"
	"os"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"time"

	"github.com/rs/zerolog"
)

// Config is the access log's configuration (the static accessLog section).
type Config struct {
	// Format is "json" (the default) or "common" (Common Log Format, with Traefik's extra
	// fields: request id, router, upstream address, duration).
	Format string
	// FilePath is the file to append to; "" writes to Output.
	FilePath string
	// Output is where lines go when FilePath is "". Default os.Stdout.
	Output io.Writer
	// BufferingSize keeps up to this many lines in memory before writing them (and writes
	// at least every second). 0 writes each line at once.
	BufferingSize int64
	// StatusCodes, RetryAttempts and MinDuration are filters: when any is set, a request is
	// logged when one of them matches ("404", "500-599"; retried; slower than MinDuration).
	StatusCodes   []string
	RetryAttempts bool
	MinDuration   time.Duration
	// DefaultMode ("keep", "drop", "redact") and Fields (Traefik field name -> mode) choose
	// the fields.
	DefaultMode string
	Fields      map[string]string
	// HeadersDefaultMode (default "drop") and Headers (header name -> mode) choose the
	// request headers written as request_<Name>.
	HeadersDefaultMode string
	Headers            map[string]string

	flushEvery time.Duration // how often buffered lines are written; 0: a second (tests shorten or lengthen it)
}

// Entry is one request as the access log sees it. The caller fills it from the request
// before serving it (so middlewares that rewrite the path do not change what is logged) and
// from the response after.
type Entry struct {
	Start        time.Time
	Duration     time.Duration
	EntryPoint   string
	ClientAddr   string // ip:port of the peer
	Method       string
	Host         string
	Path         string // as the client sent it, escaped, without the query
	RawQuery     string // as the client sent it; secret values are redacted when written
	Proto        string
	Status       int
	Bytes        int64 // response body bytes
	RequestBytes int64 // request body bytes read
	Router       string
	Service      string
	Upstream     string // host:port of the server that answered
	RequestID    string // X-Request-Id, when the client or a middleware set one
	UserAgent    string
	Header       http.Header // request headers, for accessLog.fields.headers
	Retries      int         // how many times the retry middleware tried again
}

// Logger writes access log lines. It is safe for concurrent use.
type Logger struct {
	out     io.Writer
	closer  func() error
	file    *File // nil when not writing to a file
	zl      zerolog.Logger
	common  bool
	filter  filter
	modes   [numFields]mode
	headers headerRules
	bufs    sync.Pool
	idBase  string        // random per process, so generated request ids are unique
	idSeq   atomic.Uint64 // plus a sequence
}

// New opens the output and resolves the configuration once.
func New(c Config) (*Logger, error) {
	l := &Logger{out: c.Output, closer: func() error { return nil }}
	switch strings.ToLower(c.Format) {
	case "", "json":
	case "common":
		l.common = true
	default:
		return nil, fmt.Errorf("format %q is not json or common", c.Format)
	}
	var err error
	if l.filter, err = newFilter(c.StatusCodes, c.RetryAttempts, c.MinDuration); err != nil {
		return nil, err
	}
	if l.modes, err = fieldModes(c.DefaultMode, c.Fields); err != nil {
		return nil, err
	}
	if l.headers, err = newHeaderRules(c.HeadersDefaultMode, c.Headers); err != nil {
		return nil, err
	}
	if l.out == nil {
		l.out = os.Stdout
	}
	if c.FilePath != "" {
		if l.file, err = OpenFile(c.FilePath); err != nil {
			return nil, err
		}
		l.out, l.closer = l.file, l.file.Close
	}
	if c.BufferingSize > 0 {
		every := c.flushEvery
		if every == 0 {
			every = time.Second
		}
		b := newBuffered(l.out, int(c.BufferingSize), every)
		inner := l.closer
		l.out, l.closer = b, func() error { b.Close(); return inner() }
	}
	l.zl = zerolog.New(l.out)
	var seed [6]byte
	_, _ = rand.Read(seed[:])
	l.idBase = hex.EncodeToString(seed[:])
	l.bufs.New = func() any { b := make([]byte, 0, 512); return &b }
	return l, nil
}

// Reopen reopens the log file, after logrotate moved it (SIGUSR1). Without a file it does
// nothing.
func (l *Logger) Reopen() error {
	if l == nil || l.file == nil {
		return nil
	}
	return l.file.Reopen()
}

// Close writes what is buffered and closes the file.
func (l *Logger) Close() error {
	if l == nil {
		return nil
	}
	return l.closer()
}

// Keep reports whether a request with this status and duration passes the filters; the
// caller may skip filling an Entry otherwise.
func (l *Logger) Keep(status int, d time.Duration, retries int) bool {
	return l.filter.keep(status, d, retries)
}

// Log writes e, when it passes the filters.
func (l *Logger) Log(e *Entry) {
	if l == nil || !l.filter.keep(e.Status, e.Duration, e.Retries) {
		return
	}
	bp := l.bufs.Get().(*[]byte)
	if l.common {
		b := l.appendCommon((*bp)[:0], e)
		_, _ = l.out.Write(b)
		*bp = b
	} else {
		*bp = l.writeJSON((*bp)[:0], e)
	}
	if cap(*bp) <= 64<<10 {
		l.bufs.Put(bp)
	}
}

// writeJSON writes one JSON line through zerolog. scratch is a pooled buffer for the values
// that are assembled (time, path with its query, request id); it is returned, maybe grown.
func (l *Logger) writeJSON(scratch []byte, e *Entry) []byte {
	ev := l.zl.Log()
	scratch = e.Start.UTC().AppendFormat(scratch, time.RFC3339Nano)
	ev.Bytes("time", scratch)
	l.str(ev, fClientAddr, e.ClientAddr)
	l.str(ev, fClientHost, clientHost(e.ClientAddr))
	l.str(ev, fRequestMethod, e.Method)
	l.str(ev, fRequestHost, e.Host)
	if m := l.modes[fRequestPath]; m != drop {
		start := len(scratch)
		scratch = appendPathQuery(scratch, e.Path, e.RawQuery)
		l.bytes(ev, fRequestPath, scratch[start:])
	}
	l.str(ev, fRequestProtocol, e.Proto)
	l.int(ev, fDownstreamStatus, int64(e.Status))
	l.int(ev, fDownstreamContentSize, e.Bytes)
	l.int(ev, fRequestContentSize, e.RequestBytes)
	l.int(ev, fDuration, int64(e.Duration))
	l.str(ev, fRouterName, e.Router)
	l.str(ev, fServiceName, e.Service)
	l.str(ev, fServiceAddr, e.Upstream)
	l.str(ev, fEntryPointName, e.EntryPoint)
	if m := l.modes[fRequestID]; m != drop {
		start := len(scratch)
		scratch = l.appendRequestID(scratch, e.RequestID)
		l.bytes(ev, fRequestID, scratch[start:])
	}
	l.str(ev, fUserAgent, e.UserAgent)
	l.int(ev, fRetryAttempts, int64(e.Retries))
	l.jsonHeaders(ev, e.Header)
	ev.Send()
	return scratch
}

func (l *Logger) str(ev *zerolog.Event, f field, v string) {
	switch l.modes[f] {
	case keep:
		if v != "" {
			ev.Str(fieldNames[f], v)
		}
	case redact:
		ev.Str(fieldNames[f], redacted)
	}
}

func (l *Logger) bytes(ev *zerolog.Event, f field, v []byte) {
	switch l.modes[f] {
	case keep:
		ev.Bytes(fieldNames[f], v)
	case redact:
		ev.Str(fieldNames[f], redacted)
	}
}

func (l *Logger) int(ev *zerolog.Event, f field, v int64) {
	switch l.modes[f] {
	case keep:
		ev.Int64(fieldNames[f], v)
	case redact:
		ev.Str(fieldNames[f], redacted)
	}
}

func (l *Logger) jsonHeaders(ev *zerolog.Event, h http.Header) {
	if len(h) == 0 {
		return
	}
	if l.headers.def == drop {
		for _, n := range l.headers.named {
			if v, ok := h[n.name]; ok {
				writeHeader(ev, n.key, v, n.mode)
			}
		}
		return
	}
	for name, v := range h {
		if m := l.headers.modeOf(name); m != drop {
			writeHeader(ev, "request_"+name, v, m)
		}
	}
}

func writeHeader(ev *zerolog.Event, key string, v []string, m mode) {
	switch {
	case m == redact:
		ev.Str(key, redacted)
	case len(v) == 1:
		ev.Str(key, v[0])
	default:
		ev.Str(key, strings.Join(v, ", "))
	}
}

// appendRequestID appends the request's id: the one it came with, else a new one made of a
// per-process random prefix and a sequence number (unique without a random read per request).
func (l *Logger) appendRequestID(dst []byte, id string) []byte {
	if id != "" {
		return append(dst, id...)
	}
	dst = append(dst, l.idBase...)
	dst = append(dst, '-')
	return strconv.AppendUint(dst, l.idSeq.Add(1), 36)
}

// appendPathQuery appends path?query with the values of secret parameters redacted.
func appendPathQuery(dst []byte, path, query string) []byte {
	dst = append(dst, path...)
	if query == "" {
		return dst
	}
	dst = append(dst, '?')
	for i := 0; query != ""; i++ {
		var part string
		part, query, _ = strings.Cut(query, "&")
		if i > 0 {
			dst = append(dst, '&')
		}
		name, _, hasValue := strings.Cut(part, "=")
		if hasValue && secretParam(name) {
			dst = append(dst, name...)
			dst = append(dst, "="+redacted...)
			continue
		}
		dst = append(dst, part...)
	}
	return dst
}

// secretParam is secretName for a query parameter name as written, percent-encoding and all
// ("api%5Fkey" is api_key).
func secretParam(name string) bool {
	if strings.ContainsAny(name, "%+") {
		if u, err := url.QueryUnescape(name); err == nil {
			name = u
		}
	}
	return secretName(name)
}

func clientHost(addr string) string {
	if host, _, err := net.SplitHostPort(addr); err == nil {
		return host
	}
	return addr
}
