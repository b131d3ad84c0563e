package upstream

import (
	"bufio"
	"context"
	"errors"
	"io"
	"net"
	"net/http"
	"net/http/httptest"
	"net/http/httptrace"
	"net/textproto"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"
)

// rawBackend is a backend written on sockets, for what a well-behaved net/http server never
// does: close a kept-alive connection without saying so, stall, send odd heads. handle is
// called for every request read on a connection, with the request's index on it; it writes
// the answer itself and returns false to close the connection.
type rawBackend struct {
	ln     net.Listener
	conns  atomic.Int32 // connections accepted
	closed atomic.Int32 // connections that ended
	wg     sync.WaitGroup
}

func newRawBackend(t *testing.T, handle func(w *bufio.Writer, req *http.Request, n int) bool) *rawBackend {
	t.Helper()
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	b := &rawBackend{ln: ln}
	b.wg.Add(1)
	go func() {
		defer b.wg.Done()
		for {
			c, err := ln.Accept()
			if err != nil {
				return
			}
			b.conns.Add(1)
			b.wg.Add(1)
			go func() {
				defer b.wg.Done()
				defer b.closed.Add(1)
				defer c.Close()
				br, bw := bufio.NewReader(c), bufio.NewWriter(c)
				for n := 0; ; n++ {
					req, err := http.ReadRequest(br)
					if err != nil {
						return
					}
					keep := handle(bw, req, n)
					_ = bw.Flush()
					if !keep {
						return
					}
				}
			}()
		}
	}()
	t.Cleanup(func() { _ = ln.Close(); b.wg.Wait() })
	return b
}

func (b *rawBackend) url() string { return "http://" + b.ln.Addr().String() }

func ok200(w *bufio.Writer, body string) {
	_, _ = io.WriteString(w, "HTTP/1.1 200 OK\r\nContent-Length: "+itoa(len(body))+"\r\n\r\n"+body)
}

func itoa(n int) string { return strconv.Itoa(n) }

func h1For(t *testing.T, cfg TransportConfig) *Transport {
	t.Helper()
	tr, err := NewTransports().Get(cfg)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(tr.CloseIdleConnections)
	return tr
}

func get(t *testing.T, rt http.RoundTripper, method, url string) (*http.Response, string, error) {
	t.Helper()
	req, err := http.NewRequest(method, url, nil)
	if err != nil {
		t.Fatal(err)
	}
	res, err := rt.RoundTrip(req)
	if err != nil {
		return nil, "", err
	}
	body, err := io.ReadAll(res.Body)
	_ = res.Body.Close()
	return res, string(body), err
}

func TestH1KeepsConnectionsAlive(t *testing.T) {
	be := newRawBackend(t, func(w *bufio.Writer, req *http.Request, n int) bool {
		ok200(w, "hi "+req.URL.Path)
		return true
	})
	tr := h1For(t, TransportConfig{})
	for i := 0; i < 50; i++ {
		_, body, err := get(t, tr, "GET", be.url()+"/x")
		if err != nil || body != "hi /x" {
			t.Fatalf("request %d: %q, %v", i, body, err)
		}
	}
	if n := be.conns.Load(); n != 1 {
		t.Errorf("50 sequential requests took %d connections; want 1", n)
	}
}

// A backend that closes a kept-alive connection when it likes (an idle timeout, a restart)
// must cost no request, whatever its method: the close is seen before the connection is used.
func TestH1SkipsConnectionsTheBackendClosed(t *testing.T) {
	be := newRawBackend(t, func(w *bufio.Writer, req *http.Request, n int) bool {
		ok200(w, "ok")
		return false // close after every answer, without "Connection: close"
	})
	tr := h1For(t, TransportConfig{})
	for i, method := range []string{"GET", "POST", "DELETE", "POST"} {
		_, body, err := get(t, tr, method, be.url())
		if err != nil || body != "ok" {
			t.Fatalf("request %d (%s): %q, %v", i, method, body, err)
		}
		waitFor(t, 5*time.Second, "be.closed.Load() == int32(i+1)", func() bool { return be.closed.Load() == int32(i+1) })
	}
}

