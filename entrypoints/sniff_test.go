package entrypoints

import (
	"context"
	"crypto/tls"
	"fmt"
	"io"
	"net"
	"net/http"
	"net/http/httptest"
	"os"
	"strings"
	"sync/atomic"
	"syscall"
	"testing"
	"time"

	"github.com/rs/zerolog"
)

// testTLSConfig is a TLS configuration with a self-signed certificate.
func testTLSConfig(t *testing.T) *tls.Config {
	t.Helper()
	cert := httptest.NewUnstartedServer(nil) // only for its self-signed certificate
	cert.StartTLS()
	defer cert.Close()
	return &tls.Config{Certificates: cert.TLS.Certificates, NextProtos: []string{"h2", "http/1.1"}}
}

func tlsEntrypoint(t *testing.T, c Config) string {
	t.Helper()
	c.TLS, c.ReadHeaderTimeout = testTLSConfig(t), 300*time.Millisecond
	return serve(t, c, http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		fmt.Fprintf(w, "%s tls=%v", r.Proto, r.TLS != nil)
	}))
}

func TestOnePortServesTLSAndPlain(t *testing.T) {
	addr := tlsEntrypoint(t, Config{})
	// A client that connects and sends nothing must not hold up anyone else.
	idle, err := net.Dial("tcp", addr)
	if err != nil {
		t.Fatal(err)
	}
	defer idle.Close()

	get := func(c *http.Client, url string) string {
		t.Helper()
		res, err := c.Get(url)
		if err != nil {
			t.Fatal(err)
		}
		defer res.Body.Close()
		b, _ := io.ReadAll(res.Body)
		return string(b)
	}
	if got := get(http.DefaultClient, "http://"+addr+"/"); got != "HTTP/1.1 tls=false" {
		t.Errorf("plain: %q", got)
	}
	h2 := &http.Client{Transport: &http.Transport{TLSClientConfig: &tls.Config{InsecureSkipVerify: true}, ForceAttemptHTTP2: true}}
	if got := get(h2, "https://"+addr+"/"); got != "HTTP/2.0 tls=true" {
		t.Errorf("tls: %q; want HTTP/2 over TLS", got)
	}
	// The silent client is closed at the sniff deadline.
	_ = idle.SetReadDeadline(time.Now().Add(5 * time.Second))
	if _, err := idle.Read(make([]byte, 1)); err == nil || strings.Contains(err.Error(), "timeout") {
		t.Errorf("silent connection: %v; want it closed by wharf", err)
	}
}

func TestMisdirectedRequest(t *testing.T) {
	addr := tlsEntrypoint(t, Config{Log: zerolog.Nop(), SameTLSOptions: func(sni, host string) bool {
		return !(sni == "public.test" && strings.HasPrefix(host, "mtls.test"))
	}})
	c := &http.Client{Transport: &http.Transport{TLSClientConfig: &tls.Config{InsecureSkipVerify: true, ServerName: "public.test"}}}
	for host, want := range map[string]int{"public.test": 200, "mtls.test": 421} {
		req, _ := http.NewRequest("GET", "https://"+addr+"/", nil)
		req.Host = host
		res, err := c.Do(req)
		if err != nil {
			t.Fatal(err)
		}
		res.Body.Close()
		if res.StatusCode != want {
			t.Errorf("SNI public.test, Host %s: %d; want %d", host, res.StatusCode, want)
		}
	}
}

// failingListener fails its first Accepts the way a process out of file descriptors does.
type failingListener struct {
	net.Listener
	fails atomic.Int32
}

func (l *failingListener) Accept() (net.Conn, error) {
	if l.fails.Add(-1) >= 0 {
		return nil, &net.OpError{Op: "accept", Net: "tcp", Err: os.NewSyscallError("accept4", syscall.EMFILE)}
	}
	return l.Listener.Accept()
}

// TestAcceptSurvivesRunningOutOfDescriptors: a client that opens connections until the
// process has no file descriptor left must not stop the entrypoint; accepting resumes when
// descriptors are free again.
func TestAcceptSurvivesRunningOutOfDescriptors(t *testing.T) {
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	fl := &failingListener{Listener: ln}
	fl.fails.Store(3)
	c := Config{Name: "web", Log: zerolog.Nop(), TLS: testTLSConfig(t)}
	c.withDefaults()
	e := &EntryPoint{cfg: c, ln: fl, hop: newHop()}
	served := make(chan error, 1)
	go func() {
		served <- e.Serve(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) { io.WriteString(w, "ok") }))
	}()
	t.Cleanup(func() { _ = e.Shutdown(context.Background()) })
	client := &http.Client{Timeout: 5 * time.Second}
	res, err := client.Get("http://" + ln.Addr().String() + "/")
	if err != nil {
		select {
		case err := <-served:
			t.Fatalf("Serve returned %v after EMFILE from accept", err)
		default:
		}
		t.Fatal(err)
	}
	res.Body.Close()
	if res.StatusCode != 200 {
		t.Fatalf("got %d; want 200", res.StatusCode)
	}
}

// HTTP/2 over TLS is chosen with ALPN. A TLS client that did not ask for h2 and sends the
// HTTP/2 preface anyway is refused: served, its requests would look like cleartext h2c ones
// (no TLS state: the wrong X-Forwarded-Proto, no check of SNI against Host).
func TestTLSWithoutALPNCannotSpeakHTTP2(t *testing.T) {
	addr := tlsEntrypoint(t, Config{})
	c, err := tls.Dial("tcp", addr, &tls.Config{InsecureSkipVerify: true}) //nolint:gosec // test certificate
	if err != nil {
		t.Fatal(err)
	}
	defer c.Close()
	_ = c.SetDeadline(time.Now().Add(5 * time.Second))
	if p := c.ConnectionState().NegotiatedProtocol; p != "" {
		t.Fatalf("negotiated %q without asking", p)
	}
	_, _ = io.WriteString(c, "PRI * HTTP/2.0\r\n\r\nSM\r\n\r\n")
	// A settings frame, as an HTTP/2 client sends next.
	_, _ = c.Write([]byte{0, 0, 0, 4, 0, 0, 0, 0, 0})
	got, _ := io.ReadAll(io.LimitReader(c, 64)) // until the server closes, or 5 s
	if len(got) > 0 && !strings.HasPrefix(string(got), "HTTP/1.1 400 ") {
		t.Fatalf("the server answered the preface with % x (%q); want 400 or a close", got, got)
	}
}
