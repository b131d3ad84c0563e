package middleware

import (
	"net/http"
	"net/url"
	"regexp"

	"github.com/wharfproxy/wharf/router/dynamic"
)

// replacePathRegex rewrites the path with a regular expression and a replacement that may
// use its groups ($1, ${name}); the original path goes to the backend in X-Replaced-Path.
// The expression sees the path as it is written in the URL (escaped).
var replacePathRegexType = Type{Name: "replacePathRegex", New: newReplacePathRegex}

type replacePathRegexOptions struct {
	Regex       string
	Replacement string
}

func newReplacePathRegex(env *Env, opts *dynamic.Node) (Middleware, error) {
	var o replacePathRegexOptions
	if err := env.Decode(opts, &o); err != nil {
		return nil, err
	}
	if o.Regex == "" {
		return nil, env.Invalid(opts, "regex", "regex is empty")
	}
	re, err := regexp.Compile(o.Regex)
	if err != nil {
		return nil, env.Invalid(opts, "regex", "%v", err)
	}
	return func(next http.Handler) http.Handler {
		return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
			cur := r.URL.EscapedPath()
			if re.MatchString(cur) {
				escaped := re.ReplaceAllString(cur, o.Replacement)
				if decoded, err := url.PathUnescape(escaped); err == nil {
					setReplacedPath(r, decoded, escaped)
				}
			}
			next.ServeHTTP(w, r)
		})
	}, nil
}
