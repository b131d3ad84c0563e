package entrypoints

import (
	"bufio"
	"context"
	"crypto/tls"
	"fmt"
	"io"
	"net"
	"net/http"
	"slices"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/rs/zerolog"
)

// parkingEntrypoint serves an entrypoint that answers with its protocol and whether the
// request came over TLS, and records what its ConnState hook sees.
type parkingEntrypoint struct {
	ep   *EntryPoint
	addr string

	mu     sync.Mutex
	states []http.ConnState
}

func newParkingEntrypoint(t *testing.T, c Config) *parkingEntrypoint {
	t.Helper()
	p := &parkingEntrypoint{}
	c.Name, c.Address, c.Log = "web", "127.0.0.1:0", zerolog.Nop()
	c.ConnState = func(_ net.Conn, st http.ConnState) {
		p.mu.Lock()
		p.states = append(p.states, st)
		p.mu.Unlock()
	}
	eps, err := Listen([]Config{c})
	if err != nil {
		t.Fatal(err)
	}
	p.ep, p.addr = eps[0], eps[0].Addr().String()
	go p.ep.Serve(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		fmt.Fprintf(w, "%s tls=%v", r.Proto, r.TLS != nil)
	}))
	t.Cleanup(func() { _ = p.ep.Shutdown(context.Background()) })
	return p
}

func (p *parkingEntrypoint) parked() int {
	p.ep.mu.Lock()
	l := p.ep.edge
	p.ep.mu.Unlock()
	if l == nil {
		return 0
	}
	l.mu.Lock()
	defer l.mu.Unlock()
	return len(l.parked)
}

// waitFor polls cond until it holds or 5 seconds pass.
func waitFor(t *testing.T, what string, cond func() bool) {
	t.Helper()
	for deadline := time.Now().Add(5 * time.Second); !cond(); time.Sleep(10 * time.Millisecond) {
		if time.Now().After(deadline) {
			t.Fatalf("waited 5s for %s", what)
		}
	}
}

func (p *parkingEntrypoint) seen() []http.ConnState {
	p.mu.Lock()
	defer p.mu.Unlock()
	return slices.Clone(p.states)
}

// get sends a GET on c and returns the status and the body.
func get(t *testing.T, c net.Conn, br *bufio.Reader) (int, string) {
	t.Helper()
	_ = c.SetDeadline(time.Now().Add(5 * time.Second))
	if _, err := io.WriteString(c, "GET / HTTP/1.1\r\nHost: a\r\n\r\n"); err != nil {
		t.Fatal(err)
	}
	res, err := http.ReadResponse(br, nil)
	if err != nil {
		t.Fatalf("reading response: %v", err)
	}
	b, _ := io.ReadAll(res.Body)
	res.Body.Close()
	return res.StatusCode, string(b)
}

func TestIdleConnectionParkedAndResumed(t *testing.T) {
	p := newParkingEntrypoint(t, Config{})
	c, err := net.Dial("tcp", p.addr)
	if err != nil {
		t.Fatal(err)
	}
	br := bufio.NewReader(c)
	for i := range 3 {
		if code, body := get(t, c, br); code != 200 || body != "HTTP/1.1 tls=false" {
			t.Fatalf("request %d: %d %q", i, code, body)
		}
		waitFor(t, "the idle connection to be parked", func() bool { return p.parked() == 1 })
	}
	c.Close()
	waitFor(t, "the parked connection to be closed", func() bool { return p.parked() == 0 })
	want := []http.ConnState{http.StateNew, http.StateActive, http.StateIdle, http.StateActive, http.StateIdle,
		http.StateActive, http.StateIdle, http.StateClosed}
	waitFor(t, "StateClosed", func() bool { return len(p.seen()) == len(want) })
	if got := p.seen(); !slices.Equal(got, want) {
		t.Errorf("ConnState saw %v; want %v (one connection, idle while parked)", got, want)
	}
}

