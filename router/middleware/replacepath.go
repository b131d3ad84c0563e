package middleware

import (
	"net/http"
	"net/url"

	"github.com/wharfproxy/wharf/router/dynamic"
)

// replacePath sends every request to one fixed path; the path the client asked for goes to
// the backend in X-Replaced-Path.
var replacePathType = Type{Name: "replacePath", New: newReplacePath}

type replacePathOptions struct{ Path string }

func newReplacePath(env *Env, opts *dynamic.Node) (Middleware, error) {
	var o replacePathOptions
	if err := env.Decode(opts, &o); err != nil {
		return nil, err
	}
	if o.Path == "" || o.Path[0] != '/' {
		return nil, env.Invalid(opts, "path", "path must start with /")
	}
	// The path is written escaped, as it appears in a URL (Traefik reads it the same way).
	decoded, err := url.PathUnescape(o.Path)
	if err != nil {
		return nil, env.Invalid(opts, "path", "path is not a valid escaped URL path: %v", err)
	}
	return func(next http.Handler) http.Handler {
		return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
			setReplacedPath(r, decoded, o.Path)
			next.ServeHTTP(w, r)
		})
	}, nil
}

// setReplacedPath records the current path in X-Replaced-Path and replaces it.
func setReplacedPath(r *http.Request, decoded, escaped string) {
	r.Header["X-Replaced-Path"] = []string{r.URL.EscapedPath()}
	r.URL.Path = decoded
	r.URL.RawPath = ""
	if escaped != decoded {
		r.URL.RawPath = escaped
	}
	r.RequestURI = r.URL.RequestURI()
}
