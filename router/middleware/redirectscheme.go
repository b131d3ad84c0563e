package middleware

import (
	"net/http"
	"strconv"
	"strings"

	"github.com/wharfproxy/wharf/router/dynamic"
)

// redirectScheme sends the client to the same URL with another scheme (and port), usually
// http to https. A request already on the target scheme and port passes through, so the
// middleware can sit on a router that serves both without looping. The client's scheme is
// the connection's, or X-Forwarded-Proto when a trusted proxy in front set it (the
// entrypoint removes it from everyone else).
var redirectSchemeType = Type{Name: "redirectScheme", New: newRedirectScheme}

type redirectSchemeOptions struct {
	Scheme    string
	Port      string
	Permanent bool
}

func newRedirectScheme(env *Env, opts *dynamic.Node) (Middleware, error) {
	var o redirectSchemeOptions
	if err := env.Decode(opts, &o); err != nil {
		return nil, err
	}
	scheme := strings.ToLower(strings.TrimSpace(o.Scheme))
	if scheme == "" || strings.ContainsAny(scheme, ":/ ") {
		return nil, env.Invalid(opts, "scheme", "scheme must be given, without :// (for example https)")
	}
	port := strings.TrimSpace(o.Port)
	if port != "" {
		if n, err := strconv.Atoi(port); err != nil || n < 1 || n > 65535 {
			return nil, env.Invalid(opts, "port", "port must be a number between 1 and 65535")
		}
	}
	if (scheme == "https" && port == "443") || (scheme == "http" && port == "80") {
		port = "" // the default port is left out of the URL
	}
	rs := &redirectSchemeMW{scheme: scheme, port: port, permanent: o.Permanent}
	return func(next http.Handler) http.Handler { return &redirectSchemeHandler{rs, next} }, nil
}

type redirectSchemeMW struct {
	scheme, port string
	permanent    bool
}

type redirectSchemeHandler struct {
	*redirectSchemeMW
	next http.Handler
}

func (h *redirectSchemeHandler) ServeHTTP(w http.ResponseWriter, r *http.Request) {
	host, curPort := splitHostPort(r.Host)
	if requestScheme(r) == h.scheme && (curPort == h.port || (h.port == "" && isDefaultPort(h.scheme, curPort))) {
		h.next.ServeHTTP(w, r)
		return
	}
	var b strings.Builder
	b.WriteString(h.scheme)
	b.WriteString("://")
	b.WriteString(host)
	if h.port != "" {
		b.WriteByte(':')
		b.WriteString(h.port)
	}
	b.WriteString(requestURI(r))
	redirect(w, b.String(), redirectStatus(r.Method, h.permanent))
}

func isDefaultPort(scheme, port string) bool {
	return port == "" || (scheme == "https" && port == "443") || (scheme == "http" && port == "80")
}

// requestScheme is the scheme the client used to reach wharf (or the first proxy).
func requestScheme(r *http.Request) string {
	if r.TLS != nil {
		return "https"
	}
	if v := r.Header["X-Forwarded-Proto"]; len(v) > 0 {
		if p := strings.TrimSpace(v[0]); strings.EqualFold(p, "https") {
			return "https"
		} else if strings.EqualFold(p, "http") {
			return "http"
		}
	}
	return "http"
}

// requestURI is the target as the client sent it, or as rebuilt after a path rewrite.
func requestURI(r *http.Request) string {
	if r.RequestURI != "" && r.RequestURI[0] == '/' {
		return r.RequestURI
	}
	return r.URL.RequestURI()
}

// splitHostPort splits a Host header value; host keeps the brackets of an IPv6 literal.
func splitHostPort(hostport string) (host, port string) {
	i := strings.LastIndexByte(hostport, ':')
	if i < 0 || strings.HasSuffix(hostport, "]") {
		return hostport, ""
	}
	if strings.HasPrefix(hostport, "[") || strings.IndexByte(hostport[:i], ':') < 0 {
		return hostport[:i], hostport[i+1:]
	}
	return hostport, "" // a bare IPv6 address without brackets
}
