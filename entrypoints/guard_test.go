package entrypoints

import (
	"bufio"
	"crypto/tls"
	"fmt"
	"io"
	"net"
	"net/http"
	"net/http/httptest"
	"net/http/httputil"
	"net/netip"
	"net/url"
	"strings"
	"sync/atomic"
	"testing"
	"time"
)

func TestGuardRefusesAmbiguousRequests(t *testing.T) {
	addr := serve(t, Config{}, echoHeaders())
	for _, tc := range []struct{ name, req, status string }{
		{"content_length_and_chunked", "POST / HTTP/1.1\r\nHost: a\r\nContent-Length: 4\r\nTransfer-Encoding: chunked\r\n\r\n0\r\n\r\n", "400 Bad Request"},
		{"duplicate_content_length", "POST / HTTP/1.1\r\nHost: a\r\nContent-Length: 1\r\nContent-Length: 1\r\n\r\nx", "400 Bad Request"},
		{"chunked_on_http10", "POST / HTTP/1.0\r\nHost: a\r\nTransfer-Encoding: chunked\r\n\r\n0\r\n\r\n", "400 Bad Request"},
		{"obs_fold", "GET / HTTP/1.1\r\nHost: a\r\nX-A: 1\r\n 2\r\n\r\n", "400 Bad Request"},
		{"bare_lf", "GET / HTTP/1.1\nHost: a\n\n", "400 Bad Request"},
		{"bare_lf_in_chunk", "POST / HTTP/1.1\r\nHost: a\r\nTransfer-Encoding: chunked\r\n\r\n1\nx\r\n0\r\n\r\n", "400 Bad Request"},
		{"asterisk_form_not_options", "GET * HTTP/1.1\r\nHost: a\r\n\r\n", "400 Bad Request"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			c, err := net.Dial("tcp", addr)
			if err != nil {
				t.Fatal(err)
			}
			defer c.Close()
			_ = c.SetDeadline(time.Now().Add(5 * time.Second))
			if _, err := io.WriteString(c, tc.req); err != nil {
				t.Fatal(err)
			}
			br := bufio.NewReader(c)
			res, err := http.ReadResponse(br, nil)
			if err != nil {
				t.Fatal(err)
			}
			_, _ = io.Copy(io.Discard, res.Body)
			if res.Status != tc.status || !res.Close {
				t.Fatalf("got %q close=%v; want %q and the connection closed", res.Status, res.Close, tc.status)
			}
			if _, err := br.ReadByte(); err != io.EOF {
				t.Fatalf("after the answer: %v; want EOF (no second response)", err)
			}
		})
	}
}

func TestUnderscoredHeadersDropped(t *testing.T) {
	addr := serve(t, Config{}, echoHeaders())
	_, body := raw(t, addr, "GET / HTTP/1.1\r\nHost: a\r\nX_Forwarded_For: 6.6.6.6\r\nX_Real_IP: 6.6.6.6\r\nX-Kept: 1\r\n\r\n")
	if strings.Contains(body, "6.6.6.6") || !strings.Contains(body, "X-Kept=1") {
		t.Errorf("backend got:\n%s", body)
	}
}

// TestConnectionCannotStripHeadersSetLater plays forwardAuth: a handler behind the guard
// sets X-Auth-User, then the request is proxied. A client that names that header (and
// X-Forwarded-For) in Connection must not make either disappear on the way to the backend.
func TestConnectionCannotStripHeadersSetLater(t *testing.T) {
	backend := httptest.NewServer(echoHeaders())
	defer backend.Close()
	u, _ := url.Parse(backend.URL)
	proxy := &httputil.ReverseProxy{Rewrite: func(pr *httputil.ProxyRequest) {
		pr.SetURL(u)
		pr.SetXForwarded()
	}}
	auth := http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		r.Header.Set("X-Auth-User", "alice")
		proxy.ServeHTTP(w, r)
	})
	addr := serve(t, Config{}, auth)
	_, body := raw(t, addr, "GET / HTTP/1.1\r\nHost: a\r\nConnection: X-Auth-User, X-Forwarded-For, keep-alive\r\n\r\n")
	for _, want := range []string{"X-Auth-User=alice", "X-Forwarded-For=127.0.0.1"} {
		if !strings.Contains(body, want) {
			t.Errorf("backend did not get %q; got:\n%s", want, body)
		}
	}
}

