package middleware

import (
	"crypto/md5"
	"encoding/hex"
	"fmt"
	"net/http"
	"net/http/httptest"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"golang.org/x/crypto/bcrypt"
)

// Vectors from `openssl passwd -apr1 -salt <salt> <password>` and Traefik's documentation.
func TestMD5CryptMatchesApache(t *testing.T) {
	for _, tc := range []struct{ password, salt, magic, want string }{
		{"test", "H6uskkkW", "$apr1$", "$apr1$H6uskkkW$IgXLP6ewTrSuBkTrqE8wj/"},
		{"test2", "d9hr9HBB", "$apr1$", "$apr1$d9hr9HBB$4HxwgUir3HP4EsggP/QNo0"},
		{"password", "r31.....", "$apr1$", "$apr1$r31.....$ARC3pREO82RIm0aQ2zszC0"},
		{"myPassword", "abcdefgh", "$apr1$", "$apr1$abcdefgh$EfExgQSMBXioDhIVk8IOb1"},
	} {
		if got := string(md5Crypt([]byte(tc.password), []byte(tc.salt), []byte(tc.magic))); got != tc.want {
			t.Errorf("md5Crypt(%q, %q) = %q; want %q", tc.password, tc.salt, got, tc.want)
		}
	}
}

func bcryptHash(t testing.TB, password string) string {
	t.Helper()
	h, err := bcrypt.GenerateFromPassword([]byte(password), bcrypt.MinCost)
	if err != nil {
		t.Fatal(err)
	}
	return string(h)
}

// seen answers with what the backend received.
var seen = http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
	w.Header().Set("X-Saw-Authorization", r.Header.Get("Authorization"))
	w.Header().Set("X-Saw-User", r.Header.Get("X-User"))
})

func basicReq(user, pass string) *http.Request {
	r := httptest.NewRequest("GET", "http://app.test/", nil)
	if user != "" || pass != "" {
		r.SetBasicAuth(user, pass)
	}
	return r
}

func TestBasicAuth(t *testing.T) {
	users := "alice:" + bcryptHash(t, "wonderland") + ",bob:$apr1$H6uskkkW$IgXLP6ewTrSuBkTrqE8wj/,carol:{SHA}5en6G6MezRroT3XKqkdPOmY/BfQ="
	mw := build(t, "basicAuth", labels(t, "basicAuth", "users", users, "headerField", "X-User"))
	for _, tc := range []struct {
		name, user, pass string
		code             int
		sawUser          string
	}{
		{"bcrypt_user", "alice", "wonderland", 200, "alice"},
		{"bcrypt_user_again_from_cache", "alice", "wonderland", 200, "alice"},
		{"bcrypt_wrong_password_after_success", "alice", "Wonderland", 401, ""},
		{"apr1_user", "bob", "test", 200, "bob"},
		{"sha1_user", "carol", "secret", 200, "carol"},
		{"sha1_wrong_password", "carol", "secreT", 401, ""},
		{"unknown_user", "mallory", "wonderland", 401, ""},
		{"no_credentials", "", "", 401, ""},
	} {
		t.Run(tc.name, func(t *testing.T) {
			rec := serve(mw(seen), basicReq(tc.user, tc.pass))
			if rec.Code != tc.code || rec.Header().Get("X-Saw-User") != tc.sawUser {
				t.Fatalf("got %d user %q; want %d %q", rec.Code, rec.Header().Get("X-Saw-User"), tc.code, tc.sawUser)
			}
			if tc.code == 401 && rec.Header().Get("Www-Authenticate") != `Basic realm="wharf"` {
				t.Errorf("challenge %q", rec.Header().Get("Www-Authenticate"))
			}
			if rec.Header().Get("X-Saw-Authorization") != "" {
				t.Error("the Authorization header reached the backend")
			}
		})
	}
	t.Run("malformed_authorization", func(t *testing.T) {
		for _, v := range []string{"Basic", "Basic !!!", "Bearer abc", "Basic " + strings.Repeat("QUFB", 200)} {
			r := httptest.NewRequest("GET", "/", nil)
			r.Header.Set("Authorization", v)
			if rec := serve(mw(seen), r); rec.Code != 401 {
				t.Errorf("%.20q: got %d; want 401", v, rec.Code)
			}
		}
	})
	t.Run("remove_header_false_keeps_it", func(t *testing.T) {
		mw := build(t, "basicAuth", labels(t, "basicAuth", "users", "bob:$apr1$H6uskkkW$IgXLP6ewTrSuBkTrqE8wj/", "removeHeader", "false", "realm", "private"))
		rec := serve(mw(seen), basicReq("bob", "test"))
		if rec.Code != 200 || rec.Header().Get("X-Saw-Authorization") == "" {
			t.Errorf("got %d, Authorization %q; want it forwarded", rec.Code, rec.Header().Get("X-Saw-Authorization"))
		}
		rec = serve(mw(seen), basicReq("bob", "nope"))
		if rec.Header().Get("Www-Authenticate") != `Basic realm="private"` {
			t.Errorf("challenge %q", rec.Header().Get("Www-Authenticate"))
		}
	})
}

