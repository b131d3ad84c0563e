package middleware

import (
	"net/http"
	"strconv"
	"strings"
	"sync"

	"github.com/wharfproxy/wharf/router/dynamic"
	"github.com/wharfproxy/wharf/router/upstream"
)

// headers sets and removes request and response headers, answers CORS preflights, and adds
// the security headers browsers act on (HSTS, frame options, nosniff, CSP, ...). The option
// names are Traefik's, so n8n's and Coolify's documented label sets work unchanged.
//
// Response headers are applied when the response's header is written, over what the backend
// sent: security headers first, then customResponseHeaders (so an empty custom value can
// remove any of them, or the backend's Server header), then CORS.
var headersType = Type{Name: "headers", New: newHeaders}

type headersOptions struct {
	CustomRequestHeaders  map[string]string
	CustomResponseHeaders map[string]string

	AccessControlAllowCredentials     bool
	AccessControlAllowHeaders         []string
	AccessControlAllowMethods         []string
	AccessControlAllowOriginList      []string
	AccessControlAllowOriginListRegex []string
	AccessControlExposeHeaders        []string
	AccessControlMaxAge               int64
	AddVaryHeader                     bool

	AllowedHosts                    []string
	HostsProxyHeaders               []string
	SSLProxyHeaders                 map[string]string `wharf:"sslProxyHeaders"`
	STSSeconds                      int64             `wharf:"stsSeconds"`
	STSIncludeSubdomains            bool              `wharf:"stsIncludeSubdomains"`
	STSPreload                      bool              `wharf:"stsPreload"`
	ForceSTSHeader                  bool              `wharf:"forceSTSHeader"`
	FrameDeny                       bool
	CustomFrameOptionsValue         string
	ContentTypeNosniff              bool
	BrowserXSSFilter                bool   `wharf:"browserXssFilter"`
	CustomBrowserXSSValue           string `wharf:"customBrowserXSSValue"`
	ContentSecurityPolicy           string
	ContentSecurityPolicyReportOnly string
	PublicKey                       string
	ReferrerPolicy                  string
	PermissionsPolicy               string
	FeaturePolicy                   string // Traefik v2's name; sends Feature-Policy
	IsDevelopment                   bool

	// Deprecated in Traefik v2 and gone from v3's documentation, but still in widely copied
	// label sets (n8n's documented compose file has sslRedirect and sslHost): accepted, with
	// their v2 meaning, and a warning that says what replaces them.
	SSLRedirect              bool   `wharf:"sslRedirect"`
	SSLTemporaryRedirect     bool   `wharf:"sslTemporaryRedirect"`
	SSLHost                  string `wharf:"sslHost"`
	SSLForceHost             bool   `wharf:"sslForceHost"`
	AccessControlAllowOrigin string
}

// headerOp sets a header to a value, or removes it when value is nil.
type headerOp struct {
	key   string
	value []string
}

func (op headerOp) apply(h http.Header) {
	if op.value == nil {
		delete(h, op.key)
		return
	}
	h[op.key] = op.value
}

type headersMW struct {
	request      []headerOp
	host         string // customRequestHeaders.Host: the Host sent on
	hasHost      bool
	response     []headerOp // static security headers, then custom ones
	sts          []string   // Strict-Transport-Security value, nil when off
	forceSTS     bool
	sslProxy     []headerOp // header: value pairs that mean "the client used https"
	allowedHosts []string   // lowercased
	hostHeaders  []string   // canonical names of hostsProxyHeaders
	sslRedirect  int        // redirect status for plain-HTTP requests; 0: off
	sslHost      string
	sslForceHost bool
	cors         *cors
	pool         sync.Pool
}

func newHeaders(env *Env, opts *dynamic.Node) (Middleware, error) {
	var o headersOptions
	if err := env.Decode(opts, &o); err != nil {
		return nil, err
	}
	m := &headersMW{}
	if err := m.deprecated(env, opts, &o); err != nil {
		return nil, err
	}
	var err error
	if m.request, err = headerOps(env, opts, "customRequestHeaders", o.CustomRequestHeaders); err != nil {
		return nil, err
	}
	for i, op := range m.request {
		if op.key == "Host" {
			// Host is not a header in Go's model: setting it changes the request's Host.
			m.host = o.CustomRequestHeaders[hostKey(o.CustomRequestHeaders)]
			m.hasHost = m.host != ""
			m.request = append(m.request[:i:i], m.request[i+1:]...)
			break
		}
	}
	custom, err := headerOps(env, opts, "customResponseHeaders", o.CustomResponseHeaders)
	if err != nil {
		return nil, err
	}
	if err := m.security(env, opts, &o); err != nil {
		return nil, err
	}
	m.response = append(m.response, custom...)
	if m.cors, err = newCORS(env, opts, &o); err != nil {
		return nil, err
	}
	m.pool.New = func() any { return &headerWriter{} }
	return func(next http.Handler) http.Handler { return &headersHandler{headersMW: m, next: next} }, nil
}

