package middleware

import (
	"bufio"
	"bytes"
	"crypto/md5"  //nolint:gosec // apr1 is MD5 by definition; it is what htpasswd -m writes
	"crypto/sha1" //nolint:gosec // {SHA} is SHA-1 by definition; it is what htpasswd -s writes
	"crypto/subtle"
	"encoding/base64"
	"fmt"
	"os"
	"strings"

	"golang.org/x/crypto/bcrypt"

	"github.com/wharfproxy/wharf/router/dynamic"
)

// The password formats Apache's htpasswd writes and wharf accepts: bcrypt (-B, the one to
// use), apr1-MD5 (-m, the default of older htpasswd) and {SHA} (-s). crypt(3) and plain
// text are refused when the table is compiled, never silently compared.
type hashKind uint8

const (
	hashBcrypt hashKind = iota + 1
	hashAPR1
	hashMD5Crypt // "$1$", the same algorithm as apr1 with another magic string
	hashSHA1
)

// credential is one user line, checked and parsed once.
type credential struct {
	user   string
	hash   string
	kind   hashKind
	sha1   []byte   // the decoded digest for {SHA}
	header []string // the user name as a header value, for headerField
}

// userLine is a user as written: in the users list or in a file, with where it was.
type userLine struct {
	text  string
	where string // "users item 2" or "/etc/wharf/users:7", for errors
}

// loadUserLines collects the inline users and the users file. The file is read when the
// table is compiled; edit it and change the configuration (or restart) to reload it.
func loadUserLines(inline []string, file string) ([]userLine, error) {
	var lines []userLine
	if file != "" {
		data, err := os.ReadFile(file)
		if err != nil {
			return nil, fmt.Errorf("usersFile: %w", err)
		}
		sc := bufio.NewScanner(bytes.NewReader(data))
		for n := 1; sc.Scan(); n++ {
			t := strings.TrimSpace(sc.Text())
			if t != "" && t[0] != '#' {
				lines = append(lines, userLine{text: t, where: fmt.Sprintf("%s:%d", file, n)})
			}
		}
		if err := sc.Err(); err != nil {
			return nil, fmt.Errorf("usersFile %s: %w", file, err)
		}
	}
	for i, u := range inline {
		if u = strings.TrimSpace(u); u != "" {
			lines = append(lines, userLine{text: u, where: fmt.Sprintf("users item %d", i+1)})
		}
	}
	return lines, nil
}

// parseCredentials reads "user:hash" lines. Later lines replace earlier ones for the same
// user, so inline users override the file's, as in Traefik.
func parseCredentials(env *Env, opts *dynamic.Node, lines []userLine) (map[string]*credential, []*credential, error) {
	byUser := make(map[string]*credential, len(lines))
	var order []*credential
	for _, l := range lines {
		user, hash, ok := strings.Cut(l.text, ":")
		if !ok || user == "" || hash == "" {
			return nil, nil, env.Invalid(opts, "users", "%s: write each user as name:hash (the hash from htpasswd -nB name)", l.where)
		}
		c, err := newCredential(user, hash)
		if err != nil {
			return nil, nil, env.Invalid(opts, "users", "%s: user %q: %v", l.where, user, err)
		}
		if _, dup := byUser[user]; !dup {
			order = append(order, c)
		}
		byUser[user] = c
	}
	if len(byUser) == 0 {
		return nil, nil, env.Invalid(opts, "users", "no users: give users (name:hash, from htpasswd -nB name) or usersFile")
	}
	return byUser, order, nil
}

