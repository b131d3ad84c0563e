package middleware

import (
	"net/http"
	"regexp"
	"strconv"
	"strings"

	"github.com/wharfproxy/wharf/router/dynamic"
)

// cors is the CORS part of the headers middleware. A preflight (OPTIONS with Origin and
// Access-Control-Request-Method) is answered by the proxy and never reaches the backend;
// other responses get Access-Control-Allow-Origin when the request's Origin is allowed.
//
// As in Traefik, "*" in the origin list is answered literally with "*", never by echoing
// the caller's origin: browsers then refuse credentialed requests, which is the safe
// outcome of allowing every origin.
type cors struct {
	origins      []string // exact origins; "*" allows any
	originValues [][]string
	originsRe    []*regexp.Regexp
	credentials  bool
	allowHeaders []string // joined, as one value; nil when empty
	allowMethods []string
	expose       []string
	maxAge       []string
	vary         bool
}

var trueValue = headerValue("true")

func newCORS(env *Env, opts *dynamic.Node, o *headersOptions) (*cors, error) {
	if !o.AccessControlAllowCredentials && len(o.AccessControlAllowHeaders) == 0 &&
		len(o.AccessControlAllowMethods) == 0 && len(o.AccessControlAllowOriginList) == 0 &&
		len(o.AccessControlAllowOriginListRegex) == 0 && len(o.AccessControlExposeHeaders) == 0 &&
		o.AccessControlMaxAge == 0 && !o.AddVaryHeader {
		return nil, nil
	}
	c := &cors{
		origins:      o.AccessControlAllowOriginList,
		credentials:  o.AccessControlAllowCredentials,
		allowHeaders: joined(o.AccessControlAllowHeaders),
		allowMethods: joined(o.AccessControlAllowMethods),
		expose:       joined(o.AccessControlExposeHeaders),
		maxAge:       headerValue(strconv.FormatInt(o.AccessControlMaxAge, 10)),
		vary:         o.AddVaryHeader,
	}
	for _, o := range c.origins {
		c.originValues = append(c.originValues, headerValue(o))
	}
	for i, s := range o.AccessControlAllowOriginListRegex {
		re, err := regexp.Compile(s)
		if err != nil {
			return nil, env.Invalid(opts, "accessControlAllowOriginListRegex", "item %d: %v", i+1, err)
		}
		c.originsRe = append(c.originsRe, re)
	}
	for _, v := range [][]string{c.allowHeaders, c.allowMethods, c.expose} {
		if v != nil && !validHeaderValue(v[0]) {
			return nil, env.Invalid(opts, "", "a CORS list contains a control character")
		}
	}
	if c.credentials && containsString(c.origins, "*") {
		env.Log.Warn().Msg("headers: accessControlAllowOriginList has \"*\" and accessControlAllowCredentials is true; browsers refuse credentials with \"*\", so list the origins instead")
	}
	return c, nil
}

func joined(list []string) []string {
	if len(list) == 0 {
		return nil
	}
	return headerValue(strings.Join(list, ","))
}

func containsString(list []string, s string) bool {
	for _, v := range list {
		if v == s {
			return true
		}
	}
	return false
}

// allowedOrigin returns the Access-Control-Allow-Origin value for the request, or nil.
func (c *cors) allowedOrigin(r *http.Request) []string {
	v := r.Header["Origin"]
	if len(v) == 0 || v[0] == "" {
		return nil
	}
	origin := v[0]
	for i, o := range c.origins {
		if o == "*" || o == origin {
			return c.originValues[i]
		}
	}
	for _, re := range c.originsRe {
		if re.MatchString(origin) {
			return []string{origin}
		}
	}
	return nil
}

// preflight answers a CORS preflight request and reports whether it did.
func (c *cors) preflight(w http.ResponseWriter, r *http.Request) bool {
	if r.Method != http.MethodOptions || len(r.Header["Access-Control-Request-Method"]) == 0 || len(r.Header["Origin"]) == 0 {
		return false
	}
	h := w.Header()
	if c.credentials {
		h["Access-Control-Allow-Credentials"] = trueValue
	}
	if c.allowHeaders != nil {
		h["Access-Control-Allow-Headers"] = c.allowHeaders
	}
	if c.allowMethods != nil {
		h["Access-Control-Allow-Methods"] = c.allowMethods
	}
	if o := c.allowedOrigin(r); o != nil {
		h["Access-Control-Allow-Origin"] = o
	}
	h["Access-Control-Max-Age"] = c.maxAge
	if c.vary {
		addVary(h, "Origin")
	}
	w.WriteHeader(http.StatusOK)
	return true
}

// respond adds the CORS headers of an actual (not preflight) response.
func (c *cors) respond(h http.Header, origin []string) {
	if origin != nil {
		h["Access-Control-Allow-Origin"] = origin
	}
	if c.credentials {
		h["Access-Control-Allow-Credentials"] = trueValue
	}
	if c.expose != nil {
		h["Access-Control-Expose-Headers"] = c.expose
	}
	if c.vary {
		addVary(h, "Origin")
	}
}

// addVary adds a token to Vary unless it is already there.
func addVary(h http.Header, token string) {
	for _, v := range h["Vary"] {
		for _, t := range strings.Split(v, ",") {
			if t = strings.TrimSpace(t); t == "*" || strings.EqualFold(t, token) {
				return
			}
		}
	}
	h["Vary"] = append(h["Vary"], token)
}