// TestLoopGuard: a route whose server is the entrypoint itself is cut after one extra hop
// with 508, instead of proxying to itself until something runs out.
func TestLoopGuard(t *testing.T) {
	var hops atomic.Int32
	var self string
	proxy := &httputil.ReverseProxy{Rewrite: func(pr *httputil.ProxyRequest) {
		pr.SetURL(&url.URL{Scheme: "http", Host: self})
	}}
	self = serve(t, Config{}, http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		hops.Add(1)
		proxy.ServeHTTP(w, r)
	}))
	c := &http.Client{Timeout: 10 * time.Second}
	res, err := c.Get("http://" + self + "/")
	if err != nil {
		t.Fatal(err)
	}
	res.Body.Close()
	if res.StatusCode != http.StatusLoopDetected || hops.Load() != 2 {
		t.Errorf("got %d after %d hops; want 508 after 2", res.StatusCode, hops.Load())
	}

	// Two separate wharfs in a chain are not a loop.
	back := serve(t, Config{}, echoHeaders())
	front := serve(t, Config{}, httputil.NewSingleHostReverseProxy(&url.URL{Scheme: "http", Host: back}))
	if status, _ := raw(t, front, "GET / HTTP/1.1\r\nHost: a\r\n\r\n"); status != "200 OK" {
		t.Errorf("chain of two entrypoints: %q", status)
	}
}

// TestClientBodyFailuresAreTheClients: when the request body fails to arrive, the proxy's
// failed exchange with the backend is answered as the client's fault, and the connection
// closed.
func TestClientBodyFailuresAreTheClients(t *testing.T) {
	backend := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		_, err := io.Copy(io.Discard, r.Body)
		if err != nil {
			return
		}
		fmt.Fprint(w, "read it all")
	}))
	defer backend.Close()
	u, _ := url.Parse(backend.URL)
	addr := serve(t, Config{ReadTimeout: 500 * time.Millisecond}, httputil.NewSingleHostReverseProxy(u))
	for _, tc := range []struct {
		name, head, later string
		status            string
	}{
		{"body_too_slow_is_408", "POST / HTTP/1.1\r\nHost: a\r\nContent-Length: 10\r\n\r\nabc", "", "408 Request Timeout"},
		{"malformed_chunk_after_the_head_is_400", "POST / HTTP/1.1\r\nHost: a\r\nTransfer-Encoding: chunked\r\n\r\n3\r\nabc\r\n", "2\nxy\r\n0\r\n\r\n", "400 Bad Request"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			c, err := net.Dial("tcp", addr)
			if err != nil {
				t.Fatal(err)
			}
			defer c.Close()
			_ = c.SetDeadline(time.Now().Add(10 * time.Second))
			io.WriteString(c, tc.head)
			if tc.later != "" {
				time.Sleep(50 * time.Millisecond) // a separate read: the head is served first
				io.WriteString(c, tc.later)
			}
			start := time.Now()
			br := bufio.NewReader(c)
			res, err := http.ReadResponse(br, nil)
			if err != nil {
				t.Fatal(err)
			}
			body, _ := io.ReadAll(res.Body)
			if res.Status != tc.status || !res.Close {
				t.Fatalf("got %q %q close=%v; want %q and close", res.Status, body, res.Close, tc.status)
			}
			if time.Since(start) > 5*time.Second {
				t.Errorf("answered after %v", time.Since(start))
			}
		})
	}
}

// TestTLSHandshakeThatNeverCompletesIsClosed: a client that starts a handshake and stops is
// closed at the read header timeout.
func TestTLSHandshakeThatNeverCompletesIsClosed(t *testing.T) {
	addr := tlsEntrypoint(t, Config{}) // read header timeout 300ms
	c, err := net.Dial("tcp", addr)
	if err != nil {
		t.Fatal(err)
	}
	defer c.Close()
	start := time.Now()
	c.Write([]byte{0x16, 0x03, 0x01, 0x02, 0x00, 0x01}) // a record header and one byte of a ClientHello
	_ = c.SetReadDeadline(time.Now().Add(10 * time.Second))
	_, err = c.Read(make([]byte, 1))
	if ne, ok := err.(net.Error); ok && ne.Timeout() {
		t.Fatalf("still open after 10s")
	}
	if d := time.Since(start); d > 5*time.Second {
		t.Errorf("closed after %v; want about 300ms", d)
	}
}

