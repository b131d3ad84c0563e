package entrypoints

import (
	"bufio"
	"fmt"
	"net"
	"net/http"
	"net/http/httptest"
	"net/netip"
	"strings"
	"testing"

	"github.com/rs/zerolog"
)

// echoHeaders answers with the headers it received, one per line, sorted by the client.
func echoHeaders() http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		for k, v := range r.Header {
			fmt.Fprintf(w, "%s=%s\n", k, strings.Join(v, ","))
		}
	})
}

func serve(t *testing.T, c Config, h http.Handler) string {
	t.Helper()
	c.Name, c.Address, c.Log = "web", "127.0.0.1:0", zerolog.Nop()
	eps, err := Listen([]Config{c})
	if err != nil {
		t.Fatal(err)
	}
	go eps[0].Serve(h)
	t.Cleanup(func() { _ = eps[0].Shutdown(t.Context()) })
	return eps[0].Addr().String()
}

// raw sends a request as written and returns the status line and the body.
func raw(t *testing.T, addr, req string) (string, string) {
	t.Helper()
	c, err := net.Dial("tcp", addr)
	if err != nil {
		t.Fatal(err)
	}
	defer c.Close()
	if _, err := c.Write([]byte(req)); err != nil {
		t.Fatal(err)
	}
	res, err := http.ReadResponse(bufio.NewReader(c), nil)
	if err != nil {
		t.Fatalf("reading response: %v", err)
	}
	defer res.Body.Close()
	var b strings.Builder
	sc := bufio.NewScanner(res.Body)
	for sc.Scan() {
		b.WriteString(sc.Text() + "\n")
	}
	return res.Status, b.String()
}

func TestGuard(t *testing.T) {
	addr := serve(t, Config{}, echoHeaders())
	for _, tc := range []struct {
		name, req, status string
		has, hasNot       []string
	}{
		{
			name:   "connection_named_headers_removed_on_arrival",
			req:    "GET / HTTP/1.1\r\nHost: a\r\nConnection: X-Secret, keep-alive\r\nX-Secret: 1\r\nX-Keep: 2\r\n\r\n",
			status: "200 OK", has: []string{"X-Keep=2"}, hasNot: []string{"X-Secret", "Connection="},
		},
		{
			name:   "forwarded_headers_from_untrusted_peer_removed",
			req:    "GET / HTTP/1.1\r\nHost: a\r\nX-Forwarded-For: 6.6.6.6\r\nX-Real-Ip: 6.6.6.6\r\nForwarded: for=6.6.6.6\r\nX-Forwarded-Proto: https\r\n\r\n",
			status: "200 OK", hasNot: []string{"X-Forwarded-For", "X-Real-Ip", "Forwarded", "X-Forwarded-Proto"},
		},
		{
			name:   "websocket_upgrade_kept",
			req:    "GET / HTTP/1.1\r\nHost: a\r\nConnection: Upgrade\r\nUpgrade: websocket\r\n\r\n",
			status: "200 OK", has: []string{"Upgrade=websocket", "Connection=Upgrade"},
		},
		{
			name:   "h2c_upgrade_never_passed_on",
			req:    "GET / HTTP/1.1\r\nHost: a\r\nConnection: Upgrade, HTTP2-Settings\r\nUpgrade: h2c\r\nHTTP2-Settings: AAMAAABkAAQCAAAAAAIAAAAA\r\n\r\n",
			status: "200 OK", hasNot: []string{"Upgrade", "Http2-Settings", "Connection"},
		},
		{name: "fragment_in_target_is_400", req: "GET /a#b HTTP/1.1\r\nHost: a\r\n\r\n", status: "400 Bad Request"},
		{name: "connect_is_405", req: "CONNECT example.com:443 HTTP/1.1\r\nHost: example.com:443\r\n\r\n", status: "405 Method Not Allowed"},
		{name: "too_many_header_fields_is_431", req: "GET / HTTP/1.1\r\nHost: a\r\n" + strings.Repeat("X-A: 1\r\n", 101) + "\r\n", status: "431 Request Header Fields Too Large"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			status, body := raw(t, addr, tc.req)
			if status != tc.status {
				t.Fatalf("status %q; want %q (body %q)", status, tc.status, body)
			}
			for _, h := range tc.has {
				if !strings.Contains(body, h) {
					t.Errorf("backend did not get %q; got:\n%s", h, body)
				}
			}
			for _, h := range tc.hasNot {
				if strings.Contains(body, h) {
					t.Errorf("backend got %q; got:\n%s", h, body)
				}
			}
		})
	}
}

