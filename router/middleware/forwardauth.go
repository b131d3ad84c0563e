package middleware

import (
	"bytes"
	"errors"
	"io"
	"net/http"
	"net/url"
	"regexp"
	"strings"
	"time"

	"github.com/rs/zerolog"

	"github.com/wharfproxy/wharf/router/dynamic"
	"github.com/wharfproxy/wharf/router/upstream"
)

// forwardAuth asks an authentication server (Authelia, Authentik, oauth2-proxy, ...) about
// every request: the server sees the request's headers and X-Forwarded-Method, -Proto,
// -Host, -Uri and -For; a 2xx answer lets the request through, with the headers named in
// authResponseHeaders copied onto it; any other answer (a redirect to a login page, a 401)
// is sent to the client as it is, and the backend is never called.
//
// The headers the server returns replace whatever the client sent under those names (the
// client cannot pre-set X-Remote-User), and they are struck from Connection, so a client
// cannot have them removed as hop-by-hop headers on the way to the backend either. The
// server's answer is read into memory up to maxAuthResponseBody; a larger answer, or a
// server that cannot be reached, fails closed with 502.
var forwardAuthType = Type{Name: "forwardAuth", New: newForwardAuth}

type forwardAuthOptions struct {
	Address                  string
	TLS                      *clientTLSOptions `wharf:"tls"`
	TrustForwardHeader       bool
	AuthResponseHeaders      []string
	AuthResponseHeadersRegex string
	AuthRequestHeaders       []string
	AddAuthCookiesToResponse []string
	HeaderField              string // Traefik uses it only for its access log; accepted
	ForwardBody              bool
	MaxBodySize              *int64
	PreserveLocationHeader   bool
	PreserveRequestMethod    bool
}

// clientTLSOptions is how wharf talks TLS to the authentication server. Certificate and key
// are file paths.
type clientTLSOptions struct {
	CA                 string `wharf:"ca"`
	Cert               string
	Key                string
	InsecureSkipVerify bool
	CAOptional         *bool `wharf:"caOptional"` // deprecated in Traefik, without effect; accepted
}

const (
	logKeyAuthAddress   = "auth_address"
	maxAuthResponseBody = 1 << 20
	defaultAuthBodySize = 1 << 20
	authTimeout         = 30 * time.Second
)

type forwardAuth struct {
	address        string
	client         *http.Client
	trustForwarded bool
	respHeaders    []string // canonical
	respRegex      *regexp.Regexp
	reqHeaders     []string // canonical; nil means all
	cookies        []string
	forwardBody    bool
	maxBody        int64 // -1: no limit
	keepLocation   bool
	keepMethod     bool
}

func newForwardAuth(env *Env, opts *dynamic.Node) (Middleware, error) {
	var o forwardAuthOptions
	if err := env.Decode(opts, &o); err != nil {
		return nil, err
	}
	u, err := url.Parse(o.Address)
	if err != nil || (u.Scheme != "http" && u.Scheme != "https") || u.Host == "" {
		return nil, env.Invalid(opts, "address", "address must be an http:// or https:// URL of the authentication server, like http://authelia:9091/api/authz/forward-auth")
	}
	f := &forwardAuth{
		address: u.String(), trustForwarded: o.TrustForwardHeader, forwardBody: o.ForwardBody,
		keepLocation: o.PreserveLocationHeader, keepMethod: o.PreserveRequestMethod,
		cookies: o.AddAuthCookiesToResponse, maxBody: defaultAuthBodySize,
	}
	if o.MaxBodySize != nil {
		if *o.MaxBodySize < -1 {
			return nil, env.Invalid(opts, "maxBodySize", "maxBodySize must be -1 (no limit) or more")
		}
		f.maxBody = *o.MaxBodySize
	}
	if f.respHeaders, err = canonicalNames(env, opts, "authResponseHeaders", o.AuthResponseHeaders); err != nil {
		return nil, err
	}
	if f.reqHeaders, err = canonicalNames(env, opts, "authRequestHeaders", o.AuthRequestHeaders); err != nil {
		return nil, err
	}
	if o.AuthResponseHeadersRegex != "" {
		if f.respRegex, err = regexp.Compile(o.AuthResponseHeadersRegex); err != nil {
			return nil, env.Invalid(opts, "authResponseHeadersRegex", "%v", err)
		}
	}
	if o.HeaderField != "" && !validHeaderName(o.HeaderField) {
		return nil, env.Invalid(opts, "headerField", "%q is not a valid header name", o.HeaderField)
	}
	rt, err := authTransport(env, opts, o.TLS)
	if err != nil {
		return nil, err
	}
	f.client = &http.Client{
		Transport: rt,
		Timeout:   authTimeout,
		// A redirect is the server's answer for the client (to a login page), not for us.
		CheckRedirect: func(*http.Request, []*http.Request) error { return http.ErrUseLastResponse },
	}
	log := env.Log.With().Str(logKeyAuthAddress, u.Redacted()).Logger()
	return func(next http.Handler) http.Handler {
		return &forwardAuthHandler{forwardAuth: f, next: next, log: &log}
	}, nil
}