// TestHTTP1OverTLSIsChecked: HTTP/1 over TLS has its framing checked like plain HTTP, and
// requests still know they came over TLS.
func TestHTTP1OverTLSIsChecked(t *testing.T) {
	addr := tlsEntrypoint(t, Config{})
	dial := func() *tls.Conn {
		c, err := tls.Dial("tcp", addr, &tls.Config{InsecureSkipVerify: true, NextProtos: []string{"http/1.1"}})
		if err != nil {
			t.Fatal(err)
		}
		_ = c.SetDeadline(time.Now().Add(5 * time.Second))
		return c
	}
	c := dial()
	io.WriteString(c, "GET / HTTP/1.1\r\nHost: a\r\n\r\n")
	res, err := http.ReadResponse(bufio.NewReader(c), nil)
	if err != nil {
		t.Fatal(err)
	}
	body, _ := io.ReadAll(res.Body)
	c.Close()
	if string(body) != "HTTP/1.1 tls=true" {
		t.Errorf("got %q; want the request to know it came over TLS", body)
	}
	c = dial()
	defer c.Close()
	io.WriteString(c, "POST / HTTP/1.1\r\nHost: a\r\nContent-Length: 4\r\nTransfer-Encoding: chunked\r\n\r\n0\r\n\r\n")
	res, err = http.ReadResponse(bufio.NewReader(c), nil)
	if err != nil {
		t.Fatal(err)
	}
	res.Body.Close()
	if res.StatusCode != http.StatusBadRequest {
		t.Errorf("Content-Length and chunked over TLS: %d; want 400", res.StatusCode)
	}
}

// TestSlowReaderIsCut: a client that stops reading a large response is disconnected when
// a write makes no progress for the stall timeout.
func TestSlowReaderIsCut(t *testing.T) {
	werr := make(chan error, 1)
	chunk := make([]byte, 64<<10)
	addr := serve(t, Config{WriteStallTimeout: 300 * time.Millisecond}, http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		for i := 0; i < 4096; i++ { // at most 256 MiB: far more than socket buffers hold
			if _, err := w.Write(chunk); err != nil {
				werr <- err
				return
			}
		}
		werr <- nil
	}))
	c, err := net.Dial("tcp", addr)
	if err != nil {
		t.Fatal(err)
	}
	defer c.Close()
	io.WriteString(c, "GET / HTTP/1.1\r\nHost: a\r\n\r\n")
	select {
	case err := <-werr:
		if err == nil {
			t.Fatal("the whole response was written to a client that reads nothing")
		}
	case <-time.After(15 * time.Second):
		t.Fatal("a client that reads nothing kept the handler writing for 15s")
	}
}

// TestPriorKnowledgeHTTP2StillServed: the framing check steps aside for HTTP/2 with prior
// knowledge on a plain port (gRPC without TLS).
func TestPriorKnowledgeHTTP2StillServed(t *testing.T) {
	addr := serve(t, Config{}, http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		body, _ := io.ReadAll(r.Body)
		fmt.Fprintf(w, "%s %s", r.Proto, body)
	}))
	tr := &http.Transport{Protocols: new(http.Protocols)}
	tr.Protocols.SetUnencryptedHTTP2(true)
	defer tr.CloseIdleConnections()
	for i := 0; i < 2; i++ {
		res, err := (&http.Client{Transport: tr, Timeout: 5 * time.Second}).Post("http://"+addr+"/", "text/plain", strings.NewReader("ping"))
		if err != nil {
			t.Fatal(err)
		}
		b, _ := io.ReadAll(res.Body)
		res.Body.Close()
		if res.StatusCode != 200 || string(b) != "HTTP/2.0 ping" {
			t.Fatalf("request %d: %d %q", i, res.StatusCode, b)
		}
	}
}