func newCredential(user, hash string) (*credential, error) {
	c := &credential{user: user, hash: hash, header: headerValue(user)}
	if !validHeaderValue(user) {
		return nil, fmt.Errorf("the user name contains a control character")
	}
	switch {
	case strings.Contains(hash, "$$"):
		return nil, fmt.Errorf(`the hash contains "$$": Docker Compose turns $$ into $, so $$ only belongs in a compose file; elsewhere write each $ once`)
	case strings.HasPrefix(hash, "$2a$"), strings.HasPrefix(hash, "$2b$"), strings.HasPrefix(hash, "$2x$"), strings.HasPrefix(hash, "$2y$"):
		if _, err := bcrypt.Cost([]byte(hash)); err != nil || len(hash) != 60 {
			return nil, fmt.Errorf("the bcrypt hash is malformed (a bcrypt hash is 60 characters, like $2y$05$ and 53 more)")
		}
		c.kind = hashBcrypt
	case strings.HasPrefix(hash, "$apr1$"), strings.HasPrefix(hash, "$1$"):
		c.kind = hashAPR1
		if strings.HasPrefix(hash, "$1$") {
			c.kind = hashMD5Crypt
		}
		if strings.Count(hash, "$") != 3 || len(hash)-strings.LastIndexByte(hash, '$')-1 != 22 {
			return nil, fmt.Errorf("the MD5 hash is malformed")
		}
	case strings.HasPrefix(hash, "{SHA}"):
		d, err := base64.StdEncoding.DecodeString(hash[len("{SHA}"):])
		if err != nil || len(d) != sha1.Size {
			return nil, fmt.Errorf("the {SHA} hash is malformed")
		}
		c.kind, c.sha1 = hashSHA1, d
	default:
		return nil, fmt.Errorf("the password is not in a format wharf accepts: use bcrypt (htpasswd -nB), or apr1 (-m) or {SHA} (-s); crypt and plain text are refused")
	}
	return c, nil
}

// verify compares a password with the stored hash in constant time.
func (c *credential) verify(password []byte) bool {
	switch c.kind {
	case hashBcrypt:
		return bcrypt.CompareHashAndPassword([]byte(c.hash), password) == nil
	case hashSHA1:
		sum := sha1.Sum(password) //nolint:gosec // the stored format
		return subtle.ConstantTimeCompare(sum[:], c.sha1) == 1
	case hashAPR1, hashMD5Crypt:
		magic := "$apr1$"
		if c.kind == hashMD5Crypt {
			magic = "$1$"
		}
		salt := c.hash[len(magic):strings.LastIndexByte(c.hash, '$')]
		got := md5Crypt(password, []byte(salt), []byte(magic))
		return subtle.ConstantTimeCompare(got, []byte(c.hash)) == 1
	}
	return false
}

// md5Crypt is Poul-Henning Kamp's MD5-crypt, which Apache calls apr1 when the magic is
// "$apr1$". It returns the whole hash string: magic, salt (at most 8 bytes), "$", digest.
func md5Crypt(password, salt, magic []byte) []byte {
	if len(salt) > 8 {
		salt = salt[:8]
	}
	alt := md5.New() //nolint:gosec
	alt.Write(password)
	alt.Write(salt)
	alt.Write(password)
	mixin := alt.Sum(nil)

	d := md5.New() //nolint:gosec
	d.Write(password)
	d.Write(magic)
	d.Write(salt)
	for i := len(password); i > 0; i -= 16 {
		d.Write(mixin[:min(16, i)])
	}
	for i := len(password); i > 0; i >>= 1 {
		if i&1 == 1 {
			d.Write([]byte{0})
		} else {
			d.Write(password[:1])
		}
	}
	final := d.Sum(nil)

	// 1000 rounds, to make guessing slower (by 1990s standards).
	for i := 0; i < 1000; i++ {
		r := md5.New() //nolint:gosec
		if i&1 == 1 {
			r.Write(password)
		} else {
			r.Write(final)
		}
		if i%3 != 0 {
			r.Write(salt)
		}
		if i%7 != 0 {
			r.Write(password)
		}
		if i&1 == 1 {
			r.Write(final)
		} else {
			r.Write(password)
		}
		final = r.Sum(final[:0])
	}

	out := make([]byte, 0, len(magic)+len(salt)+1+22)
	out = append(append(append(out, magic...), salt...), '$')
	for _, g := range [][3]int{{0, 6, 12}, {1, 7, 13}, {2, 8, 14}, {3, 9, 15}, {4, 10, 5}} {
		v := uint(final[g[0]])<<16 | uint(final[g[1]])<<8 | uint(final[g[2]])
		out = appendCrypt64(out, v, 4)
	}
	return appendCrypt64(out, uint(final[11]), 2)
}

const crypt64 = "./0123456789ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz"

// appendCrypt64 appends n characters of crypt's base-64, least significant six bits first.
func appendCrypt64(out []byte, v uint, n int) []byte {
	for ; n > 0; n-- {
		out = append(out, crypt64[v&0x3f])
		v >>= 6
	}
	return out
}
