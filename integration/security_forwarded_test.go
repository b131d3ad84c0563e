package integration

import (
	"fmt"
	"net/http"
	"net/http/httptest"
	"path/filepath"
	"sync/atomic"
	"testing"
	"time"
)

// TestForwardedHeaders: only peers in forwardedHeaders.trustedIPs (IPv4-mapped IPv6
// prefixes matching IPv4 peers too) can set X-Forwarded-*, Forwarded or X-Real-Ip; from
// anyone else they are replaced by what wharf sees. Naming a header in Connection never
// strips one that wharf or a middleware sets, forwardAuth's response headers included.
func TestForwardedHeaders(t *testing.T) {
	ng := startNginx(t)
	var authCalls atomic.Int32
	auth := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		authCalls.Add(1)
		w.Header().Set("X-Auth-User", "alice")
	}))
	defer auth.Close()
	dyn := filepath.Join(t.TempDir(), "dynamic.yml")
	writeAtomic(t, dyn, fmt.Sprintf(`
http:
  middlewares:
    auth:
      forwardAuth:
        address: %q
        authResponseHeaders: [X-Auth-User]
  routers:
    app:
      rule: Host(`+"`app.test`"+`)
      service: nginx
    authed:
      rule: Host(`+"`authed.test`"+`)
      middlewares: [auth]
      service: nginx
  services:
%s`, auth.URL, backendYAML("nginx", "http://"+ng.Addr)))
	w := StartWharf(t, fmt.Sprintf(`
entryPoints:
  untrusted:
    address: "127.0.0.1:0"
  trusted4:
    address: "127.0.0.1:0"
    forwardedHeaders:
      trustedIPs: ["127.0.0.0/8"]
  trusted6:
    address: "127.0.0.1:0"
    forwardedHeaders:
      trustedIPs: ["::ffff:127.0.0.0/104"]
  othernet:
    address: "127.0.0.1:0"
    forwardedHeaders:
      trustedIPs: ["10.0.0.0/8", "::1/128"]
providers:
  file:
    filename: %q
api: false
`, dyn))

	spoof := "X-Forwarded-For: 203.0.113.9\r\nX-Real-Ip: 203.0.113.9\r\nForwarded: for=203.0.113.9;proto=https\r\n" +
		"X-Forwarded-Proto: https\r\nX-Forwarded-Host: evil.test\r\n"
	untrusted := map[string]string{"xff": "127.0.0.1", "xrealip": "127.0.0.1", "forwarded": "", "xfproto": "http", "xfhost": "app.test"}
	trusted := map[string]string{"xff": "203.0.113.9, 127.0.0.1", "xrealip": "203.0.113.9", "forwarded": "for=203.0.113.9;proto=https", "xfproto": "https", "xfhost": "evil.test"}
	for _, tc := range []struct {
		ep   string
		want map[string]string
	}{
		{"untrusted", untrusted},
		{"othernet", untrusted},
		{"trusted4", trusted},
		{"trusted6", trusted},
	} {
		t.Run(tc.ep, func(t *testing.T) {
			echo := nginxGet(t, w.Addr(tc.ep), "app.test", spoof)
			for k, v := range tc.want {
				if echo[k] != v {
					t.Errorf("nginx saw %s=%q; want %q", k, echo[k], v)
				}
			}
		})
	}

	t.Run("connection_cannot_strip_what_wharf_sets", func(t *testing.T) {
		echo := nginxGet(t, w.Addr("untrusted"), "app.test", "Connection: X-Forwarded-For, X-Real-Ip, X-Forwarded-Proto, X-Forwarded-Host\r\n")
		for k, v := range map[string]string{"xff": "127.0.0.1", "xrealip": "127.0.0.1", "xfproto": "http", "xfhost": "app.test"} {
			if echo[k] != v {
				t.Errorf("nginx saw %s=%q; want %q", k, echo[k], v)
			}
		}
	})
	t.Run("connection_cannot_strip_forward_auth_headers", func(t *testing.T) {
		before := authCalls.Load()
		echo := nginxGet(t, w.Addr("untrusted"), "authed.test", "Connection: X-Auth-User\r\nX-Auth-User: mallory\r\nX_Auth_User: mallory\r\n")
		if echo["xauthuser"] != "alice" {
			t.Errorf("nginx saw X-Auth-User=%q; want the auth server's alice", echo["xauthuser"])
		}
		if authCalls.Load() != before+1 {
			t.Errorf("the auth server was called %d times; want 1", authCalls.Load()-before)
		}
	})
}

// nginxGet sends GET / to host through wharf with extra raw header lines and returns what
// nginx saw.
func nginxGet(t *testing.T, addr, host, extra string) map[string]string {
	t.Helper()
	ex := rawExchange(addr, "GET / HTTP/1.1\r\nHost: "+host+"\r\n"+extra+"\r\n", 10*time.Second)
	if ex.err != nil || len(ex.responses) == 0 || ex.responses[0].StatusCode != 200 {
		t.Fatalf("exchange: %v %v %q", ex.err, statuses(ex), ex.bodies)
	}
	return parseEcho(ex.bodies[0])
}
