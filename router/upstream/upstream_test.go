package upstream

import (
	"bufio"
	"context"
	"fmt"
	"io"
	"net"
	"net/http"
	"net/http/httptest"
	"net/url"
	"strings"
	"testing"
	"time"

	"github.com/rs/zerolog"
)

func proxyTo(t *testing.T, target string, fc ForwardConfig) http.Handler {
	t.Helper()
	u, err := url.Parse(target)
	if err != nil {
		t.Fatal(err)
	}
	if fc.Transport == nil {
		tr, err := NewTransports().Get(TransportConfig{ResponseHeaderTimeout: 200 * time.Millisecond, DialTimeout: time.Second})
		if err != nil {
			t.Fatal(err)
		}
		fc.Transport = tr
	}
	fc.Log = zerolog.Nop()
	fc.Buffers = NewBufferPool()
	b, err := NewBalancer(context.Background(), []*Server{NewServer(u, 1, fc)}, BalancerConfig{Log: zerolog.Nop()})
	if err != nil {
		t.Fatal(err)
	}
	return b
}

func front(t *testing.T, h http.Handler) *httptest.Server {
	t.Helper()
	s := httptest.NewServer(h)
	t.Cleanup(s.Close)
	return s
}

func TestForwardedHeaders(t *testing.T) {
	seen := make(chan http.Header, 1)
	var host string
	be := front(t, http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		host = r.Host
		seen <- r.Header.Clone()
	}))
	fe := front(t, proxyTo(t, be.URL, ForwardConfig{PassHostHeader: true, ServerHost: "wharf-1"}))
	req, _ := http.NewRequest("GET", fe.URL+"/x", nil)
	req.Host = "app.example.com"
	req.Header.Set("X-Forwarded-For", "203.0.113.9") // as if a trusted proxy set it
	res, err := http.DefaultClient.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	res.Body.Close()
	h := <-seen
	for k, want := range map[string]string{
		"X-Forwarded-For":    "203.0.113.9, 127.0.0.1",
		"X-Forwarded-Proto":  "http",
		"X-Forwarded-Host":   "app.example.com",
		"X-Forwarded-Port":   strings.Split(fe.Listener.Addr().String(), ":")[1],
		"X-Forwarded-Server": "wharf-1",
		"X-Real-Ip":          "127.0.0.1",
	} {
		if got := h.Get(k); got != want {
			t.Errorf("%s = %q; want %q", k, got, want)
		}
	}
	if host != "app.example.com" {
		t.Errorf("Host = %q; want the client's (passHostHeader)", host)
	}
}

func TestBackendFailures(t *testing.T) {
	ln, _ := net.Listen("tcp", "127.0.0.1:0")
	refused := "http://" + ln.Addr().String()
	ln.Close()
	hang := front(t, http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		select {
		case <-r.Context().Done():
		case <-time.After(5 * time.Second):
		}
	}))
	for _, tc := range []struct {
		name, target string
		want         int
	}{
		{"refused_is_502", refused, 502},
		{"no_headers_in_time_is_504", hang.URL, 504},
	} {
		t.Run(tc.name, func(t *testing.T) {
			fe := front(t, proxyTo(t, tc.target, ForwardConfig{}))
			res, err := http.Get(fe.URL)
			if err != nil {
				t.Fatal(err)
			}
			body, _ := io.ReadAll(res.Body)
			res.Body.Close()
			if res.StatusCode != tc.want {
				t.Errorf("status %d; want %d", res.StatusCode, tc.want)
			}
			if want := http.StatusText(tc.want) + "\n"; string(body) != want {
				t.Errorf("body %q; want only the status text %q", body, want)
			}
		})
	}
	t.Run("no_server_is_503", func(t *testing.T) {
		rec := httptest.NewRecorder()
		b, _ := NewBalancer(context.Background(), nil, BalancerConfig{})
		b.ServeHTTP(rec, httptest.NewRequest("GET", "/", nil))
		if rec.Code != 503 {
			t.Errorf("status %d; want 503", rec.Code)
		}
	})
}

func TestServerSentEventsAreNotBuffered(t *testing.T) {
	release := make(chan struct{})
	be := front(t, http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		w.Header().Set("Content-Type", "text/event-stream")
		fmt.Fprint(w, "data: first\n\n")
		w.(http.Flusher).Flush()
		<-release
		fmt.Fprint(w, "data: second\n\n")
	}))
	defer close(release)
	fe := front(t, proxyTo(t, be.URL, ForwardConfig{FlushInterval: time.Hour}))
	res, err := http.Get(fe.URL)
	if err != nil {
		t.Fatal(err)
	}
	defer res.Body.Close()
	line, err := bufio.NewReader(res.Body).ReadString('\n')
	if err != nil || line != "data: first\n" {
		t.Fatalf("got %q, %v; want the first event before the backend finished", line, err)
	}
}

func TestPreservePath(t *testing.T) {
	be := front(t, http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) { io.WriteString(w, r.URL.Path) }))
	for _, tc := range []struct {
		preserve bool
		want     string
	}{{false, "/x"}, {true, "/app/x"}} {
		fe := front(t, proxyTo(t, be.URL+"/app/", ForwardConfig{PreservePath: tc.preserve}))
		res, err := http.Get(fe.URL + "/x")
		if err != nil {
			t.Fatal(err)
		}
		body, _ := io.ReadAll(res.Body)
		res.Body.Close()
		if string(body) != tc.want {
			t.Errorf("preservePath=%v: backend saw %q; want %q", tc.preserve, body, tc.want)
		}
	}
}
