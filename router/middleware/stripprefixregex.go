package middleware

import (
	"net/http"
	"regexp"
	"strings"

	"github.com/wharfproxy/wharf/router/dynamic"
)

// stripPrefixRegex removes the part of the path that a regular expression matches at its
// start, and records it in X-Forwarded-Prefix like stripPrefix.
var stripPrefixRegexType = Type{Name: "stripPrefixRegex", New: newStripPrefixRegex}

type stripPrefixRegexOptions struct {
	Regex []string
}

func newStripPrefixRegex(env *Env, opts *dynamic.Node) (Middleware, error) {
	var o stripPrefixRegexOptions
	if err := env.Decode(opts, &o); err != nil {
		return nil, err
	}
	if len(o.Regex) == 0 {
		return nil, env.Invalid(opts, "regex", "stripPrefixRegex needs at least one regular expression in regex")
	}
	res := make([]*regexp.Regexp, len(o.Regex))
	for i, s := range o.Regex {
		// Anchored: only a match at the start of the path is a prefix.
		re, err := regexp.Compile("^(?:" + s + ")")
		if err != nil {
			return nil, env.Invalid(opts, "regex", "item %d: %v", i+1, err)
		}
		res[i] = re
	}
	return func(next http.Handler) http.Handler {
		return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
			for _, re := range res {
				loc := re.FindStringIndex(r.URL.Path)
				if loc == nil {
					continue
				}
				p := strings.TrimSuffix(r.URL.Path[:loc[1]], "/")
				if p != "" {
					stripPath(r, len(p), []string{p})
				}
				break
			}
			next.ServeHTTP(w, r)
		})
	}, nil
}