func TestBasicAuthUsersFile(t *testing.T) {
	f := filepath.Join(t.TempDir(), "users")
	content := "# made with htpasswd\n\nbob:$apr1$H6uskkkW$IgXLP6ewTrSuBkTrqE8wj/\ndave:$apr1$d9hr9HBB$4HxwgUir3HP4EsggP/QNo0\n"
	if err := os.WriteFile(f, []byte(content), 0o600); err != nil {
		t.Fatal(err)
	}
	// dave from the file, bob overridden inline (inline users win, as in Traefik).
	mw := build(t, "basicAuth", fileOpts(t, fmt.Sprintf("basicAuth:\n  usersFile: %s\n  users:\n    - bob:{SHA}5en6G6MezRroT3XKqkdPOmY/BfQ=\n", f)))
	for _, tc := range []struct {
		user, pass string
		code       int
	}{{"dave", "test2", 200}, {"bob", "secret", 200}, {"bob", "test", 401}} {
		if rec := serve(mw(seen), basicReq(tc.user, tc.pass)); rec.Code != tc.code {
			t.Errorf("%s/%s: got %d; want %d", tc.user, tc.pass, rec.Code, tc.code)
		}
	}
	t.Run("missing_file_fails_closed", func(t *testing.T) {
		if _, err := buildErr("basicAuth", labels(t, "basicAuth", "usersFile", filepath.Join(t.TempDir(), "none"))); err == nil {
			t.Error("built without its users file")
		}
	})
	t.Run("bad_line_named_by_file_and_line", func(t *testing.T) {
		bad := filepath.Join(t.TempDir(), "bad")
		_ = os.WriteFile(bad, []byte("bob:$apr1$H6uskkkW$IgXLP6ewTrSuBkTrqE8wj/\nplainuser\n"), 0o600)
		_, err := buildErr("basicAuth", labels(t, "basicAuth", "usersFile", bad))
		if err == nil || !strings.Contains(err.Error(), bad+":2") {
			t.Errorf("got %v; want it to name %s:2", err, bad)
		}
	})
}

func md5hex(s string) string { h := md5.Sum([]byte(s)); return hex.EncodeToString(h[:]) }

// digestAuthorization answers a challenge the way a browser does.
func digestAuthorization(challenge, user, pass, method, uri string, nc int) string {
	p := parseDigestParams(strings.TrimPrefix(challenge, "Digest "))
	ha1 := md5hex(user + ":" + p["realm"] + ":" + pass)
	ha2 := md5hex(method + ":" + uri)
	ncs := fmt.Sprintf("%08x", nc)
	resp := md5hex(ha1 + ":" + p["nonce"] + ":" + ncs + ":c0ffee:auth:" + ha2)
	return fmt.Sprintf(`Digest username="%s", realm="%s", nonce="%s", uri="%s", qop=auth, nc=%s, cnonce="c0ffee", response="%s", opaque="%s", algorithm=MD5`,
		user, p["realm"], p["nonce"], uri, ncs, resp, p["opaque"])
}

func TestDigestAuth(t *testing.T) {
	// The line htdigest writes for user test, realm traefik, password test (Traefik's docs).
	mw := build(t, "digestAuth", labels(t, "digestAuth", "users", "test:traefik:a2688e031edb4be6a3797f3882655c05", "headerField", "X-User"))
	h := mw(seen)
	rec := serve(h, httptest.NewRequest("GET", "/x?y=1", nil))
	ch := rec.Header().Get("Www-Authenticate")
	if rec.Code != 401 || !strings.HasPrefix(ch, `Digest realm="traefik"`) {
		t.Fatalf("got %d %q; want a challenge for the realm of the users", rec.Code, ch)
	}
	try := func(pass string, nc int, uri string) int {
		r := httptest.NewRequest("GET", "/x?y=1", nil)
		r.Header.Set("Authorization", digestAuthorization(ch, "test", pass, "GET", uri, nc))
		rec := serve(h, r)
		if rec.Code == 200 && (rec.Header().Get("X-Saw-User") != "test" || rec.Header().Get("X-Saw-Authorization") != "") {
			t.Errorf("backend saw user %q and Authorization %q", rec.Header().Get("X-Saw-User"), rec.Header().Get("X-Saw-Authorization"))
		}
		return rec.Code
	}
	for _, tc := range []struct {
		name string
		pass string
		nc   int
		uri  string
		want int
	}{
		{"right_password", "test", 1, "/x?y=1", 200},
		{"next_count", "test", 2, "/x?y=1", 200},
		{"replayed_count", "test", 2, "/x?y=1", 401},
		{"wrong_password", "nope", 3, "/x?y=1", 401},
		{"other_uri", "test", 4, "/admin", 401},
	} {
		t.Run(tc.name, func(t *testing.T) {
			if got := try(tc.pass, tc.nc, tc.uri); got != tc.want {
				t.Errorf("got %d; want %d", got, tc.want)
			}
		})
	}
	t.Run("forged_nonce", func(t *testing.T) {
		forged := strings.Replace(ch, `nonce="`, `nonce="AAAA`, 1)
		r := httptest.NewRequest("GET", "/x?y=1", nil)
		r.Header.Set("Authorization", digestAuthorization(forged, "test", "test", "GET", "/x?y=1", 1))
		if rec := serve(h, r); rec.Code != 401 {
			t.Errorf("got %d; want 401", rec.Code)
		}
	})
	t.Run("no_user_in_realm", func(t *testing.T) {
		_, err := buildErr("digestAuth", labels(t, "digestAuth", "users", "test:traefik:a2688e031edb4be6a3797f3882655c05", "realm", "other"))
		if err == nil || !strings.Contains(err.Error(), `no users in realm "other"`) {
			t.Errorf("got %v", err)
		}
	})
}