func TestParkedConnectionOverTLS(t *testing.T) {
	p := newParkingEntrypoint(t, Config{TLS: testTLSConfig(t)})
	c, err := tls.Dial("tcp", p.addr, &tls.Config{InsecureSkipVerify: true, NextProtos: []string{"http/1.1"}})
	if err != nil {
		t.Fatal(err)
	}
	defer c.Close()
	br := bufio.NewReader(c)
	for i := range 2 {
		if code, body := get(t, c, br); code != 200 || body != "HTTP/1.1 tls=true" {
			t.Fatalf("request %d: %d %q", i, code, body)
		}
		waitFor(t, "the idle connection to be parked", func() bool { return p.parked() == 1 })
	}
}

func TestParkedConnectionClosedAtIdleTimeout(t *testing.T) {
	p := newParkingEntrypoint(t, Config{IdleTimeout: parkAfter + 300*time.Millisecond})
	c, err := net.Dial("tcp", p.addr)
	if err != nil {
		t.Fatal(err)
	}
	defer c.Close()
	br := bufio.NewReader(c)
	get(t, c, br)
	start := time.Now()
	waitFor(t, "the idle connection to be parked", func() bool { return p.parked() == 1 })
	_ = c.SetReadDeadline(time.Now().Add(5 * time.Second))
	if _, err := br.ReadByte(); err != io.EOF {
		t.Fatalf("idle connection: %v; want EOF at the idle timeout", err)
	}
	if d := time.Since(start); d < parkAfter+200*time.Millisecond {
		t.Errorf("closed after %v; want the idle timeout, %v", d, parkAfter+300*time.Millisecond)
	}
	waitFor(t, "StateClosed", func() bool { s := p.seen(); return s[len(s)-1] == http.StateClosed })
}

func TestShutdownClosesParkedConnections(t *testing.T) {
	p := newParkingEntrypoint(t, Config{})
	c, err := net.Dial("tcp", p.addr)
	if err != nil {
		t.Fatal(err)
	}
	defer c.Close()
	br := bufio.NewReader(c)
	get(t, c, br)
	waitFor(t, "the idle connection to be parked", func() bool { return p.parked() == 1 })
	ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
	defer cancel()
	if err := p.ep.Shutdown(ctx); err != nil {
		t.Fatalf("shutdown: %v", err)
	}
	_ = c.SetReadDeadline(time.Now().Add(5 * time.Second))
	if _, err := br.ReadByte(); err != io.EOF {
		t.Fatalf("parked connection after shutdown: %v; want EOF", err)
	}
}

// TestChecksHoldAfterParking: a resumed connection is still HTTP/1 with its framing
// checked; the HTTP/2 preface, which net/http looks for at the start of every connection it
// is given, is a refused request there, not a switch to HTTP/2.
func TestChecksHoldAfterParking(t *testing.T) {
	p := newParkingEntrypoint(t, Config{})
	for _, tc := range []struct{ name, req string }{
		{"content_length_and_chunked", "POST / HTTP/1.1\r\nHost: a\r\nContent-Length: 4\r\nTransfer-Encoding: chunked\r\n\r\n0\r\n\r\n"},
		{"h2_preface", "PRI * HTTP/2.0\r\n\r\nSM\r\n\r\n"},
		{"h2_preface_in_pieces", "P|RI * HT|TP/2.0\r\n\r\nSM\r\n\r\n"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			c, err := net.Dial("tcp", p.addr)
			if err != nil {
				t.Fatal(err)
			}
			defer c.Close()
			br := bufio.NewReader(c)
			get(t, c, br)
			waitFor(t, "the idle connection to be parked", func() bool { return p.parked() == 1 })
			for i, part := range strings.Split(tc.req, "|") {
				if i > 0 {
					time.Sleep(20 * time.Millisecond) // separate reads
				}
				if _, err := io.WriteString(c, part); err != nil {
					t.Fatal(err)
				}
			}
			res, err := http.ReadResponse(br, nil)
			if err != nil {
				t.Fatalf("reading response: %v", err)
			}
			res.Body.Close()
			if res.StatusCode != http.StatusBadRequest || !res.Close {
				t.Errorf("got %d close=%v; want 400 and the connection closed", res.StatusCode, res.Close)
			}
		})
	}
}

