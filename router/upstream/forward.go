package upstream

import (
	"context"
	"errors"
	"io"
	"log"
	"net"
	"net/http"
	"net/http/httputil"
	"net/url"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"syscall"
	"time"

	"github.com/rs/zerolog"
)

// ForwardConfig is how requests reach one service's servers.
type ForwardConfig struct {
	Transport      http.RoundTripper
	PassHostHeader bool
	// PreservePath keeps the path of a server's URL as the prefix of every forwarded path
	// (http://10.0.0.5/app + /x -> /app/x). Off, the URL's path is ignored (Traefik's default).
	PreservePath bool
	// FlushInterval is how often a streamed response body is flushed to the client; zero
	// means 100ms, negative flushes after every write. Server-sent events and responses of
	// unknown length are always flushed at once (httputil.ReverseProxy does that).
	FlushInterval time.Duration
	// BodyIdleTimeout cuts a response body that delivers nothing for this long; zero: the
	// transport's ResponseHeaderTimeout (60s by default).
	BodyIdleTimeout time.Duration
	// ServerHost is the value of X-Forwarded-Server: the name of this wharf instance.
	ServerHost string
	// Buffers is the process-wide pool that body copies go through (see NewBufferPool).
	Buffers httputil.BufferPool
	Log     zerolog.Logger
}

// Server is one backend of a service, with the proxy that reaches it. It is built when the
// table is compiled, so a request pays for no URL parsing or closure allocation.
type Server struct {
	URL    *url.URL
	Weight int
	proxy  *httputil.ReverseProxy

	transport http.RoundTripper // the shared transport; the proxy goes through RoundTrip
	target    *url.URL          // URL with h2c read as http
	basePath  string

	// Set by NewBalancer.
	bal    *Balancer
	idx    int
	state  *ServerState
	hash   uint64 // hrw
	cookie string // sticky cookie value naming this server
}

// ServeHTTP forwards r to this server alone, outside any balancer.
func (s *Server) ServeHTTP(w http.ResponseWriter, r *http.Request) {
	noteUpstream(w, s.URL.Host)
	s.proxy.ServeHTTP(w, r)
}

// noteUpstream tells the access log, if one is recording this request, which server it
// went to. The recorder is found by walking Unwrap, the way http.ResponseController finds
// a writer's capabilities, so no context value is allocated per request.
func noteUpstream(w http.ResponseWriter, addr string) {
	for {
		if n, ok := w.(interface{ NoteUpstream(string) }); ok {
			n.NoteUpstream(addr)
			return
		}
		u, ok := w.(interface{ Unwrap() http.ResponseWriter })
		if !ok {
			return
		}
		w = u.Unwrap()
	}
}

// NewServer builds the forwarder for one backend URL. Schemes: http, https, and h2c
// (cleartext HTTP/2, whose transport must be configured for it).
func NewServer(u *url.URL, weight int, fc ForwardConfig) *Server {
	target := *u
	if target.Scheme == "h2c" {
		target.Scheme = "http"
	}
	flush := fc.FlushInterval
	if flush == 0 {
		flush = 100 * time.Millisecond
	}
	s := &Server{URL: u, Weight: weight, transport: fc.Transport, target: &target}
	if fc.PreservePath {
		s.basePath = strings.TrimSuffix(target.Path, "/")
	}
	s.proxy = &httputil.ReverseProxy{
		Rewrite: rewriter(&target, s.basePath, fc),
		// The proxy's transport is the server itself: RoundTrip watches the outcome for the
		// passive health check and sends a request that could not be sent to another server.
		Transport:      s,
		FlushInterval:  flush,
		BufferPool:     fc.Buffers,
		ErrorHandler:   errorHandler(fc.Log, u),
		ModifyResponse: boundStalls(bodyIdleTimeout(fc)),
		// What ErrorHandler does not see (a body cut mid-copy, a failed trailer) ReverseProxy
		// logs itself; into wharf's log, not the process's stderr.
		ErrorLog: log.New(proxyLogWriter{fc.Log, u.Redacted()}, "", 0),
	}
	return s
}

func rewriter(target *url.URL, basePath string, fc ForwardConfig) func(*httputil.ProxyRequest) {
	// X-Forwarded-Server is the same on every request: one slice, shared. Nothing on the
	// way to the backend modifies header values in place.
	var serverHost []string
	if fc.ServerHost != "" {
		serverHost = []string{fc.ServerHost}
	}
	return func(pr *httputil.ProxyRequest) {
		out := pr.Out
		out.URL.Scheme = target.Scheme
		out.URL.Host = target.Host
		if basePath != "" {
			out.URL.Path = basePath + out.URL.Path
			if out.URL.RawPath != "" {
				out.URL.RawPath = basePath + out.URL.RawPath
			}
		}
		if fc.PassHostHeader {
			out.Host = pr.In.Host
		} else {
			out.Host = ""
		}
		setForwarded(pr, serverHost)
		if out.Body != nil && out.Body != http.NoBody {
			// The transport closes the body when a dial fails; keepBody keeps it open and
			// notes whether a byte of it was read, so such a request can go to another server.
			out.Body = &keepBody{rc: out.Body}
		}
	}
}

