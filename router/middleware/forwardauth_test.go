package middleware

import (
	"io"
	"net/http"
	"net/http/httptest"
	"strings"
	"testing"
)

// authServer lets through requests with the cookie session=ok, and sends everyone else to
// a login page with a relative Location.
func authServer(t *testing.T, seen *http.Request) *httptest.Server {
	t.Helper()
	s := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		*seen = *r.Clone(r.Context())
		b, _ := io.ReadAll(r.Body)
		seen.Header.Set("X-Test-Body", string(b))
		switch c, _ := r.Cookie("session"); {
		case c != nil && c.Value == "ok":
			w.Header().Set("Remote-User", "alice")
			w.Header().Set("Remote-Groups", "admins")
			w.Header().Set("X-Auth-Extra", "1")
			http.SetCookie(w, &http.Cookie{Name: "refresh", Value: "r1"})
			http.SetCookie(w, &http.Cookie{Name: "other", Value: "o1"})
			w.WriteHeader(http.StatusOK)
		case r.URL.Query().Get("huge") != "" || r.Header.Get("X-Huge") != "":
			w.WriteHeader(http.StatusUnauthorized)
			_, _ = io.WriteString(w, strings.Repeat("x", maxAuthResponseBody+10))
		default:
			w.Header().Set("Location", "/login?rd=x")
			http.SetCookie(w, &http.Cookie{Name: "csrf", Value: "c1"})
			w.WriteHeader(http.StatusFound)
			_, _ = io.WriteString(w, "go log in")
		}
	}))
	t.Cleanup(s.Close)
	return s
}

// sawHeaders echoes the request headers the backend received as X-Saw-<name>.
var sawHeaders = http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
	for _, k := range []string{"Remote-User", "Remote-Groups", "X-Auth-Extra", "Connection", "Cookie"} {
		w.Header().Set("X-Saw-"+k, strings.Join(r.Header.Values(k), ","))
	}
	w.Header().Add("Set-Cookie", "app=1")
	_, _ = io.WriteString(w, "backend")
})

func TestForwardAuth(t *testing.T) {
	var seen http.Request
	auth := authServer(t, &seen)
	mw := build(t, "forwardAuth", labels(t, "forwardAuth",
		"address", auth.URL+"/api/verify",
		"authResponseHeaders", "Remote-User,Remote-Groups",
		"addAuthCookiesToResponse", "refresh"))
	h := mw(sawHeaders)

	t.Run("allowed_with_identity_headers", func(t *testing.T) {
		r := httptest.NewRequest("GET", "http://app.test/dash?tab=1", nil)
		r.RemoteAddr = "203.0.113.9:5555"
		r.Header.Set("Cookie", "session=ok")
		r.Header.Set("Remote-User", "mallory")                // spoofed by the client
		r.Header.Set("Remote-Groups", "admins")               // spoofed, and not set... replaced below
		r.Header.Set("Connection", "Remote-User, keep-alive") // attempt to strip it downstream
		rec := serve(h, r)
		if rec.Code != 200 || rec.Header().Get("X-Saw-Remote-User") != "alice" || rec.Header().Get("X-Saw-Remote-Groups") != "admins" {
			t.Fatalf("got %d user %q groups %q", rec.Code, rec.Header().Get("X-Saw-Remote-User"), rec.Header().Get("X-Saw-Remote-Groups"))
		}
		if c := rec.Header().Get("X-Saw-Connection"); strings.Contains(strings.ToLower(c), "remote-user") {
			t.Errorf("Connection still names the auth header: %q", c)
		}
		if rec.Header().Get("X-Saw-X-Auth-Extra") != "" {
			t.Error("a header not in authResponseHeaders was copied")
		}
		if got := strings.Join(rec.Header().Values("Set-Cookie"), "; "); !strings.Contains(got, "refresh=r1") || strings.Contains(got, "other=") || !strings.Contains(got, "app=1") {
			t.Errorf("Set-Cookie %q; want refresh and the app's, not other", got)
		}
		for k, want := range map[string]string{
			"X-Forwarded-Method": "GET", "X-Forwarded-Proto": "http", "X-Forwarded-Host": "app.test",
			"X-Forwarded-Uri": "/dash?tab=1", "X-Forwarded-For": "203.0.113.9", "Cookie": "session=ok",
		} {
			if got := seen.Header.Get(k); got != want {
				t.Errorf("auth server saw %s = %q; want %q", k, got, want)
			}
		}
		if seen.Method != "GET" || seen.URL.Path != "/api/verify" || seen.Header.Get("Connection") != "" {
			t.Errorf("auth request %s %s Connection %q", seen.Method, seen.URL.Path, seen.Header.Get("Connection"))
		}
	})
	t.Run("spoofed_identity_removed_even_when_server_sets_nothing", func(t *testing.T) {
		mw := build(t, "forwardAuth", labels(t, "forwardAuth", "address", auth.URL, "authResponseHeaders", "X-Not-Set-By-Server"))
		r := httptest.NewRequest("GET", "http://app.test/", nil)
		r.Header.Set("Cookie", "session=ok")
		r.Header.Set("X-Not-Set-By-Server", "admin")
		var got string
		serve(mw(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) { got = r.Header.Get("X-Not-Set-By-Server") })), r)
		if got != "" {
			t.Errorf("backend saw %q", got)
		}
	})
	t.Run("denied_answer_goes_to_client", func(t *testing.T) {
		rec := serve(h, httptest.NewRequest("POST", "http://app.test/dash", strings.NewReader("secret form")))
		if rec.Code != 302 || rec.Body.String() != "go log in" || rec.Header().Get("Location") != auth.URL+"/login?rd=x" ||
			!strings.Contains(rec.Header().Get("Set-Cookie"), "csrf=c1") {
			t.Errorf("got %d %q Location %q cookies %q", rec.Code, rec.Body.String(), rec.Header().Get("Location"), rec.Header().Get("Set-Cookie"))
		}
		if seen.Method != "GET" || seen.Header.Get("X-Test-Body") != "" || seen.Header.Get("X-Forwarded-Method") != "POST" {
			t.Errorf("auth request %s body %q method header %q", seen.Method, seen.Header.Get("X-Test-Body"), seen.Header.Get("X-Forwarded-Method"))
		}
	})
	t.Run("oversized_answer_fails_closed", func(t *testing.T) {
		r := httptest.NewRequest("GET", "http://app.test/", nil)
		r.Header.Set("X-Huge", "1")
		if rec := serve(h, r); rec.Code != 502 || strings.Contains(rec.Body.String(), "xxxx") {
			t.Errorf("got %d (%d bytes)", rec.Code, rec.Body.Len())
		}
	})
	t.Run("unreachable_server_fails_closed", func(t *testing.T) {
		dead := httptest.NewServer(http.NotFoundHandler())
		dead.Close()
		mw := build(t, "forwardAuth", labels(t, "forwardAuth", "address", dead.URL))
		if rec := serve(mw(sawHeaders), httptest.NewRequest("GET", "http://app.test/", nil)); rec.Code != 502 || rec.Body.String() == "backend" {
			t.Errorf("got %d %q", rec.Code, rec.Body.String())
		}
	})
}

