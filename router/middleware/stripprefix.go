package middleware

import (
	"errors"
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

func newStripPrefix(env *Env, opts *dynamic.Node) (Middleware, error) {
	var o stripPrefixOptions
	if err := env.Decode(opts, &o); err != nil {
		return nil, err
	}
	if len(o.Prefixes) == 0 {
		return nil, errors.New("stripPrefix needs at least one prefix in prefixes")
	}
	prefixes := make([]string, len(o.Prefixes))
	for i, p := range o.Prefixes {
		prefixes[i] = strings.TrimSuffix(p, "/")
	}
	return func(next http.Handler) http.Handler {
		return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
			for _, p := range prefixes {
				if p == "" || !hasPathPrefix(r.URL.Path, p) {
					continue
				}
				r.URL.Path = ensureLeadingSlash(r.URL.Path[len(p):])
				if r.URL.RawPath != "" && hasPathPrefix(r.URL.RawPath, p) {
					r.URL.RawPath = ensureLeadingSlash(r.URL.RawPath[len(p):])
				} else {
					r.URL.RawPath = ""
				}
				r.RequestURI = r.URL.RequestURI()
				r.Header.Set("X-Forwarded-Prefix", p)
				break
			}
			next.ServeHTTP(w, r)
		})
	}, nil
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