// setForwarded sets X-Forwarded-* and X-Real-Ip. The entrypoint has already removed these
// headers from requests that came from peers it does not trust, so whatever is still on the
// inbound request was set by a trusted proxy and is extended, not replaced.
//
// httputil.ReverseProxy removes X-Forwarded-For, -Host and -Proto from the outbound request
// before calling Rewrite, which is why they are read from pr.In.
func setForwarded(pr *httputil.ProxyRequest, serverHost []string) {
	in, h := pr.In, pr.Out.Header
	clientIP := remoteIP(in.RemoteAddr)
	// Every value set here lives in one array: one allocation instead of one per header. The
	// full slice expressions cap each slice at its element, so an append by anyone later
	// copies instead of writing over the next header's value.
	vals := new([4]string)
	if prior := in.Header["X-Forwarded-For"]; len(prior) > 0 {
		vals[0] = strings.Join(prior, ", ") + ", " + clientIP
	} else {
		vals[0] = clientIP
	}
	h["X-Forwarded-For"] = vals[0:1:1]
	if v := in.Header["Forwarded"]; len(v) > 0 {
		// ReverseProxy drops Forwarded before Rewrite; the entrypoint has already removed it
		// from untrusted peers, so what is left came from a trusted proxy and is kept.
		h["Forwarded"] = v
	}
	if v := in.Header["X-Forwarded-Proto"]; len(v) > 0 {
		h["X-Forwarded-Proto"] = v
	} else if in.TLS != nil {
		h["X-Forwarded-Proto"] = httpsValue
	} else {
		h["X-Forwarded-Proto"] = httpValue
	}
	if v := in.Header["X-Forwarded-Host"]; len(v) > 0 {
		h["X-Forwarded-Host"] = v
	} else {
		vals[1] = in.Host
		h["X-Forwarded-Host"] = vals[1:2:2]
	}
	if len(in.Header["X-Forwarded-Port"]) == 0 {
		vals[2] = forwardedPort(in)
		h["X-Forwarded-Port"] = vals[2:3:3]
	}
	if serverHost != nil {
		h["X-Forwarded-Server"] = serverHost
	}
	if len(in.Header["X-Real-Ip"]) == 0 {
		vals[3] = clientIP
		h["X-Real-Ip"] = vals[3:4:4]
	}
}

var (
	httpValue  = []string{"http"}
	httpsValue = []string{"https"}
)

func remoteIP(remoteAddr string) string {
	host, _, err := net.SplitHostPort(remoteAddr)
	if err != nil {
		return remoteAddr
	}
	return host
}

// forwardedPort is the port the client connected to: from the Host header when it has one,
// else the local port of the connection, else the default port of the scheme.
func forwardedPort(r *http.Request) string {
	if i := strings.LastIndexByte(r.Host, ':'); i >= 0 && !strings.HasSuffix(r.Host, "]") {
		return r.Host[i+1:]
	}
	switch la := r.Context().Value(http.LocalAddrContextKey).(type) {
	case *net.TCPAddr:
		return portString(la.Port)
	case net.Addr:
		if _, p, err := net.SplitHostPort(la.String()); err == nil {
			return p
		}
	}
	if r.TLS != nil {
		return "443"
	}
	return "80"
}

// portStrings holds the decimal form of the ports seen, so that a request does not format
// its entrypoint's port again: there are a handful, and the map is copied on the rare write.
var portStrings atomic.Pointer[map[int]string]

func portString(port int) string {
	if m := portStrings.Load(); m != nil {
		if s, ok := (*m)[port]; ok {
			return s
		}
	}
	s := strconv.Itoa(port)
	for {
		old := portStrings.Load()
		next := make(map[int]string, 8)
		if old != nil {
			if len(*old) >= 64 {
				return s // more ports than any entrypoint set has: stop caching
			}
			for k, v := range *old {
				next[k] = v
			}
		}
		next[port] = s
		if portStrings.CompareAndSwap(old, &next) {
			return s
		}
	}
}

// proxyLogWriter puts ReverseProxy's own messages in wharf's log, naming the server.
type proxyLogWriter struct {
	log    zerolog.Logger
	server string
}

func (w proxyLogWriter) Write(p []byte) (int, error) {
	w.log.Debug().Str("server", w.server).Msg(strings.TrimSuffix(string(p), "\n"))
	return len(p), nil
}