func hostKey(m map[string]string) string {
	for k := range m {
		if strings.EqualFold(k, "Host") {
			return k
		}
	}
	return ""
}

// deprecated handles the options Traefik v2 deprecated, so that label sets written for it
// keep working: the ssl* redirect (redirectScheme is the way now) and the single
// accessControlAllowOrigin (now one item of accessControlAllowOriginList).
func (m *headersMW) deprecated(env *Env, opts *dynamic.Node, o *headersOptions) error {
	if o.AccessControlAllowOrigin != "" {
		if o.AccessControlAllowOrigin == "origin-list-or-null" {
			return env.Invalid(opts, "accessControlAllowOrigin", "origin-list-or-null is no longer supported: list the origins in accessControlAllowOriginList")
		}
		o.AccessControlAllowOriginList = append(o.AccessControlAllowOriginList, o.AccessControlAllowOrigin)
		env.Log.Warn().Msg("headers: accessControlAllowOrigin is deprecated; use accessControlAllowOriginList")
	}
	if !o.SSLRedirect && !o.SSLTemporaryRedirect && o.SSLHost == "" && !o.SSLForceHost {
		return nil
	}
	env.Log.Warn().Msg("headers: sslRedirect, sslTemporaryRedirect, sslHost and sslForceHost are deprecated (removed in Traefik v3); use a redirectScheme middleware")
	if o.SSLHost != "" && (!validHeaderValue(o.SSLHost) || strings.ContainsAny(o.SSLHost, "/?#@ ")) {
		return env.Invalid(opts, "sslHost", "sslHost must be a host name, optionally with a port")
	}
	if o.IsDevelopment {
		return nil
	}
	switch {
	case o.SSLTemporaryRedirect:
		m.sslRedirect = http.StatusTemporaryRedirect
	case o.SSLRedirect:
		m.sslRedirect = http.StatusMovedPermanently
	}
	m.sslHost, m.sslForceHost = o.SSLHost, o.SSLForceHost
	return nil
}

// headerOps turns a name: value map into operations, sorted so the result never depends
// on map order. An empty value removes the header.
func headerOps(env *Env, opts *dynamic.Node, key string, m map[string]string) ([]headerOp, error) {
	ops := make([]headerOp, 0, len(m))
	for _, name := range sortedKeys(m) {
		if !validHeaderName(name) {
			return nil, env.Invalid(opts, key+"."+name, "%q is not a valid header name", name)
		}
		v := m[name]
		if !validHeaderValue(v) {
			return nil, env.Invalid(opts, key+"."+name, "the value contains a control character (a line break?), which a header cannot carry")
		}
		op := headerOp{key: http.CanonicalHeaderKey(name)}
		if v != "" {
			op.value = headerValue(v)
		}
		ops = append(ops, op)
	}
	return ops, nil
}

func (m *headersMW) security(env *Env, opts *dynamic.Node, o *headersOptions) error {
	add := func(key, value string) {
		if value != "" {
			m.response = append(m.response, headerOp{key: key, value: headerValue(value)})
		}
	}
	frame := o.CustomFrameOptionsValue
	if frame == "" && o.FrameDeny {
		frame = "DENY"
	}
	add("X-Frame-Options", frame)
	if o.ContentTypeNosniff {
		add("X-Content-Type-Options", "nosniff")
	}
	xss := o.CustomBrowserXSSValue
	if xss == "" && o.BrowserXSSFilter {
		xss = "1; mode=block"
	}
	add("X-Xss-Protection", xss)
	add("Content-Security-Policy", o.ContentSecurityPolicy)
	add("Content-Security-Policy-Report-Only", o.ContentSecurityPolicyReportOnly)
	add("Referrer-Policy", o.ReferrerPolicy)
	add("Permissions-Policy", o.PermissionsPolicy)
	add("Feature-Policy", o.FeaturePolicy)
	for _, op := range m.response {
		if !validHeaderValue(op.value[0]) {
			return env.Invalid(opts, "", "header %s: the value contains a control character", op.key)
		}
	}
	if o.IsDevelopment {
		return nil // no STS, public key pins or host checks while developing, as in Traefik
	}
	add("Public-Key-Pins", o.PublicKey)
	if o.STSSeconds < 0 {
		return env.Invalid(opts, "stsSeconds", "stsSeconds must be 0 (off) or more")
	}
	if o.STSSeconds > 0 {
		v := "max-age=" + strconv.FormatInt(o.STSSeconds, 10)
		if o.STSIncludeSubdomains {
			v += "; includeSubDomains"
		}
		if o.STSPreload {
			v += "; preload"
		}
		m.sts, m.forceSTS = headerValue(v), o.ForceSTSHeader
	}
	for _, k := range sortedKeys(o.SSLProxyHeaders) {
		m.sslProxy = append(m.sslProxy, headerOp{key: http.CanonicalHeaderKey(k), value: headerValue(o.SSLProxyHeaders[k])})
	}
	for _, h := range o.AllowedHosts {
		m.allowedHosts = append(m.allowedHosts, strings.ToLower(strings.TrimSpace(h)))
	}
	for _, h := range o.HostsProxyHeaders {
		m.hostHeaders = append(m.hostHeaders, http.CanonicalHeaderKey(h))
	}
	return nil
}

