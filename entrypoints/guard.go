package entrypoints

import (
	"net"
	"net/http"
	"net/netip"
	"strings"
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
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if status := reject(r, c.MaxHeaderCount); status != 0 {
			w.Header().Set("Connection", "close")
			http.Error(w, http.StatusText(status), status)
			return
		}
		if r.TLS != nil && c.SameTLSOptions != nil && !c.SameTLSOptions(r.TLS.ServerName, r.Host) {
			http.Error(w, http.StatusText(http.StatusMisdirectedRequest), http.StatusMisdirectedRequest)
			return
		}
		stripHopByHop(r.Header)
		if !c.InsecureForwarded && !peerTrusted(r.RemoteAddr, trusted) {
			for _, h := range forwardedHeaders {
				delete(r.Header, h)
			}
		}
		if c.Intercept != nil && c.Intercept(w, r) {
			return
		}
		if redirect != nil {
			redirect.serve(w, r)
			return
		}
		next.ServeHTTP(w, r)
	})
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