// StatusClientClosedRequest is nginx's 499: the client went away before the answer. It is
// logged, never sent.
const StatusClientClosedRequest = 499

// ErrorStatus maps a forwarding error to the status the client gets: 504 when the backend
// was too slow, 499 when the client went away, 502 for everything else. The client only ever
// sees the status text, never a Go error string.
func ErrorStatus(r *http.Request, err error) int {
	if r.Context().Err() != nil && errors.Is(err, context.Canceled) {
		return StatusClientClosedRequest
	}
	var ne net.Error
	if errors.Is(err, context.DeadlineExceeded) || (errors.As(err, &ne) && ne.Timeout()) {
		return http.StatusGatewayTimeout
	}
	return http.StatusBadGateway
}

func errorHandler(log zerolog.Logger, server *url.URL) func(http.ResponseWriter, *http.Request, error) {
	return func(w http.ResponseWriter, r *http.Request, err error) {
		if a := attemptFrom(r.Context()); a != nil {
			a.err, a.notSent = err, IsNotSent(err)
		}
		status := ErrorStatus(r, err)
		ev := log.Warn()
		if status == StatusClientClosedRequest || errors.Is(err, syscall.EPIPE) {
			ev = log.Debug()
		}
		ev.Err(err).Str("server", server.Redacted()).Int("status", status).Msg("backend request failed")
		if status == StatusClientClosedRequest {
			return
		}
		WriteError(w, status)
	}
}

// WriteError answers with a status and its plain text, never with an error string that
// could leak internal addresses.
func WriteError(w http.ResponseWriter, status int) {
	h := w.Header()
	h.Set("Content-Type", "text/plain; charset=utf-8")
	h.Set("X-Content-Type-Options", "nosniff")
	w.WriteHeader(status)
	_, _ = w.Write([]byte(http.StatusText(status) + "\n"))
}

// NewBufferPool returns a pool of the 32 KiB buffers ReverseProxy copies bodies through, to
// be shared by every server of every table generation.
func NewBufferPool() httputil.BufferPool {
	return &bufferPool{p: sync.Pool{New: func() any { return new([copyBufferSize]byte) }}}
}

const copyBufferSize = 32 * 1024

// bufferPool keeps array pointers, not slices: putting a slice in a sync.Pool would
// allocate its header on every Put.
type bufferPool struct{ p sync.Pool }

func (bp *bufferPool) Get() []byte { return bp.p.Get().(*[copyBufferSize]byte)[:] }

func (bp *bufferPool) Put(b []byte) {
	if cap(b) < copyBufferSize {
		return // not one of ours
	}
	bp.p.Put((*[copyBufferSize]byte)(b[:copyBufferSize]))
}

// bodyIdleTimeout is how long a response body may deliver nothing before wharf gives up on
// the backend: the transport's response-header timeout unless set otherwise (nginx's
// proxy_read_timeout plays the same part, with the same 60s default).
func bodyIdleTimeout(fc ForwardConfig) time.Duration {
	if fc.BodyIdleTimeout != 0 {
		return fc.BodyIdleTimeout
	}
	switch t := fc.Transport.(type) {
	case *Transport:
		return t.ResponseHeaderTimeout()
	case *http.Transport:
		if t.ResponseHeaderTimeout > 0 {
			return t.ResponseHeaderTimeout
		}
	}
	return DefaultResponseHeaderTimeout
}

// boundStalls wraps every response body (not an upgraded connection's) so that a backend
// that sends its headers and then stalls is cut after d of silence instead of holding the
// client for ever; ReverseProxy then aborts the client's response.
func boundStalls(d time.Duration) func(*http.Response) error {
	return func(res *http.Response) error {
		if b, ok := res.Body.(*h1Body); ok {
			b.idle = d // the in-goroutine transport bounds its reads itself, with no timer
			return nil
		}
		if d > 0 && res.StatusCode != http.StatusSwitchingProtocols && res.Body != nil && res.Body != http.NoBody {
			res.Body = newIdleBody(res.Body, d)
		}
		return nil
	}
}

// idleBody closes its body when one Read waits longer than d. Only time spent waiting on
// the backend counts: the clock is stopped while the proxy writes to a slow client, whose
// own deadlines are the entrypoint's business.
type idleBody struct {
	rc io.ReadCloser
	d  time.Duration
	t  *time.Timer
}

func newIdleBody(rc io.ReadCloser, d time.Duration) *idleBody {
	b := &idleBody{rc: rc, d: d}
	b.t = time.AfterFunc(d, func() { _ = rc.Close() })
	b.t.Stop()
	return b
}

func (b *idleBody) Read(p []byte) (int, error) {
	b.t.Reset(b.d)
	n, err := b.rc.Read(p)
	b.t.Stop()
	return n, err
}

func (b *idleBody) Close() error {
	b.t.Stop()
	return b.rc.Close()
}
