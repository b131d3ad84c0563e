package entrypoints

import (
	"crypto/rand"
	"encoding/hex"
	"io"
	"net"
	"net/http"
	"net/netip"
	"strings"
	"sync/atomic"
	"time"
)

// forwardedHeaders are removed from requests of untrusted peers: a client must not be able
// to choose the address or scheme a backend believes it has.
var forwardedHeaders = []string{
	"Forwarded", "X-Forwarded-For", "X-Forwarded-Host", "X-Forwarded-Port", "X-Forwarded-Proto",
	"X-Forwarded-Server", "X-Forwarded-Prefix", "X-Forwarded-Uri", "X-Forwarded-Method",
	"X-Forwarded-Ssl", "X-Forwarded-Tls-Client-Cert", "X-Forwarded-Tls-Client-Cert-Info", "X-Real-Ip",
}

// guard is the first handler every request meets. What it refuses is answered here, before
// any routing or middleware, so that what the router sees is what the backend gets.
func (e *EntryPoint) guard(next http.Handler) http.Handler {
	c := e.cfg
	trusted := canonicalPrefixes(c.TrustedIPs)
	redirect := c.Redirect
	hop := e.hop
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		ci, _ := r.Context().Value(connKey{}).(*connInfo)
		var ec *edgeConn
		if ci != nil && r.ProtoMajor == 1 {
			ec = ci.edge // HTTP/2 with prior knowledge also runs on an edgeConn, unchecked
		}
		if ec != nil && !ec.begin(r) {
			refuse(w, http.StatusBadRequest)
			return
		}
		if status := reject(r, c.MaxHeaderCount); status != 0 {
			refuse(w, status)
			return
		}
		if r.RequestURI == "*" {
			serveOptionsAsterisk(w, r) // reject let only OPTIONS through
			return
		}
		if r.TLS != nil && c.SameTLSOptions != nil && !c.SameTLSOptions(r.TLS.ServerName, r.Host) {
			http.Error(w, http.StatusText(http.StatusMisdirectedRequest), http.StatusMisdirectedRequest)
			return
		}
		if hop.looping(r.Header) {
			http.Error(w, http.StatusText(http.StatusLoopDetected), http.StatusLoopDetected)
			return
		}
		stripHopByHop(r.Header)
		dropUnderscored(r.Header)
		if !c.InsecureForwarded && !peerTrusted(r.RemoteAddr, trusted) {
			for _, h := range forwardedHeaders {
				delete(r.Header, h)
			}
		}
		hop.mark(r.Header)
		if c.Intercept != nil && c.Intercept(w, r) {
			return
		}
		if redirect != nil {
			redirect.serve(w, r)
			return
		}
		w, r = watchExchange(w, r, ec)
		if ci == nil || r.ProtoMajor != 2 {
			next.ServeHTTP(w, r)
			return
		}
		start := time.Now()
		next.ServeHTTP(w, r)
		if ci.stream(r.Context().Err() != nil && time.Since(start) < prematureReset) {
			c.Log.Debug().Str("remote", r.RemoteAddr).Msg("HTTP/2 connection closing: most of its streams are reset by the client as soon as they start (rapid reset)")
			// net/http's HTTP/2 server reads Connection: close on an answer as "send GOAWAY
			// and close when idle": streams in flight finish, new ones are refused. A reset
			// stream's answer is usually not written yet, so this works; the timer is the
			// backstop for when it was.
			w.Header().Set("Connection", "close")
			time.AfterFunc(resetsGrace, func() { _ = ci.raw.Close() })
		}
	})
}

// The rapid reset attack (CVE-2023-44487) opens streams and cancels them at once, as fast
// as one connection allows, to make the server start work it never finishes. net/http
// bounds the goroutines this costs but keeps serving the connection for long (about ten
// seconds and 200,000 streams in TestHTTP2RapidReset). Like Envoy, wharf ends an HTTP/2
// connection once it has carried resetsMinStreams streams and at least half of them were
// cancelled by the client within prematureReset of starting. It ends it gracefully
// (GOAWAY), so that an honest client that trips it (gRPC calls with short deadlines on a
// slow backend) loses no call in flight and just reconnects; whatever is still open after
// resetsGrace is cut.
const (
	resetsMinStreams = 200
	prematureReset   = time.Second
	resetsGrace      = 10 * time.Second
)

type resets struct {
	streams, premature atomic.Int64
	closed             atomic.Bool
}

// stream records a finished stream and reports whether the connection must be closed now.
func (rs *resets) stream(premature bool) bool {
	n := rs.streams.Add(1)
	p := rs.premature.Load()
	if premature {
		p = rs.premature.Add(1)
	}
	return n >= resetsMinStreams && 2*p >= n && rs.closed.CompareAndSwap(false, true)
}

// begin counts a request on its HTTP/1 connection and reports whether its framing was
// accepted. Over TLS it also restores the request's TLS state, which net/http leaves nil
// because the connection it reads is the wrapper, not the *tls.Conn.
func (c *edgeConn) begin(r *http.Request) bool {
	k := c.served.Add(1) - 1
	if c.tls != nil && r.TLS == nil {
		st := *c.tls
		r.TLS = &st
	}
	return !c.framing.refused(k)
}