// The close can race the request: the backend reads it and closes without an answer. A
// replayable request goes once more on a new connection; any other gets the error, because
// the backend may have acted on it.
func TestH1RetriesReplayableRequestsOnStaleConnections(t *testing.T) {
	be := newRawBackend(t, func(w *bufio.Writer, req *http.Request, n int) bool {
		if n == 1 {
			return false // the second request on a connection: read, then closed unanswered
		}
		ok200(w, "ok")
		return true
	})
	tr := h1For(t, TransportConfig{})
	if _, _, err := get(t, tr, "GET", be.url()); err != nil {
		t.Fatal(err)
	}
	if _, body, err := get(t, tr, "GET", be.url()); err != nil || body != "ok" {
		t.Fatalf("GET on a connection closed under it: %q, %v; want it sent again", body, err)
	}
	if n := be.conns.Load(); n != 2 {
		t.Errorf("connections = %d; want 2 (the stale one and the retry's)", n)
	}
	// The retry's connection now holds one answered request: the next one on it is dropped.
	if _, _, err := get(t, tr, "POST", be.url()); err == nil {
		t.Fatal("a POST whose connection closed under it succeeded; it must not be sent twice")
	}
	if n := be.conns.Load(); n != 2 {
		t.Errorf("connections = %d after the POST; want 2: a POST is never sent again", n)
	}
}

func TestH1ResponseHeaderTimeout(t *testing.T) {
	release := make(chan struct{})
	be := newRawBackend(t, func(w *bufio.Writer, req *http.Request, n int) bool {
		<-release
		return false
	})
	defer close(release)
	tr := h1For(t, TransportConfig{ResponseHeaderTimeout: 100 * time.Millisecond})
	start := time.Now()
	_, _, err := get(t, tr, "GET", be.url())
	if err == nil {
		t.Fatal("a backend that never answered gave a response")
	}
	req := httptest.NewRequest("GET", "/", nil)
	if s := ErrorStatus(req, err); s != http.StatusGatewayTimeout {
		t.Errorf("status for %v = %d; want 504", err, s)
	}
	if d := time.Since(start); d > 5*time.Second {
		t.Errorf("gave up after %v; the timeout is 100ms", d)
	}
}

func TestH1CancelClosesTheConnection(t *testing.T) {
	release := make(chan struct{})
	be := newRawBackend(t, func(w *bufio.Writer, req *http.Request, n int) bool {
		<-release
		return false
	})
	defer close(release)
	tr := h1For(t, TransportConfig{})
	ctx, cancel := context.WithCancel(context.Background())
	req, _ := http.NewRequestWithContext(ctx, "GET", be.url(), nil)
	errc := make(chan error, 1)
	go func() {
		_, err := tr.RoundTrip(req)
		errc <- err
	}()
	waitFor(t, 5*time.Second, "be.conns.Load() == 1", func() bool { return be.conns.Load() == 1 })
	cancel()
	select {
	case err := <-errc:
		if !errors.Is(err, context.Canceled) {
			t.Errorf("err = %v; want context.Canceled", err)
		}
		if s := ErrorStatus(req, err); s != StatusClientClosedRequest {
			t.Errorf("status = %d; want 499", s)
		}
	case <-time.After(10 * time.Second):
		t.Fatal("RoundTrip did not return after its context was cancelled")
	}
}

func TestH1InformationalResponsesAndTrailers(t *testing.T) {
	be := newRawBackend(t, func(w *bufio.Writer, req *http.Request, n int) bool {
		_, _ = io.WriteString(w, "HTTP/1.1 103 Early Hints\r\nLink: </app.css>; rel=preload\r\n\r\n"+
			"HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\nTrailer: X-Sum\r\n\r\n"+
			"5\r\nhello\r\n0\r\nX-Sum: 42\r\n\r\n")
		return true
	})
	tr := h1For(t, TransportConfig{})
	for i := 0; i < 2; i++ {
		var links []string
		trace := &httptrace.ClientTrace{Got1xxResponse: func(code int, h textproto.MIMEHeader) error {
			links = append(links, itoa(code)+" "+h.Get("Link"))
			return nil
		}}
		req, _ := http.NewRequestWithContext(httptrace.WithClientTrace(context.Background(), trace), "GET", be.url(), nil)
		res, err := tr.RoundTrip(req)
		if err != nil {
			t.Fatal(err)
		}
		body, err := io.ReadAll(res.Body)
		_ = res.Body.Close()
		if err != nil || string(body) != "hello" {
			t.Fatalf("body %q, %v", body, err)
		}
		if got := res.Trailer.Get("X-Sum"); got != "42" {
			t.Errorf("trailer X-Sum = %q; want 42", got)
		}
		if len(links) != 1 || links[0] != "103 </app.css>; rel=preload" {
			t.Errorf("1xx seen: %q", links)
		}
	}
	if n := be.conns.Load(); n != 1 {
		t.Errorf("connections = %d; want 1: a chunked body with trailers read to its end frees the connection", n)
	}
}

