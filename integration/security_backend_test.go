package integration

import (
	"bufio"
	"fmt"
	"io"
	"net"
	"net/http"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"
)

// scripted is a raw TCP backend that reads one request per connection and then does what
// its script says: the faults a real backend has.
type scripted struct {
	URL      string
	requests atomic.Int32
}

func scriptedBackend(t *testing.T, script func(c net.Conn, br *bufio.Reader, req *http.Request)) *scripted {
	t.Helper()
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	s := &scripted{URL: "http://" + ln.Addr().String()}
	var mu sync.Mutex
	var conns []net.Conn
	var wg sync.WaitGroup
	t.Cleanup(func() {
		ln.Close()
		mu.Lock()
		for _, c := range conns {
			c.Close()
		}
		mu.Unlock()
		wg.Wait()
	})
	wg.Add(1)
	go func() {
		defer wg.Done()
		for {
			c, err := ln.Accept()
			if err != nil {
				return
			}
			mu.Lock()
			conns = append(conns, c)
			mu.Unlock()
			wg.Add(1)
			go func() {
				defer wg.Done()
				defer c.Close()
				_ = c.SetDeadline(time.Now().Add(60 * time.Second)) // nothing outlives the test
				br := bufio.NewReader(c)
				req, err := http.ReadRequest(br)
				if err != nil {
					return
				}
				s.requests.Add(1)
				script(c, br, req)
			}()
		}
	}()
	return s
}

// stall waits until the connection is closed (by wharf, or at cleanup).
func stall(c net.Conn, br *bufio.Reader) { _, _ = io.Copy(io.Discard, br) }

