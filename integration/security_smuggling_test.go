package integration

import (
	"fmt"
	"io"
	"net/http"
	"net/http/httptest"
	"strings"
	"sync/atomic"
	"testing"
	"time"
)

// smuggleCase is one raw request. The request target is /case-<name> unless the case writes
// its own, so nginx's access log says whether wharf passed the request on.
type smuggleCase struct {
	name      string
	req       string // with {T} for the target
	status    int
	forwarded bool              // nginx must have seen it (else it must not have)
	responses int               // answers to the request itself; 0 means 1
	echo      map[string]string // nginx's view of the forwarded request, key by key
	notEcho   map[string]string // values nginx must not have seen (substring)
}

const hostA = "Host: a.test\r\n"

// smuggleCorpus is the raw-socket corpus of issue #10. Every case asserts the exact status,
// that one request gets one answer (a probe sent afterwards gets its own), and whether the
// request reached the lenient backend.
var smuggleCorpus = []smuggleCase{
	// Content-Length and Transfer-Encoding
	{name: "cl_and_te", req: "POST {T} HTTP/1.1\r\n" + hostA + "Content-Length: 4\r\nTransfer-Encoding: chunked\r\n\r\n0\r\n\r\n", status: 400},
	{name: "te_and_cl", req: "POST {T} HTTP/1.1\r\n" + hostA + "Transfer-Encoding: chunked\r\nContent-Length: 4\r\n\r\n0\r\n\r\n", status: 400},
	{name: "cl_te_smuggled_request", req: "POST {T} HTTP/1.1\r\n" + hostA + "Content-Length: 50\r\nTransfer-Encoding: chunked\r\n\r\n0\r\n\r\nGET /smuggled HTTP/1.1\r\n" + hostA + "\r\n", status: 400},
	{name: "cl_duplicate_different", req: "POST {T} HTTP/1.1\r\n" + hostA + "Content-Length: 1\r\nContent-Length: 2\r\n\r\nxy", status: 400},
	{name: "cl_duplicate_same", req: "POST {T} HTTP/1.1\r\n" + hostA + "Content-Length: 2\r\nContent-Length: 2\r\n\r\nxy", status: 400},
	{name: "cl_list", req: "POST {T} HTTP/1.1\r\n" + hostA + "Content-Length: 2, 2\r\n\r\nxy", status: 400},
	{name: "cl_plus_sign", req: "POST {T} HTTP/1.1\r\n" + hostA + "Content-Length: +2\r\n\r\nxy", status: 400},
	{name: "cl_negative", req: "POST {T} HTTP/1.1\r\n" + hostA + "Content-Length: -1\r\n\r\nxy", status: 400},
	{name: "cl_not_a_number", req: "POST {T} HTTP/1.1\r\n" + hostA + "Content-Length: 2x\r\n\r\nxy", status: 400},
	{name: "te_unknown_coding", req: "POST {T} HTTP/1.1\r\n" + hostA + "Transfer-Encoding: xchunked\r\n\r\n0\r\n\r\n", status: 501},
	{name: "te_chunked_identity", req: "POST {T} HTTP/1.1\r\n" + hostA + "Transfer-Encoding: chunked, identity\r\n\r\n0\r\n\r\n", status: 501},
	{name: "te_twice", req: "POST {T} HTTP/1.1\r\n" + hostA + "Transfer-Encoding: chunked\r\nTransfer-Encoding: chunked\r\n\r\n0\r\n\r\n", status: 501},
	{name: "te_on_http10", req: "POST {T} HTTP/1.0\r\n" + hostA + "Transfer-Encoding: chunked\r\n\r\n0\r\n\r\n", status: 400},
	{name: "te_space_before_colon", req: "POST {T} HTTP/1.1\r\n" + hostA + "Transfer-Encoding : chunked\r\n\r\n0\r\n\r\n", status: 400},
	{name: "valid_chunked", req: "POST {T} HTTP/1.1\r\n" + hostA + "Transfer-Encoding: chunked\r\n\r\n5;ext=1\r\nhello\r\n0\r\n\r\n", status: 200, forwarded: true},
	{name: "valid_pipelined_pair", req: "POST {T} HTTP/1.1\r\n" + hostA + "Content-Length: 3\r\n\r\nabcGET {T} HTTP/1.1\r\n" + hostA + "\r\n", status: 200, forwarded: true, responses: 2},
	// Line endings, folding, control characters
	{name: "obs_fold", req: "GET {T} HTTP/1.1\r\n" + hostA + "X-A: 1\r\n 2\r\n\r\n", status: 400},
	{name: "obs_fold_hiding_te", req: "POST {T} HTTP/1.1\r\n" + hostA + "X-A: 1\r\n Transfer-Encoding: chunked\r\nContent-Length: 3\r\n\r\nabc", status: 400},
	{name: "bare_lf_in_headers", req: "GET {T} HTTP/1.1\r\n" + hostA + "X-A: 1\nX-B: 2\r\n\r\n", status: 400},
	{name: "bare_lf_request_line", req: "GET {T} HTTP/1.1\n" + hostA + "\r\n", status: 400},
	{name: "bare_cr_in_header_value", req: "GET {T} HTTP/1.1\r\n" + hostA + "X-A: 1\r2\r\n\r\n", status: 400},
	{name: "bare_cr_line_ends", req: "GET {T} HTTP/1.1\r" + "Host: a.test\r\r", status: 400},
	{name: "bare_lf_chunk_size", req: "POST {T} HTTP/1.1\r\n" + hostA + "Transfer-Encoding: chunked\r\n\r\n3\nabc\r\n0\r\n\r\n", status: 400},
	{name: "bare_cr_chunk_extension", req: "POST {T} HTTP/1.1\r\n" + hostA + "Transfer-Encoding: chunked\r\n\r\n3;a\rb\r\nabc\r\n0\r\n\r\n", status: 400},
	{name: "bare_lf_after_chunk_data", req: "POST {T} HTTP/1.1\r\n" + hostA + "Transfer-Encoding: chunked\r\n\r\n3\r\nabc\n0\r\n\r\n", status: 400},
	{name: "bare_lf_last_chunk_smuggles", req: "POST {T} HTTP/1.1\r\n" + hostA + "Transfer-Encoding: chunked\r\n\r\n0\n\r\nGET /smuggled HTTP/1.1\r\n" + hostA + "\r\n", status: 400},
	{name: "chunk_longer_than_size", req: "POST {T} HTTP/1.1\r\n" + hostA + "Transfer-Encoding: chunked\r\n\r\n2\r\nabc\r\n0\r\n\r\n", status: 400},
	{name: "chunk_size_overflow", req: "POST {T} HTTP/1.1\r\n" + hostA + "Transfer-Encoding: chunked\r\n\r\n10000000000000001\r\nabc\r\n0\r\n\r\n", status: 400},
	{name: "chunk_size_not_hex", req: "POST {T} HTTP/1.1\r\n" + hostA + "Transfer-Encoding: chunked\r\n\r\n0x3\r\nabc\r\n0\r\n\r\n", status: 400},
	// The bad chunk line comes after the first 4 KiB, so the head is passed on before it is
	// seen. nginx's `return` answers without reading a body, so this one goes to a backend
	// that reads the body before answering, as most do; it never gets it whole.
	{name: "chunk_extension_too_long", req: "POST {T} HTTP/1.1\r\nHost: reader.test\r\nTransfer-Encoding: chunked\r\n\r\n3;" + strings.Repeat("e", 5000) + "\r\nabc\r\n0\r\n\r\n", status: 400},
	{name: "nul_in_header_value", req: "GET {T} HTTP/1.1\r\n" + hostA + "X-A: 1\x002\r\n\r\n", status: 400},
	{name: "control_char_in_header_value", req: "GET {T} HTTP/1.1\r\n" + hostA + "X-A: 1\x012\r\n\r\n", status: 400},
	{name: "del_in_header_value", req: "GET {T} HTTP/1.1\r\n" + hostA + "X-A: 1\x7f2\r\n\r\n", status: 400},
	{name: "whitespace_before_colon", req: "GET {T} HTTP/1.1\r\n" + hostA + "X-A : 1\r\n\r\n", status: 400},
	{name: "tab_separated_request_line", req: "GET\t{T}\tHTTP/1.1\r\n" + hostA + "\r\n", status: 400},
	// Request targets and versions
	{name: "absolute_form_target_routes_by_its_host", req: "GET http://b.test{T} HTTP/1.1\r\n" + hostA + "\r\n", status: 200, forwarded: true,
		echo: map[string]string{"host": "b.test"}},
	{name: "fragment_in_target", req: "GET {T}#frag HTTP/1.1\r\n" + hostA + "\r\n", status: 400},
	{name: "asterisk_form_get", req: "GET * HTTP/1.1\r\n" + hostA + "\r\n", status: 400},
	{name: "connect", req: "CONNECT {T} HTTP/1.1\r\n" + hostA + "\r\n", status: 405},
	{name: "connect_authority_form", req: "CONNECT evil.test:443 HTTP/1.1\r\nHost: evil.test:443\r\n\r\n", status: 405},
	{name: "http09", req: "GET {T}\r\n\r\n", status: 400},
	{name: "http_1_2", req: "GET {T} HTTP/1.2\r\n" + hostA + "\r\n", status: 400},
	{name: "http_2_0_request_line", req: "GET {T} HTTP/2.0\r\n" + hostA + "\r\n", status: 505},
	{name: "missing_host", req: "GET {T} HTTP/1.1\r\n\r\n", status: 400},
	{name: "two_hosts", req: "GET {T} HTTP/1.1\r\n" + hostA + "Host: b.test\r\n\r\n", status: 400},
	// Upgrades and hop-by-hop
	{name: "upgrade_h2c_not_forwarded", req: "GET {T} HTTP/1.1\r\n" + hostA + "Connection: Upgrade, HTTP2-Settings\r\nUpgrade: h2c\r\nHTTP2-Settings: AAMAAABkAAQCAAAAAAIAAAAA\r\n\r\n",
		status: 200, forwarded: true, echo: map[string]string{"upgrade": "", "http2settings": "", "connection": ""}},
	{name: "connection_cannot_strip_forwarded_headers", req: "GET {T} HTTP/1.1\r\n" + hostA + "Connection: X-Forwarded-For, X-Real-Ip, X-Forwarded-Proto\r\n\r\n",
		status: 200, forwarded: true, echo: map[string]string{"xff": "127.0.0.1", "xrealip": "127.0.0.1", "xfproto": "http"}},
	// Sizes and names
	{name: "too_many_header_fields", req: "GET {T} HTTP/1.1\r\n" + hostA + strings.Repeat("X-A: 1\r\n", 101) + "\r\n", status: 431},
	{name: "oversized_header", req: "GET {T} HTTP/1.1\r\n" + hostA + "X-A: " + strings.Repeat("a", 70<<10) + "\r\n\r\n", status: 431},
	{name: "oversized_target", req: "GET {T}?" + strings.Repeat("a", 70<<10) + " HTTP/1.1\r\n" + hostA + "\r\n", status: 431},
	{name: "underscore_header_dropped", req: "GET {T} HTTP/1.1\r\n" + hostA + "X_Forwarded_For: 6.6.6.6\r\nX_Auth_User: admin\r\n\r\n",
		status: 200, forwarded: true, notEcho: map[string]string{"xff": "6.6.6.6", "xauthuser": "admin"}},
}

