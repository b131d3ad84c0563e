package integration

import (
	"crypto/sha1" //nolint:gosec // {SHA} is one of the htpasswd formats basicAuth reads
	"encoding/base64"
	"fmt"
	"strings"
	"testing"
	"time"
)

// TestPathNormalization: /admin is behind basicAuth, everything else is public. However the
// path is written, a request that reaches the admin backend needed the password, and the
// path the backend receives is the canonical path the router matched. Encoded slashes and
// backslashes, and dot segments with parameters, are refused.
func TestPathNormalization(t *testing.T) {
	ng := startNginx(t)
	sum := sha1.Sum([]byte("s3cret"))
	users := "admin:{SHA}" + base64.StdEncoding.EncodeToString(sum[:])
	w := startSecWharf(t, "", fmt.Sprintf(`
http:
  middlewares:
    auth:
      basicAuth:
        users: [%q]
  routers:
    admin:
      rule: PathPrefix(`+"`/admin`"+`)
      middlewares: [auth]
      service: admin
    public:
      rule: PathPrefix(`+"`/`"+`)
      service: public
  services:
%s%s`, users, backendYAML("admin", "http://"+ng.Addr+"/admin-svc"), backendYAML("public", "http://"+ng.Addr+"/public-svc")))
	addr := w.Addr("web")
	authz := "Authorization: Basic " + base64.StdEncoding.EncodeToString([]byte("admin:s3cret")) + "\r\n"

	for _, tc := range []struct {
		target  string
		service string // "admin", "public", or "" when refused with 400
		path    string // what the backend receives, after the service's base path
	}{
		{"/admin", "admin", "/admin"},
		{"/admin/", "admin", "/admin/"},
		{"/public/../admin", "admin", "/admin"},
		{"/public/%2e%2e/admin", "admin", "/admin"},
		{"/public/%2E%2E/admin", "admin", "/admin"},
		{"/public/.%2e/admin", "admin", "/admin"},
		{"/public/./../admin/x", "admin", "/admin/x"},
		{"/./admin", "admin", "/admin"},
		{"//admin", "admin", "/admin"},
		{"///admin//x", "admin", "/admin/x"},
		{"/public//../admin", "admin", "/admin"},
		{"/%61dmin", "admin", "/admin"},
		{"/../../admin", "admin", "/admin"},
		{"/admin?next=/../public", "admin", "/admin?next=/../public"},
		{"/a/./b", "public", "/a/b"},
		{"/a//b", "public", "/a/b"},
		{"/a/b/..", "public", "/a/"},
		{"/public/%252e%252e/admin", "public", "/public/%252e%252e/admin"},
		{"/admin%2F", "", ""},
		{"/public%2F..%2Fadmin", "", ""},
		{"/public/..%2fadmin", "", ""},
		{"/public/..%5Cadmin", "", ""},
		{"/public/..%5cadmin", "", ""},
		{`/public\..\admin`, "", ""},
		{"/public/..;/admin", "", ""},
		{"/public/%2e%2e;x/admin", "", ""},
		{"/admin%00", "", ""},
		{"/admin%zz", "", ""},
	} {
		t.Run(strings.ReplaceAll(tc.target, "/", "_"), func(t *testing.T) {
			before := len(ng.Requests())
			get := func(extra string) exchange {
				t.Helper()
				ex := rawExchange(addr, "GET "+tc.target+" HTTP/1.1\r\nHost: app.test\r\nConnection: close\r\n"+extra+"\r\n", 10*time.Second)
				if ex.err != nil || len(ex.responses) != 1 {
					t.Fatalf("exchange: %v, %d responses", ex.err, len(ex.responses))
				}
				return ex
			}
			anon, authed := get(""), get(authz)
			code, body := anon.responses[0].StatusCode, anon.bodies[0]
			switch tc.service {
			case "":
				if code != 400 || authed.responses[0].StatusCode != 400 {
					t.Fatalf("got %d and %d with the password; want 400", code, authed.responses[0].StatusCode)
				}
				if n := len(ng.Requests()); n != before {
					t.Fatalf("a refused path reached the backend: %v", ng.Requests()[before:])
				}
				return
			case "admin":
				if code != 401 {
					t.Fatalf("without the password: %d %q; want 401", code, body)
				}
				code, body = authed.responses[0].StatusCode, authed.bodies[0]
			}
			if code != 200 {
				t.Fatalf("got %d %q; want 200 from %s", code, body, tc.service)
			}
			if got, want := parseEcho(body)["uri"], "/"+tc.service+"-svc"+tc.path; got != want {
				t.Fatalf("the backend received %q; want %q", got, want)
			}
			if tc.service == "admin" && len(ng.Requests()) != before+1 {
				t.Fatalf("the admin backend saw %d requests; want 1 (the one with the password)", len(ng.Requests())-before)
			}
		})
	}
}