func TestH1ConnectionsThatMustNotBeReused(t *testing.T) {
	for _, tc := range []struct {
		name   string
		answer string
		early  bool // close the body before its end
	}{
		{"connection close", "HTTP/1.1 200 OK\r\nConnection: close\r\nContent-Length: 2\r\n\r\nok", false},
		{"HTTP/1.0", "HTTP/1.0 200 OK\r\nContent-Length: 2\r\n\r\nok", false},
		{"body closed early", "HTTP/1.1 200 OK\r\nContent-Length: 10\r\n\r\n0123456789", true},
	} {
		t.Run(tc.name, func(t *testing.T) {
			be := newRawBackend(t, func(w *bufio.Writer, req *http.Request, n int) bool {
				_, _ = io.WriteString(w, tc.answer)
				return true
			})
			tr := h1For(t, TransportConfig{})
			for i := 0; i < 3; i++ {
				req, _ := http.NewRequest("GET", be.url(), nil)
				res, err := tr.RoundTrip(req)
				if err != nil {
					t.Fatal(err)
				}
				if tc.early {
					_, _ = io.ReadFull(res.Body, make([]byte, 3))
				} else if _, err := io.ReadAll(res.Body); err != nil {
					t.Fatal(err)
				}
				_ = res.Body.Close()
			}
			if n := be.conns.Load(); n != 3 {
				t.Errorf("connections = %d; want 3, one per request", n)
			}
		})
	}
}

func TestH1HeadAndNoContentLeaveTheConnectionReusable(t *testing.T) {
	be := newRawBackend(t, func(w *bufio.Writer, req *http.Request, n int) bool {
		if req.Method == "HEAD" {
			_, _ = io.WriteString(w, "HTTP/1.1 200 OK\r\nContent-Length: 1000\r\n\r\n")
		} else {
			_, _ = io.WriteString(w, "HTTP/1.1 204 No Content\r\n\r\n")
		}
		return true
	})
	tr := h1For(t, TransportConfig{})
	for _, m := range []string{"HEAD", "GET", "HEAD", "GET"} {
		res, body, err := get(t, tr, m, be.url())
		if err != nil || body != "" {
			t.Fatalf("%s: %q, %v", m, body, err)
		}
		if m == "HEAD" && res.ContentLength != 1000 {
			t.Errorf("HEAD Content-Length = %d; want 1000", res.ContentLength)
		}
	}
	if n := be.conns.Load(); n != 1 {
		t.Errorf("connections = %d; want 1", n)
	}
}

func TestH1BoundsTheResponseHead(t *testing.T) {
	be := newRawBackend(t, func(w *bufio.Writer, req *http.Request, n int) bool {
		_, _ = io.WriteString(w, "HTTP/1.1 200 OK\r\n")
		for i := 0; i < 2*h1MaxHeaderBytes/100; i++ {
			_, _ = io.WriteString(w, "X-Pad: "+strings.Repeat("a", 91)+"\r\n")
		}
		_, _ = io.WriteString(w, "Content-Length: 0\r\n\r\n")
		return false
	})
	tr := h1For(t, TransportConfig{})
	if _, _, err := get(t, tr, "GET", be.url()); err == nil || !errors.Is(err, errHeadTooLarge) {
		t.Fatalf("a 2 MB response head: err = %v; want %v", err, errHeadTooLarge)
	}
}

func TestH1ClosesIdleConnectionsAfterTheTimeout(t *testing.T) {
	be := newRawBackend(t, func(w *bufio.Writer, req *http.Request, n int) bool {
		ok200(w, "ok")
		return true
	})
	tr := h1For(t, TransportConfig{IdleConnTimeout: 50 * time.Millisecond})
	if _, _, err := get(t, tr, "GET", be.url()); err != nil {
		t.Fatal(err)
	}
	waitFor(t, 5*time.Second, "be.closed.Load() == 1", func() bool { return be.closed.Load() == 1 })
	if _, _, err := get(t, tr, "GET", be.url()); err != nil {
		t.Fatal(err)
	}
	if n := be.conns.Load(); n != 2 {
		t.Errorf("connections = %d; want 2", n)
	}
}

// Requests with a body, upgrades and h2c backends go through http.Transport.
func TestH1Eligibility(t *testing.T) {
	for _, tc := range []struct {
		req  func() *http.Request
		want bool
	}{
		{func() *http.Request { r, _ := http.NewRequest("GET", "http://a/", nil); return r }, true},
		{func() *http.Request { r, _ := http.NewRequest("DELETE", "http://a/", http.NoBody); return r }, true},
		{func() *http.Request { r, _ := http.NewRequest("POST", "http://a/", strings.NewReader("x")); return r }, false},
		{func() *http.Request { r, _ := http.NewRequest("GET", "https://a/", nil); return r }, false},
		{func() *http.Request {
			r, _ := http.NewRequest("GET", "http://a/", nil)
			r.Header.Set("Connection", "Upgrade")
			r.Header.Set("Upgrade", "websocket")
			return r
		}, false},
	} {
		r := tc.req()
		if got := h1Eligible(r); got != tc.want {
			t.Errorf("%s %s (upgrade %q): eligible = %v; want %v", r.Method, r.URL, r.Header.Get("Upgrade"), got, tc.want)
		}
	}
	tr := h1For(t, TransportConfig{H2C: true})
	if tr.h1 != nil {
		t.Error("an h2c transport has the HTTP/1.1 path")
	}
}

