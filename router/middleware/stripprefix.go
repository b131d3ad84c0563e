package middleware

import (
	"net/http"
	"strings"

	"github.com/wharfproxy/wharf/router/dynamic"
)

// stripPrefix removes the first matching prefix from the path and tells the backend what it
// removed in X-Forwarded-Prefix, so it can build links that still work.
var stripPrefixType = Type{Name: "stripPrefix", New: newStripPrefix}

type stripPrefixOptions struct {
	Prefixes   []string
	ForceSlash *bool // accepted for Traefik compatibility (deprecated there); ignored
}

type prefix struct {
	path   string
	header []string // X-Forwarded-Prefix value, built once
}

func newStripPrefix(env *Env, opts *dynamic.Node) (Middleware, error) {
	var o stripPrefixOptions
	if err := env.Decode(opts, &o); err != nil {
		return nil, err
	}
	if len(o.Prefixes) == 0 {
		return nil, env.Invalid(opts, "prefixes", "stripPrefix needs at least one prefix in prefixes")
	}
	prefixes := make([]prefix, 0, len(o.Prefixes))
	for _, p := range o.Prefixes {
		if !strings.HasPrefix(p, "/") {
			return nil, env.Invalid(opts, "prefixes", "prefix %q must start with /", p)
		}
		if p = strings.TrimSuffix(p, "/"); p != "" {
			prefixes = append(prefixes, prefix{path: p, header: headerValue(p)})
		}
	}
	return func(next http.Handler) http.Handler {
		return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
			for _, p := range prefixes {
				if hasPathPrefix(r.URL.Path, p.path) {
					stripPath(r, len(p.path), p.header)
					break
				}
			}
			next.ServeHTTP(w, r)
		})
	}, nil
}

// stripPath removes the first n bytes of the path (which are the prefix in header) and
// records it in X-Forwarded-Prefix.
func stripPath(r *http.Request, n int, header []string) {
	p := header[0]
	r.URL.Path = ensureLeadingSlash(r.URL.Path[n:])
	if r.URL.RawPath != "" && hasPathPrefix(r.URL.RawPath, p) {
		r.URL.RawPath = ensureLeadingSlash(r.URL.RawPath[len(p):])
	} else {
		r.URL.RawPath = ""
	}
	r.RequestURI = r.URL.RequestURI()
	r.Header["X-Forwarded-Prefix"] = header
}

// hasPathPrefix matches whole segments: /api strips /api and /api/x, not /apix.
func hasPathPrefix(path, prefix string) bool {
	return strings.HasPrefix(path, prefix) && (len(path) == len(prefix) || path[len(prefix)] == '/')
}

func ensureLeadingSlash(p string) string {
	if p == "" || p[0] != '/' {
		return "/" + p
	}
	return p
}