func TestTrustedForwardedHeaders(t *testing.T) {
	for _, tc := range []struct {
		name    string
		trusted string
		kept    bool
	}{
		{"ipv4_cidr", "127.0.0.0/8", true},
		{"ipv4_mapped_ipv6_prefix_matches_ipv4_peer", "::ffff:127.0.0.0/104", true},
		{"other_network", "10.0.0.0/8", false},
	} {
		t.Run(tc.name, func(t *testing.T) {
			addr := serve(t, Config{TrustedIPs: []netip.Prefix{netip.MustParsePrefix(tc.trusted)}}, echoHeaders())
			_, body := raw(t, addr, "GET / HTTP/1.1\r\nHost: a\r\nX-Forwarded-For: 203.0.113.7\r\n\r\n")
			if got := strings.Contains(body, "X-Forwarded-For=203.0.113.7"); got != tc.kept {
				t.Errorf("kept = %v; want %v (body %q)", got, tc.kept, body)
			}
		})
	}
}

func TestRedirect(t *testing.T) {
	for _, tc := range []struct {
		name, method, host, target string
		rd                         Redirect
		status                     int
		location                   string
	}{
		{"permanent_get_keeps_path_and_query", "GET", "example.com", "/a/b?x=1", Redirect{Port: "443", Permanent: true}, 301, "https://example.com/a/b?x=1"},
		{"post_keeps_method", "POST", "example.com:8000", "/form", Redirect{Port: "8443", Permanent: true}, 308, "https://example.com:8443/form"},
		{"temporary", "GET", "example.com", "/", Redirect{Port: "443"}, 302, "https://example.com/"},
		{"ipv6_host", "GET", "[::1]:80", "/", Redirect{Port: "443", Permanent: true}, 301, "https://[::1]/"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			rec := httptest.NewRecorder()
			req := httptest.NewRequest(tc.method, tc.target, nil)
			req.Host = tc.host
			tc.rd.serve(rec, req)
			if rec.Code != tc.status || rec.Header().Get("Location") != tc.location {
				t.Errorf("got %d %q; want %d %q", rec.Code, rec.Header().Get("Location"), tc.status, tc.location)
			}
		})
	}
}

func TestIntercept_RunsBeforeRedirect(t *testing.T) {
	c := Config{Redirect: &Redirect{Port: "443", Permanent: true}, Intercept: func(w http.ResponseWriter, r *http.Request) bool {
		if strings.HasPrefix(r.URL.Path, "/.well-known/acme-challenge/") {
			fmt.Fprint(w, "token")
			return true
		}
		return false
	}}
	addr := serve(t, c, echoHeaders())
	if status, body := raw(t, addr, "GET /.well-known/acme-challenge/x HTTP/1.1\r\nHost: a\r\n\r\n"); status != "200 OK" || body != "token\n" {
		t.Errorf("challenge: %q %q", status, body)
	}
	if status, _ := raw(t, addr, "GET /other HTTP/1.1\r\nHost: a\r\n\r\n"); status != "301 Moved Permanently" {
		t.Errorf("other path: %q; want the redirect", status)
	}
}

func TestListenNamesEntrypointWhenPortBusy(t *testing.T) {
	busy, _ := net.Listen("tcp", "127.0.0.1:0")
	defer busy.Close()
	_, err := Listen([]Config{{Name: "ok", Address: "127.0.0.1:0"}, {Name: "web", Address: busy.Addr().String()}})
	if err == nil || !strings.Contains(err.Error(), `entrypoint "web": cannot listen on "`+busy.Addr().String()+`"`) {
		t.Fatalf("err = %v", err)
	}
}