// TestSmugglingCorpus sends every case on its own connection to wharf, with nginx (as
// lenient as it gets) behind it.
func TestSmugglingCorpus(t *testing.T) {
	if n := len(smuggleCorpus); n < 30 {
		t.Fatalf("the corpus has %d cases; issue #10 asks for at least 30", n)
	}
	ng := startNginx(t)
	reader := startBodyReader(t)
	w := startSecWharf(t, `
transport:
  respondingTimeouts:
    readTimeout: 2s
    readHeaderTimeout: 2s`, fmt.Sprintf(`
http:
  routers:
    all:
      rule: PathPrefix(`+"`/`"+`)
      service: nginx
    b:
      rule: Host(`+"`b.test`"+`)
      service: nginx
    reader:
      rule: Host(`+"`reader.test`"+`)
      service: reader
  services:
%s%s`, backendYAML("nginx", "http://"+ng.Addr), backendYAML("reader", reader.URL)))
	addr := w.Addr("web")
	for _, tc := range smuggleCorpus {
		t.Run(tc.name, func(t *testing.T) {
			target := "/case-" + tc.name
			req := strings.ReplaceAll(tc.req, "{T}", target)
			start := time.Now()
			ex := rawExchange(addr, req, 10*time.Second)
			if ex.err != nil {
				t.Fatalf("exchange: %v (after %d responses)", ex.err, len(ex.responses))
			}
			if time.Since(start) > 8*time.Second {
				t.Errorf("took %v: something waited for a timeout", time.Since(start))
			}
			checkSmuggle(t, tc, ex, target)
			seen := 0
			for _, l := range ng.Requests() {
				if strings.Contains(l, "/smuggled") {
					t.Errorf("nginx received a smuggled request: %q", l)
				}
				if strings.Contains(l, target+" ") || strings.Contains(l, target+"?") {
					seen++
				}
			}
			if want := map[bool]int{true: max(tc.responses, 1), false: 0}[tc.forwarded]; seen != want {
				t.Errorf("nginx saw the request %d times; want %d", seen, want)
			}
			if n := reader.complete.Load(); n != 0 {
				t.Errorf("the body-reading backend got %d complete bodies; want none", n)
			}
		})
	}
}