// slowEntrypoint serves "ok <path>" after d; a request with a body gets 401 without its
// body being read, and a request whose context ends first gets nothing written (as the
// forwarder does for a client that went away).
func slowEntrypoint(t *testing.T, d time.Duration) string {
	t.Helper()
	eps, err := Listen([]Config{{Name: "web", Address: "127.0.0.1:0", Log: zerolog.Nop()}})
	if err != nil {
		t.Fatal(err)
	}
	ep := eps[0]
	go func() {
		_ = ep.Serve(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
			if r.ContentLength > 0 {
				http.Error(w, "no", http.StatusUnauthorized)
				return
			}
			select {
			case <-time.After(d):
				fmt.Fprintf(w, "ok %s", r.URL.Path)
			case <-r.Context().Done():
			}
		}))
	}()
	t.Cleanup(func() { _ = ep.Shutdown(context.Background()) })
	return ep.Addr().String()
}

// A pipelined request is served while net/http's background read runs; that read must
// never park the connection (it did: the second request was cancelled, an empty 200).
func TestPipelinedSlowRequestIsNotParked(t *testing.T) {
	addr := slowEntrypoint(t, 300*time.Millisecond)
	c, err := net.Dial("tcp", addr)
	if err != nil {
		t.Fatal(err)
	}
	defer c.Close()
	_ = c.SetDeadline(time.Now().Add(5 * time.Second))
	_, _ = io.WriteString(c, "GET /1 HTTP/1.1\r\nHost: a\r\n\r\nGET /2 HTTP/1.1\r\nHost: a\r\n\r\n")
	br := bufio.NewReader(c)
	for j := 1; j <= 2; j++ {
		res, err := http.ReadResponse(br, nil)
		if err != nil {
			t.Fatal(err)
		}
		b, _ := io.ReadAll(res.Body)
		if string(b) != fmt.Sprintf("ok /%d", j) {
			t.Fatalf("response %d: %d %q", j, res.StatusCode, b)
		}
	}
}

// After pipelined requests, a connection net/http gives up on (a large unread body) must
// be closed, not parked: parked, the rest of the body came back as requests the framing
// check had seen as body.
func TestUnreadBodyAfterPipeliningIsNeverServed(t *testing.T) {
	addr := slowEntrypoint(t, 20*time.Millisecond)
	c, err := net.Dial("tcp", addr)
	if err != nil {
		t.Fatal(err)
	}
	defer c.Close()
	_ = c.SetDeadline(time.Now().Add(5 * time.Second))
	br := bufio.NewReader(c)
	_, _ = io.WriteString(c, "GET /1 HTTP/1.1\r\nHost: a\r\n\r\nGET /2 HTTP/1.1\r\nHost: a\r\n\r\n")
	for j := 0; j < 2; j++ {
		res, err := http.ReadResponse(br, nil)
		if err != nil {
			t.Fatal(err)
		}
		_, _ = io.ReadAll(res.Body)
	}
	_, _ = io.WriteString(c, "POST /x HTTP/1.1\r\nHost: a\r\nContent-Length: 1048576\r\n\r\n")
	res, err := http.ReadResponse(br, nil)
	if err != nil {
		t.Fatal(err)
	}
	_, _ = io.ReadAll(res.Body) // 401; net/http gives up on the connection
	time.Sleep(50 * time.Millisecond)
	_, _ = io.WriteString(c, "GET /smuggled HTTP/1.1\r\nHost: a\r\n\r\n"+strings.Repeat("x", 300<<10))
	_ = c.SetReadDeadline(time.Now().Add(time.Second))
	if res, err := http.ReadResponse(br, nil); err == nil {
		b, _ := io.ReadAll(res.Body)
		t.Fatalf("bytes of a request body were served as a request: %d %q", res.StatusCode, b)
	}
}
