package upstream

import (
	"context"
	"net"
	"net/http"
	"net/http/httptest"
	"net/http/httputil"
	"testing"
)

func TestForwardedPortFromTheConnection(t *testing.T) {
	r := httptest.NewRequest("GET", "http://app.test/", nil)
	r = r.WithContext(context.WithValue(r.Context(), http.LocalAddrContextKey, &net.TCPAddr{IP: net.IPv4(127, 0, 0, 1), Port: 8443}))
	if p := forwardedPort(r); p != "8443" {
		t.Fatalf("port = %q; want 8443", p)
	}
	if n := testing.AllocsPerRun(100, func() { _ = forwardedPort(r) }); n != 0 {
		t.Errorf("forwardedPort allocates %v times; want 0", n)
	}
	r.Host = "app.test:9000"
	if p := forwardedPort(r); p != "9000" {
		t.Errorf("port with a Host port = %q; want 9000", p)
	}
}

// The X-Forwarded-* values share one array; appending to one must not change another.
func TestForwardedValuesAreIndependent(t *testing.T) {
	in := httptest.NewRequest("GET", "http://app.test/", nil)
	in.RemoteAddr = "192.0.2.7:5555"
	pr := &httputil.ProxyRequest{In: in, Out: in.Clone(context.Background())}
	setForwarded(pr, []string{"wharf-1"})
	h := pr.Out.Header
	h["X-Forwarded-For"] = append(h["X-Forwarded-For"], "extra")
	h["X-Forwarded-Host"] = append(h["X-Forwarded-Host"], "extra")
	want := map[string]string{"X-Forwarded-For": "192.0.2.7", "X-Forwarded-Host": "app.test", "X-Forwarded-Port": "80",
		"X-Real-Ip": "192.0.2.7", "X-Forwarded-Server": "wharf-1", "X-Forwarded-Proto": "http"}
	for k, v := range want {
		if got := h.Get(k); got != v {
			t.Errorf("%s = %q; want %q", k, got, v)
		}
	}
}