func checkSmuggle(t *testing.T, tc smuggleCase, ex exchange, target string) {
	t.Helper()
	want := max(tc.responses, 1)
	if len(ex.responses) == 0 {
		t.Fatalf("no response (closed=%v)", ex.closed)
	}
	if got := ex.responses[0].StatusCode; got != tc.status {
		t.Fatalf("status %d %q; want %d", got, ex.bodies[0], tc.status)
	}
	// Everything after the case's own answers must be the probe's answer, and nothing else.
	extra := ex.responses[min(want, len(ex.responses)):]
	switch {
	case len(ex.responses) < want:
		t.Errorf("%d responses; want %d", len(ex.responses), want)
	case len(extra) > 1:
		t.Errorf("%d responses for %d request(s) and a probe: %v", len(ex.responses), want, statuses(ex))
	case len(extra) == 1 && !strings.Contains(ex.bodies[want], "request=GET /probe "):
		t.Errorf("the answer after the case's is not the probe's: %d %q", extra[0].StatusCode, ex.bodies[want])
	}
	if tc.status >= 400 && !ex.closed {
		t.Errorf("connection left open after %d", tc.status)
	}
	if tc.forwarded {
		echo := parseEcho(ex.bodies[0])
		if !strings.HasPrefix(echo["request"], "GET "+target) && !strings.HasPrefix(echo["request"], "POST "+target) {
			t.Errorf("nginx saw request %q; want the path %s", echo["request"], target)
		}
		for k, v := range tc.echo {
			if echo[k] != v {
				t.Errorf("nginx saw %s=%q; want %q", k, echo[k], v)
			}
		}
		for k, v := range tc.notEcho {
			if strings.Contains(echo[k], v) {
				t.Errorf("nginx saw %s=%q; it must not contain %q", k, echo[k], v)
			}
		}
	}
}

func statuses(ex exchange) []int {
	out := make([]int, len(ex.responses))
	for i, r := range ex.responses {
		out[i] = r.StatusCode
	}
	return out
}

// bodyReader is a backend that reads the whole request body before it answers, and counts
// the bodies it got whole.
type bodyReader struct {
	*httptest.Server
	complete atomic.Int32
}

func startBodyReader(t *testing.T) *bodyReader {
	t.Helper()
	b := &bodyReader{}
	b.Server = httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if _, err := io.Copy(io.Discard, r.Body); err != nil {
			return
		}
		b.complete.Add(1)
		io.WriteString(w, "read it all")
	}))
	t.Cleanup(b.Close)
	return b
}