// Through the proxy, a body that stalls after the head is cut after the body idle timeout,
// as with http.Transport (the h1 body does it with the connection's read deadline).
func TestH1BodyStallIsCut(t *testing.T) {
	release := make(chan struct{})
	be := newRawBackend(t, func(w *bufio.Writer, req *http.Request, n int) bool {
		_, _ = io.WriteString(w, "HTTP/1.1 200 OK\r\nContent-Length: 10\r\n\r\n01234")
		_ = w.Flush()
		<-release
		return false
	})
	defer close(release)
	fe := front(t, proxyTo(t, be.url(), ForwardConfig{BodyIdleTimeout: 100 * time.Millisecond, FlushInterval: -1}))
	start := time.Now()
	res, err := http.Get(fe.URL)
	if err != nil {
		t.Fatal(err)
	}
	body, err := io.ReadAll(res.Body)
	_ = res.Body.Close()
	if err == nil {
		t.Fatalf("a stalled body came through whole: %q", body)
	}
	if string(body) != "01234" {
		t.Errorf("body before the cut = %q; want 01234", body)
	}
	if d := time.Since(start); d > 5*time.Second {
		t.Errorf("cut after %v; the idle timeout is 100ms", d)
	}
}

// Backends come and go (containers' addresses): a host whose last idle connection expired
// leaves the transport's map.
func TestH1ForgetsHostsWithNoConnections(t *testing.T) {
	be := newRawBackend(t, func(w *bufio.Writer, req *http.Request, n int) bool {
		ok200(w, "ok")
		return true
	})
	tr := h1For(t, TransportConfig{IdleConnTimeout: 30 * time.Millisecond})
	if _, _, err := get(t, tr, "GET", be.url()); err != nil {
		t.Fatal(err)
	}
	hosts := func() int {
		n := 0
		tr.h1.hosts.Range(func(_, _ any) bool { n++; return true })
		return n
	}
	if n := hosts(); n != 1 {
		t.Fatalf("hosts = %d; want 1", n)
	}
	waitFor(t, 5*time.Second, "the idle host to be forgotten", func() bool { return hosts() == 0 })
	if _, body, err := get(t, tr, "GET", be.url()); err != nil || body != "ok" {
		t.Fatalf("after the host was forgotten: %q, %v", body, err)
	}
}

// After a backend restart every pooled connection is dead; a retry must not take another
// of them.
func TestH1RetryDialsAFreshConnection(t *testing.T) {
	be := newRawBackend(t, func(w *bufio.Writer, req *http.Request, n int) bool {
		if n == 1 {
			return false // each connection answers once, then drops the next request
		}
		time.Sleep(50 * time.Millisecond) // so that the first three overlap: three connections
		ok200(w, "ok")
		return true
	})
	tr := h1For(t, TransportConfig{})
	var wg sync.WaitGroup
	for range 3 {
		wg.Add(1)
		go func() {
			defer wg.Done()
			if _, _, err := get(t, tr, "GET", be.url()); err != nil {
				t.Error(err)
			}
		}()
	}
	wg.Wait()
	if n := be.conns.Load(); n != 3 {
		t.Fatalf("connections = %d; want 3 pooled", n)
	}
	if _, body, err := get(t, tr, "GET", be.url()); err != nil || body != "ok" {
		t.Fatalf("GET with only stale connections pooled: %q, %v", body, err)
	}
	if n := be.conns.Load(); n != 4 {
		t.Errorf("connections = %d; want 4: the retry dials", n)
	}
}

// A HEAD answer has no body whatever its headers say; one without a Content-Length must
// not be taken for a body that ends at close.
func TestH1HeadWithoutContentLengthKeepsTheConnection(t *testing.T) {
	be := newRawBackend(t, func(w *bufio.Writer, _ *http.Request, _ int) bool {
		_, _ = io.WriteString(w, "HTTP/1.1 200 OK\r\nContent-Type: text/plain\r\n\r\n")
		return true
	})
	tr := h1For(t, TransportConfig{})
	for i := 0; i < 3; i++ {
		if _, _, err := get(t, tr, http.MethodHead, be.url()); err != nil {
			t.Fatal(err)
		}
	}
	if n := be.conns.Load(); n != 1 {
		t.Fatalf("connections = %d; want 1", n)
	}
}