// TestExpectContinueRefusedByBackend: a backend that refuses an "Expect: 100-continue"
// upload (417) is answered at once; the body the client was told not to send is not
// waited for.
func TestExpectContinueRefusedByBackend(t *testing.T) {
	backend := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		w.Header().Set("Connection", "close")
		w.WriteHeader(http.StatusExpectationFailed)
	}))
	defer backend.Close()
	u, _ := url.Parse(backend.URL)
	addr := serve(t, Config{}, httputil.NewSingleHostReverseProxy(u))
	c, err := net.Dial("tcp", addr)
	if err != nil {
		t.Fatal(err)
	}
	defer c.Close()
	_ = c.SetDeadline(time.Now().Add(5 * time.Second))
	io.WriteString(c, "POST / HTTP/1.1\r\nHost: a\r\nContent-Length: 5\r\nExpect: 100-continue\r\n\r\n")
	res, err := http.ReadResponse(bufio.NewReader(c), nil)
	if err != nil {
		t.Fatal(err)
	}
	if res.StatusCode != http.StatusExpectationFailed {
		t.Errorf("got %d; want 417", res.StatusCode)
	}
}

// TestPeerTrustedMappedAddresses: an IPv4 peer seen through a dual-stack socket
// ([::ffff:a.b.c.d]) matches IPv4 prefixes, and IPv4-mapped prefixes match IPv4 peers.
func TestPeerTrustedMappedAddresses(t *testing.T) {
	v4 := canonicalPrefixes([]netip.Prefix{netip.MustParsePrefix("10.0.0.0/8")})
	mapped := canonicalPrefixes([]netip.Prefix{netip.MustParsePrefix("::ffff:10.0.0.0/104")})
	for _, tc := range []struct {
		remote  string
		trusted []netip.Prefix
		want    bool
	}{
		{"10.1.2.3:5000", v4, true},
		{"[::ffff:10.1.2.3]:5000", v4, true},
		{"10.1.2.3:5000", mapped, true},
		{"[::ffff:10.1.2.3]:5000", mapped, true},
		{"[::ffff:11.1.2.3]:5000", v4, false},
		{"[2001:db8::1]:5000", v4, false},
		{"garbage", v4, false},
	} {
		if got := peerTrusted(tc.remote, tc.trusted); got != tc.want {
			t.Errorf("peerTrusted(%q, %v) = %v; want %v", tc.remote, tc.trusted, got, tc.want)
		}
	}
}

// TestRapidResetThreshold: a connection is ended once, when it has carried resetsMinStreams
// streams and at least half were cancelled early; fewer, or fewer early, never end it.
func TestRapidResetThreshold(t *testing.T) {
	var rs resets
	for i := 1; i < resetsMinStreams; i++ {
		if rs.stream(true) {
			t.Fatalf("ended after %d streams; want %d first", i, resetsMinStreams)
		}
	}
	if !rs.stream(true) {
		t.Fatalf("not ended after %d early resets", resetsMinStreams)
	}
	if rs.stream(true) {
		t.Fatal("ended twice")
	}
	var mixed resets
	for i := 0; i < 10*resetsMinStreams; i++ {
		if mixed.stream(i%3 == 0) { // a third of the streams cancelled early: a busy, honest client
			t.Fatalf("ended after %d streams with a third cancelled", i+1)
		}
	}
}

// TestOptionsAsteriskKeepsRequestCount: net/http answers "OPTIONS *" itself unless told
// not to; if the guard did not see it, its count of the connection's requests would fall
// one behind the framing check's, and the request the check refused would be served.
func TestOptionsAsteriskKeepsRequestCount(t *testing.T) {
	addr := serve(t, Config{}, echoHeaders())
	c, err := net.Dial("tcp", addr)
	if err != nil {
		t.Fatal(err)
	}
	defer c.Close()
	_ = c.SetDeadline(time.Now().Add(5 * time.Second))
	br := bufio.NewReader(c)
	for i, tc := range []struct{ req, status string }{
		{"OPTIONS * HTTP/1.1\r\nHost: a\r\n\r\n", "200 OK"},
		{"POST / HTTP/1.1\r\nHost: a\r\nContent-Length: 4\r\nTransfer-Encoding: chunked\r\n\r\n0\r\n\r\n", "400 Bad Request"},
	} {
		if _, err := io.WriteString(c, tc.req); err != nil {
			t.Fatal(err)
		}
		res, err := http.ReadResponse(br, nil)
		if err != nil {
			t.Fatalf("request %d: %v", i, err)
		}
		_, _ = io.Copy(io.Discard, res.Body)
		if res.Status != tc.status {
			t.Fatalf("request %d: got %q; want %q", i, res.Status, tc.status)
		}
	}
}
