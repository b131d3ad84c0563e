package upstream

import (
	"crypto/sha1" //nolint:gosec // a cookie name, not a secret: the name Traefik derives
	"crypto/sha256"
	"encoding/hex"
	"fmt"
	"net/http"
	"strings"
)

// CookieConfig is a sticky-session cookie, with Traefik's options.
type CookieConfig struct {
	Name     string // "": derived from the service name, like Traefik ("_" and 5 hex digits)
	Secure   bool
	HTTPOnly bool
	SameSite string // "", "none", "lax" or "strict"
	MaxAge   int    // seconds; 0: a session cookie
	Path     string // "": "/"
	Domain   string
}

// sticky maps cookie values to targets (the servers of a balancer, or the services of a
// weighted service). A value is a hash of the target's URL or name, so the cookie does not
// show backend addresses, and is the same on every wharf instance and after a restart.
type sticky struct {
	name      string
	index     map[string]int // value -> target
	values    []string       // target -> value
	setCookie []string       // target -> the whole Set-Cookie header, built once
}

func newSticky(cfg CookieConfig, service string, keys []string) (*sticky, error) {
	c := http.Cookie{Name: cfg.Name, Path: cfg.Path, Domain: cfg.Domain, Secure: cfg.Secure, HttpOnly: cfg.HTTPOnly}
	if c.Name == "" {
		c.Name = DefaultCookieName(service)
	}
	if c.Path == "" {
		c.Path = "/"
	}
	switch strings.ToLower(cfg.SameSite) {
	case "":
	case "none":
		c.SameSite = http.SameSiteNoneMode
	case "lax":
		c.SameSite = http.SameSiteLaxMode
	case "strict":
		c.SameSite = http.SameSiteStrictMode
	default:
		return nil, fmt.Errorf("sticky cookie: sameSite %q is not none, lax or strict", cfg.SameSite)
	}
	switch {
	case cfg.MaxAge > 0:
		c.MaxAge = cfg.MaxAge
	case cfg.MaxAge < 0:
		c.MaxAge = -1 // Max-Age=0: the browser drops it at once, as the user asked
	}
	st := &sticky{name: c.Name, index: make(map[string]int, len(keys))}
	for i, k := range keys {
		c.Value = stickyValue(k)
		line := c.String()
		if line == "" {
			return nil, fmt.Errorf("sticky cookie: name %q or its attributes are not valid in a cookie", c.Name)
		}
		st.values = append(st.values, c.Value)
		st.setCookie = append(st.setCookie, line)
		if _, dup := st.index[c.Value]; !dup {
			st.index[c.Value] = i
		}
	}
	return st, nil
}

// DefaultCookieName is Traefik's default sticky cookie name for a service: "_" and the first
// five hex digits of the SHA-1 of its name.
func DefaultCookieName(service string) string {
	sum := sha1.Sum([]byte(service)) //nolint:gosec // see the import
	return "_" + hex.EncodeToString(sum[:])[:5]
}

func stickyValue(key string) string {
	sum := sha256.Sum256([]byte(key))
	return hex.EncodeToString(sum[:8])
}

// lookup returns the target named by the request's cookie, or -1.
func (st *sticky) lookup(h http.Header) int {
	if v, ok := cookieValue(h, st.name); ok {
		if i, ok := st.index[v]; ok {
			return i
		}
	}
	return -1
}

// cookieValue finds a cookie in the Cookie headers without allocating (http.Request.Cookie
// parses and allocates every cookie of the request).
func cookieValue(h http.Header, name string) (string, bool) {
	for _, line := range h["Cookie"] {
		for line != "" {
			var part string
			part, line, _ = strings.Cut(line, ";")
			part = strings.TrimSpace(part)
			k, v, ok := strings.Cut(part, "=")
			if ok && k == name {
				return strings.Trim(v, `"`), true
			}
		}
	}
	return "", false
}

// stick adds the sticky cookie to a response when the client's cookie does not already name
// the server that answered.
func (b *Balancer) stick(s *Server, req *http.Request, resp *http.Response) {
	if b.sticky == nil {
		return
	}
	if v, ok := cookieValue(req.Header, b.sticky.name); ok && v == s.cookie {
		return
	}
	if resp.Header == nil {
		resp.Header = make(http.Header)
	}
	resp.Header["Set-Cookie"] = append(resp.Header["Set-Cookie"], b.sticky.setCookie[s.idx])
}
