package middleware

import (
	"net/http"
	"strings"

	"github.com/wharfproxy/wharf/router/dynamic"
)

// addPrefix puts a prefix in front of the path before forwarding.
var addPrefixType = Type{Name: "addPrefix", New: newAddPrefix}

type addPrefixOptions struct{ Prefix string }

func newAddPrefix(env *Env, opts *dynamic.Node) (Middleware, error) {
	var o addPrefixOptions
	if err := env.Decode(opts, &o); err != nil {
		return nil, err
	}
	if !strings.HasPrefix(o.Prefix, "/") {
		return nil, env.Invalid(opts, "prefix", "prefix %q must start with /", o.Prefix)
	}
	prefix := strings.TrimSuffix(o.Prefix, "/")
	return func(next http.Handler) http.Handler {
		return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
			r.URL.Path = prefix + r.URL.Path
			if r.URL.RawPath != "" {
				r.URL.RawPath = prefix + r.URL.RawPath
			}
			r.RequestURI = r.URL.RequestURI()
			next.ServeHTTP(w, r)
		})
	}, nil
}