func TestForwardAuthOptions(t *testing.T) {
	var seen http.Request
	auth := authServer(t, &seen)
	t.Run("preserve_location", func(t *testing.T) {
		mw := build(t, "forwardAuth", labels(t, "forwardAuth", "address", auth.URL, "preserveLocationHeader", "true"))
		if rec := serve(mw(sawHeaders), httptest.NewRequest("GET", "http://app.test/", nil)); rec.Header().Get("Location") != "/login?rd=x" {
			t.Errorf("Location %q", rec.Header().Get("Location"))
		}
	})
	t.Run("trust_forward_header", func(t *testing.T) {
		mw := build(t, "forwardAuth", labels(t, "forwardAuth", "address", auth.URL, "trustForwardHeader", "true"))
		r := httptest.NewRequest("GET", "http://internal/x", nil)
		r.RemoteAddr = "10.0.0.2:1"
		r.Header.Set("X-Forwarded-Proto", "https")
		r.Header.Set("X-Forwarded-Host", "public.test")
		r.Header.Set("X-Forwarded-For", "198.51.100.1")
		serve(mw(sawHeaders), r)
		if seen.Header.Get("X-Forwarded-Proto") != "https" || seen.Header.Get("X-Forwarded-Host") != "public.test" ||
			seen.Header.Get("X-Forwarded-For") != "198.51.100.1, 10.0.0.2" || seen.Header.Get("X-Forwarded-Uri") != "/x" {
			t.Errorf("auth server saw %v", seen.Header)
		}
	})
	t.Run("auth_request_headers_and_regex", func(t *testing.T) {
		mw := build(t, "forwardAuth", labels(t, "forwardAuth", "address", auth.URL, "authRequestHeaders", "Cookie", "authResponseHeadersRegex", "^(Remote|X-Auth)-"))
		r := httptest.NewRequest("GET", "http://app.test/", nil)
		r.Header.Set("Cookie", "session=ok")
		r.Header.Set("X-Private", "not for the auth server")
		r.Header.Set("X-Auth-Spoof", "1")
		var seenByApp http.Header
		serve(mw(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) { seenByApp = r.Header })), r)
		if seen.Header.Get("X-Private") != "" || seen.Header.Get("Cookie") == "" {
			t.Errorf("auth server saw %v", seen.Header)
		}
		if seenByApp.Get("Remote-User") != "alice" || seenByApp.Get("X-Auth-Extra") != "1" || seenByApp.Get("X-Auth-Spoof") != "" {
			t.Errorf("backend saw %v", seenByApp)
		}
	})
	t.Run("forward_body_capped", func(t *testing.T) {
		mw := build(t, "forwardAuth", labels(t, "forwardAuth", "address", auth.URL, "forwardBody", "true", "maxBodySize", "8", "preserveRequestMethod", "true"))
		var appBody string
		h := mw(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) { b, _ := io.ReadAll(r.Body); appBody = string(b) }))
		r := httptest.NewRequest("POST", "http://app.test/", strings.NewReader("a=1"))
		r.Header.Set("Cookie", "session=ok")
		serve(h, r)
		if seen.Method != "POST" || seen.Header.Get("X-Test-Body") != "a=1" || appBody != "a=1" {
			t.Errorf("auth saw %s %q; app read %q", seen.Method, seen.Header.Get("X-Test-Body"), appBody)
		}
		if rec := serve(h, httptest.NewRequest("POST", "http://app.test/", strings.NewReader("way too long"))); rec.Code != 413 {
			t.Errorf("got %d; want 413", rec.Code)
		}
	})
}