type headersHandler struct {
	*headersMW
	next http.Handler
}

func (h *headersHandler) ServeHTTP(w http.ResponseWriter, r *http.Request) {
	if len(h.allowedHosts) > 0 && !h.hostAllowed(r) {
		upstream.WriteError(w, http.StatusBadRequest)
		return
	}
	if h.sslRedirect != 0 && h.redirectToTLS(w, r) {
		return
	}
	for _, op := range h.request {
		op.apply(r.Header)
	}
	if h.hasHost {
		r.Host = h.host
	}
	var origin []string
	if h.cors != nil {
		if h.cors.preflight(w, r) {
			return
		}
		origin = h.cors.allowedOrigin(r)
	}
	if len(h.response) == 0 && h.sts == nil && h.cors == nil {
		h.next.ServeHTTP(w, r)
		return
	}
	hw := h.pool.Get().(*headerWriter)
	*hw = headerWriter{rw: w, m: h.headersMW, origin: origin, sts: h.sts != nil && (h.forceSTS || h.isSecure(r))}
	h.next.ServeHTTP(hw, r)
	hw.apply()
	*hw = headerWriter{}
	h.pool.Put(hw)
}

// redirectToTLS is Traefik v2's sslRedirect: plain-HTTP requests go to https (on sslHost
// when given); with sslForceHost, secure requests on another host go to sslHost too.
func (h *headersHandler) redirectToTLS(w http.ResponseWriter, r *http.Request) bool {
	secure := h.isSecure(r)
	host := r.Host
	if h.sslHost != "" {
		host = h.sslHost
	}
	if secure && !(h.sslForceHost && h.sslHost != "" && !strings.EqualFold(hostOnly(r.Host), hostOnly(h.sslHost))) {
		return false
	}
	if h.sslHost == "" {
		host, _ = splitHostPort(host) // drop the plain-HTTP port
	}
	redirect(w, "https://"+host+requestURI(r), h.sslRedirect)
	return true
}

func (h *headersHandler) isSecure(r *http.Request) bool {
	if r.TLS != nil {
		return true
	}
	for _, op := range h.sslProxy {
		if v := r.Header[op.key]; len(v) > 0 && strings.EqualFold(v[0], op.value[0]) {
			return true
		}
	}
	return false
}

func (h *headersHandler) hostAllowed(r *http.Request) bool {
	host := r.Host
	for _, k := range h.hostHeaders {
		if v := r.Header[k]; len(v) > 0 && v[0] != "" {
			host = v[0]
			break
		}
	}
	host = hostOnly(host)
	for _, a := range h.allowedHosts {
		if strings.EqualFold(host, a) {
			return true
		}
	}
	return false
}

// headerWriter applies the response headers just before the header is written.
type headerWriter struct {
	rw     http.ResponseWriter
	m      *headersMW
	origin []string
	sts    bool
	done   bool
}

func (w *headerWriter) apply() {
	if w.done || w.m == nil {
		return
	}
	w.done = true
	h := w.rw.Header()
	if w.sts {
		h["Strict-Transport-Security"] = w.m.sts
	}
	for _, op := range w.m.response {
		op.apply(h)
	}
	if w.m.cors != nil {
		w.m.cors.respond(h, w.origin)
	}
}

func (w *headerWriter) Header() http.Header { return w.rw.Header() }

func (w *headerWriter) WriteHeader(code int) {
	if code >= 200 || code == http.StatusSwitchingProtocols {
		w.apply()
	}
	w.rw.WriteHeader(code)
}

func (w *headerWriter) Write(p []byte) (int, error) {
	w.apply()
	return w.rw.Write(p)
}

func (w *headerWriter) FlushError() error {
	w.apply()
	return http.NewResponseController(w.rw).Flush()
}

func (w *headerWriter) Flush() { _ = w.FlushError() }

func (w *headerWriter) Unwrap() http.ResponseWriter { return w.rw }

// validHeaderName reports whether s is an RFC 9110 token.
func validHeaderName(s string) bool {
	if s == "" {
		return false
	}
	for i := 0; i < len(s); i++ {
		c := s[i]
		if c <= ' ' || c >= 0x7f || strings.IndexByte(`"(),/:;<=>?@[\]{}`, c) >= 0 {
			return false
		}
	}
	return true
}

func validHeaderValue(s string) bool {
	for i := 0; i < len(s); i++ {
		if c := s[i]; (c < ' ' && c != '\t') || c == 0x7f {
			return false
		}
	}
	return true
}
