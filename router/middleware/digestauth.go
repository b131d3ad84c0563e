package middleware

import (
	"crypto/hmac"
	"crypto/md5" //nolint:gosec // RFC 2617 digest with the MD5 HA1 that htdigest writes
	"crypto/rand"
	"crypto/sha256"
	"crypto/subtle"
	"encoding/base64"
	"encoding/binary"
	"encoding/hex"
	"net/http"
	"strconv"
	"strings"
	"sync"
	"time"

	"github.com/wharfproxy/wharf/router/dynamic"
	"github.com/wharfproxy/wharf/router/upstream"
)

// digestAuth is HTTP Digest authentication (RFC 7616 with MD5 and qop=auth, which is what
// htdigest files hold: user:realm:MD5(user:realm:password)). Nonces are stateless (a
// timestamp signed with a per-table key) and valid for nonceLifetime; the nonce count of
// each nonce must increase, so a captured request cannot be replayed.
var digestAuthType = Type{Name: "digestAuth", New: newDigestAuth}

type digestAuthOptions struct {
	Users        []string
	UsersFile    string
	Realm        string
	HeaderField  string
	RemoveHeader *bool
}

const nonceLifetime = 10 * time.Minute

func newDigestAuth(env *Env, opts *dynamic.Node) (Middleware, error) {
	var o digestAuthOptions
	if err := env.Decode(opts, &o); err != nil {
		return nil, err
	}
	lines, err := loadUserLines(o.Users, o.UsersFile)
	if err != nil {
		return nil, env.Invalid(opts, "usersFile", "%v", err)
	}
	d := &digestAuth{users: map[string][]byte{}, seen: map[string]uint64{}, remove: o.RemoveHeader == nil || *o.RemoveHeader}
	realm, err := d.parseUsers(env, opts, lines, o.Realm)
	if err != nil {
		return nil, err
	}
	if strings.ContainsAny(realm, "\"\\") || !validHeaderValue(realm) {
		return nil, env.Invalid(opts, "realm", "realm may not contain quotes, backslashes or control characters")
	}
	d.realm = realm
	if _, err := rand.Read(d.key[:]); err != nil {
		return nil, err
	}
	d.opaque = hex.EncodeToString(d.key[:8])
	if o.HeaderField != "" {
		if !validHeaderName(o.HeaderField) {
			return nil, env.Invalid(opts, "headerField", "%q is not a valid header name", o.HeaderField)
		}
		d.headerField = http.CanonicalHeaderKey(o.HeaderField)
	}
	return func(next http.Handler) http.Handler { return &digestHandler{digestAuth: d, next: next} }, nil
}

type digestAuth struct {
	realm       string
	users       map[string][]byte // user -> HA1, hex as written
	key         [32]byte
	opaque      string
	headerField string
	remove      bool

	mu   sync.Mutex
	seen map[string]uint64 // nonce -> highest nonce count used
}

// parseUsers reads user:realm:HA1 lines. Without a realm option, the realm is the one the
// lines were written for (htdigest -c file <realm> user), so migrated files keep working.
func (d *digestAuth) parseUsers(env *Env, opts *dynamic.Node, lines []userLine, realm string) (string, error) {
	for _, l := range lines {
		parts := strings.Split(l.text, ":")
		if len(parts) != 3 || parts[0] == "" || len(parts[2]) != 32 {
			return "", env.Invalid(opts, "users", "%s: write each user as name:realm:hash (a line of htdigest's file)", l.where)
		}
		if _, err := hex.DecodeString(parts[2]); err != nil {
			return "", env.Invalid(opts, "users", "%s: user %q: the hash is not 32 hexadecimal digits", l.where, parts[0])
		}
		if realm == "" {
			realm = parts[1]
		}
		if parts[1] != realm {
			continue // written for another realm: it can never match this one
		}
		d.users[parts[0]] = []byte(strings.ToLower(parts[2]))
	}
	if len(d.users) == 0 {
		return "", env.Invalid(opts, "users", "no users in realm %q: give users (name:realm:hash, from htdigest) or usersFile", realm)
	}
	return realm, nil
}

type digestHandler struct {
	*digestAuth
	next http.Handler
}

func (h *digestHandler) ServeHTTP(w http.ResponseWriter, r *http.Request) {
	user, stale := h.check(r)
	if user == "" {
		h.challengeResponse(w, stale)
		return
	}
	if h.headerField != "" {
		r.Header[h.headerField] = []string{user}
	}
	if h.remove {
		delete(r.Header, "Authorization")
	}
	h.next.ServeHTTP(w, r)
}