func canonicalNames(env *Env, opts *dynamic.Node, key string, names []string) ([]string, error) {
	var out []string
	for _, n := range names {
		if !validHeaderName(n) {
			return nil, env.Invalid(opts, key, "%q is not a valid header name", n)
		}
		out = append(out, http.CanonicalHeaderKey(n))
	}
	return out, nil
}

// authTransport takes the shared connection pool for the server's TLS settings.
func authTransport(env *Env, opts *dynamic.Node, t *clientTLSOptions) (http.RoundTripper, error) {
	var tc upstream.TransportConfig
	if t != nil {
		if strings.Contains(t.CA, "-----BEGIN") || strings.Contains(t.Cert, "-----BEGIN") || strings.Contains(t.Key, "-----BEGIN") {
			return nil, env.Invalid(opts, "tls", "give the CA, certificate and key as file paths; inline PEM is not supported")
		}
		if (t.Cert == "") != (t.Key == "") {
			return nil, env.Invalid(opts, "tls", "cert and key go together: give both or neither")
		}
		tc.RootCAs, tc.ClientCert, tc.ClientKey, tc.InsecureSkipVerify = t.CA, t.Cert, t.Key, t.InsecureSkipVerify
	}
	pool := env.Transports
	if pool == nil {
		pool = upstream.NewTransports()
	}
	rt, err := pool.Get(tc)
	if err != nil {
		return nil, env.Invalid(opts, "tls", "%v", err)
	}
	return rt, nil
}

type forwardAuthHandler struct {
	*forwardAuth
	next http.Handler
	log  *zerolog.Logger
}

func (h *forwardAuthHandler) ServeHTTP(w http.ResponseWriter, r *http.Request) {
	var body []byte
	if h.forwardBody && r.Body != nil && r.Body != http.NoBody {
		var tooLarge bool
		if body, tooLarge = h.readBody(r); tooLarge {
			upstream.WriteError(w, http.StatusRequestEntityTooLarge)
			return
		}
	}
	res, resBody, err := h.ask(r, body)
	if err != nil {
		h.log.Warn().Err(err).Msg("forwardAuth: the authentication server did not answer; request refused")
		upstream.WriteError(w, http.StatusBadGateway)
		return
	}
	if res.StatusCode < 200 || res.StatusCode > 299 {
		h.deny(w, res, resBody)
		return
	}
	h.allow(w, r, res)
	h.next.ServeHTTP(w, r)
}

// readBody reads the request body for the server and puts it back for the backend.
func (h *forwardAuthHandler) readBody(r *http.Request) ([]byte, bool) {
	var rd io.Reader = r.Body
	if h.maxBody >= 0 {
		rd = io.LimitReader(r.Body, h.maxBody+1)
	}
	body, err := io.ReadAll(rd)
	if err != nil || (h.maxBody >= 0 && int64(len(body)) > h.maxBody) {
		return nil, true
	}
	r.Body = io.NopCloser(bytes.NewReader(body))
	r.ContentLength = int64(len(body))
	return body, false
}

// ask sends the authentication request and reads the answer, size-capped.
func (h *forwardAuthHandler) ask(r *http.Request, body []byte) (*http.Response, []byte, error) {
	method := http.MethodGet
	if h.keepMethod {
		method = r.Method
	}
	var rd io.Reader
	if body != nil {
		rd = bytes.NewReader(body)
	}
	req, err := http.NewRequestWithContext(r.Context(), method, h.address, rd)
	if err != nil {
		return nil, nil, err
	}
	h.authHeaders(req.Header, r)
	res, err := h.client.Do(req)
	if err != nil {
		return nil, nil, err
	}
	defer res.Body.Close()
	resBody, err := io.ReadAll(io.LimitReader(res.Body, maxAuthResponseBody+1))
	if err != nil {
		return nil, nil, err
	}
	if len(resBody) > maxAuthResponseBody {
		return nil, nil, errors.New("the answer's body is larger than 1 MiB")
	}
	return res, resBody, nil
}