// serveOptionsAsterisk answers "OPTIONS *" (a question about the server, not a resource)
// the way net/http's own handler for it does.
func serveOptionsAsterisk(w http.ResponseWriter, r *http.Request) {
	w.Header().Set("Content-Length", "0")
	if r.ContentLength != 0 {
		// At most 4 KB of body, as net/http reads; more closes the connection.
		_, _ = io.Copy(io.Discard, http.MaxBytesReader(w, r.Body, 4<<10))
	}
}

// refuse answers a request wharf will not pass on, and closes the connection: after a
// request that is malformed or refused, what follows on the connection cannot be trusted.
func refuse(w http.ResponseWriter, status int) {
	w.Header().Set("Connection", "close")
	http.Error(w, http.StatusText(status), status)
}

// reject returns the status for a request wharf refuses to route, or 0.
func reject(r *http.Request, maxHeaders int) int {
	if r.Method == http.MethodConnect {
		// wharf is not a forward proxy; CONNECT (and HTTP/2 extended CONNECT) is never passed on.
		return http.StatusMethodNotAllowed
	}
	if strings.IndexByte(r.RequestURI, '#') >= 0 {
		// A fragment is never sent by a client; one in the target is an attempt to make
		// the router and the backend disagree about the path.
		return http.StatusBadRequest
	}
	if r.RequestURI == "*" && r.Method != http.MethodOptions {
		// The asterisk form is for OPTIONS only (RFC 9112 3.2.4).
		return http.StatusBadRequest
	}
	n := 0
	for _, v := range r.Header {
		n += len(v)
	}
	if n > maxHeaders {
		return http.StatusRequestHeaderFieldsTooLarge
	}
	return 0
}

// stripHopByHop removes the headers the client named in Connection, on arrival, so a client
// can never use Connection to strip a header that wharf or a middleware sets later
// (X-Forwarded-For, X-Real-Ip, the headers forwardAuth returns). An Upgrade (WebSocket) is
// kept, except an upgrade to h2c, which is never passed on.
func stripHopByHop(h http.Header) {
	conn := h["Connection"]
	if len(conn) == 0 && len(h["Upgrade"]) == 0 {
		return
	}
	upgrade := false
	for _, v := range conn {
		for _, tok := range strings.Split(v, ",") {
			tok = strings.TrimSpace(tok)
			if tok == "" {
				continue
			}
			if strings.EqualFold(tok, "upgrade") {
				upgrade = true
				continue
			}
			delete(h, http.CanonicalHeaderKey(tok))
		}
	}
	if up := h.Get("Upgrade"); up == "" || strings.Contains(strings.ToLower(up), "h2c") {
		upgrade = false
	}
	if upgrade {
		h["Connection"] = []string{"Upgrade"}
		return
	}
	delete(h, "Connection")
	delete(h, "Upgrade")
	delete(h, "Http2-Settings")
}

// dropUnderscored removes header fields with an underscore in their name, as nginx and
// Apache do by default. CGI-style backends (PHP, WSGI, Rack) map both X-Forwarded-For and
// X_Forwarded_For to HTTP_X_FORWARDED_FOR, so an underscored copy would pass every check
// wharf makes on the real name and still reach the application as that header.
func dropUnderscored(h http.Header) {
	for k := range h {
		if strings.IndexByte(k, '_') >= 0 {
			delete(h, k)
		}
	}
}

// hopHeader carries the marks of the wharf entrypoints a request went through.
const hopHeader = "X-Wharf-Hop"

// hop is an entrypoint's random mark. A request that already carries it twice is in a
// loop (a route whose server is wharf itself) and is answered 508 instead of being passed
// on again. Once is allowed: a forwardAuth server, or an application that calls back
// through wharf and copies the headers it got, legitimately comes back once.
type hop struct{ id string }

func newHop() hop {
	var b [6]byte
	_, _ = rand.Read(b[:])
	return hop{id: hex.EncodeToString(b[:])}
}

const maxHopsThroughOneEntrypoint = 2

func (h hop) looping(hd http.Header) bool {
	n := 0
	for _, v := range hd[hopHeader] {
		n += strings.Count(v, h.id)
	}
	return n >= maxHopsThroughOneEntrypoint
}

func (h hop) mark(hd http.Header) {
	hd[hopHeader] = append(hd[hopHeader], h.id)
}

// canonicalPrefixes stores IPv4-mapped IPv6 prefixes as IPv4 so both forms match.
func canonicalPrefixes(ps []netip.Prefix) []netip.Prefix {
	out := make([]netip.Prefix, 0, len(ps))
	for _, p := range ps {
		if a := p.Addr(); a.Is4In6() && p.Bits() >= 96 {
			p = netip.PrefixFrom(a.Unmap(), p.Bits()-96)
		}
		out = append(out, p.Masked())
	}
	return out
}

func peerTrusted(remoteAddr string, trusted []netip.Prefix) bool {
	if len(trusted) == 0 {
		return false
	}
	ap, err := netip.ParseAddrPort(remoteAddr)
	if err != nil {
		host, _, err := net.SplitHostPort(remoteAddr)
		if err != nil {
			return false
		}
		a, err := netip.ParseAddr(host)
		if err != nil {
			return false
		}
		ap = netip.AddrPortFrom(a, 0)
	}
	a := ap.Addr().Unmap()
	for _, p := range trusted {
		if p.Contains(a) {
			return true
		}
	}
	return false
}
