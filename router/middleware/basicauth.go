package middleware

import (
	"bytes"
	"crypto/rand"
	"crypto/sha256"
	"encoding/base64"
	"net/http"
	"strings"
	"sync"

	"github.com/wharfproxy/wharf/router/dynamic"
	"github.com/wharfproxy/wharf/router/upstream"
)

// basicAuth asks for a user name and password (RFC 7617) and checks them against htpasswd
// hashes. Unlike Traefik, the Authorization header is removed before the request is
// forwarded unless removeHeader is set to false: the backend has no use for the password,
// and a backend that logs headers would log it.
var basicAuthType = Type{Name: "basicAuth", New: newBasicAuth}

type basicAuthOptions struct {
	Users        []string
	UsersFile    string
	Realm        string
	HeaderField  string
	RemoveHeader *bool
}

func newBasicAuth(env *Env, opts *dynamic.Node) (Middleware, error) {
	var o basicAuthOptions
	if err := env.Decode(opts, &o); err != nil {
		return nil, err
	}
	lines, err := loadUserLines(o.Users, o.UsersFile)
	if err != nil {
		return nil, env.Invalid(opts, "usersFile", "%v", err)
	}
	users, order, err := parseCredentials(env, opts, lines)
	if err != nil {
		return nil, err
	}
	realm := o.Realm
	if realm == "" {
		realm = "wharf"
	}
	if strings.ContainsAny(realm, "\"\\") || !validHeaderValue(realm) {
		return nil, env.Invalid(opts, "realm", "realm may not contain quotes, backslashes or control characters")
	}
	a := &basicAuth{
		users:     users,
		decoy:     order[0],
		challenge: headerValue(`Basic realm="` + realm + `"`),
		remove:    o.RemoveHeader == nil || *o.RemoveHeader,
		cache:     newVerifiedCache(),
	}
	if o.HeaderField != "" {
		if !validHeaderName(o.HeaderField) {
			return nil, env.Invalid(opts, "headerField", "%q is not a valid header name", o.HeaderField)
		}
		a.headerField = http.CanonicalHeaderKey(o.HeaderField)
	}
	return func(next http.Handler) http.Handler { return &basicAuthHandler{basicAuth: a, next: next} }, nil
}

type basicAuth struct {
	users       map[string]*credential
	decoy       *credential // checked for unknown users, so they take as long as known ones
	challenge   []string
	headerField string
	remove      bool
	cache       *verifiedCache
}

type basicAuthHandler struct {
	*basicAuth
	next http.Handler
}

// maxBasicCredentials bounds what is decoded on the stack: longer credentials are refused.
const maxBasicCredentials = 512

func (h *basicAuthHandler) ServeHTTP(w http.ResponseWriter, r *http.Request) {
	c := h.check(r)
	if c == nil {
		w.Header()["Www-Authenticate"] = h.challenge
		upstream.WriteError(w, http.StatusUnauthorized)
		return
	}
	if h.headerField != "" {
		r.Header[h.headerField] = c.header
	}
	if h.remove {
		delete(r.Header, "Authorization")
	}
	h.next.ServeHTTP(w, r)
}

// check returns the user whose credentials the request carries, or nil.
func (h *basicAuthHandler) check(r *http.Request) *credential {
	v := r.Header["Authorization"]
	if len(v) != 1 || len(v[0]) < 6 || !strings.EqualFold(v[0][:6], "Basic ") {
		return nil
	}
	enc := strings.TrimSpace(v[0][6:])
	if len(enc) > maxBasicCredentials {
		return nil
	}
	var src [maxBasicCredentials]byte
	var dst [maxBasicCredentials]byte
	n, err := base64.StdEncoding.Decode(dst[:], src[:copy(src[:], enc)])
	if err != nil {
		return nil
	}
	user, pass, ok := bytes.Cut(dst[:n], []byte{':'})
	if !ok {
		return nil
	}
	c, known := h.users[string(user)]
	if !known {
		h.decoy.verify(pass)
		return nil
	}
	if c.kind != hashBcrypt {
		if c.verify(pass) {
			return c
		}
		return nil
	}
	key := h.cache.key(dst[:n])
	if h.cache.has(key) {
		return c
	}
	if !c.verify(pass) {
		return nil
	}
	h.cache.add(key)
	return c
}

// verifiedCache remembers the passwords that passed a bcrypt check, so that a browser that
// sends its credentials with every request does not cost a bcrypt computation (tens of
// milliseconds, by design) each time. It stores a SHA-256 of the user and password salted
// with a random per-table secret, never the password; only successes are stored, so failed
// guesses cannot fill it. A new table (any configuration change) starts with an empty cache.
type verifiedCache struct {
	secret [32]byte
	mu     sync.RWMutex
	m      map[[32]byte]struct{}
}

const maxVerified = 4096

func newVerifiedCache() *verifiedCache {
	c := &verifiedCache{m: make(map[[32]byte]struct{})}
	_, _ = rand.Read(c.secret[:])
	return c
}

// key hashes "user:password" as the client sent it, on the stack.
func (vc *verifiedCache) key(userPass []byte) [32]byte {
	var buf [32 + maxBasicCredentials]byte
	n := copy(buf[:], vc.secret[:])
	n += copy(buf[n:], userPass)
	return sha256.Sum256(buf[:n])
}

func (vc *verifiedCache) has(k [32]byte) bool {
	vc.mu.RLock()
	_, ok := vc.m[k]
	vc.mu.RUnlock()
	return ok
}

func (vc *verifiedCache) add(k [32]byte) {
	vc.mu.Lock()
	if len(vc.m) >= maxVerified {
		clear(vc.m)
	}
	vc.m[k] = struct{}{}
	vc.mu.Unlock()
}