// authHeaders fills the authentication request's headers: the client's (all, or those
// listed), minus hop-by-hop ones, plus X-Forwarded-* describing the original request.
func (h *forwardAuthHandler) authHeaders(dst http.Header, r *http.Request) {
	if h.reqHeaders == nil {
		for k, v := range r.Header {
			dst[k] = append([]string(nil), v...)
		}
	} else {
		for _, k := range h.reqHeaders {
			if v, ok := r.Header[k]; ok {
				dst[k] = append([]string(nil), v...)
			}
		}
	}
	removeHopHeaders(dst)
	delete(dst, "Content-Length")
	ip := r.RemoteAddr
	if a, ok := peerAddr(r.RemoteAddr); ok {
		ip = a.String()
	}
	if prior := r.Header["X-Forwarded-For"]; h.trustForwarded && len(prior) > 0 {
		dst["X-Forwarded-For"] = []string{strings.Join(prior, ", ") + ", " + ip}
	} else {
		dst["X-Forwarded-For"] = []string{ip}
	}
	scheme := "http"
	if r.TLS != nil {
		scheme = "https"
	}
	h.forwarded(dst, r, "X-Forwarded-Method", r.Method)
	h.forwarded(dst, r, "X-Forwarded-Proto", scheme)
	h.forwarded(dst, r, "X-Forwarded-Host", r.Host)
	h.forwarded(dst, r, "X-Forwarded-Uri", r.URL.RequestURI())
}

// forwarded sets one X-Forwarded header, keeping the inbound value when it is trusted. The
// entrypoint has already removed these headers from peers it does not trust.
func (h *forwardAuthHandler) forwarded(dst http.Header, r *http.Request, key, value string) {
	if v := r.Header[key]; h.trustForwarded && len(v) > 0 && v[0] != "" {
		dst[key] = []string{v[0]}
		return
	}
	dst[key] = []string{value}
}

// deny sends the server's answer to the client.
func (h *forwardAuthHandler) deny(w http.ResponseWriter, res *http.Response, body []byte) {
	dst := w.Header()
	for k, v := range res.Header {
		dst[k] = append([]string(nil), v...)
	}
	removeHopHeaders(dst)
	if !h.keepLocation {
		// A relative Location is relative to the authentication server, not to the site.
		if loc, err := res.Location(); err == nil {
			dst["Location"] = []string{loc.String()}
		}
	}
	dst["Content-Length"] = []string{itoa(len(body))}
	w.WriteHeader(res.StatusCode)
	_, _ = w.Write(body)
}

// allow copies the server's headers onto the request and its cookies onto the response.
func (h *forwardAuthHandler) allow(w http.ResponseWriter, r *http.Request, res *http.Response) {
	set := h.respHeaders
	for _, k := range h.respHeaders {
		delete(r.Header, k)
		if v := res.Header[k]; len(v) > 0 {
			r.Header[k] = append([]string(nil), v...)
		}
	}
	if h.respRegex != nil {
		set = append([]string(nil), set...)
		for k := range r.Header {
			if h.respRegex.MatchString(k) {
				delete(r.Header, k)
			}
		}
		for k, v := range res.Header {
			if h.respRegex.MatchString(k) {
				r.Header[k] = append([]string(nil), v...)
				set = append(set, k)
			}
		}
	}
	protectFromConnection(r.Header, set)
	if len(h.cookies) > 0 {
		for _, c := range res.Cookies() {
			if containsString(h.cookies, c.Name) {
				w.Header().Add("Set-Cookie", c.String())
			}
		}
	}
}

// protectFromConnection strikes the named headers from the request's Connection header, so
// that nothing downstream drops them as hop-by-hop headers.
func protectFromConnection(h http.Header, names []string) {
	conn := h["Connection"]
	if len(conn) == 0 || len(names) == 0 {
		return
	}
	var keep []string
	for _, line := range conn {
		for _, tok := range strings.Split(line, ",") {
			tok = strings.TrimSpace(tok)
			if tok == "" {
				continue
			}
			named := false
			for _, n := range names {
				if strings.EqualFold(tok, n) {
					named = true
					break
				}
			}
			if !named {
				keep = append(keep, tok)
			}
		}
	}
	if len(keep) == 0 {
		delete(h, "Connection")
		return
	}
	h["Connection"] = []string{strings.Join(keep, ", ")}
}