// TestBackendFaults: whatever a backend does wrong, the client gets a bounded, correct
// answer and is never left hanging; a POST that reached a backend is never sent again.
func TestBackendFaults(t *testing.T) {
	refused, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	refusedURL := "http://" + refused.Addr().String()
	refused.Close() // nothing listens there now

	head := func(c net.Conn, status string, extra string) {
		fmt.Fprintf(c, "HTTP/1.1 %s\r\n%s\r\n", status, extra)
	}
	backends := map[string]*scripted{
		"hang":        scriptedBackend(t, func(c net.Conn, br *bufio.Reader, _ *http.Request) { stall(c, br) }),
		"closebefore": scriptedBackend(t, func(c net.Conn, br *bufio.Reader, _ *http.Request) {}),
		"stallmid": scriptedBackend(t, func(c net.Conn, br *bufio.Reader, _ *http.Request) {
			head(c, "200 OK", "Content-Length: 100000\r\n")
			c.Write(make([]byte, 1000))
			stall(c, br)
		}),
		"closemid": scriptedBackend(t, func(c net.Conn, br *bufio.Reader, _ *http.Request) {
			head(c, "200 OK", "Content-Length: 100000\r\n")
			c.Write(make([]byte, 1000))
		}),
		"cont417": scriptedBackend(t, func(c net.Conn, br *bufio.Reader, _ *http.Request) {
			head(c, "417 Expectation Failed", "Content-Length: 0\r\nConnection: close\r\n")
		}),
		"cont100twice": scriptedBackend(t, func(c net.Conn, br *bufio.Reader, req *http.Request) {
			head(c, "100 Continue", "")
			head(c, "100 Continue", "")
			b, _ := io.ReadAll(req.Body)
			head(c, "200 OK", fmt.Sprintf("Content-Length: %d\r\n", len(b)+4))
			fmt.Fprintf(c, "got %s", b)
		}),
		"cont100silent": scriptedBackend(t, func(c net.Conn, br *bufio.Reader, req *http.Request) {
			head(c, "100 Continue", "")
			io.ReadAll(req.Body)
			stall(c, br)
		}),
	}
	// Two servers that take a request, read it whole and hang up without answering: a
	// request that reaches either was sent.
	var sent atomic.Int32
	takeAndDrop := func(c net.Conn, br *bufio.Reader, req *http.Request) {
		io.ReadAll(req.Body)
		sent.Add(1)
	}
	dropA, dropB := scriptedBackend(t, takeAndDrop), scriptedBackend(t, takeAndDrop)

	var dyn strings.Builder
	dyn.WriteString("http:\n  middlewares:\n    retry:\n      retry:\n        attempts: 3\n  routers:\n")
	for _, name := range []string{"refused", "hang", "closebefore", "stallmid", "closemid", "cont417", "cont100twice", "cont100silent"} {
		fmt.Fprintf(&dyn, "    %s:\n      rule: Host(`%s.test`)\n      service: %s\n", name, name, name)
	}
	// The retry middleware, where it matters: it must not send a POST again.
	dyn.WriteString("    drop:\n      rule: Host(`drop.test`)\n      service: drop\n      middlewares: [retry]\n")
	dyn.WriteString("  services:\n")
	svc := func(name string, urls ...string) {
		fmt.Fprintf(&dyn, "    %s:\n      loadBalancer:\n        serversTransport: fast\n        servers:\n", name)
		for _, u := range urls {
			fmt.Fprintf(&dyn, "          - url: %q\n", u)
		}
	}
	svc("refused", refusedURL)
	for name, b := range backends {
		svc(name, b.URL)
	}
	svc("drop", dropA.URL, dropB.URL)
	dyn.WriteString("  serversTransports:\n    fast:\n      forwardingTimeouts:\n        dialTimeout: 1s\n        responseHeaderTimeout: 1s\n")
	w := startSecWharf(t, "", dyn.String())
	addr := w.Addr("web")

	for _, tc := range []struct {
		name, host, req string
		status          int
		within          time.Duration // the whole exchange, from the first byte sent
		truncated       bool          // the answer is cut short (or never starts) and the connection closed
	}{
		{"refused_is_502", "refused", "GET / HTTP/1.1\r\n", 502, 5 * time.Second, false},
		{"hang_before_headers_is_504", "hang", "GET / HTTP/1.1\r\n", 504, 5 * time.Second, false},
		{"close_before_headers_is_502", "closebefore", "POST / HTTP/1.1\r\nContent-Length: 2\r\n\r\nhi", 502, 5 * time.Second, false},
		{"stall_mid_body_is_cut", "stallmid", "GET / HTTP/1.1\r\n", 200, 6 * time.Second, true},
		{"close_mid_body_is_cut", "closemid", "GET / HTTP/1.1\r\n", 200, 5 * time.Second, true},
	} {
		t.Run(tc.name, func(t *testing.T) {
			req := strings.Replace(tc.req, "\r\n", "\r\nHost: "+tc.host+".test\r\n", 1)
			if !strings.Contains(req, "\r\n\r\n") {
				req += "\r\n"
			}
			start := time.Now()
			ex := rawExchange(addr, req, 10*time.Second)
			took := time.Since(start)
			if len(ex.responses) == 0 && tc.truncated && ex.closed && took < tc.within {
				// The backend failed before wharf flushed the head of its answer: the
				// client sees the connection closed, never a complete-looking answer.
				return
			}
			if len(ex.responses) == 0 {
				t.Fatalf("no answer after %v: %v", took, ex.err)
			}
			res := ex.responses[0]
			if res.StatusCode != tc.status {
				t.Fatalf("status %d %q; want %d", res.StatusCode, ex.bodies[0], tc.status)
			}
			if took > tc.within {
				t.Errorf("the exchange took %v; want at most %v (%v)", took, tc.within, ex.err)
			}
			if tc.truncated && (len(ex.bodies[0]) >= 100000 || len(ex.responses) != 1 || !ex.closed && ex.err == nil) {
				t.Errorf("got %d body bytes, %d responses, closed=%v, %v; want the answer cut short and the connection closed",
					len(ex.bodies[0]), len(ex.responses), ex.closed, ex.err)
			}
			if !tc.truncated && tc.status >= 500 && strings.Contains(ex.bodies[0], "127.0.0.1") {
				t.Errorf("the error page leaks the backend's address: %q", ex.bodies[0])
			}
		})
	}

	t.Run("expect_continue_answered_417", func(t *testing.T) {
		c, br := dialRaw(t, addr)
		io.WriteString(c, "POST / HTTP/1.1\r\nHost: cont417.test\r\nContent-Length: 5\r\nExpect: 100-continue\r\n\r\n")
		res := readFinal(t, br, nil)
		if res.StatusCode != 417 {
			t.Fatalf("got %d; want the backend's 417", res.StatusCode)
		}
	})
	t.Run("expect_continue_with_two_100s", func(t *testing.T) {
		c, br := dialRaw(t, addr)
		io.WriteString(c, "POST / HTTP/1.1\r\nHost: cont100twice.test\r\nContent-Length: 5\r\nExpect: 100-continue\r\nConnection: close\r\n\r\n")
		interim := 0
		res := readFinal(t, br, func(r *http.Response) {
			if interim++; interim == 1 {
				io.WriteString(c, "hello")
			}
		})
		body, _ := io.ReadAll(res.Body)
		if res.StatusCode != 200 || string(body) != "got hello" || interim == 0 {
			t.Fatalf("got %d %q after %d interim answers; want 200 \"got hello\"", res.StatusCode, body, interim)
		}
		if _, err := br.ReadByte(); err != io.EOF {
			t.Errorf("after the final answer: %v; want EOF (one final answer)", err)
		}
	})
	t.Run("expect_continue_then_silence_is_504", func(t *testing.T) {
		c, br := dialRaw(t, addr)
		start := time.Now()
		io.WriteString(c, "POST / HTTP/1.1\r\nHost: cont100silent.test\r\nContent-Length: 5\r\nExpect: 100-continue\r\n\r\n")
		sentBody := false
		res := readFinal(t, br, func(*http.Response) {
			if !sentBody {
				sentBody = true
				io.WriteString(c, "hello")
			}
		})
		if res.StatusCode != 504 || time.Since(start) > 6*time.Second {
			t.Fatalf("got %d after %v; want 504 within 6s", res.StatusCode, time.Since(start))
		}
	})

	t.Run("post_never_retried_once_sent", func(t *testing.T) {
		sent.Store(0)
		ex := rawExchange(addr, "POST / HTTP/1.1\r\nHost: drop.test\r\nContent-Length: 4\r\nConnection: close\r\n\r\nbuy!", 20*time.Second)
		if len(ex.responses) != 1 || ex.responses[0].StatusCode != 502 {
			t.Fatalf("got %v %v; want 502", statuses(ex), ex.err)
		}
		if n := sent.Load(); n != 1 {
			t.Fatalf("the POST reached backends %d times; want exactly once, with retry attempts: 3", n)
		}
	})
	t.Run("get_retried_for_contrast", func(t *testing.T) {
		sent.Store(0)
		ex := rawExchange(addr, "GET / HTTP/1.1\r\nHost: drop.test\r\nConnection: close\r\n\r\n", 20*time.Second)
		if len(ex.responses) != 1 || ex.responses[0].StatusCode != 502 {
			t.Fatalf("got %v %v; want 502", statuses(ex), ex.err)
		}
		if n := sent.Load(); n != 3 {
			t.Errorf("the GET reached backends %d times; want 3 (the retry middleware's attempts)", n)
		}
	})
}

func dialRaw(t *testing.T, addr string) (net.Conn, *bufio.Reader) {
	t.Helper()
	c, err := net.Dial("tcp", addr)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { c.Close() })
	_ = c.SetDeadline(time.Now().Add(20 * time.Second))
	return c, bufio.NewReader(c)
}

// readFinal reads responses until a final (non-1xx) one, calling interim for each 1xx.
func readFinal(t *testing.T, br *bufio.Reader, interim func(*http.Response)) *http.Response {
	t.Helper()
	for i := 0; i < 10; i++ {
		res, err := http.ReadResponse(br, nil)
		if err != nil {
			t.Fatalf("reading the answer: %v", err)
		}
		if res.StatusCode >= 200 {
			return res
		}
		if interim != nil {
			interim(res)
		}
	}
	t.Fatal("more than 10 interim answers")
	return nil
}
