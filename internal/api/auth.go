package api

import (
	"crypto/md5"  //nolint:gosec // apr1 is MD5 by definition; it is what htpasswd -m writes
	"crypto/sha1" //nolint:gosec // {SHA} is SHA-1 by definition; it is what htpasswd -s writes
	"crypto/subtle"
	"encoding/base64"
	"fmt"
	"net/http"
	"strings"

	"golang.org/x/crypto/bcrypt"
)

// user is one api.basicAuth.users line, checked once at start.
type user struct {
	name, hash string
}

func parseUsers(lines []string) (map[string]user, error) {
	out := make(map[string]user, len(lines))
	for i, l := range lines {
		name, hash, ok := strings.Cut(strings.TrimSpace(l), ":")
		if !ok || name == "" || hash == "" {
			return nil, fmt.Errorf("users[%d]: not name:hash (an htpasswd line, e.g. from `htpasswd -nB name`)", i)
		}
		switch {
		case strings.HasPrefix(hash, "$2a$"), strings.HasPrefix(hash, "$2b$"), strings.HasPrefix(hash, "$2y$"),
			strings.HasPrefix(hash, "$apr1$"), strings.HasPrefix(hash, "{SHA}"):
		default:
			return nil, fmt.Errorf("users[%d] (%s): the password must be hashed with bcrypt (htpasswd -B), apr1 (-m) or SHA1 (-s)", i, name)
		}
		out[name] = user{name: name, hash: hash}
	}
	return out, nil
}

// basicAuth asks for a user of the list on every path but /ping (health checks carry no
// credentials). A failed attempt costs the same whether or not the user exists.
func basicAuth(users map[string]user, next http.Handler) http.Handler {
	// A dummy bcrypt hash of the users' cost, so an unknown user takes as long as a wrong
	// password and the answer's timing does not tell which names exist.
	cost := bcrypt.DefaultCost
	for _, u := range users {
		if c, err := bcrypt.Cost([]byte(u.hash)); err == nil {
			cost = c
			break
		}
	}
	dummy, _ := bcrypt.GenerateFromPassword([]byte("wharf-dummy"), cost)
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if r.URL.Path == "/ping" {
			next.ServeHTTP(w, r)
			return
		}
		name, pass, ok := r.BasicAuth()
		u, known := users[name]
		if !known {
			u = user{hash: string(dummy)}
		}
		if ok && checkPassword(u.hash, pass) && known {
			next.ServeHTTP(w, r)
			return
		}
		w.Header().Set("WWW-Authenticate", `Basic realm="wharf", charset="UTF-8"`)
		http.Error(w, "401 Unauthorized", http.StatusUnauthorized)
	})
}

func checkPassword(hash, pass string) bool {
	switch {
	case strings.HasPrefix(hash, "{SHA}"):
		sum := sha1.Sum([]byte(pass)) //nolint:gosec // see the import
		want := base64.StdEncoding.EncodeToString(sum[:])
		return subtle.ConstantTimeCompare([]byte(hash[len("{SHA}"):]), []byte(want)) == 1
	case strings.HasPrefix(hash, "$apr1$"):
		salt := strings.SplitN(hash[len("$apr1$"):], "$", 2)[0]
		return subtle.ConstantTimeCompare([]byte(hash), []byte(apr1(pass, salt))) == 1
	}
	return bcrypt.CompareHashAndPassword([]byte(hash), []byte(pass)) == nil
}

// apr1 is Apache's MD5-crypt with the "$apr1$" magic (htpasswd -m).
func apr1(password, salt string) string {
	const magic = "$apr1$"
	if len(salt) > 8 {
		salt = salt[:8]
	}
	pw := []byte(password)
	alt := md5.Sum([]byte(password + salt + password)) //nolint:gosec // see the import
	ctx := md5.New()                                   //nolint:gosec // see the import
	ctx.Write([]byte(password + magic + salt))
	for i := len(pw); i > 0; i -= 16 {
		ctx.Write(alt[:min(i, 16)])
	}
	for i := len(pw); i > 0; i >>= 1 {
		if i&1 == 1 {
			ctx.Write([]byte{0})
		} else {
			ctx.Write(pw[:1])
		}
	}
	sum := ctx.Sum(nil)
	for i := 0; i < 1000; i++ {
		c := md5.New() //nolint:gosec // see the import
		if i&1 == 1 {
			c.Write(pw)
		} else {
			c.Write(sum)
		}
		if i%3 != 0 {
			c.Write([]byte(salt))
		}
		if i%7 != 0 {
			c.Write(pw)
		}
		if i&1 == 1 {
			c.Write(sum)
		} else {
			c.Write(pw)
		}
		sum = c.Sum(nil)
	}
	return magic + salt + "$" + apr1Encode(sum)
}

func apr1Encode(s []byte) string {
	const itoa64 = "./0123456789ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz"
	var b strings.Builder
	enc := func(v uint, n int) {
		for ; n > 0; n-- {
			b.WriteByte(itoa64[v&0x3f])
			v >>= 6
		}
	}
	enc(uint(s[0])<<16|uint(s[6])<<8|uint(s[12]), 4)
	enc(uint(s[1])<<16|uint(s[7])<<8|uint(s[13]), 4)
	enc(uint(s[2])<<16|uint(s[8])<<8|uint(s[14]), 4)
	enc(uint(s[3])<<16|uint(s[9])<<8|uint(s[15]), 4)
	enc(uint(s[4])<<16|uint(s[10])<<8|uint(s[5]), 4)
	enc(uint(s[11]), 2)
	return b.String()
}