func (h *digestHandler) challengeResponse(w http.ResponseWriter, stale bool) {
	c := `Digest realm="` + h.realm + `", nonce="` + h.nonce(time.Now()) + `", opaque="` + h.opaque + `", algorithm=MD5, qop="auth"`
	if stale {
		c += ", stale=true"
	}
	w.Header()["Www-Authenticate"] = []string{c}
	upstream.WriteError(w, http.StatusUnauthorized)
}

// nonce is base64(issued time || HMAC(key, issued time)).
func (d *digestAuth) nonce(now time.Time) string {
	var b [8 + 16]byte
	binary.BigEndian.PutUint64(b[:8], uint64(now.UnixNano()))
	mac := hmac.New(sha256.New, d.key[:])
	mac.Write(b[:8])
	copy(b[8:], mac.Sum(nil))
	return base64.RawURLEncoding.EncodeToString(b[:])
}

// nonceValid reports whether the nonce is ours, and whether it is still fresh.
func (d *digestAuth) nonceValid(nonce string, now time.Time) (ours, fresh bool) {
	b, err := base64.RawURLEncoding.DecodeString(nonce)
	if err != nil || len(b) != 24 {
		return false, false
	}
	mac := hmac.New(sha256.New, d.key[:])
	mac.Write(b[:8])
	if !hmac.Equal(mac.Sum(nil)[:16], b[8:]) {
		return false, false
	}
	issued := time.Unix(0, int64(binary.BigEndian.Uint64(b[:8])))
	return true, now.Sub(issued) < nonceLifetime
}

// check returns the authenticated user, or "" and whether the client should just retry
// with a fresh nonce (stale).
func (d *digestAuth) check(r *http.Request) (string, bool) {
	v := r.Header["Authorization"]
	if len(v) != 1 || len(v[0]) < 7 || !strings.EqualFold(v[0][:7], "Digest ") {
		return "", false
	}
	p := parseDigestParams(v[0][7:])
	ha1, ok := d.users[p["username"]]
	if !ok || p["realm"] != d.realm || p["opaque"] != d.opaque || p["qop"] != "auth" ||
		(p["algorithm"] != "" && !strings.EqualFold(p["algorithm"], "MD5")) || p["uri"] != requestURI(r) {
		return "", false
	}
	ours, fresh := d.nonceValid(p["nonce"], time.Now())
	if !ours {
		return "", false
	}
	nc, err := strconv.ParseUint(p["nc"], 16, 64)
	if err != nil || p["cnonce"] == "" {
		return "", false
	}
	ha2 := md5Hex(r.Method + ":" + p["uri"])
	want := md5Hex(string(ha1) + ":" + p["nonce"] + ":" + p["nc"] + ":" + p["cnonce"] + ":auth:" + ha2)
	if subtle.ConstantTimeCompare([]byte(want), []byte(strings.ToLower(p["response"]))) != 1 {
		return "", false
	}
	if !fresh {
		return "", true
	}
	if !d.useCount(p["nonce"], nc) {
		return "", false
	}
	return p["username"], false
}

// useCount records a nonce count and refuses one that is not higher than the last.
func (d *digestAuth) useCount(nonce string, nc uint64) bool {
	d.mu.Lock()
	defer d.mu.Unlock()
	if last, ok := d.seen[nonce]; ok && nc <= last {
		return false
	}
	if len(d.seen) >= 65536 {
		now := time.Now()
		for n := range d.seen {
			if _, fresh := d.nonceValid(n, now); !fresh {
				delete(d.seen, n)
			}
		}
		if len(d.seen) >= 65536 {
			clear(d.seen) // a flood of valid nonces: forget, rather than grow without bound
		}
	}
	d.seen[nonce] = nc
	return true
}

func md5Hex(s string) string {
	sum := md5.Sum([]byte(s)) //nolint:gosec // the protocol's hash
	return hex.EncodeToString(sum[:])
}

// parseDigestParams reads `key=value, key="quoted value"` pairs.
func parseDigestParams(s string) map[string]string {
	out := make(map[string]string, 10)
	for s != "" {
		s = strings.TrimLeft(s, " \t,")
		eq := strings.IndexByte(s, '=')
		if eq < 0 {
			break
		}
		key := strings.ToLower(strings.TrimSpace(s[:eq]))
		s = strings.TrimLeft(s[eq+1:], " \t")
		var val string
		if strings.HasPrefix(s, `"`) {
			var b strings.Builder
			i := 1
			for ; i < len(s) && s[i] != '"'; i++ {
				if s[i] == '\\' && i+1 < len(s) {
					i++
				}
				b.WriteByte(s[i])
			}
			val, s = b.String(), s[min(i+1, len(s)):]
		} else {
			end := strings.IndexByte(s, ',')
			if end < 0 {
				end = len(s)
			}
			val, s = strings.TrimSpace(s[:end]), s[end:]
		}
		out[key] = val
	}
	return out
}
