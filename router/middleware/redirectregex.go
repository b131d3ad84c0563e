package middleware

import (
	"net/http"
	"regexp"

	"github.com/wharfproxy/wharf/router/dynamic"
)

// redirectRegex redirects when a regular expression matches the request's full URL
// (scheme://host/path?query), to the replacement, which may use the expression's groups
// ($1, ${name}).
var redirectRegexType = Type{Name: "redirectRegex", New: newRedirectRegex}

type redirectRegexOptions struct {
	Regex       string
	Replacement string
	Permanent   bool
}

func newRedirectRegex(env *Env, opts *dynamic.Node) (Middleware, error) {
	var o redirectRegexOptions
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
	if o.Replacement == "" {
		return nil, env.Invalid(opts, "replacement", "replacement is empty: give the URL to redirect to")
	}
	if !validHeaderValue(o.Replacement) {
		return nil, env.Invalid(opts, "replacement", "replacement contains a control character")
	}
	return func(next http.Handler) http.Handler {
		return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
			old := requestScheme(r) + "://" + r.Host + requestURI(r)
			if !re.MatchString(old) {
				next.ServeHTTP(w, r)
				return
			}
			to := re.ReplaceAllString(old, o.Replacement)
			if to == old || !validHeaderValue(to) {
				next.ServeHTTP(w, r)
				return
			}
			redirect(w, to, redirectStatus(r.Method, o.Permanent))
		})
	}, nil
}
